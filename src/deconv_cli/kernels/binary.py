"""Kernels in binary files: ``.npy``, ``.npz`` and ``.safetensors``, each shape and dtype checked
from the header and the data read through a byte cap (never a pickle)."""

from __future__ import annotations

import json
import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeconvError, one_line
from .limits import (
    MAX_BINARY_BYTES,
    MAX_DATA_BYTES,
    MAX_HEADER_BYTES,
    MAX_KERNEL_TAPS,
)
from .source import (
    EXPORT_HINT,
    PICKLE_START,
    SHOWN_NAME,
    Capped,
    open_regular,
    show,
    show_name,
    show_names,
    too_many_taps,
)

try:
    from lzma import LZMAError
except ImportError:  # a Python built without lzma: zipfile cannot inflate such members either
    LZMAError = OSError  # type: ignore[misc,assignment]


_NPY_MAGIC = b"\x93NUMPY"
_NPY_HEADERS = {b"\x01\x00": np.lib.format.read_array_header_1_0, b"\x02\x00": np.lib.format.read_array_header_2_0}


def _npy_array(f: Any, label: str, noun: str = ".npy file") -> np.ndarray:
    """One ``.npy`` array from a stream at its start. The header (format version, dtype, shape) is
    checked against the limits first; then exactly the declared data is read."""
    head = f.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC:
        if head[:1] in PICKLE_START:
            raise DeconvError(f"{label}: holds a Python pickle, which deconv never loads; save it with np.save")
        raise DeconvError(f"{label}: is not a {noun} (no NUMPY header)")
    version = f.read(2)
    if version not in _NPY_HEADERS:
        shown = ".".join(str(b) for b in version) or "missing"
        raise DeconvError(
            f"{label}: is not a valid .npy file (format version {shown}; deconv reads 1.0 and 2.0, "
            "what np.save writes for arrays of numbers)"
        )
    try:
        shape, fortran_order, dtype = _NPY_HEADERS[version](f)
    except Exception as e:  # numpy parses the header as a Python literal: ValueError, TokenError, RecursionError...
        raise DeconvError(f"{label}: is not a valid .npy file ({one_line(e) or type(e).__name__})") from None
    if not isinstance(shape, tuple) or not all(type(d) is int for d in shape):
        raise DeconvError(f"{label}: is not a valid .npy file (shape {shape!r} is not a tuple of integers)")
    if dtype.hasobject:
        raise DeconvError(f"{label}: holds pickled Python objects, which deconv never loads")
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise DeconvError(f"{label}: holds {dtype} values, not real numbers")
    if any(d < 0 for d in shape):
        raise DeconvError(f"{label}: is not a valid .npy file (shape {shape} has a negative size)")
    taps = math.prod(shape)
    if taps > MAX_KERNEL_TAPS:
        raise too_many_taps(label, taps, shape)
    nbytes = taps * dtype.itemsize
    if nbytes > MAX_DATA_BYTES:
        raise DeconvError(
            f"{label}: its {taps} values of {dtype} take {nbytes} bytes, more than the {MAX_DATA_BYTES} bytes "
            f"a kernel may hold ({MAX_KERNEL_TAPS} float64 values)"
        )
    data = f.read(nbytes)
    if len(data) < nbytes:
        raise DeconvError(
            f"{label}: is truncated: its header declares shape {shape} of {dtype} ({nbytes} bytes of data) "
            f"but {len(data)} follow"
        )
    flat = np.frombuffer(data, dtype=dtype, count=taps).copy()
    return flat.reshape(shape, order="F" if fortran_order else "C")


def load_npy(path: Path, what: str = "kernel") -> np.ndarray:
    label = f"{what} {path}"
    with open_regular(path, what) as f:
        return _npy_array(Capped(f, MAX_BINARY_BYTES, label), label)


def _pick(path: Path, names: list[str], name: str | None, kind: str, what: str) -> str:
    listed = show_names(names)
    if name is None:
        if len(names) != 1:
            raise DeconvError(f"{what} {path}: holds {len(names)} {kind}s ({listed}); pick one with {path}:NAME")
        return names[0]
    if name not in names:
        raise DeconvError(f"{what} {path}: has no {kind} {show(name, SHOWN_NAME)}; it holds: {listed}")
    return name


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,  # a compression method zipfile does not know
    RuntimeError,  # an encrypted member
    struct.error,
)


def load_npz(path: Path, name: str | None, what: str = "kernel") -> np.ndarray:
    """One array of a ``.npz``: its zip directory is read (within the byte cap), the member's
    declared uncompressed size checked, then its ``.npy`` header, then its data."""
    label = f"{what} {path}"
    with open_regular(path, what) as raw:
        try:
            with zipfile.ZipFile(Capped(raw, MAX_BINARY_BYTES, label)) as z:
                members = {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i for i in z.infolist()}
                if name is not None and name not in members and name.endswith(".npy") and name[:-4] in members:
                    name = name[:-4]  # np.load takes a member's file name too
                chosen = _pick(path, list(members), name, "array", what)
                info = members[chosen]
                if info.file_size > MAX_BINARY_BYTES:
                    raise DeconvError(
                        f"{label}: array {show(chosen, SHOWN_NAME)} inflates to {info.file_size} bytes, more than the "
                        f"{MAX_BINARY_BYTES} bytes a kernel can need (see deconv_cli.kernels.limits)"
                    )
                with z.open(info) as member:
                    return _npy_array(member, f"{label}:{show_name(chosen)}", ".npy array")
        except DeconvError:
            raise
        except _ZIP_ERRORS as e:
            raise DeconvError(f"{label}: is not a valid .npz file ({one_line(e)})") from None


