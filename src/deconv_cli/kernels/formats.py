"""Kernel files and inline kernel strings: reading and writing each format.

Readers return the raw array (and, for libvips ``.mat`` files, the offset);
:func:`deconv_cli.kernels.load_kernel` checks what they return. Nothing here
ever unpickles: ``.npy``/``.npz`` are read with ``allow_pickle=False`` and
``.safetensors`` holds raw tensors only.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DeconvError

FILE_SUFFIXES = (".npy", ".npz", ".txt", ".csv", ".mat", ".safetensors")
#: Formats that hold several named arrays: ``FILE:NAME`` picks one.
NAMED_SUFFIXES = (".npz", ".safetensors")
#: Formats that hold a 2-D kernel only.
FLAT_SUFFIXES = (".txt", ".csv", ".mat")
#: The array name written when none is given (PyTorch's name for a layer's kernel).
DEFAULT_NAME = "weight"

_PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
_PICKLE_START = (b"\x80", b"(", b"c", b"]", b"}")
_EXPORT_HINT = (
    "export the tensor with safetensors (from safetensors.torch import save_file; "
    "save_file({'weight': layer.weight.detach().contiguous()}, 'layer.safetensors'))"
)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


# ----------------------------------------------------------------------------- text


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DeconvError(f"kernel {path}: is not a text file (expected {what})") from None


def _numbers(fields: list[str], where: str) -> list[float]:
    out = []
    for f in fields:
        try:
            out.append(float(f))
        except ValueError:
            raise DeconvError(f"{where}: {f!r} is not a number") from None
    return out


def load_text(path: Path) -> np.ndarray:
    """Rows of numbers separated by spaces, commas or semicolons; ``#`` starts a comment."""
    rows: list[list[float]] = []
    for lineno, line in enumerate(_read_text(path, "rows of numbers").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        rows.append(_numbers(line.replace(",", " ").replace(";", " ").split(), f"kernel {path}: line {lineno}"))
        if len(rows[-1]) != len(rows[0]):
            raise DeconvError(
                f"kernel {path}: line {lineno} has {len(rows[-1])} values but the first row has "
                f"{len(rows[0])}; every row must have the same length"
            )
    if not rows:
        raise DeconvError(f"kernel {path}: holds no numbers")
    return np.array(rows)


_MAT_SEP = re.compile(r'[\s,"]+')


def load_mat(path: Path) -> tuple[np.ndarray, float]:
    """A libvips matrix file: ``width height [scale [offset]]``, then ``height`` rows of ``width`` numbers.

    Returns the matrix divided by ``scale``, and ``offset`` (added after the
    convolution). Numbers are separated by spaces, tabs, commas or double
    quotes, as libvips reads them; blank lines are skipped. Unlike libvips,
    which ignores what follows, extra numbers on a row and extra rows are
    refused, so a header that does not match its data is caught.
    """
    lines = [
        (n, [f for f in _MAT_SEP.split(line.strip()) if f])
        for n, line in enumerate(_read_text(path, "a libvips matrix").splitlines(), 1)
        if line.strip()
    ]
    if not lines:
        raise DeconvError(f"kernel {path}: is empty; a libvips matrix starts with 'width height [scale [offset]]'")
    head_no, head = lines[0]
    if not 2 <= len(head) <= 4:
        raise DeconvError(
            f"kernel {path}: line {head_no}: the header must be 'width height [scale [offset]]' (2 to 4 numbers), "
            f"got {len(head)}"
        )
    values = _numbers(head, f"kernel {path}: line {head_no} (header)")
    width, height = values[0], values[1]
    for label, v in (("width", width), ("height", height)):
        if not (v.is_integer() and v >= 1):
            raise DeconvError(f"kernel {path}: line {head_no}: {label} must be a positive integer, got {v:g}")
    scale = values[2] if len(values) > 2 else 1.0
    offset = values[3] if len(values) > 3 else 0.0
    if not all(math.isfinite(v) for v in values):
        raise DeconvError(f"kernel {path}: line {head_no}: the header holds a NaN or infinite number")
    if scale == 0:
        raise DeconvError(
            f"kernel {path}: line {head_no}: scale is 0; the matrix is divided by it, so it must be non-zero"
        )
    w, h = int(width), int(height)
    rows = lines[1:]
    if len(rows) != h:
        raise DeconvError(f"kernel {path}: the header says {h} row(s) (height) but {len(rows)} follow")
    data = []
    for n, fields in rows:
        if len(fields) != w:
            raise DeconvError(f"kernel {path}: line {n} has {len(fields)} value(s) but the header says width {w}")
        data.append(_numbers(fields, f"kernel {path}: line {n}"))
    return np.array(data) / scale, offset


# ----------------------------------------------------------------------------- binary


def load_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        head = f.read(6)
        if head != b"\x93NUMPY":
            if head[:1] in _PICKLE_START:
                raise DeconvError(
                    f"kernel {path}: holds a Python pickle, which deconv never loads; save it with np.save"
                )
            raise DeconvError(f"kernel {path}: is not a .npy file (no NUMPY header)")
        f.seek(0)
        try:
            return np.load(f, allow_pickle=False)
        except ValueError as e:
            if "pickle" in str(e):
                raise DeconvError(f"kernel {path}: holds pickled Python objects, which deconv never loads") from None
            raise DeconvError(f"kernel {path}: is not a valid .npy file ({_one_line(e)})") from None
        except (OSError, EOFError) as e:
            raise DeconvError(f"kernel {path}: is not a valid .npy file ({_one_line(e)})") from None


def _pick(path: Path, names: list[str], name: str | None, kind: str) -> str:
    listed = ", ".join(names) or "none"
    if name is None:
        if len(names) != 1:
            raise DeconvError(f"kernel {path}: holds {len(names)} {kind}s ({listed}); pick one with {path}:NAME")
        return names[0]
    if name not in names:
        raise DeconvError(f"kernel {path}: has no {kind} {name!r}; it holds: {listed}")
    return name


def load_npz(path: Path, name: str | None) -> np.ndarray:
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            return z[_pick(path, list(z.files), name, "array")]
    except DeconvError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise DeconvError(f"kernel {path}: holds pickled Python objects, which deconv never loads") from None
        raise DeconvError(f"kernel {path}: is not a valid .npz file ({_one_line(e)})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DeconvError(f"kernel {path}: is not a valid .npz file ({_one_line(e)})") from None


def load_safetensors(path: Path, name: str | None) -> np.ndarray:
    """One tensor of a ``.safetensors`` file, through the safetensors package's numpy API
    (never torch, never pickle)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            chosen = _pick(path, list(f.keys()), name, "tensor")
            dtype = f.get_slice(chosen).get_dtype()
            if dtype in ("BF16", "F8_E4M3", "F8_E5M2"):
                raise DeconvError(
                    f"kernel {path}: tensor {chosen!r} is {dtype}, which numpy cannot hold; "
                    "save it as float32 (tensor.float()) before exporting"
                )
            return f.get_tensor(chosen)
    except SafetensorError as e:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head.startswith(b"PK\x03\x04"):
            raise DeconvError(
                f"kernel {path}: is a zip archive (what torch.save writes: pickled objects), which deconv never loads; "
                + _EXPORT_HINT
            ) from None
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            raise DeconvError(
                f"kernel {path}: holds a Python pickle, which deconv never loads; " + _EXPORT_HINT
            ) from None
        raise DeconvError(f"kernel {path}: is not a valid .safetensors file ({_one_line(e)})") from None
    except (TypeError, ValueError) as e:  # a dtype numpy does not know
        raise DeconvError(f"kernel {path}: cannot be read as numpy arrays ({_one_line(e)})") from None


def read_file(path: Path, member: str | None) -> tuple[np.ndarray, float]:
    """The array in a kernel file (``member`` picks one in .npz/.safetensors) and its offset (.mat only, else 0)."""
    suffix = path.suffix.lower()
    if member is not None and suffix not in NAMED_SUFFIXES:
        raise DeconvError(f"kernel {path}:{member}: only .npz and .safetensors files hold named arrays (FILE:NAME)")
    if suffix in _PICKLE_SUFFIXES:
        raise DeconvError(f"kernel {path}: {suffix} files are pickles, which deconv never loads; " + _EXPORT_HINT)
    if suffix == ".npy":
        return load_npy(path), 0.0
    if suffix == ".npz":
        return load_npz(path, member), 0.0
    if suffix == ".safetensors":
        return load_safetensors(path, member), 0.0
    if suffix in (".txt", ".csv"):
        return load_text(path), 0.0
    if suffix == ".mat":
        return load_mat(path)
    raise DeconvError(
        f"kernel {path}: unknown kernel file type {suffix or '(none)'!r}; use one of {', '.join(FILE_SUFFIXES)}"
    )


# ----------------------------------------------------------------------------- inline strings

_GRID = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*([+-]\d+[+-]\d+)?\s*:(.*)$", re.S | re.I)
_LIST_SPLIT = re.compile(r"[\s,]+")


def parse_inline(text: str) -> np.ndarray | None:
    """An ImageMagick-style kernel string, or None if ``text`` is not one.

    ``WxH:v,v,...`` is a grid of H rows of W values (row by row, separated
    by commas or spaces); ``a,b,c,...`` (at least two numbers, comma
    separated) is a 1-D list, returned 1-D (the caller makes the separable
    outer product of it for a kernel, or uses it as a bias).

    >>> parse_inline("3x2:1,2,1, 2,4,2").tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0]]
    >>> parse_inline("0.25,0.75,0.75,0.25").tolist()
    [0.25, 0.75, 0.75, 0.25]
    >>> parse_inline("kernels/k.npy") is None
    True
    """
    m = _GRID.match(text)
    if m:
        w, h, origin, body = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
        if origin:
            raise DeconvError(
                f"kernel {text!r}: the origin {origin} is not supported; a transpose convolution places the "
                "kernel by --padding, so give WxH:values",
                usage=True,
            )
        if w < 1 or h < 1:
            raise DeconvError(f"kernel {text!r}: width and height must be >= 1", usage=True)
        fields = [f for f in _LIST_SPLIT.split(body.strip()) if f]
        values = _numbers(fields, f"kernel {text!r}")
        if len(values) != w * h:
            raise DeconvError(f"kernel {text!r}: {w}x{h} needs {w * h} values, got {len(values)}", usage=True)
        return np.array(values).reshape(h, w)
    if "," not in text or "/" in text or "\\" in text:
        return None
    fields = [f for f in _LIST_SPLIT.split(text.strip()) if f]
    try:
        float(fields[0])
    except (ValueError, IndexError):
        return None
    values = _numbers(fields, f"kernel {text!r}")
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
