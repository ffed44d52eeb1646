"""Reading images: modes, bit depth, alpha, EXIF orientation, metadata, and clear refusals.

Pillow decodes everything except 16-bit colour PNGs, which it reduces to 8
bits; those (and every 16-bit PNG, for one code path) go through pypng, which
keeps all 16 bits. Only the formats in :data:`READ_FORMATS` are decoded.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeconvError, one_line
from ..modes import DEFAULT_MAX_PIXELS
from .containers import check_png, gif_layout, jpeg_scans, png_data_length, png_exif, png_layout
from .image import CHANNELS, ImageData
from .native import native_stderr

#: Pillow decoders deconv lets run (Pillow's ``formats=`` allow-list).
READ_FORMATS = ("PNG", "JPEG", "MPO", "TIFF", "BMP", "WEBP", "GIF", "PPM", "TGA")


def _open(p: Path):
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


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
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


def _png_problem(path: Path) -> str | None:
    """Why a PNG is broken, from its structure (Pillow may only say it cannot identify it)."""
    try:
        check_png(path)
    except DeconvError as e:
        return str(e).removeprefix(f"{path}: ")
    except OSError:
        return None
    return None


def _read_png_raw(path: Path) -> tuple[np.ndarray, str, int]:
    """A grey or colour PNG's samples as stored, through pypng: (array, channels, depth).

    Used for every 16-bit PNG (Pillow reduces colour ones to 8 bits) and for
    grey/RGB PNGs with a tRNS colour key (Pillow misses the key on 1-, 2- and
    4-bit grey). Unlike pypng's ``asDirect``, an sBIT chunk does not shift the
    samples down (Pillow ignores sBIT too); samples of 1, 2 or 4 bits are
    scaled to 8 (x255, x85, x17, as Pillow does); a tRNS colour becomes an
    alpha channel (0 where the pixel has that colour, the maximum elsewhere).
    """
    import png

    with open(path, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pypng's lenient-mode chatter; errors still raise
        w, h, rows, info = png.Reader(file=f).read()
        planes = info["planes"]
        bits = info["bitdepth"]
        arr = np.zeros((h, w * planes), dtype=np.uint16 if bits == 16 else np.uint8)
        n = 0
        for n, row in enumerate(rows, 1):
            arr[n - 1] = row
    if n != h:  # check_png has made sure of it; a second guard costs nothing
        raise DeconvError(f"{path}: truncated PNG: {n} of its {h} rows")
    arr = arr.reshape(h, w, planes)
    transparent = info.get("transparent")
    if transparent is not None and not info["alpha"]:
        # An out-of-range key (1_trns.png: 255 in a 1-bit file) is masked to the bit depth, as libpng does.
        key = np.asarray(transparent, dtype=np.int64) & ((1 << bits) - 1)
        opaque = np.any(arr != key.astype(arr.dtype), axis=2, keepdims=True)
        arr = np.concatenate([arr, (opaque * ((1 << bits) - 1)).astype(arr.dtype)], axis=2)
        planes += 1
    if bits < 8:
        arr *= np.uint8(255 // ((1 << bits) - 1))
    return (arr[:, :, 0] if planes == 1 else arr), CHANNELS[planes], 16 if bits == 16 else 8


#: Warnings load_image passes on instead of turning into notes: they are for developers.
_PASS_ON = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)

#: At most this many decoder warnings become notes for one file.
_MAX_NOTES = 5


class _Collect(logging.Handler):
    """The messages of log records at WARNING and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _decoder_warnings(p: Path, notes: list[str]) -> Iterator[None]:
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
        notes.extend(f"{p}: {t}" for t in texts[:_MAX_NOTES])
        if len(texts) > _MAX_NOTES:
            notes.append(f"{p}: and {len(texts) - _MAX_NOTES} more decoder warnings")


