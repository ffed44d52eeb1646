"""Telling a kernel file from a name: paths that may carry a ``:MEMBER`` suffix."""

from __future__ import annotations

from pathlib import Path


def exists(path: Path) -> bool:
    """Path.exists that says False for names the OS refuses (a long inline kernel string is not a path)."""
    try:
        return path.exists()
    except OSError:
        return False


def split_member(spec: str) -> tuple[Path, str | None]:
    path = Path(spec)
    if not exists(path) and ":" in spec:
        head, _, member = spec.rpartition(":")
        if head and exists(Path(head)):
            return Path(head), member
    return path, None
