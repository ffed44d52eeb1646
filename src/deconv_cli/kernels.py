"""Built-in kernels and kernel files (.npy, .npz, .txt, .csv).

A kernel spec is a file path, ``file.npz:name``, or a built-in name
(``nearest``, ``bilinear``) that is generated for the stride in use.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from .core import Pair, as_pair
from .errors import DeconvError

BUILTIN = ("nearest", "bilinear")
FILE_SUFFIXES = (".npy", ".npz", ".txt", ".csv")
#: Larger kernels are refused: beyond this they are a mistake, not a filter.
MAX_KERNEL_TAPS = 1 << 20


def bilinear_1d(stride: int) -> np.ndarray:
    """The FCN / Caffe bilinear upsampling filter for one axis, size ``2s - s % 2``.

    Every stride phase sums to 1, so a constant image comes out flat, and
    with padding ``s // 2`` the output is exactly ``s`` times the input.

    >>> bilinear_1d(2).tolist()
    [0.25, 0.75, 0.75, 0.25]
    >>> np.round(bilinear_1d(3) * 3).tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    size = 2 * stride - stride % 2
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    return (factor - np.abs(np.arange(size) - center)) / factor


def make_kernel(name: str, stride: int | Pair | str = 2) -> np.ndarray:
    """Generate a built-in kernel for a stride.

    Parameters
    ----------
    name : {'nearest', 'bilinear'}
        ``nearest``: an ``sy x sx`` box of ones (each input pixel copied into
        its cell). ``bilinear``: the outer product of :func:`bilinear_1d` for
        each axis, ``(2sy - sy%2) x (2sx - sx%2)``.
    stride : int or (int, int)

    Returns
    -------
    kernel : (kh, kw) ndarray of float64

    Examples
    --------
    >>> make_kernel("nearest", (1, 2)).shape
    (1, 2)
    >>> make_kernel("bilinear", 2).shape, float(make_kernel("bilinear", 2).sum())
    ((4, 4), 4.0)
    """
    sy, sx = as_pair(stride, "stride")
    if sy < 1 or sx < 1:
        raise DeconvError(f"stride must be >= 1 to build a kernel, got {sy},{sx}", usage=True)
    key = name.strip().lower()
    if key == "nearest":
        return np.ones((sy, sx))
    if key == "bilinear":
        return np.outer(bilinear_1d(sy), bilinear_1d(sx))
    raise DeconvError(f"unknown built-in kernel {name!r}; built-ins are: {', '.join(BUILTIN)}", usage=True)


