"""Learned layers in PyTorch checkpoints: one 4-D tensor of a state dict (``.pt``, ``.pth``,
``.bin``, ``.ckpt``) and its sibling ``.bias``.

Read with ``torch.load(..., weights_only=True)`` (``pip install "deconv-cli[torch]"``), never a
full unpickle: a file that needs one (a pickled ``nn.Module``) is refused. Zip checkpoints (what
``torch.save`` writes since PyTorch 1.6) are memory-mapped, so only the tensors asked for are
read; the tensor's shape is checked against :data:`~.limits.MAX_KERNEL_TAPS` before its values
are copied. A state dict does not store the geometry: it comes from the command line.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeconvError, one_line
from .limits import MAX_BINARY_BYTES, MAX_KERNEL_TAPS
from .onnxfile import Declared
from .source import check_regular, show, show_name, show_names, too_many_taps

#: The suffixes read as PyTorch checkpoints.
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
INSTALL_HINT = 'install the PyTorch extra: pip install "deconv-cli[torch]"'
SAVE_HINT = "save the weights alone: torch.save(model.state_dict(), 'model.pt')"


def _flatten(obj: Mapping, prefix: str, out: dict[str, Any], torch: Any) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            out[name] = value
        elif isinstance(value, Mapping):  # {"state_dict": {...}} as Lightning and training loops save them
            _flatten(value, name + ".", out, torch)


def load_state_dict(path: Path, what: str = "kernel") -> dict[str, Any]:
    """Every tensor of the checkpoint at ``path``, by its dotted name (nested dicts joined with dots);
    memory-mapped where the file allows, never fully unpickled."""
    label = f"{what} {path}"
    try:
        import torch
    except ImportError:
        raise DeconvError(
            f"{label}: {path.suffix} files are PyTorch pickles, read only with torch's weights_only loader; "
            f"{INSTALL_HINT}, or export the tensor to .safetensors"
        ) from None
    check_regular(path, what)
    mmap = zipfile.is_zipfile(path)
    if not mmap and path.stat().st_size > MAX_BINARY_BYTES:
        raise DeconvError(
            f"{label}: a legacy (non-zip) checkpoint of {path.stat().st_size} bytes, which would be read whole; "
            f"deconv reads at most {MAX_BINARY_BYTES} bytes of those: re-save it with a current torch.save"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:
        text = one_line(e)
        if "Weights only load failed" in text or "weights_only" in text:
            raise DeconvError(
                f"{label}: is not a state dict (it holds pickled Python objects, such as a whole nn.Module, "
                f"which deconv never unpickles); {SAVE_HINT}"
            ) from None
        raise DeconvError(f"{label}: is not a PyTorch checkpoint torch can read ({show(text, 100)})") from None
    if isinstance(obj, torch.Tensor):
        return {"": obj}
    if not isinstance(obj, Mapping):
        raise DeconvError(f"{label}: holds a {type(obj).__name__}, not a state dict; {SAVE_HINT}")
    out: dict[str, Any] = {}
    _flatten(obj, "", out, torch)
    return out


def _numpy(tensor: Any, label: str) -> np.ndarray:
    """The tensor as float64 numpy, its size checked before its values are copied out of the file."""
    import torch

    shape = tuple(tensor.shape)
    taps = math.prod(shape)
    if taps > MAX_KERNEL_TAPS:
        raise too_many_taps(label, taps, shape)
    if tensor.is_complex():
        raise DeconvError(f"{label}: holds {tensor.dtype} values, not real numbers")
    return tensor.detach().to(dtype=torch.float64).numpy().copy()


def read_tensor(path: Path, name: str | None, what: str = "bias") -> np.ndarray:
    """One tensor of a checkpoint by name (the only one when None), e.g. a ``--bias``."""
    tensors = load_state_dict(path, what)
    if name is None:
        if len(tensors) != 1:
            raise DeconvError(f"{what} {path}: holds {len(tensors)} tensors; pick one with {path}:NAME", usage=True)
        name = next(iter(tensors))
    if name not in tensors:
        raise DeconvError(
            f"{what} {path}: has no tensor {show(name, 60)}; it holds: {show_names(list(tensors))}", usage=True
        )
    return _numpy(tensors[name], f"{what} {path}:{show_name(name)}")


def read_torch(path: Path, member: str | None, what: str = "kernel") -> tuple[np.ndarray, Declared]:
    """The 4-D tensor ``member`` of the state dict at ``path`` (the only 4-D one when None) and its
    sibling bias (``NAME.weight`` -> ``NAME.bias``, when it is there and 1-D)."""
    tensors = load_state_dict(path, what)
    four = [n for n, t in tensors.items() if t.dim() == 4]
    if member is None:
        if len(four) != 1:
            raise DeconvError(
                f"{what} {path}: holds {len(four)} 4-D tensors ({show_names(four)}); pick one with {path}:NAME "
                f"(deconv layers {path} lists them)",
                usage=True,
            )
        member = four[0]
    if member not in tensors:
        raise DeconvError(
            f"{what} {path}: has no tensor {show(member, 60)}; its 4-D tensors: {show_names(four)}", usage=True
        )
    label = f"{what} {path}:{show_name(member)}" if member else f"{what} {path}"
    weight = _numpy(tensors[member], label)
    bias, bias_name = None, ""
    if member.endswith("weight"):
        sibling = member[: -len("weight")] + "bias"
        t = tensors.get(sibling)
        if t is not None and t.dim() == 1:
            bias, bias_name = _numpy(t, f"{what} {path}:{show_name(sibling)}"), sibling
    return weight, Declared(None, None, bias, bias_name, member)
