"""What native codecs print on file descriptor 2: collected, so that it becomes part of deconv's
one line instead of lines of its own on the terminal."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr(found: list[str]) -> Iterator[None]:
    """Collect what native decoders (libtiff) print on file descriptor 2 meanwhile.

    libtiff reports some damage (a bad Fax code word, say) only through its
    message handler, which prints to stderr, and then returns the image with
    the rest filled in as if nothing happened; Pillow sees no error. The lines
    are appended to ``found``.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to collect
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            found.extend(line.strip() for line in tmp.read().decode(errors="replace").splitlines() if line.strip())