def intended_padding(name: str, stride: int | Pair | str) -> Pair:
    """The padding with which a built-in kernel gives exactly ``stride x`` the input.

    >>> intended_padding("bilinear", 2), intended_padding("bilinear", 3), intended_padding("nearest", 4)
    ((1, 1), (1, 1), (0, 0))
    """
    sy, sx = as_pair(stride, "stride")
    if name.strip().lower() == "nearest":
        return (0, 0)
    return (sy // 2, sx // 2)


def validate_kernel(k, source: str) -> np.ndarray:
    """Check a kernel array (2-D or 3-D, real, finite, non-empty) and return it as float64."""
    k = np.asarray(k)
    if k.dtype.kind not in "biuf":
        raise DeconvError(f"kernel {source}: holds {k.dtype} values, not real numbers")
    if k.ndim not in (2, 3):
        hint = " (for a separable kernel give the 2-D outer product, np.outer(a, b))" if k.ndim == 1 else ""
        raise DeconvError(
            f"kernel {source}: must be 2-D (kh x kw) or 3-D (C x kh x kw), got shape {k.shape}{hint}"
        )
    if k.size == 0:
        raise DeconvError(f"kernel {source}: is empty (shape {k.shape})")
    if k.size > MAX_KERNEL_TAPS:
        raise DeconvError(f"kernel {source}: {k.size} taps (shape {k.shape}) is more than the {MAX_KERNEL_TAPS} allowed")
    k = k.astype(np.float64)
    bad = ~np.isfinite(k)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DeconvError(f"kernel {source}: holds {int(bad.sum())} NaN/infinite value(s), the first at index {where}")
    return k


def _load_text(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DeconvError(f"kernel {path}: is not a text file (expected rows of numbers)") from None
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f for f in line.replace(",", " ").replace(";", " ").split()]
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            bad = next(f for f in fields if not _is_float(f))
            raise DeconvError(f"kernel {path}: line {lineno}: {bad!r} is not a number") from None
        if len(rows[-1]) != len(rows[0]):
            raise DeconvError(
                f"kernel {path}: line {lineno} has {len(rows[-1])} values but the first row has "
                f"{len(rows[0])}; every row must have the same length"
            )
    if not rows:
        raise DeconvError(f"kernel {path}: holds no numbers")
    return np.array(rows)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


_PICKLE_START = (b"\x80", b"(", b"c", b"]", b"}")


def _load_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        head = f.read(6)
        if head != b"\x93NUMPY":
            if head[:1] in _PICKLE_START:
                raise DeconvError(f"kernel {path}: holds a Python pickle, which deconv never loads; save it with np.save")
            raise DeconvError(f"kernel {path}: is not a .npy file (no NUMPY header)")
        f.seek(0)
        try:
            return np.load(f, allow_pickle=False)
        except ValueError as e:
            if "pickle" in str(e):
                raise DeconvError(f"kernel {path}: holds pickled Python objects, which deconv never loads") from None
            raise DeconvError(f"kernel {path}: is not a valid .npy file ({e})") from None
        except (OSError, EOFError) as e:
            raise DeconvError(f"kernel {path}: is not a valid .npy file ({e})") from None


def _load_npz(path: Path, name: str | None) -> np.ndarray:
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            names = list(z.files)
            if name is None:
                if len(names) != 1:
                    listed = ", ".join(names) or "none"
                    raise DeconvError(
                        f"kernel {path}: holds {len(names)} arrays ({listed}); pick one with {path}:NAME"
                    )
                name = names[0]
            if name not in names:
                raise DeconvError(f"kernel {path}: has no array {name!r}; it holds: {', '.join(names) or 'none'}")
            return z[name]
    except DeconvError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise DeconvError(f"kernel {path}: holds pickled Python objects, which deconv never loads") from None
        raise DeconvError(f"kernel {path}: is not a valid .npz file ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DeconvError(f"kernel {path}: is not a valid .npz file ({e})") from None


def _split_member(spec: str) -> tuple[Path, str | None]:
    path = Path(spec)
    if not path.exists() and ":" in spec:
        head, _, member = spec.rpartition(":")
        if head and Path(head).exists():
            return Path(head), member
    return path, None


def load_kernel(spec: str | os.PathLike, stride: int | Pair | str = 2) -> np.ndarray:
    """Load a kernel from a file, or build a built-in one for ``stride``.

    Parameters
    ----------
    spec : str or path
        ``k.npy`` (never unpickled), ``k.npz`` (its one array) or
        ``k.npz:NAME``, ``k.txt`` / ``k.csv`` (rows of numbers separated by
        spaces or commas, ``#`` starts a comment), or a built-in name
        (``nearest``, ``bilinear``).
    stride : int or (int, int)
        Used only by built-in kernels.

    Returns
    -------
    kernel : (kh, kw) or (C, kh, kw) ndarray of float64

    Raises
    ------
    DeconvError
        A missing file, an unknown name, or a kernel that is empty, not
        numeric, not finite, ragged or of the wrong dimension.

    Examples
    --------
    >>> load_kernel("bilinear", 2).shape
    (4, 4)
    """
    text = os.fspath(spec)
    if not text.strip():
        raise DeconvError("kernel: empty name; give a kernel file or a built-in name", usage=True)
    path, member = _split_member(text)
    if not path.exists():
        if text.strip().lower() in BUILTIN:
            return make_kernel(text, stride)
        raise DeconvError(
            f"kernel {text!r}: no such file, and not a built-in kernel ({', '.join(BUILTIN)})", usage=True
        )
    if path.is_dir():
        raise DeconvError(f"kernel {path}: is a directory, not a kernel file")
    suffix = path.suffix.lower()
    if member is not None and suffix != ".npz":
        raise DeconvError(f"kernel {text}: only .npz files hold named arrays (FILE.npz:NAME)")
    try:
        if suffix == ".npy":
            k = _load_npy(path)
        elif suffix == ".npz":
            k = _load_npz(path, member)
        elif suffix in (".txt", ".csv"):
            k = _load_text(path)
        else:
            raise DeconvError(
                f"kernel {path}: unknown kernel file type {suffix or '(none)'!r}; use one of {', '.join(FILE_SUFFIXES)}"
            )
    except PermissionError:
        raise DeconvError(f"kernel {path}: permission denied") from None
    return validate_kernel(k, str(path) + (f":{member}" if member else ""))


def kernel_to_bytes(kernel: np.ndarray, suffix: str) -> bytes:
    """Serialise a kernel for a file with ``suffix`` (.npy, .txt or .csv)."""
    k = np.asarray(kernel, dtype=np.float64)
    suffix = suffix.lower()
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, k, allow_pickle=False)
        return buf.getvalue()
    if suffix in (".txt", ".csv"):
        if k.ndim != 2:
            raise DeconvError(f"{suffix} kernel files hold 2-D kernels only; save shape {k.shape} as .npy")
        sep = "," if suffix == ".csv" else " "
        return "".join(sep.join(repr(float(v)) for v in row) + "\n" for row in k).encode()
    raise DeconvError(f"cannot write a kernel as {suffix or '(no extension)'!r}; use .npy, .txt or .csv", usage=True)
