"""Reading images: modes, bit depth, alpha, EXIF orientation, metadata, and clear refusals.

Pillow decodes everything except 16-bit colour PNGs, which it reduces to 8
bits; those (and every 16-bit PNG, for one code path) go through pypng, which
keeps all 16 bits. Only the formats in :data:`READ_FORMATS` are decoded.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import DeconvError, one_line
from .image import CHANNELS, ImageData

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


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None if the file is no PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _png_problem(path: Path) -> str | None:
    """Ask pypng why a PNG is broken (Pillow only says it cannot identify it).

    Returns ``"corrupt PNG: <reason>"``, ``"bad PNG signature: ..."`` or None.
    """
    import png

    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if f.read(8) != png.signature:
                return (
                    "bad PNG signature: the file is damaged (e.g. by a text-mode transfer) "
                    "or is not a PNG despite its name"
                )
            f.seek(0)
            reader = png.Reader(file=f)
            _, _, rows, _ = reader.read()
            for _ in rows:
                pass
            # The rows came out: check the chunks after the image data too.
            while True:
                tag, _ = reader.chunk()
                if tag == b"IEND":
                    break
    except png.Error as e:  # FormatError, ChunkError, ProtocolError: str() starts with the class name
        return f"corrupt PNG: {one_line(' '.join(str(a) for a in e.args)) or type(e).__name__}"
    except Exception as e:  # zlib.error, EOFError, ...
        return f"corrupt PNG: {one_line(e) or type(e).__name__}"
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
        arr = np.empty((h, w * planes), dtype=np.uint16 if bits == 16 else np.uint8)
        for i, row in enumerate(rows):
            arr[i] = row
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


def _gif_canvas(path: Path) -> tuple[int, int]:
    """(width, height) a GIF's frames span together, from its block structure, without decoding.

    Pillow grows the canvas to fit every frame, but checks a frame's extent
    against its decompression-bomb limit only when it seeks to that frame.
    """
    with open(path, "rb") as f:
        head = f.read(13)
        if len(head) < 13:
            return 0, 0
        width, height = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        if head[10] & 0x80:
            f.seek(3 << ((head[10] & 7) + 1), os.SEEK_CUR)

        def skip_sub_blocks() -> bool:
            while True:
                n = f.read(1)
                if not n:
                    return False
                if n[0] == 0:
                    return True
                f.seek(n[0], os.SEEK_CUR)

        while True:
            tag = f.read(1)
            if tag == b"!":  # extension: label, then sub-blocks
                if not f.read(1) or not skip_sub_blocks():
                    break
            elif tag == b",":  # image descriptor
                d = f.read(9)
                if len(d) < 9:
                    break
                x0, y0 = int.from_bytes(d[0:2], "little"), int.from_bytes(d[2:4], "little")
                fw, fh = int.from_bytes(d[4:6], "little"), int.from_bytes(d[6:8], "little")
                width, height = max(width, x0 + fw), max(height, y0 + fh)
                if d[8] & 0x80:
                    f.seek(3 << ((d[8] & 7) + 1), os.SEEK_CUR)
                if not f.read(1) or not skip_sub_blocks():  # LZW code size, then the data
                    break
            else:  # trailer, end of file or garbage
                break
    return width, height


#: Warnings load_image passes on instead of turning into notes: they are for developers.
_PASS_ON = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)

#: At most this many decoder warnings become notes for one file.
_MAX_NOTES = 5


@contextmanager
def _decoder_warnings(p: Path, notes: list[str]) -> Iterator[None]:
    """Turn the Python warnings of decoding (Pillow's "Possibly corrupt EXIF data",
    "Truncated File Read", ...) into notes, so none escapes and none depends on the
    caller's warning filters. Pillow's DecompressionBombWarning is dropped:
    :func:`_check_pixels` applies deconv's own limit."""
    from PIL import Image

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    texts: list[str] = []
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


@contextmanager
def _native_stderr(found: list[str]) -> Iterator[None]:
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


