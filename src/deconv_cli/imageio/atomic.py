"""Writing a file atomically: a temporary file beside the target, fsynced, then moved into place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..errors import DeconvError, one_line


def _create_temp(p: Path, parent: Path) -> tuple[int, str]:
    """Create ``.<name>.<random>.part`` beside ``p`` (exclusively, mode 0666 minus the umask)."""
    for _ in range(100):
        tmp = os.path.join(parent, f".{p.name}.{secrets.token_hex(4)}.part")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {p}")


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
        if os.path.lexists(tmp):
            os.unlink(tmp)
