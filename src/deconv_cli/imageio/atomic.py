"""Writing a file atomically: a temporary file beside the target, fsynced, then moved into place.

Every temporary name carries a *tag*, ``.<name>.<tag>-<random>.part``: the tag of the
run that writes it (:func:`temp_tag`, set per run with :func:`tagged`), so that a run
can sweep what its own killed workers left (:func:`sweep`) without touching another
run's files in flight, or a user's own ``.<name>.something.part``. The temporary files
this process is writing are registered, so that a signal handler can remove them
(:func:`abandon`) before the process exits.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO

from ..errors import DeconvError, one_line

_TAG: ContextVar[str | None] = ContextVar("deconv_temp_tag", default=None)
_TAG_FORM = re.compile(r"[0-9a-f]{8,32}")
_lock = threading.RLock()  # re-entrant: abandon() may run in a signal handler on a thread holding it
_state: dict = {"pid": None, "tag": "", "live": set(), "closed": False}


def _mine() -> dict:
    """This process's registry (reset in a forked child, which owns none of its parent's files)."""
    if _state["pid"] != os.getpid():
        _state.update(pid=os.getpid(), tag=secrets.token_hex(4), live=set(), closed=False)
    return _state


def temp_tag() -> str:
    """The tag in the temporary names written now: the run's (see :func:`tagged`), else this process's own."""
    with _lock:
        return _TAG.get() or _mine()["tag"]


def new_tag() -> str:
    """A fresh run tag (8 random hex digits)."""
    return secrets.token_hex(4)


@contextmanager
def tagged(tag: str) -> Iterator[None]:
    """Within this block (this thread or task), temporary files carry ``tag``."""
    if not _TAG_FORM.fullmatch(tag):
        raise ValueError(f"a temporary-file tag is 8 to 32 lowercase hex digits, got {tag!r}")
    token = _TAG.set(tag)
    try:
        yield
    finally:
        _TAG.reset(token)


def set_tag(tag: str) -> None:
    """Tag every temporary file of this thread from now on (a worker process of one run)."""
    if not _TAG_FORM.fullmatch(tag):
        raise ValueError(f"a temporary-file tag is 8 to 32 lowercase hex digits, got {tag!r}")
    _TAG.set(tag)


def temp_glob(path: str | os.PathLike, tag: str) -> str:
    """The glob pattern of the temporary files of ``tag`` beside ``path``."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    return os.path.join(glob.escape(str(parent)), f".{glob.escape(p.name)}.{tag}-*.part")


def sweep(paths: Iterable[str | os.PathLike], tag: str) -> int:
    """Remove the temporary files of run ``tag`` left beside ``paths`` (by workers that were
    killed); return how many. Files of other runs, and the user's own, are not touched."""
    if not _TAG_FORM.fullmatch(tag):
        raise ValueError(f"a temporary-file tag is 8 to 32 lowercase hex digits, got {tag!r}")
    removed = 0
    for path in paths:
        for tmp in glob.glob(temp_glob(path, tag)):
            try:
                os.unlink(tmp)
                removed += 1
            except OSError:
                pass
    return removed


def abandon() -> int:
    """Remove every temporary file this process is writing, and refuse to start new ones:
    for a process about to exit on a signal (its writers are not unwound). Returns how many."""
    with _lock:
        st = _mine()
        st["closed"] = True
        removed = 0
        for tmp in list(st["live"]):
            try:
                os.unlink(tmp)
                removed += 1
            except OSError:
                pass
        st["live"].clear()
        return removed


def _create_temp(p: Path, parent: Path) -> tuple[int, str]:
    """Create ``.<name>.<tag>-<random>.part`` beside ``p`` (exclusively, mode 0666 minus the umask)
    and register it."""
    tag = temp_tag()
    for _ in range(100):
        tmp = os.path.join(parent, f".{p.name}.{tag}-{secrets.token_hex(3)}.part")
        with _lock:
            st = _mine()
            if st["closed"]:
                raise DeconvError(f"{p}: not written: the run is stopping")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            except FileExistsError:
                continue
            st["live"].add(tmp)
            return fd, tmp
    raise FileExistsError(f"no free temporary name beside {p}")


def _release(tmp: str) -> None:
    with _lock:
        _mine()["live"].discard(tmp)
        if os.path.lexists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object], *, overwrite: bool = False) -> None:
    """Write a file through a temporary file in the same directory, then move it into place.

    The data is flushed and fsynced before the rename, so the target is either
    absent, its old self, or complete: never half-written. Without
    ``overwrite`` an existing file is kept and :class:`DeconvError` raised,
    even if it appeared while writing. The new file gets the usual
    permissions (0666 minus the umask). Whatever ``write`` raises, the
    temporary file is removed; exceptions other than :class:`DeconvError`
    become one.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise DeconvError(f"{p}: is a directory; give a file name to write")
    if p.exists() and not overwrite:
        raise DeconvError(f"{p}: already exists; pass --overwrite to replace it")
    try:
        fd, tmp = _create_temp(p, parent)
    except FileNotFoundError:
        raise DeconvError(f"{p}: the directory {parent} does not exist") from None
    except PermissionError:
        raise DeconvError(f"{p}: cannot write in {parent} (permission denied)") from None
    except OSError as e:
        raise DeconvError(f"{p}: cannot write in {parent} ({one_line(e.strerror or e)})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)  # fails if p appeared meanwhile: never clobber
            except FileExistsError:
                raise DeconvError(f"{p}: already exists; pass --overwrite to replace it") from None
            except OSError:  # file systems without hard links
                if p.exists():
                    raise DeconvError(f"{p}: already exists; pass --overwrite to replace it") from None
                os.replace(tmp, p)
    except DeconvError:
        raise
    except OSError as e:
        raise DeconvError(f"{p}: write failed ({one_line(e.strerror or e)})") from None
    except Exception as e:  # the writer's own failure (an encoder's ValueError, KeyError, ...)
        raise DeconvError(f"{p}: write failed ({one_line(e) or type(e).__name__}); nothing was written") from e
    finally:
        _release(tmp)