def _load_tiff(im, p: Path, notes: list[str]) -> None:
    """``im.load()`` for a TIFF, refusing what libtiff calls an error (its warnings become notes)."""
    lines: list[str] = []
    with _native_stderr(lines):
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
        (default: Pillow's ``Image.MAX_IMAGE_PIXELS``, about 89 megapixels).

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
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise DeconvError(f"{p}: no such file")
    if p.is_dir():
        raise DeconvError(f"{p}: is a directory, not an image")
    if not os.access(p, os.R_OK):
        raise DeconvError(f"{p}: permission denied")
    if p.stat().st_size == 0:
        raise DeconvError(f"{p}: is empty (0 bytes)")
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    notes: list[str] = []
    try:
        with _decoder_warnings(p, notes):
            with _open(p) as im:
                fmt = im.format
                w, h = im.size
                _check_pixels(p, w, h, limit)
                if fmt == "PNG":
                    im.verify()  # checks every chunk's CRC, IDAT included, which load() skips
            with _open(p) as im:
                frames = getattr(im, "n_frames", 1)
                if frames > 1:
                    if fmt == "GIF":  # a later frame may stretch the canvas far beyond the first
                        _check_pixels(p, *_gif_canvas(p), limit, what="its frames together span")
                    notes.append(f"{p}: has {frames} frames; only the first is used")
                info = dict(im.info)
                orientation = _orientation(im, p, notes)
                array, channels, depth = _pixels(im, p, fmt, notes)
    except DeconvError:
        raise
    except UnidentifiedImageError:
        problem = _png_problem(p) if _looks_png(p) else None
        if problem:
            raise DeconvError(f"{p}: {problem}") from None
        raise DeconvError(
            f"{p}: not an image deconv can read (supported: {', '.join(f for f in READ_FORMATS if f != 'MPO')})"
        ) from None
    except Image.DecompressionBombError as e:
        raise DeconvError(f"{p}: refused as a possible decompression bomb ({one_line(e)})") from None
    except MemoryError:
        raise DeconvError(f"{p}: not enough memory to decode it") from None
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ... on broken files
        problem = _png_problem(p) if _looks_png(p) else None
        raise DeconvError(
            f"{p}: {problem or 'corrupt or truncated image: ' + (one_line(e) or type(e).__name__)}"
        ) from None
    dpi = info.get("dpi")
    return ImageData(
        array=_orient(array, orientation),
        channels=channels,
        depth=depth,
        format=fmt,
        icc_profile=info.get("icc_profile") or None,
        dpi=(float(dpi[0]), float(dpi[1])) if dpi else None,
        source=str(p),
        warnings=notes,
    )


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of an image as :func:`load_image` would return it, from its header only."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise DeconvError(f"{p}: no such file")
    if not p.is_file():
        raise DeconvError(f"{p}: is not a file")
    if p.stat().st_size == 0:
        raise DeconvError(f"{p}: is empty (0 bytes)")
    try:
        with _decoder_warnings(p, []), _open(p) as im:
            w, h = im.size
            orientation = _orientation(im, p, [])
    except UnidentifiedImageError:
        problem = _png_problem(p) if _looks_png(p) else None
        raise DeconvError(f"{p}: {problem or 'not an image deconv can read'}") from None
    except Image.DecompressionBombError as e:
        raise DeconvError(f"{p}: refused as a possible decompression bomb ({one_line(e)})") from None
    except Exception as e:
        raise DeconvError(f"{p}: unreadable image header ({one_line(e) or type(e).__name__})") from None
    return (w, h) if orientation >= 5 else (h, w)


def _looks_png(p: Path) -> bool:
    if p.suffix.lower() == ".png":
        return True
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x89PNG"
    except OSError:
        return False


def _orientation(im, p: Path, notes: list[str]) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
        value = int(value)
    except Exception as e:  # broken EXIF blocks must not stop the image
        notes.append(f"{p}: EXIF data unreadable ({e}); orientation not applied")
        return 1
    return value if 1 <= value <= 8 else 1


def _pixels(im, p: Path, fmt: str, notes: list[str]) -> tuple[np.ndarray, str, int | str]:
    mode = im.mode
    if fmt == "PNG":
        header = _png_header(p)
        keyed = "transparency" in im.info and header is not None and header[1] in (0, 2)
        if header and (header[0] == 16 or keyed):
            return _read_png_raw(p)  # verify() has checked the CRCs; pypng raises on truncation
    if fmt == "TIFF" and mode in ("RGB", "RGBA", "CMYK"):
        bits = im.tag_v2.get(258, (8,))
        if max(bits if isinstance(bits, tuple) else (bits,)) > 8:
            raise DeconvError(
                f"{p}: {max(bits)}-bit colour TIFF would be reduced to 8 bits by the decoder; "
                "save it as a 16-bit PNG to keep the precision"
            )
    if fmt == "TIFF":
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
