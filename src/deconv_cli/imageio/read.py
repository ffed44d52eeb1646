"""Reading images: modes, bit depth, alpha, EXIF orientation, metadata, and clear refusals.

Pillow decodes everything except 16-bit colour PNGs, which it reduces to 8
bits; those (and every 16-bit PNG, for one code path) go through pypng, which
keeps all 16 bits. Only the formats in :data:`READ_FORMATS` are decoded.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DeconvError, one_line
from ..modes import DEFAULT_MAX_PIXELS
from .containers import check_bmp, gif_layout, jpeg_scans
from .image import ImageData
from .pillow import (
    READ_FORMATS,
    PillowRows,
    check_pixels,
    decoder_warnings,
    open_image,
    orient,
    orientation,
    own_pixel_limit,
)
from .pixels import jpeg_pixels, looks_png, pixels, png_pixels, png_problem

#: Largest number of frames counted for the "only the first is used" note (TIFF pages are
#: counted by walking their directories; a file may hold hundreds of thousands).
_MAX_FRAMES_COUNTED = 100


@dataclass
class Header:
    """What an image file says about itself before any pixel is decoded (see :func:`probe`).

    ``size`` is (H, W) upright, after the EXIF orientation; ``info`` holds the ICC profile
    and DPI to keep; ``notes`` what to tell the user (extra frames, unreadable EXIF).
    """

    path: Path
    format: str
    size: tuple[int, int]
    orientation: int = 1
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _check_file(p: Path) -> None:
    """A regular, readable, non-empty file: pipes, devices and directories get their own message."""
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DeconvError(f"{p}: no such file") from None
    except OSError as e:
        raise DeconvError(f"{p}: cannot read it ({one_line(e.strerror or e)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DeconvError(f"{p}: is a directory, not an image")
    if stat.S_ISFIFO(st.st_mode):
        raise DeconvError(f"{p}: is a pipe (FIFO), not a file; give - to read an image from standard input")
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise DeconvError(f"{p}: is a device, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise DeconvError(f"{p}: is not a regular file")
    if not os.access(p, os.R_OK):
        raise DeconvError(f"{p}: permission denied")
    if st.st_size == 0:
        raise DeconvError(f"{p}: is empty (0 bytes)")


def probe(path: str | os.PathLike, *, max_pixels: int | None = None) -> Header:
    """Read an image file's header, and refuse it before decoding if it is too large.

    Checks the file type, the format (only :data:`READ_FORMATS`), the pixel count (of
    a GIF's canvas grown to all its frames) against ``max_pixels``, and a JPEG's scan count
    (:data:`~.containers.MAX_JPEG_SCANS`). Reads the EXIF orientation without decoding
    (for a PNG from its eXIf chunk, wherever it stands).

    Other parameters
    ----------------
    max_pixels : int, optional
        Default :data:`~deconv_cli.modes.DEFAULT_MAX_PIXELS`; 0: no limit.
    """
    from PIL import UnidentifiedImageError

    p = Path(path)
    _check_file(p)
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    notes: list[str] = []
    try:
        with own_pixel_limit(), decoder_warnings(p, notes), open_image(p) as im:
            fmt = im.format
            w, h = im.size
            check_pixels(p, w, h, limit)
            frames = _frames(im, p, fmt, limit)
            if frames:
                notes.append(f"{p}: has {frames} frames; only the first is used")
            turn = orientation(im, p, fmt, notes)
            info = {k: im.info[k] for k in ("icc_profile", "dpi", "transparency") if k in im.info}
        if fmt in ("JPEG", "MPO"):
            jpeg_scans(p)
        if fmt == "BMP":
            check_bmp(p)
        if fmt in ("JPEG", "MPO", "WEBP", "GIF") and limit:
            _check_ratio(p, w, h)
    except DeconvError:
        raise
    except UnidentifiedImageError:
        problem = png_problem(p) if looks_png(p) else None
        if problem:
            raise DeconvError(f"{p}: {problem}") from None
        said = f"{notes[0].removeprefix(f'{p}: ')}; " if notes else ""  # what the decoder logged
        raise DeconvError(
            f"{p}: not an image deconv can read ({said}supported: {', '.join(f for f in READ_FORMATS if f != 'MPO')})"
        ) from None
    except MemoryError:
        raise DeconvError(f"{p}: not enough memory to read its header") from None
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ... on broken headers
        problem = png_problem(p) if looks_png(p) else None
        reason = problem or f"corrupt or unreadable image header: {one_line(e) or type(e).__name__}"
        raise DeconvError(f"{p}: {reason}") from None
    upright = (w, h) if turn >= 5 else (h, w)
    return Header(p, str(fmt), upright, turn, info, notes)


#: A JPEG, WebP or GIF whose pixels (as 4 bytes each) would take more than this many times its
#: file size, and more than :data:`RATIO_FLOOR` bytes, is refused before its decoder allocates them.
#: A baseline JPEG cannot exceed 256:1 (each 8x8 block costs at least two bits per channel) nor a
#: progressive one 512:1; a lossless WebP or a GIF of one flat colour can, which --max-pixels 0
#: allows.
MAX_RATIO = 1000
RATIO_FLOOR = 64 << 20


def _check_ratio(p: Path, w: int, h: int) -> None:
    raw = 4 * w * h
    size = p.stat().st_size
    if raw > RATIO_FLOOR and raw > MAX_RATIO * size:
        raise DeconvError(
            f"{p}: its header declares {w}x{h} pixels ({raw >> 20} MiB) over {size} bytes of data, more than "
            f"{MAX_RATIO} times as much: refusing it as a possible decompression bomb (--max-pixels 0 skips this check)"
        )


def _frames(im, p: Path, fmt: str, limit: int) -> str | None:
    """How many frames a multi-frame file holds ("2", "more than 100"), None for one frame.

    A GIF's frames are counted from its block structure, and the canvas they span together
    is held to the pixel limit; TIFF directories are walked up to :data:`_MAX_FRAMES_COUNTED`."""
    if fmt == "GIF":
        gif = gif_layout(p)
        if gif.first is not None:
            x0, y0, fw, fh = gif.first
            sw, sh = gif.screen
            if x0 + fw > sw or y0 + fh > sh:
                raise DeconvError(
                    f"{p}: corrupt GIF: its first frame ({fw}x{fh} at {x0},{y0}) lies outside its {sw}x{sh} "
                    "logical screen"
                )
            if (x0, y0, fw, fh) != (0, 0, sw, sh):
                raise DeconvError(
                    f"{p}: GIF whose first frame ({fw}x{fh} at {x0},{y0}) does not cover its {sw}x{sh} logical "
                    "screen: readers fill the rest differently (background colour, transparent or black, or drop it); "
                    "re-save it with a full first frame (e.g. flattened onto its background)"
                )
        check_pixels(p, gif.width, gif.height, limit, what="its frames together span")
        return str(gif.frames) if gif.frames > 1 else None
    if fmt == "TIFF":
        n = 1
        try:
            while n <= _MAX_FRAMES_COUNTED:
                im.seek(n)
                n += 1
        except EOFError:
            pass
        im.seek(0)
        if n > _MAX_FRAMES_COUNTED:
            return f"more than {_MAX_FRAMES_COUNTED}"
        return str(n) if n > 1 else None
    frames = getattr(im, "n_frames", 1)
    return str(frames) if frames > 1 else None


def load_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> ImageData:
    """Read an image as a numpy array in its own units, upright.

    Parameters
    ----------
    path : str or path
        PNG, JPEG, TIFF, BMP, WebP, GIF (first frame), PPM/PGM or TGA.

    Other parameters
    ----------------
    max_pixels : int, optional
        Refuse images with more pixels than this before decoding them
        (default :data:`~deconv_cli.modes.DEFAULT_MAX_PIXELS`; 0: no limit).

    Returns
    -------
    ImageData
        Modes ``1``/``L`` give L (uint8), ``LA`` LA, ``P`` RGB or RGBA
        (RGBA when it has transparency), ``CMYK``/``YCbCr`` RGB (with a
        warning for CMYK), 16-bit modes uint16 (colour ones via pypng),
        ``I`` int32 (uint16 for PNG and PGM, which hold 16 bits at most),
        ``F`` float32. ``warnings`` lists what the caller should tell the user
        (extra frames, CMYK, unreadable EXIF).

    Raises
    ------
    DeconvError
        Missing, empty, unreadable, unsupported, truncated, corrupt or too
        large files, with the reason.

    Notes
    -----
    Damage is an error, never pixels made up: a PNG's structure is walked in full (every
    CRC, and its image data must decompress to exactly what its header declares), a JPEG
    is decoded by libjpeg-turbo with its warnings as errors (a premature end of the data
    is refused), and libtiff's errors are errors.
    """
    return decode(probe(path, max_pixels=max_pixels))


def decode(header: Header, *, rows: bool = False) -> ImageData:
    """The pixels of a file whose :func:`probe` passed, as :func:`load_image` returns them.

    With ``rows``, an upright RGB or RGBA image that Pillow decodes (PNG, TIFF, BMP, WebP...)
    comes as :class:`~.pillow.PillowRows` in ``pixels``: the strips read their rows from
    Pillow's image, and no second full-size copy is made (``array`` still gives one)."""
    from PIL import Image

    p = header.path
    fmt = header.format
    notes = list(header.notes)
    turn = header.orientation
    try:
        with own_pixel_limit(), decoder_warnings(p, notes):
            if fmt == "PNG":
                array, channels, depth, read_after = png_pixels(p, notes, rows)
                turn = turn if read_after is None else read_after
            elif fmt in ("JPEG", "MPO"):
                array, channels, depth = jpeg_pixels(p, notes)
            else:
                with open_image(p) as im:
                    array, channels, depth = pixels(im, p, fmt, notes, rows)
    except DeconvError:
        raise
    except Image.DecompressionBombError as e:
        raise DeconvError(f"{p}: refused as a possible decompression bomb ({one_line(e)})") from None
    except MemoryError:
        raise DeconvError(f"{p}: not enough memory to decode it") from None
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ... on broken files
        raise DeconvError(f"{p}: corrupt or truncated image: {one_line(e) or type(e).__name__}") from None
    dpi = header.info.get("dpi")
    if turn != 1 and isinstance(array, PillowRows):
        array = array.__array__()  # turned: read whole, then oriented
    return ImageData(
        pixels=array if isinstance(array, PillowRows) else orient(array, turn),
        channels=channels,
        depth=depth,
        format=fmt,
        icc_profile=header.info.get("icc_profile") or None,
        dpi=(float(dpi[0]), float(dpi[1])) if dpi else None,
        source=str(p),
        warnings=notes,
    )


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of an image as :func:`load_image` would return it, from its header only (no pixel limit)."""
    return probe(path, max_pixels=0).size
