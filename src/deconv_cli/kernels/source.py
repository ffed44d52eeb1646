"""Kernel and bias sources: telling a file from a name, opening it without waiting on a pipe or
reading a device, reading it with a byte cap, and the numbers and names it holds, shown safely."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import DeconvError, one_line
from .limits import MAX_KERNEL_TAPS, MAX_VALUE


def exists(path: Path) -> bool:
    """Path.exists that says False for names the OS refuses (a long inline kernel string is not a path)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def split_member(spec: str) -> tuple[Path, str | None]:
    """``FILE:NAME`` as (FILE, NAME) when FILE exists and the whole does not; the member may hold
    colons itself (ONNX node names do): the longest existing FILE before a colon wins."""
    path = Path(spec)
    if not exists(path) and ":" in spec:
        head = spec
        while ":" in head:
            head = head.rpartition(":")[0]
            if head and exists(Path(head)):
                return Path(head), spec[len(head) + 1 :]
    return path, None


# ----------------------------------------------------------------------------- showing what was given

#: Strings longer than this are cut in messages (the start and the end kept: a path's file name shows).
SHOWN = 120
#: Names in a list of names longer than this are cut.
SHOWN_NAME = 40


def show(text: str, limit: int = SHOWN) -> str:
    """``text`` for a one-line message: quoted with repr, its middle cut when it is longer than ``limit``.

    >>> show("3x3:1,2,1")
    "'3x3:1,2,1'"
    >>> show("1," * 30, 20)
    "'1,1,1,1,1,...1,1,1,1,1,' (60 characters)"
    """
    if len(text) <= limit:
        return repr(text)
    keep = max(limit // 2, 1)
    return f"{text[:keep] + '...' + text[-keep:]!r} ({len(text)} characters)"


def show_name(name: str) -> str:
    """An array name in a list of names: as it is when it is short and printable, else :func:`show`."""
    return name if name.isprintable() and len(name) <= SHOWN_NAME else show(name, SHOWN_NAME)


def show_names(names: list[str], most: int = 10) -> str:
    """The first ``most`` names and how many more.

    >>> show_names(["a", "b"]), show_names([f"a{i}" for i in range(13)], most=3)
    ('a, b', 'a0, a1, a2, ... and 10 more')
    """
    if not names:
        return "none"
    listed = ", ".join(show_name(n) for n in names[:most])
    return listed if len(names) <= most else f"{listed}, ... and {len(names) - most} more"


# ----------------------------------------------------------------------------- numbers


def parse_number(text: str) -> float | None:
    """A plain ASCII decimal number (or nan/inf), None for anything else.

    ``float()`` alone would also take ``1_0``, non-ASCII digits (٣, ２) and
    surrounding spaces; without those its grammar is exactly the decimal
    forms, ``nan`` and ``inf``/``infinity``. NaN and infinity words are read
    so that the caller can say what is wrong with them.

    >>> parse_number("-1.5e3"), parse_number("1_0"), parse_number("\u0663"), parse_number(" 1"), parse_number("nan")
    (-1500.0, None, None, None, nan)
    """
    if not text.isascii() or "_" in text or text != text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def check_value(value: float, what: str) -> None:
    """Refuse a non-finite number, or one beyond :data:`MAX_VALUE`, naming it as ``what``."""
    if not math.isfinite(value):
        raise DeconvError(f"{what} is {value}; it must be a finite number")
    if abs(value) > MAX_VALUE:
        raise DeconvError(f"{what} {value!r} is beyond ±{MAX_VALUE:g}, more than float32 arithmetic can carry")


# ----------------------------------------------------------------------------- files

_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_regular(mode: int, path: Path, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise DeconvError(f"{what} {path}: is a directory, not a {what} file")
    kind = next((k for test, k in _SPECIAL if test(mode)), "a special file")
    raise DeconvError(
        f"{what} {path}: is {kind}, not a regular file; deconv reads a {what} from a regular file only "
        "(it never waits on a pipe or reads a device), so save it to a file first"
    )


def check_regular(path: Path, what: str) -> None:
    """Refuse a path that is not a regular file (from its status alone: nothing is opened)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return  # opening it says what is wrong
    _check_regular(mode, path, what)


def open_regular(path: Path, what: str) -> BinaryIO:
    """``path`` opened for reading, refusing anything but a regular file before it is opened.

    The file is opened with ``O_NONBLOCK`` and checked again once open, so that a
    FIFO put in its place in between cannot make this wait for a writer.
    """
    try:
        _check_regular(os.stat(path).st_mode, path, what)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except PermissionError:
        raise DeconvError(f"{what} {path}: permission denied") from None
    except FileNotFoundError:
        raise DeconvError(f"{what} {path}: no such file") from None
    except OSError as e:
        raise DeconvError(f"{what} {path}: cannot be opened ({one_line(e.strerror or e)})") from None
    try:
        _check_regular(os.fstat(fd).st_mode, path, what)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


_CHUNK = 1 << 16


class Capped:
    """A seekable binary file whose reads are refused once they total more than ``limit`` bytes.

    What a reader does with it (numpy's header parser, zipfile's directory and
    member reads) costs at most ``limit`` bytes of reading, whatever the file
    declares.
    """

    def __init__(self, f: BinaryIO, limit: int, source: str) -> None:
        self.f, self.limit, self.source, self.used = f, limit, source, 0

    def read(self, n: int | None = -1) -> bytes:
        room = self.limit - self.used
        want = room + 1 if n is None or n < 0 else min(n, room + 1)
        chunks, got = [], 0
        try:
            while got < want:  # in chunks: a read of n bytes sets n bytes aside before any arrive
                chunk = self.f.read(min(want - got, _CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except OSError as e:
            raise DeconvError(f"{self.source}: cannot be read ({one_line(e.strerror or e)})") from None
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.used += len(data)
        if self.used > self.limit:
            raise DeconvError(
                f"{self.source}: reading it takes more than the {self.limit} bytes deconv reads for a kernel "
                "(see deconv_cli.kernels.limits); it holds more than any kernel needs"
            )
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        return os.fstat(self.f.fileno()).st_size


def read_capped(path: Path, what: str, limit: int, kind: str) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (``kind`` names the format in messages)."""
    with open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise DeconvError(
                f"{what} {path}: is {size} bytes, more than the {limit} bytes a {kind} may take "
                "(see deconv_cli.kernels.limits)"
            )
        return Capped(f, limit, f"{what} {path}").read()


#: How a pickled file starts (protocol 2+, or the text protocols' first opcodes).
PICKLE_START = (b"\x80", b"(", b"c", b"]", b"}")
EXPORT_HINT = (
    "export the tensor with safetensors (from safetensors.torch import save_file; "
    "save_file({'weight': layer.weight.detach().contiguous()}, 'layer.safetensors'))"
)


def too_many_taps(label: str, taps: int, shape: tuple) -> DeconvError:
    return DeconvError(f"{label}: {taps} taps (shape {shape}) is more than the {MAX_KERNEL_TAPS} allowed")


def number(field: str, where: str) -> float:
    value = parse_number(field)
    if value is None:
        raise DeconvError(f"{where}: {show(field, SHOWN_NAME)} is not a number")
    return value


def too_many_numbers(label: str) -> DeconvError:
    return DeconvError(f"{label}: holds more than {MAX_KERNEL_TAPS} numbers, more than a kernel can have")