def _load_tiff(im, p: Path, notes: list[str]) -> None:
    """``im.load()`` for a TIFF, refusing what libtiff calls an error (its warnings become notes)."""
    lines: list[str] = []
    with native_stderr(lines):
        im.load()
    errors = [line for line in lines if "Warning," not in line]
    if errors:
        raise DeconvError(f"{p}: corrupt TIFF: libtiff: {one_line(errors[0])}")
    notes.extend(f"{p}: libtiff: {one_line(line)}" for line in lines[:_MAX_NOTES])


def _check_pixels(p: Path, w: int, h: int, limit: int | None, what: str = "is") -> None:
    if limit and w * h > limit:
        raise DeconvError(
            f"{p}: {what} {w}x{h} = {w * h} pixels, over the limit of {limit}; "
            "refusing it as a possible decompression bomb (raise max_pixels if you trust the file)"
        )


#: A PNG whose image data would take more bytes than this is checked in full before it is
#: decoded, so that a forged header over a few bytes of data allocates nothing; smaller ones are
#: checked on a thread beside the decoder.
CHECK_FIRST_BYTES = 64 << 20

#: Largest number of frames counted for the "only the first is used" note (TIFF pages are
#: counted by walking their directories; a file may hold hundreds of thousands).
_MAX_FRAMES_COUNTED = 100

_PILLOW_LIMIT_LOCK = threading.Lock()
_PILLOW_LIMIT_USERS = 0
_PILLOW_LIMIT_SAVED: Any = None


@contextmanager
def _own_pixel_limit() -> Iterator[None]:
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
        with _own_pixel_limit(), _decoder_warnings(p, notes), _open(p) as im:
            fmt = im.format
            w, h = im.size
            _check_pixels(p, w, h, limit)
            frames = _frames(im, p, fmt, limit)
            if frames:
                notes.append(f"{p}: has {frames} frames; only the first is used")
            orientation = _orientation(im, p, fmt, notes)
            info = {k: im.info[k] for k in ("icc_profile", "dpi", "transparency") if k in im.info}
        if fmt in ("JPEG", "MPO"):
            jpeg_scans(p)
        if fmt in ("JPEG", "MPO", "WEBP") and limit:
            _check_ratio(p, w, h)
    except DeconvError:
        raise
    except UnidentifiedImageError:
        problem = _png_problem(p) if _looks_png(p) else None
        if problem:
            raise DeconvError(f"{p}: {problem}") from None
        said = f"{notes[0].removeprefix(f'{p}: ')}; " if notes else ""  # what the decoder logged
        raise DeconvError(
            f"{p}: not an image deconv can read ({said}supported: {', '.join(f for f in READ_FORMATS if f != 'MPO')})"
        ) from None
    except MemoryError:
        raise DeconvError(f"{p}: not enough memory to read its header") from None
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ... on broken headers
        problem = _png_problem(p) if _looks_png(p) else None
        reason = problem or f"corrupt or unreadable image header: {one_line(e) or type(e).__name__}"
        raise DeconvError(f"{p}: {reason}") from None
    upright = (w, h) if orientation >= 5 else (h, w)
    return Header(p, str(fmt), upright, orientation, info, notes)


#: A JPEG or WebP whose pixels (as 4 bytes each) would take more than this many times its file
#: size, and more than :data:`RATIO_FLOOR` bytes, is refused before its decoder allocates them.
#: A baseline JPEG cannot exceed 256:1 (each 8x8 block costs at least two bits per channel) nor a
#: progressive one 512:1; a lossless WebP of one flat colour can, which --max-pixels 0 allows.
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
        _check_pixels(p, gif.width, gif.height, limit, what="its frames together span")
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


def _orientation(im, p: Path, fmt: str, notes: list[str]) -> int:
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


