"""Learned layers: a 4-D weight ``(C_in, C_out/groups, kh, kw)`` with its groups and bias."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DeconvError
from .formats import check_magnitude, parse_inline, read_file
from .source import exists, parse_number, show, show_name, split_member

if TYPE_CHECKING:
    from .onnxfile import Declared


@dataclass(frozen=True)
class Layer:
    """How a 4-D kernel is applied: its channel groups and bias (see
    :func:`deconv_cli.core.conv_transpose2d_layer`)."""

    groups: int
    c_in: int
    c_out: int
    bias: np.ndarray | None = None  # (C_out,), in [0, 1] units
    bias_spec: str | None = None

    @property
    def channels(self) -> str:
        """Layout of the output: L, RGB, RGBA, or 'N channels' (only .npy can hold those)."""
        return {1: "L", 3: "RGB", 4: "RGBA"}.get(self.c_out, f"{self.c_out} channels")


def make_layer(
    weight: np.ndarray, groups: int | None, bias: str | None, kernel: str, declared: Declared | None = None
) -> Layer | None:
    """None for a 2-D/3-D kernel (refusing groups and bias there); the :class:`Layer` of a 4-D one.

    ``groups`` defaults to a model file's own (``declared``), else to C_in when the weight's second
    dimension is 1 (depthwise), else 1; a given one that contradicts the file is a usage error.
    ``bias`` is ``FILE[:NAME]``, a list or a number (see :func:`load_bias`); without it, the bias
    the model file stores with the weight, if any.
    """
    if weight.ndim != 4:
        for name, given in (("--groups", groups), ("--bias", bias)):
            if given is not None:
                raise DeconvError(
                    f"{name} applies to a learned layer, a 4-D weight (C_in, C_out/groups, kh, kw); kernel {kernel} "
                    f"has shape {weight.shape} (reshape a per-channel kernel to (C, 1, kh, kw) to use it)",
                    usage=True,
                )
        return None
    c_in, cog = weight.shape[0], weight.shape[1]
    if declared is not None and declared.groups is not None:
        if groups is not None and groups != declared.groups:
            raise DeconvError(
                f"--groups {groups} contradicts kernel {kernel}, whose node declares group {declared.groups}; "
                "drop --groups or give the same value",
                usage=True,
            )
        groups = declared.groups
    if groups is None:
        groups = c_in if cog == 1 else 1
    if groups < 1 or c_in % groups:
        raise DeconvError(
            f"--groups {groups} must divide C_in = {c_in} (kernel {kernel} has shape {weight.shape})", usage=True
        )
    c_out = cog * groups
    if bias is None and declared is not None and declared.bias is not None:
        spec = f"{split_member(kernel)[0]}:{declared.bias_name}"
        b = declared.bias
        if b.shape != (c_out,):
            raise DeconvError(
                f"bias {spec}: holds shape {b.shape} but the layer has {c_out} output channel(s) "
                f"(groups {groups}); give --groups or --bias",
                usage=True,
            )
        check_magnitude(b, f"bias {spec}")
        if not np.all(np.isfinite(b)):
            raise DeconvError(f"bias {spec}: holds NaN or infinite values")
        return Layer(groups, c_in, c_out, b.astype(np.float64), spec)
    return Layer(groups, c_in, c_out, None if bias is None else load_bias(bias, c_out), bias)


def load_bias(spec: str | os.PathLike, channels: int) -> np.ndarray:
    """A learned layer's bias: ``channels`` numbers from a file (``FILE[:NAME]``), an inline list or one number.

    A text file may hold them as one row or one column. Files are read as kernels are
    (regular files only, within the byte limits of :mod:`.limits`); every value must be
    finite and at most :data:`~.limits.MAX_VALUE` in magnitude.

    >>> load_bias("0.1,0.2,0.3", 3).tolist()
    [0.1, 0.2, 0.3]
    >>> load_bias("-0.5", 1).tolist()
    [-0.5]
    """
    text = os.fspath(spec)
    path, member = split_member(text)
    source = text
    from_file = exists(path)  # a directory, a FIFO or a device is refused by read_file, before it is opened
    if from_file:
        values, offset = read_file(path, member, "bias")
        if offset:
            raise DeconvError(f"bias {text}: a .mat offset has no meaning for a bias; give the numbers alone")
    else:
        source = show_name(text)
        inline = parse_inline(text, "bias")
        if inline is not None:
            values = inline
        else:
            number = parse_number(text.strip())
            if number is None:
                raise DeconvError(
                    f"bias {show(text)}: no such file, and not a number or a list like 0.1,0.2,0.3", usage=True
                )
            values = np.array([number])
    b = np.asarray(values)
    if b.dtype.kind not in "biuf":
        raise DeconvError(f"bias {source}: holds {b.dtype} values, not real numbers")
    if b.ndim == 2 and 1 in b.shape:
        b = b.ravel()
    if b.shape != (channels,):
        raise DeconvError(
            f"bias {source}: holds shape {b.shape} but the layer has {channels} output channel(s); "
            f"a bias is one number per output channel, shape ({channels},)",
            usage=not from_file,
        )
    if not np.all(np.isfinite(b)):
        raise DeconvError(f"bias {source}: holds NaN or infinite values", usage=not from_file)
    check_magnitude(b, f"bias {source}", usage=not from_file)
    return b.astype(np.float64)  # checked first: a long double beyond float64 would overflow here
