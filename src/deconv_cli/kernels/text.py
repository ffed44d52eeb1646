"""Kernels written as text: rows of numbers (``.txt``, ``.csv``) and libvips ``.mat`` matrices,
read line by line within :data:`~.limits.MAX_TEXT_BYTES`."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import DeconvError
from .limits import (
    MAX_KERNEL_TAPS,
    MAX_TEXT_BYTES,
    MAX_VALUE,
)
from .source import (
    check_value,
    number,
    read_capped,
    too_many_numbers,
)

try:
    from lzma import LZMAError
except ImportError:  # a Python built without lzma: zipfile cannot inflate such members either
    LZMAError = OSError  # type: ignore[misc,assignment]


# Where str.splitlines() splits, found one line at a time.
_LINE_END = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_RARE_LINE_ENDS = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_TEXT_SEPS = ",;"
_MAT_SEPS = ',"'
_FIELD_PATTERNS = {seps: re.compile(rf"[^\s{seps}]+") for seps in (_TEXT_SEPS, _MAT_SEPS)}
#: Lines longer than this have their fields counted before they are listed.
_LONG_LINE = 1 << 16


def _read_text(path: Path, what: str, expected: str) -> str:
    data = read_capped(path, what, MAX_TEXT_BYTES, "text kernel file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DeconvError(f"{what} {path}: is not a text file (expected {expected})") from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) as ``enumerate(text.splitlines(), 1)`` gives them, without a list of every line."""
    start, n = 0, 0
    if any(c in text for c in _RARE_LINE_ENDS):
        for m in _LINE_END.finditer(text):
            n += 1
            yield n, text[start : m.start()]
            start = m.end()
    else:  # only \n: found by str.find, much faster than a regular expression
        while (end := text.find("\n", start)) >= 0:
            n += 1
            yield n, text[start:end]
            start = end + 1
    if start < len(text):
        yield n + 1, text[start:]


def _numbers(fields: list[str], where: str) -> list[float]:
    """Fields without spaces, as numbers (see :func:`.source.parse_number`): in one pass when they are all
    plain, else one at a time, naming the first that is not a number."""
    joined = "".join(fields)
    if joined.isascii() and "_" not in joined:
        try:
            return [float(f) for f in fields]
        except ValueError:
            pass
    return [number(f, where) for f in fields]


def _fields(line: str, seps: str, most: int) -> tuple[list[str], int]:
    """(the fields of ``line``, how many), split at white space and at the characters ``seps``; the
    fields only when there are at most ``most``. A long line is counted before anything is listed,
    so that a line of millions of numbers costs no memory."""
    if len(line) > _LONG_LINE:
        count = sum(1 for _ in _FIELD_PATTERNS[seps].finditer(line))
        if count > most:
            return [], count
    for c in seps:
        line = line.replace(c, " ")
    found = line.split()
    return (found, len(found)) if len(found) <= most else ([], len(found))


def load_text(path: Path, what: str = "kernel") -> np.ndarray:
    """Rows of numbers separated by spaces, commas or semicolons; ``#`` starts a comment."""
    label = f"{what} {path}"
    rows: list[list[float]] = []
    total = 0
    for lineno, line in _lines(_read_text(path, what, "rows of numbers")):
        fields, count = _fields(line.split("#", 1)[0], _TEXT_SEPS, MAX_KERNEL_TAPS - total)
        total += count
        if total > MAX_KERNEL_TAPS:
            raise too_many_numbers(label)
        if not fields:
            continue
        row = _numbers(fields, f"{label}: line {lineno}")
        rows.append(row)
        if len(row) != len(rows[0]):
            raise DeconvError(
                f"{label}: line {lineno} has {len(row)} values but the first row has "
                f"{len(rows[0])}; every row must have the same length"
            )
    if not rows:
        raise DeconvError(f"{label}: holds no numbers")
    return np.array(rows)


def load_mat(path: Path, what: str = "kernel") -> tuple[np.ndarray, float]:
    """A libvips matrix file: ``width height [scale [offset]]``, then ``height`` rows of ``width`` numbers.

    Returns the matrix divided by ``scale``, and ``offset`` (added after the
    convolution). Numbers are separated by spaces, tabs, commas or double
    quotes, as libvips reads them; blank lines are skipped. Unlike libvips,
    which ignores what follows, extra numbers on a row and extra rows are
    refused, so a header that does not match its data is caught. The header's
    width and height are checked against :data:`~.limits.MAX_KERNEL_TAPS`
    before a row is read, the scale must be a normal (not subnormal) non-zero
    number, and the offset and the divided values at most
    :data:`~.limits.MAX_VALUE` in magnitude.
    """
    label = f"{what} {path}"
    lines = ((n, line) for n, line in _lines(_read_text(path, what, "a libvips matrix")) if line.strip())
    first = next(lines, None)
    if first is None:
        raise DeconvError(f"{label}: is empty; a libvips matrix starts with 'width height [scale [offset]]'")
    head_no, line = first
    head, count = _fields(line, _MAT_SEPS, 4)
    if not 2 <= count <= 4:
        raise DeconvError(
            f"{label}: line {head_no}: the header must be 'width height [scale [offset]]' (2 to 4 numbers), got {count}"
        )
    values = _numbers(head, f"{label}: line {head_no} (header)")
    width, height = values[0], values[1]
    for name, v in (("width", width), ("height", height)):
        if not (v.is_integer() and v >= 1):
            raise DeconvError(f"{label}: line {head_no}: {name} must be a positive integer, got {v:g}")
    scale = values[2] if len(values) > 2 else 1.0
    offset = values[3] if len(values) > 3 else 0.0
    if not all(math.isfinite(v) for v in values):
        raise DeconvError(f"{label}: line {head_no}: the header holds a NaN or infinite number")
    w, h = int(width), int(height)
    if w * h > MAX_KERNEL_TAPS:
        raise DeconvError(
            f"{label}: line {head_no}: the header declares {w}x{h} = {w * h} values, "
            f"more than the {MAX_KERNEL_TAPS} allowed"
        )
    if scale == 0:
        raise DeconvError(f"{label}: line {head_no}: scale is 0; the matrix is divided by it, so it must be non-zero")
    if abs(scale) < sys.float_info.min:
        raise DeconvError(
            f"{label}: line {head_no}: scale {scale!r} is too close to 0 (a subnormal number, below "
            f"{sys.float_info.min:g}); the matrix is divided by it"
        )
    check_value(offset, f"{label}: line {head_no}: offset")
    data: list[list[float]] = []
    for n, line in lines:
        if len(data) == h:
            extra = 1 + sum(1 for _ in lines)
            raise DeconvError(f"{label}: the header says {h} row(s) (height) but {h + extra} follow")
        fields, count = _fields(line, _MAT_SEPS, w)
        if count != w:
            raise DeconvError(f"{label}: line {n} has {count} value(s) but the header says width {w}")
        data.append(_numbers(fields, f"{label}: line {n}"))
    if len(data) != h:
        raise DeconvError(f"{label}: the header says {h} row(s) (height) but {len(data)} follow")
    finite = [abs(v) for row in data for v in row if math.isfinite(v)]
    largest = max(finite, default=0.0)
    if abs(scale) < 1 and largest > MAX_VALUE * abs(scale):
        raise DeconvError(
            f"{label}: divided by the scale {scale!r} they exceed ±{MAX_VALUE:g} (the largest value is "
            f"{largest:g}); give a larger scale"
        )
    return np.array(data) / scale, offset
