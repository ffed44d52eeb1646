"""Kernels: what ``--kernel`` names, resolved to an array.

A kernel spec is, in this order of precedence:

1. a file: ``k.npy``, ``k.npz`` / ``k.npz:NAME``, ``k.safetensors`` /
   ``k.safetensors:NAME``, ``k.txt`` / ``k.csv`` (rows of numbers), ``k.mat``
   (a libvips matrix, whose offset is kept beside the array; see
   :class:`Kernel`); a learned layer from a model file, ``model.onnx`` /
   ``model.onnx:NODE`` (a ``ConvTranspose`` node, see :mod:`.onnxfile`) or
   ``ckpt.pt:NAME`` (a state dict's tensor, see :mod:`.torchfile`), with what the
   file declares beside the weight in :attr:`Kernel.declared`;
2. a built-in name, generated for the stride in use, with optional
   parameters: ``nearest``, ``bilinear``, ``bicubic``, ``lanczos2``,
   ``lanczos3``, ``gaussian:sigma=1.2`` (see :mod:`.builtin`);
3. an ImageMagick-style inline string: ``3x3:1,2,1,2,4,2,1,2,1`` (W x H
   values, row by row) or a 1-D list ``0.25,0.75,0.75,0.25`` meaning the
   separable outer product of the list with itself.

Arrays may be 2-D ``(kh, kw)`` (every channel), 3-D ``(C, kh, kw)`` (one
kernel per channel) or 4-D ``(C_in, C_out/groups, kh, kw)``, PyTorch's
``ConvTranspose2d.weight`` layout (a learned layer that mixes channels; see
:func:`deconv_cli.core.conv_transpose2d_layer`).

Files are read within the limits of :mod:`.limits`: regular files only (never a
FIFO or a device), shapes and sizes checked from headers before any data is
read, a byte cap on every read, and every value finite and at most
:data:`~.limits.MAX_VALUE` in magnitude.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core import Pair
from ..core.normalize import normalize_kernel
from ..errors import DeconvError
from ..modes import Normalize
from .builtin import (
    BUILTIN,
    FILTERS,
    bilinear_1d,
    build,
    intended_padding,
    kernel_1d,
    make_kernel,
    parse_builtin,
)
from .formats import (
    FILE_SUFFIXES,
    MODEL_SUFFIXES,
    NAMED_SUFFIXES,
    STDIN,
    check_magnitude,
    parse_inline,
    read_file,
    read_model,
    read_stdin,
    to_bytes,
    to_inline,
)
from .layer import Layer, load_bias, make_layer
from .limits import MAX_KERNEL_TAPS, MAX_VALUE
from .onnxfile import Declared
from .source import exists, show, split_member

__all__ = [
    "BUILTIN",
    "FILTERS",
    "FILE_SUFFIXES",
    "MAX_KERNEL_TAPS",
    "Declared",
    "Kernel",
    "Layer",
    "bilinear_1d",
    "intended_padding",
    "kernel_1d",
    "kernel_to_bytes",
    "load_bias",
    "load_kernel",
    "make_kernel",
    "make_layer",
    "open_kernel",
    "is_model_file",
    "open_run_kernel",
    "save_kernel",
    "to_inline",
    "validate_kernel",
]


@dataclass(frozen=True)
class Kernel:
    """A resolved kernel spec.

    Attributes
    ----------
    weight : (kh, kw), (C, kh, kw) or (C_in, C_out/groups, kh, kw) ndarray of float64
        Already divided by a ``.mat`` file's scale.
    offset : float
        Added to every output sample after the convolution (a libvips
        ``.mat`` header's offset, in the image's units); 0 for every other
        source.
    source : str
        The spec as given, for messages.
    layer : Layer or None
        For a 4-D weight used as a learned layer: its groups and bias.
    normalize : Normalize
        How ``weight`` was rescaled from the source's values (``--normalize``).
    factors : (P, sy, sx) ndarray or None
        The factor each stride phase of each plane was multiplied by (None: not rescaled).
    declared : Declared or None
        What a model file (``.onnx``, a PyTorch checkpoint) says beside the weight: the geometry
        and groups of an ONNX node, the bias found with the weight (None: any other source).
    """

    weight: np.ndarray
    offset: float = 0.0
    source: str = ""
    layer: Layer | None = None
    normalize: Normalize = Normalize.none
    factors: np.ndarray | None = None
    declared: Declared | None = None


def validate_kernel(k, source: str) -> np.ndarray:
    """Check a kernel array (2-D, 3-D or 4-D, real, finite, non-empty, at most
    :data:`~.limits.MAX_KERNEL_TAPS` taps each at most :data:`~.limits.MAX_VALUE` in magnitude)
    and return it as float64."""
    k = np.asarray(k)
    if k.dtype.kind not in "biuf":
        raise DeconvError(f"kernel {source}: holds {k.dtype} values, not real numbers")
    if k.ndim not in (2, 3, 4):
        hint = " (for a separable kernel give the 2-D outer product, np.outer(a, b))" if k.ndim == 1 else ""
        raise DeconvError(
            f"kernel {source}: must be 2-D (kh x kw), 3-D (C x kh x kw) or 4-D (C_in x C_out/groups x kh x kw), "
            f"got shape {k.shape}{hint}"
        )
    if k.size == 0:
        raise DeconvError(f"kernel {source}: is empty (shape {k.shape})")
    if k.size > MAX_KERNEL_TAPS:
        raise DeconvError(
            f"kernel {source}: {k.size} taps (shape {k.shape}) is more than the {MAX_KERNEL_TAPS} allowed"
        )
    _check_finite(k, f"kernel {source}")
    check_magnitude(k, f"kernel {source}")
    return k.astype(np.float64)  # checked first: a long double beyond float64 would overflow here


def _check_finite(k: np.ndarray, label: str) -> None:
    bad = ~np.isfinite(k)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DeconvError(f"{label}: holds {int(bad.sum())} NaN/infinite value(s), the first at index {where}")


def _separable(values: np.ndarray, text: str) -> np.ndarray:
    """The outer product of an inline list with itself, its size and values checked before it is made."""
    label = f"kernel {show(text)}"
    n = values.size
    if n * n > MAX_KERNEL_TAPS:
        raise DeconvError(
            f"{label}: its separable outer product would have {n}x{n} = {n * n} taps, more than the "
            f"{MAX_KERNEL_TAPS} allowed"
        )
    _check_finite(values, label)
    largest = float(np.abs(values).max())
    if largest * largest > MAX_VALUE:
        raise DeconvError(
            f"{label}: values up to {largest:g}, whose squares in its separable outer product exceed ±{MAX_VALUE:g}"
        )
    return np.outer(values, values)


def open_kernel(spec: str | os.PathLike, stride: int | Pair | str = 2) -> Kernel:
    """Resolve a kernel spec (file, built-in name or inline string) into a :class:`Kernel`.

    Parameters
    ----------
    spec : str or path
        See the module documentation for the forms.
    stride : int or (int, int)
        Used only by built-in kernels.

    Raises
    ------
    DeconvError
        A missing file, an unknown name, a malformed inline string, or a
        kernel that is empty, not numeric, not finite, ragged, pickled, or
        of the wrong dimension; one line that names the file.

    Examples
    --------
    >>> open_kernel("bicubic", 2).weight.shape
    (8, 8)
    >>> open_kernel("0.5,1,0.5").weight.tolist()
    [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]
    """
    return _open(os.fspath(spec), lambda name: make_kernel(name, stride))


def _open(text: str, builtin: Callable[[str], np.ndarray]) -> Kernel:
    """:func:`open_kernel`, with ``builtin(name)`` making a built-in kernel."""
    if not text.strip():
        raise DeconvError("kernel: empty name; give a kernel file or a built-in name", usage=True)
    if text == STDIN:
        import sys

        k, offset = read_stdin(getattr(sys.stdin, "buffer", None))
        return Kernel(validate_kernel(k, "- (stdin)"), offset, text)
    path, member = split_member(text)
    if exists(path) and path.suffix.lower() in MODEL_SUFFIXES:
        k, declared = read_model(path, member)
        label = f"{path}:{declared.name}" if declared.name else str(path)
        return Kernel(validate_kernel(k, label), 0.0, text, declared=declared)
    if exists(path):  # a directory, a FIFO or a device is refused by read_file, before it is opened
        k, offset = read_file(path, member)
        return Kernel(validate_kernel(k, str(path) + (f":{member}" if member else "")), offset, text)
    if parse_builtin(text) is not None:
        return Kernel(builtin(text), 0.0, text)
    inline = parse_inline(text)
    if inline is not None:
        k = _separable(inline, text) if inline.ndim == 1 else inline
        return Kernel(validate_kernel(k, show(text)), 0.0, text)
    raise DeconvError(
        f"kernel {show(text)}: no such file, and not a built-in kernel ({', '.join(BUILTIN)}) "
        "or an inline kernel (WxH:v,v,... or a,b,c,...)",
        usage=True,
    )


def is_model_file(spec: str) -> bool:
    """True when ``spec`` names an existing model file (``.onnx``, a PyTorch checkpoint), with or
    without ``:NAME``: a kernel whose file may declare its own geometry."""
    path, _ = split_member(spec)
    return path.suffix.lower() in MODEL_SUFFIXES and exists(path)


def open_run_kernel(
    spec: str | os.PathLike,
    stride: Pair,
    *,
    groups: int | None = None,
    bias: str | None = None,
    normalize: Normalize = Normalize.none,
    dilation: Pair = (1, 1),
) -> Kernel:
    """The kernel of a run, resolved once: :func:`open_kernel` for a checked stride, with the
    :class:`Layer` (groups and bias, see :func:`make_layer`) of a 4-D weight, rescaled as
    ``normalize`` asks (:func:`~deconv_cli.core.normalize.normalize_kernel`).

    ``groups`` None takes a model file's own (an ONNX node's ``group``); a different one is a usage
    error naming both. ``bias`` None takes the bias stored with the weight, if any.

    A learned layer is never rescaled: its weights are the model, and with channels mixing there
    is no one phase sum per output to make 1."""
    kern = _open(os.fspath(spec), lambda name: build(name, stride))
    kern = replace(kern, layer=make_layer(kern.weight, groups, bias, os.fspath(spec), kern.declared))
    if normalize is Normalize.none:
        return kern
    weight, factors = normalize_kernel(kern.weight, stride, dilation, normalize, f"kernel {show(os.fspath(spec))}")
    return replace(kern, weight=weight, normalize=normalize, factors=factors)


def load_kernel(spec: str | os.PathLike, stride: int | Pair | str = 2) -> np.ndarray:
    """Load a kernel from a file, a built-in name or an inline string; the array only.

    Parameters
    ----------
    spec : str or path
        ``k.npy`` (never unpickled), ``k.npz`` / ``k.safetensors`` (their one
        array) or ``FILE:NAME``, ``k.txt`` / ``k.csv`` (rows of numbers
        separated by spaces or commas, ``#`` starts a comment), ``k.mat``
        (libvips), a built-in name (``bicubic``, ``gaussian:sigma=1.2``, ...)
        or an inline string (``3x3:...``, ``a,b,c``).
    stride : int or (int, int)
        Used only by built-in kernels.

    Returns
    -------
    kernel : (kh, kw), (C, kh, kw) or (C_in, C_out/groups, kh, kw) ndarray of float64
        A ``.mat`` file's offset is not part of the array: use
        :func:`open_kernel` where it matters.

    Raises
    ------
    DeconvError
        See :func:`open_kernel`.

    Examples
    --------
    >>> load_kernel("bilinear", 2).shape
    (4, 4)
    >>> load_kernel("3x2:1,2,1,2,4,2").shape
    (2, 3)
    """
    return open_kernel(spec, stride).weight


def kernel_to_bytes(kernel: np.ndarray, suffix: str, *, name: str | None = None, offset: float = 0.0) -> bytes:
    """Serialise a kernel for a file with ``suffix`` (one of :data:`FILE_SUFFIXES`); see :func:`.formats.to_bytes`."""
    return to_bytes(kernel, suffix, name=name, offset=offset)


def save_kernel(kernel: np.ndarray, dst: str | os.PathLike, *, offset: float = 0.0, overwrite: bool = False) -> Path:
    """Write a kernel atomically to ``dst`` (``FILE`` or ``FILE.npz:NAME`` / ``FILE.safetensors:NAME``).

    The format comes from the extension; a named array replaces the whole
    file (nothing is merged into an existing one). Returns the file written.
    """
    from ..imageio import atomic_write

    text = os.fspath(dst)
    path, name = Path(text), None
    head, sep, tail = text.rpartition(":")
    if sep and Path(head).suffix.lower() in NAMED_SUFFIXES and tail and "/" not in tail:
        path, name = Path(head), tail
    data = to_bytes(kernel, path.suffix, name=name, offset=offset)
    atomic_write(path, lambda f: f.write(data), overwrite=overwrite)
    return path