def decode(header: Header) -> ImageData:
    """The pixels of a file whose :func:`probe` passed, as :func:`load_image` returns them."""
    from PIL import Image

    p = header.path
    fmt = header.format
    notes = list(header.notes)
    orientation = header.orientation
    try:
        with _own_pixel_limit(), _decoder_warnings(p, notes):
            if fmt == "PNG":
                array, channels, depth, read_after = _png_pixels(p, notes)
                orientation = orientation if read_after is None else read_after
            elif fmt in ("JPEG", "MPO"):
                array, channels, depth = _jpeg_pixels(p, notes)
            else:
                with _open(p) as im:
                    array, channels, depth = _pixels(im, p, fmt, notes)
    except DeconvError:
        raise
    except Image.DecompressionBombError as e:
        raise DeconvError(f"{p}: refused as a possible decompression bomb ({one_line(e)})") from None
    except MemoryError:
        raise DeconvError(f"{p}: not enough memory to decode it") from None
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ... on broken files
        raise DeconvError(f"{p}: corrupt or truncated image: {one_line(e) or type(e).__name__}") from None
    dpi = header.info.get("dpi")
    return ImageData(
        array=_orient(array, orientation),
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


def _looks_png(p: Path) -> bool:
    if p.suffix.lower() == ".png":
        return True
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x89PNG"
    except OSError:
        return False


def _png_pixels(p: Path, notes: list[str]) -> tuple[np.ndarray, str, int | str, int | None]:
    """A PNG's pixels, while another thread walks its structure (:func:`~.containers.check_png`):
    both read the file once and decompress its data, zlib and Pillow's decoder release the
    GIL, so the check costs little time. The check's verdict comes first: it says what is
    wrong more precisely than a decoder error does. Returns the EXIF orientation as well,
    read once the pixels are in (text chunks after the image data may hold it)."""
    layout = png_layout(p)
    if layout is not None and png_data_length(*_layout_args(layout)) > CHECK_FIRST_BYTES:
        check_png(p)  # a large image is checked before its canvas is allocated: its data may be a few bytes
        return _png_decode(p, notes)
    with ThreadPoolExecutor(1) as ex:
        check = ex.submit(check_png, p)
        try:
            decoded = _png_decode(p, notes)
        except Exception:
            check.result()  # a DeconvError naming the damage, if the structure shows it
            raise
        check.result()
    return decoded


def _layout_args(layout) -> tuple[int, int, int, int, int]:
    return layout.width, layout.height, layout.bit_depth, layout.colour_type, layout.interlace


def _png_decode(p: Path, notes: list[str]) -> tuple[np.ndarray, str, int | str, int | None]:
    layout = png_layout(p)
    with _open(p) as im:
        keyed = "transparency" in im.info and layout is not None and layout.colour_type in (0, 2)
        if layout is not None and (layout.bit_depth == 16 or keyed):
            # pypng's samples: Pillow reduces 16-bit colour to 8 bits and misses grey keys. Pillow
            # does not decode here, so the orientation stays the one read from the header.
            return (*_read_png_raw(p), None)
        array, channels, depth = _pixels(im, p, "PNG", notes)
        return array, channels, depth, _orientation(im, p, "LOADED", notes)


def _jpeg_pixels(p: Path, notes: list[str]) -> tuple[np.ndarray, str, int | str]:
    """A JPEG decoded by libjpeg-turbo through simplejpeg, strictly: a warning of libjpeg's
    (a premature end of data, a corrupt segment) is an error, where Pillow would fill the
    rest of the image with grey. CMYK and YCCK files are checked so, then decoded by Pillow,
    which knows Adobe's inverted CMYK."""
    import simplejpeg

    data = p.read_bytes()
    try:
        _, _, colourspace, _ = simplejpeg.decode_jpeg_header(data)
        if colourspace in ("CMYK", "YCCK"):
            simplejpeg.decode_jpeg(data, colorspace="CMYK", strict=True)
        else:
            grey = colourspace == "Gray"
            array = simplejpeg.decode_jpeg(data, colorspace="GRAY" if grey else "RGB", strict=True)
            return (array[:, :, 0], "L", 8) if grey else (array, "RGB", 8)
    except ValueError as e:
        raise DeconvError(f"{p}: corrupt or truncated JPEG: {one_line(e)}") from None
    with _open(p) as im:
        return _pixels(im, p, "JPEG", notes)


#: Bits per TIFF sample deconv reads (Pillow would read 12-bit samples as 16-bit values 0..4095).
_TIFF_BITS = (1, 2, 4, 8, 16, 32)


def _check_tiff(im, p: Path) -> None:
    """Refuse, before decoding, a TIFF whose samples have a size deconv does not read, or whose
    strips or tiles do not cover the image its header declares (the decoder would leave the
    rest as zeros) or point beyond the end of the file."""
    bits = im.tag_v2.get(258, (1,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    if any(b not in _TIFF_BITS for b in bits):
        raise DeconvError(
            f"{p}: TIFF with {'/'.join(map(str, sorted(set(bits))))}-bit samples; deconv reads samples of 1, 2, 4, "
            "8, 16 and 32 bits (convert it to 16-bit, e.g. with tiffcp or vips)"
        )
    w, h = im.size
    size = p.stat().st_size
    covered = 0
    for tile in im.tile:
        x0, y0, x1, y1 = tile.extents
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h) or tile.offset >= size:
            raise DeconvError(f"{p}: corrupt TIFF: a strip or tile lies outside the {w}x{h} image or the file")
        covered += (x1 - x0) * (y1 - y0)
    if covered < w * h:
        raise DeconvError(
            f"{p}: truncated TIFF: its strips and tiles hold {covered} of the {w * h} pixels "
            f"its {w}x{h} header declares"
        )


def _check_palette(im, p: Path, fmt: str) -> None:
    """Refuse palette images with pixel values beyond the palette the file holds: decoders make
    such pixels up (Pillow paints them black, libvips transparent)."""
    colours = len(im.palette.palette) // len(im.palette.mode)
    if colours and im.getextrema()[1] >= colours:
        raise DeconvError(f"{p}: corrupt {fmt}: pixel values beyond its {colours}-colour palette")


def _pixels(im, p: Path, fmt: str, notes: list[str]) -> tuple[np.ndarray, str, int | str]:
    mode = im.mode
    if fmt == "TIFF" and mode in ("RGB", "RGBA", "CMYK"):
        bits = im.tag_v2.get(258, (8,))
        if max(bits if isinstance(bits, tuple) else (bits,)) > 8:
            raise DeconvError(
                f"{p}: {max(bits)}-bit colour TIFF would be reduced to 8 bits by the decoder; "
                "save it as a 16-bit PNG to keep the precision"
            )
    if fmt == "TIFF":
        _check_tiff(im, p)
        _load_tiff(im, p, notes)
    else:
        im.load()
    if mode.startswith("I;16"):
        return np.asarray(im.convert("I")).astype(np.uint16), "L", 16
    if mode == "I":
        arr = np.asarray(im, dtype=np.int32)
        if fmt in ("PNG", "PPM"):
            return arr.astype(np.uint16), "L", 16
        return arr, "L", 32
    if mode == "F":
        return np.asarray(im, dtype=np.float32), "L", "float"
    if mode in ("1", "L"):
        return np.asarray(im.convert("L")), "L", 8
    if mode in ("LA", "La"):
        return np.asarray(im.convert("LA")), "LA", 8
    if mode in ("P", "PA"):
        _check_palette(im, p, fmt)
        has_alpha = mode == "PA" or "transparency" in im.info or im.palette.mode == "RGBA"
        target = "RGBA" if has_alpha else "RGB"
        return np.asarray(im.convert(target)), target, 8
    if mode in ("RGBA", "RGBa"):
        return np.asarray(im.convert("RGBA")), "RGBA", 8
    if mode == "RGB":
        return np.asarray(im), "RGB", 8
    if mode == "CMYK":
        notes.append(f"{p}: CMYK image converted to RGB")
    elif mode not in ("RGBX", "YCbCr"):
        notes.append(f"{p}: {mode} image converted to RGB")
    return np.asarray(im.convert("RGB")), "RGB", 8
