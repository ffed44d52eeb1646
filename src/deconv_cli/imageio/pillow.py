"""Pillow as deconv uses it: only the decoders deconv reads, its warnings and log lines turned
into notes, its bomb limit replaced by deconv's own, and the EXIF orientation read without decoding."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import Rows
from ..errors import DeconvError, one_line
from .containers import png_exif

#: Pillow decoders deconv lets run (Pillow's ``formats=`` allow-list).
READ_FORMATS = ("PNG", "JPEG", "MPO", "TIFF", "BMP", "WEBP", "GIF", "PPM", "TGA")


def open_image(p: Path):
    """``Image.open`` restricted to :data:`READ_FORMATS` (those this Pillow can open).

    Pillow opens MPO files through its JPEG plugin and has no ``OPEN["MPO"]``
    entry; passing a name it does not know makes ``Image.open`` raise KeyError.
    A file that starts with the PNG signature is offered to the PNG plugin
    alone (no other plugin accepts that signature), which spares loading all
    of Pillow's plugins: about 50 ms of every run.
    """
    from PIL import Image

    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError:
        head = b""
    if head == b"\x89PNG\r\n\x1a\n":
        from PIL import PngImagePlugin  # noqa: F401  (registers the PNG opener)

        return Image.open(p, formats=("PNG",))
    Image.init()
    return Image.open(p, formats=tuple(f for f in READ_FORMATS if f in Image.OPEN))


class PillowRows(Rows):
    """A decoded RGB or RGBA Pillow image as the strips' input, read a range of rows at a time.

    ``np.asarray`` of a Pillow image copies it whole (Pillow keeps RGB at 4 bytes a pixel,
    so a 4000x4000 photo is 64 MB in Pillow, then 48 MB more as bytes, then the array): the
    strips read their rows from the image itself instead, so the decoded image is the only
    full-size copy (figures in bench/README.md, *Where the time goes*).

    >>> from PIL import Image
    >>> rows = PillowRows(Image.new("RGB", (4, 3), (1, 2, 3)))
    >>> rows.shape, rows[1:3].shape, rows[1:3][0, 0].tolist()
    ((3, 4, 3), (2, 4, 3), [1, 2, 3])
    """

    def __init__(self, im):
        if im.mode not in ("RGB", "RGBA"):
            raise ValueError(f"PillowRows reads RGB and RGBA images, not {im.mode}")
        im.load()
        self.im = im
        self.shape = (im.height, im.width, len(im.mode))
        self.dtype = np.dtype(np.uint8)

    def rows(self, a: int, b: int) -> np.ndarray:
        return np.asarray(self.im.crop((0, a, self.shape[1], b)))


def orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) so the array is upright, as Pillow's exif_transpose does."""
    ops = {
        2: lambda m: m[:, ::-1],
        3: lambda m: m[::-1, ::-1],
        4: lambda m: m[::-1],
        5: lambda m: np.swapaxes(m, 0, 1),
        6: lambda m: np.swapaxes(m, 0, 1)[:, ::-1],
        7: lambda m: np.swapaxes(m, 0, 1)[::-1, ::-1],
        8: lambda m: np.swapaxes(m, 0, 1)[::-1],
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(a)) if op else a


#: Warnings load_image passes on instead of turning into notes: they are for developers.
_PASS_ON = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)

#: At most this many decoder warnings become notes for one file.
MAX_NOTES = 5


class _Collect(logging.Handler):
    """The messages of log records at WARNING and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def decoder_warnings(p: Path, notes: list[str]) -> Iterator[None]:
    """Turn the Python warnings of decoding (Pillow's "Possibly corrupt EXIF data",
    "Truncated File Read", ...) and Pillow's log records into notes, so none escapes and
    none depends on the caller's warning filters or logging set-up. Pillow's
    DecompressionBombWarning is dropped: :func:`_check_pixels` applies deconv's own limit."""
    from PIL import Image

    logged = _Collect()
    pil = logging.getLogger("PIL")
    propagate = pil.propagate
    pil.addHandler(logged)
    pil.propagate = False  # Pillow's log records become notes, not lines on stderr
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:  # also when decoding fails: the notes may say why
        pil.removeHandler(logged)
        pil.propagate = propagate
        texts: list[str] = [one_line(m) for m in logged.messages if one_line(m)]
        for w in caught:
            if issubclass(w.category, _PASS_ON):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
            elif not issubclass(w.category, Image.DecompressionBombWarning):
                text = one_line(w.message)
                if text and text not in texts:
                    texts.append(text)
        notes.extend(f"{p}: {t}" for t in texts[:MAX_NOTES])
        if len(texts) > MAX_NOTES:
            notes.append(f"{p}: and {len(texts) - MAX_NOTES} more decoder warnings")


def check_pixels(p: Path, w: int, h: int, limit: int | None, what: str = "is") -> None:
    if limit and w * h > limit:
        raise DeconvError(
            f"{p}: {what} {w}x{h} = {w * h} pixels, over the limit of {limit}; "
            "refusing it as a possible decompression bomb (raise max_pixels if you trust the file)"
        )


_PILLOW_LIMIT_LOCK = threading.Lock()
_PILLOW_LIMIT_USERS = 0
_PILLOW_LIMIT_SAVED: Any = None


@contextmanager
def own_pixel_limit() -> Iterator[None]:
    """Switch Pillow's decompression-bomb limit off meanwhile: deconv applies its own,
    ``max_pixels``, from the header (one limit, not two that disagree)."""
    global _PILLOW_LIMIT_USERS, _PILLOW_LIMIT_SAVED
    from PIL import Image

    with _PILLOW_LIMIT_LOCK:
        if _PILLOW_LIMIT_USERS == 0:
            _PILLOW_LIMIT_SAVED = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _PILLOW_LIMIT_USERS += 1
    try:
        yield
    finally:
        with _PILLOW_LIMIT_LOCK:
            _PILLOW_LIMIT_USERS -= 1
            if _PILLOW_LIMIT_USERS == 0:
                Image.MAX_IMAGE_PIXELS = _PILLOW_LIMIT_SAVED


def orientation(im, p: Path, fmt: str, notes: list[str]) -> int:
    """The EXIF orientation (1..8), read without decoding pixels.

    Pillow's getexif() decodes a PNG that lacks an eXIf chunk before its image data, to
    look for one after it; here such a chunk is found by walking the chunk headers, and
    the base class reads what the chunks before the image data hold (eXIf, an ImageMagick
    raw profile, XMP) without decoding. After decoding, :func:`decode` asks again."""
    from PIL import Image

    try:
        if fmt == "LOADED":  # a PNG whose pixels are in: Pillow's getexif reads every chunk
            exif = im.getexif()
        elif fmt == "PNG":
            if "exif" not in im.info:
                data = png_exif(p)
                if data:
                    im.info["exif"] = b"Exif\x00\x00" + data
            exif = Image.Image.getexif(im)
        else:
            exif = im.getexif()
        value = int(exif.get(0x0112, 1))
    except Exception as e:  # broken EXIF blocks must not stop the image; they never touch pixels
        notes.append(f"{p}: EXIF data unreadable ({one_line(e)}); orientation not applied")
        return 1
    return value if 1 <= value <= 8 else 1
