"""Kernel files and inline kernel strings: reading and writing each format.

Readers return the raw array (and, for libvips ``.mat`` files, the offset);
:func:`deconv_cli.kernels.load_kernel` checks what they return. Nothing here
ever unpickles: ``.npy``/``.npz`` are read with ``allow_pickle=False`` and
``.safetensors`` holds raw tensors only.

Nothing here reads without a bound (see :mod:`.limits`): a ``.npy`` header's
shape and dtype, a zip member's declared size and its own ``.npy`` header, a
``.safetensors`` JSON header's dtype, shape and offsets, a ``.mat`` header's
width and height are all checked before the data is read, every binary read
goes through a byte cap, and text files are read whole only when their size
is within :data:`~.limits.MAX_TEXT_BYTES`. Only regular files are opened.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from ..errors import DeconvError
from .binary import load_npy, load_npz, load_safetensors
from .limits import (
    MAX_KERNEL_TAPS,
    MAX_TEXT_BYTES,
    MAX_VALUE,
)
from .onnxfile import Declared
from .source import (
    EXPORT_HINT,
    check_regular,
    number,
    parse_number,
    show,
    too_many_numbers,
)
from .text import load_mat, load_text
from .torchfile import TORCH_SUFFIXES

try:
    from lzma import LZMAError
except ImportError:  # a Python built without lzma: zipfile cannot inflate such members either
    LZMAError = OSError  # type: ignore[misc,assignment]

FILE_SUFFIXES = (".npy", ".npz", ".txt", ".csv", ".mat", ".safetensors")
#: Model files: a learned layer with what the file declares besides the weight (see :func:`read_model`).
MODEL_SUFFIXES = (".onnx", *TORCH_SUFFIXES)
#: Formats that hold several named arrays: ``FILE:NAME`` picks one.
NAMED_SUFFIXES = (".npz", ".safetensors", *MODEL_SUFFIXES)
#: Formats that hold a 2-D kernel only.
FLAT_SUFFIXES = (".txt", ".csv", ".mat")
#: The array name written when none is given (PyTorch's name for a layer's kernel).
DEFAULT_NAME = "weight"

_PICKLE_SUFFIXES = (".pkl", ".pickle")


# ----------------------------------------------------------------------------- any file

#: The name that means "read the kernel from stdin" (``-k -``).
STDIN = "-"


def read_stdin(stream, what: str = "kernel") -> tuple[np.ndarray, float]:
    """The kernel piped on ``stream`` (binary): ``.npy`` or ``.npz`` told by their magic bytes,
    rows of numbers otherwise; at most :data:`~.limits.MAX_TEXT_BYTES` read. It goes through a
    private temporary file and :func:`read_file`, so every check a file gets applies."""
    import shutil
    import tempfile

    if stream is None:
        raise DeconvError(f"{what} -: stdin is closed; pipe a kernel in or give a file", usage=True)
    if stream.isatty():
        raise DeconvError(
            f"{what} -: stdin is a terminal; pipe a kernel in (cat k.txt | deconv ...) or give a file", usage=True
        )
    data = stream.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise DeconvError(f"{what} -: stdin brings more than {MAX_TEXT_BYTES} bytes, more than a kernel can take")
    if not data.strip():
        raise DeconvError(f"{what} -: nothing on stdin; pipe a kernel in (.npy or rows of numbers)", usage=True)
    suffix = ".npy" if data.startswith(b"\x93NUMPY") else ".npz" if data.startswith(b"PK\x03\x04") else ".txt"
    folder = tempfile.mkdtemp(prefix="deconv-kernel-")
    try:
        path = Path(folder) / f"stdin{suffix}"
        path.write_bytes(data)
        try:
            return read_file(path, None, what)
        except DeconvError as e:  # name stdin, not the temporary file
            raise DeconvError(str(e).replace(str(path), f"- (stdin, read as {suffix})"), usage=e.usage) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_file(path: Path, member: str | None, what: str = "kernel") -> tuple[np.ndarray, float]:
    """The array in a kernel file (``member`` picks one in .npz/.safetensors) and its offset (.mat only, else 0).

    ``what`` ("kernel" or "bias") names the source in messages. Only regular
    files are read: a FIFO, a device or a directory is refused before it is
    opened, whatever its name.
    """
    suffix = path.suffix.lower()
    if member is not None and suffix not in NAMED_SUFFIXES:
        raise DeconvError(
            f"{what} {path}:{member}: only .npz, .safetensors, .onnx and PyTorch checkpoints hold named arrays "
            "(FILE:NAME)"
        )
    if suffix in TORCH_SUFFIXES:
        from .torchfile import read_tensor

        return read_tensor(path, member, what), 0.0
    if suffix == ".onnx":
        from .onnxfile import read_onnx

        if what != "kernel":
            raise DeconvError(f"{what} {path}: an ONNX node's bias comes with its weight: give the model as -k")
        return read_onnx(path, member, what)[0], 0.0
    if suffix in _PICKLE_SUFFIXES:
        raise DeconvError(f"{what} {path}: {suffix} files are pickles, which deconv never loads; " + EXPORT_HINT)
    check_regular(path, what)
    if suffix == ".npy":
        return load_npy(path, what), 0.0
    if suffix == ".npz":
        return load_npz(path, member, what), 0.0
    if suffix == ".safetensors":
        return load_safetensors(path, member, what), 0.0
    if suffix in (".txt", ".csv"):
        return load_text(path, what), 0.0
    if suffix == ".mat":
        return load_mat(path, what)
    raise DeconvError(
        f"{what} {path}: unknown kernel file type {suffix or '(none)'!r}; use one of "
        f"{', '.join(FILE_SUFFIXES + MODEL_SUFFIXES)}"
    )


def read_model(path: Path, member: str | None) -> tuple[np.ndarray, Declared]:
    """The weight of a learned layer in a model file (``.onnx``: a ``ConvTranspose`` node, a PyTorch
    checkpoint: a state dict's tensor) and what the file declares beside it."""
    check_regular(path, "kernel")
    if path.suffix.lower() == ".onnx":
        from .onnxfile import read_onnx

        return read_onnx(path, member)
    from .torchfile import read_torch

    return read_torch(path, member)


def check_magnitude(values: np.ndarray, label: str, *, usage: bool = False) -> None:
    """Refuse finite values beyond :data:`~.limits.MAX_VALUE` in magnitude (compared in their own
    precision, so that a long double beyond float64 is caught before it is converted)."""
    if values.dtype.kind != "f" or values.size == 0:
        return
    wide = values if values.dtype.itemsize > 8 else values.astype(np.float64)
    beyond = np.abs(wide) > MAX_VALUE
    if beyond.any():
        where = tuple(int(i) for i in np.argwhere(beyond)[0])
        value = np.format_float_scientific(wide[where], trim="-")
        raise DeconvError(
            f"{label}: value {value} at index {where} is beyond ±{MAX_VALUE:g} ({int(beyond.sum())} such value(s)); "
            "deconv computes in float32, which overflows there",
            usage=usage,
        )


# ----------------------------------------------------------------------------- inline strings

_GRID = re.compile(r"^\s*([0-9]+)\s*x\s*([0-9]+)\s*([+-][0-9]+[+-][0-9]+)?\s*:(.*)$", re.S | re.I)
_LIST_FIELD = re.compile(r"[^\s,]+")


def parse_inline(text: str, what: str = "kernel") -> np.ndarray | None:
    """An ImageMagick-style kernel string, or None if ``text`` is not one.

    ``WxH:v,v,...`` is a grid of H rows of W values (row by row, separated
    by commas or spaces); ``a,b,c,...`` (at least two numbers, comma
    separated) is a 1-D list, returned 1-D (the caller makes the separable
    outer product of it for a kernel, or uses it as a bias). Numbers are
    plain ASCII decimals (``1_0`` and non-ASCII digits are not numbers); NaN
    and infinities are read, for the caller to refuse.

    >>> parse_inline("3x2:1,2,1, 2,4,2").tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0]]
    >>> parse_inline("0.25,0.75,0.75,0.25").tolist()
    [0.25, 0.75, 0.75, 0.25]
    >>> parse_inline("kernels/k.npy") is None
    True
    """
    label = f"{what} {show(text)}"
    m = _GRID.match(text)
    if m:
        if max(len(m.group(1)), len(m.group(2))) > 9:  # int() of thousands of digits is slow and refused
            raise DeconvError(f"{label}: width or height has more digits than any kernel size", usage=True)
        w, h, origin, body = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
        if origin:
            raise DeconvError(
                f"{label}: the origin {origin} is not supported; a transpose convolution places the "
                "kernel by --padding, so give WxH:values",
                usage=True,
            )
        if w < 1 or h < 1:
            raise DeconvError(f"{label}: width and height must be >= 1", usage=True)
        if w * h > MAX_KERNEL_TAPS:
            raise DeconvError(f"{label}: {w}x{h} = {w * h} taps, more than the {MAX_KERNEL_TAPS} allowed", usage=True)
        values, count = [], 0
        for field in _LIST_FIELD.finditer(body):
            count += 1
            if count <= w * h:
                values.append(number(field.group(), label))
        if count != w * h:
            raise DeconvError(f"{label}: {w}x{h} needs {w * h} values, got {count}", usage=True)
        return np.array(values).reshape(h, w)
    if "," not in text or "/" in text or "\\" in text:
        return None
    fields = _LIST_FIELD.finditer(text)
    first = next(fields, None)
    if first is None or parse_number(first.group()) is None:
        return None
    values = [number(first.group(), label)]
    for field in fields:
        if len(values) == MAX_KERNEL_TAPS:
            raise too_many_numbers(label)
        values.append(number(field.group(), label))
    return np.array(values)


def to_inline(kernel: np.ndarray) -> str:
    """A 2-D kernel as an ImageMagick-style ``WxH:v,v,...`` string (shortest exact float text).

    >>> to_inline(np.array([[0.25, 0.75], [1.0, -2.0]]))
    '2x2:0.25,0.75,1.0,-2.0'
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2:
        raise DeconvError(
            f"an inline kernel string holds a 2-D kernel only; shape {k.shape} needs .npy, .npz or .safetensors",
            usage=True,
        )
    return f"{k.shape[1]}x{k.shape[0]}:" + ",".join(repr(float(v)) for v in k.ravel())


# ----------------------------------------------------------------------------- writing


def to_bytes(kernel: np.ndarray, suffix: str, *, name: str | None = None, offset: float = 0.0) -> bytes:
    """Serialise a kernel for a file with ``suffix``, exactly (float64, shortest round-trip text).

    Parameters
    ----------
    kernel : (kh, kw), (C, kh, kw) or (C_in, C_out/groups, kh, kw) ndarray
    suffix : str
        One of :data:`FILE_SUFFIXES`; ``.txt``, ``.csv`` and ``.mat`` hold 2-D kernels only.
    name : str, optional
        Array name in ``.npz`` / ``.safetensors`` (default :data:`DEFAULT_NAME`).
    offset : float
        Written in a ``.mat`` header (scale 1); refused for formats that cannot hold it.

    Examples
    --------
    >>> to_bytes(np.array([[1.0, 2.0], [3.0, 4.0]]), ".mat", offset=128).decode()
    '2 2 1 128.0\\n1.0 2.0\\n3.0 4.0\\n'
    """
    k = np.ascontiguousarray(kernel, dtype=np.float64)
    suffix = suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise DeconvError(
            f"cannot write a kernel as {suffix or '(no extension)'!r}; use one of {', '.join(FILE_SUFFIXES)}",
            usage=True,
        )
    if name is not None and suffix not in NAMED_SUFFIXES:
        raise DeconvError(
            f"only .npz and .safetensors files hold named arrays; drop ':{name}' for {suffix}", usage=True
        )
    if suffix in FLAT_SUFFIXES and k.ndim != 2:
        raise DeconvError(
            f"{suffix} kernel files hold 2-D kernels only; save shape {k.shape} as .npy, .npz or .safetensors",
            usage=True,
        )
    if offset and suffix != ".mat":
        raise DeconvError(
            f"the kernel has offset {offset:g}, which only a .mat file can hold, not {suffix}", usage=True
        )
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, k, allow_pickle=False)
        return buf.getvalue()
    if suffix == ".npz":
        buf = io.BytesIO()
        np.savez(buf, **{name or DEFAULT_NAME: k})  # type: ignore[arg-type]  # numpy's stub types **kwds as its flags
        return buf.getvalue()
    if suffix == ".safetensors":
        from safetensors.numpy import save

        return save({name or DEFAULT_NAME: k})
    sep = "," if suffix == ".csv" else " "
    rows = "".join(sep.join(repr(float(v)) for v in row) + "\n" for row in k)
    if suffix == ".mat":
        return (f"{k.shape[1]} {k.shape[0]} 1 {float(offset)!r}\n" + rows).encode()
    return rows.encode()