# ----------------------------------------------------------------------------- .safetensors

#: The safetensors dtypes deconv reads, and their (little-endian) numpy types.
SAFETENSORS_DTYPES = {
    "BOOL": "?",
    "U8": "u1",
    "I8": "i1",
    "U16": "<u2",
    "I16": "<i2",
    "U32": "<u4",
    "I32": "<i4",
    "U64": "<u8",
    "I64": "<i8",
    "F16": "<f2",
    "F32": "<f4",
    "F64": "<f8",
}
_NUMPY_CANNOT_HOLD = ("BF16", "F8_E4M3", "F8_E5M2")


def _is_size(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def safetensors_shapes(path: Path, what: str = "model") -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every tensor's (dtype, shape) in a ``.safetensors`` file, from its JSON header alone (at most
    :data:`~.limits.MAX_HEADER_BYTES` read)."""
    label = f"{what} {path}"
    with open_regular(path, what) as raw:
        f = Capped(raw, MAX_HEADER_BYTES + 8, label)
        size = f.size()
        start = f.read(8)
        if len(start) < 8 or struct.unpack("<Q", start)[0] > min(size - 8, MAX_HEADER_BYTES):
            raise DeconvError(f"{label}: is not a valid .safetensors file (its header length is not within the file)")
        try:
            header = json.loads(f.read(struct.unpack("<Q", start)[0]).decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise DeconvError(f"{label}: is not a valid .safetensors file ({show(one_line(e), 80)})") from None
    if not isinstance(header, dict):
        raise DeconvError(f"{label}: is not a valid .safetensors file (its header is not a JSON object)")
    out = {}
    for name, entry in header.items():
        if name == "__metadata__" or not isinstance(entry, dict) or not isinstance(entry.get("shape"), list):
            continue
        if all(_is_size(d) for d in entry["shape"]):
            out[name] = (str(entry.get("dtype")), tuple(entry["shape"]))
    return out


def load_safetensors(path: Path, name: str | None, what: str = "kernel") -> np.ndarray:
    """One tensor of a ``.safetensors`` file (never torch, never pickle).

    The JSON header is read (at most :data:`~.limits.MAX_HEADER_BYTES`) and the
    chosen tensor's dtype, shape and offsets checked; then only that tensor's
    bytes are read, so a large model file costs no more than the tensor asked for.
    """
    label = f"{what} {path}"
    with open_regular(path, what) as raw:
        f = Capped(raw, MAX_BINARY_BYTES, label)
        size = f.size()
        start = f.read(8)

        def invalid(reason: str) -> DeconvError:
            if start.startswith(b"PK\x03\x04"):
                return DeconvError(
                    f"{label}: is a zip archive (what torch.save writes: pickled objects), which deconv never "
                    "loads; " + EXPORT_HINT
                )
            if start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
                return DeconvError(f"{label}: holds a Python pickle, which deconv never loads; " + EXPORT_HINT)
            return DeconvError(f"{label}: is not a valid .safetensors file ({reason})")

        if len(start) < 8:
            raise invalid("shorter than the 8 bytes that give the length of its header")
        (n,) = struct.unpack("<Q", start)
        if n > size - 8:
            raise invalid(f"its header length {n} runs past the end of the file")
        if n > MAX_HEADER_BYTES:
            raise DeconvError(
                f"{label}: declares a {n}-byte header, more than the {MAX_HEADER_BYTES} bytes deconv reads "
                "(see deconv_cli.kernels.limits)"
            )
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise invalid(f"its header is not JSON: {show(one_line(e), 80)}") from None
        if not isinstance(header, dict):
            raise invalid("its header is not a JSON object")
        chosen = _pick(path, sorted(k for k in header if k != "__metadata__"), name, "tensor", what)
        entry, tensor = header[chosen], f"tensor {show(chosen, SHOWN_NAME)}"
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("dtype"), str)
            and isinstance(entry.get("shape"), list)
            and all(_is_size(d) for d in entry["shape"])
            and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2
            and all(_is_size(o) for o in entry["data_offsets"])
            and entry["data_offsets"][0] <= entry["data_offsets"][1]
        )
        if not ok:
            raise invalid(f"{tensor} has no valid dtype, shape and data_offsets")
        dtype, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
        if dtype in _NUMPY_CANNOT_HOLD:
            raise DeconvError(
                f"{label}: {tensor} is {dtype}, which numpy cannot hold; "
                "save it as float32 (tensor.float()) before exporting"
            )
        if dtype not in SAFETENSORS_DTYPES:
            raise DeconvError(
                f"{label}: {tensor} has dtype {show(dtype, SHOWN_NAME)}, which deconv cannot read; "
                f"supported: {', '.join(SAFETENSORS_DTYPES)}; save it as float32 (tensor.float()) before exporting"
            )
        taps = math.prod(shape)
        if taps > MAX_KERNEL_TAPS:
            raise too_many_taps(f"{label}:{show_name(chosen)}", taps, shape)
        np_dtype = np.dtype(SAFETENSORS_DTYPES[dtype])
        nbytes = taps * np_dtype.itemsize
        if 8 + n + end > size:
            raise invalid(f"{tensor}: its data_offsets run past the end of the file")
        if end - begin != nbytes:
            raise invalid(
                f"{tensor}: shape {list(shape)} of {dtype} needs {nbytes} bytes but its data_offsets span {end - begin}"
            )
        f.seek(8 + n + begin)
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise invalid(f"{tensor}: its data is cut short")
        return np.frombuffer(data, dtype=np_dtype, count=taps).reshape(shape).copy()
