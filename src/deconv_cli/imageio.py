"""Load and save images: modes, bit depth, alpha, EXIF orientation, metadata, atomic writes.

Pillow decodes everything except 16-bit colour PNGs, which it reduces to 8
bits; those (and every 16-bit PNG, for one code path) go through pypng, which
keeps all 16 bits. Only the formats in :data:`READ_FORMATS` are decoded.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from .errors import DeconvError

#: Pillow decoders deconv lets run (Pillow's ``formats=`` allow-list).
READ_FORMATS = ("PNG", "JPEG", "MPO", "TIFF", "BMP", "WEBP", "GIF", "PPM", "TGA")

#: Output extension -> Pillow format name (``npy`` is the raw float array).
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pnm": "PPM",
    ".tga": "TGA",
    ".npy": "NPY",
}

#: PNG compression without ``compress``: zlib's run-length strategy (``Z_RLE``) over Up-filtered
#: rows. On upsampled photos it encodes a little faster than level 1 and 3-18% smaller (about
#: level 2's size); figures in bench/README.md. An explicit ``compress=N`` is zlib level N with
#: the default strategy.
DEFAULT_PNG_COMPRESS = 1
DEFAULT_PNG_STRATEGY = zlib.Z_RLE

#: What each format can store: depth -> channel layouts.
_CAPS: dict[str, dict[object, tuple[str, ...]]] = {
    "PNG": {8: ("L", "LA", "RGB", "RGBA"), 16: ("L", "LA", "RGB", "RGBA")},
    "JPEG": {8: ("L", "RGB")},
    "TIFF": {8: ("L", "LA", "RGB", "RGBA"), 16: ("L",), 32: ("L",), "float": ("L",)},
    # Pillow writes RGBA as a 32-bit BMP whose fourth byte readers (Pillow included) take as padding.
    "BMP": {8: ("L", "RGB")},
    "WEBP": {8: ("RGB", "RGBA")},
    "GIF": {8: ("L", "RGB")},
    "PPM": {8: ("L", "RGB"), 16: ("L",)},
    "TGA": {8: ("L", "LA", "RGB", "RGBA")},
}

_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


@dataclass
class ImageData:
    """Pixels and what is needed to save them faithfully.

    Attributes
    ----------
    array : (H, W) or (H, W, C) ndarray
        uint8 (depth 8), uint16 (depth 16), int32 (depth 32) or float32
        (depth ``"float"``), channels last, EXIF orientation applied.
    channels : {'L', 'LA', 'RGB', 'RGBA'}
    depth : {8, 16, 32, 'float'}
    """

    array: np.ndarray
    channels: str
    depth: int | str
    format: str | None = None
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def alpha_channel(self) -> int | None:
        return self.array.shape[2] - 1 if self.channels in ("LA", "RGBA") else None

    @property
    def alpha_max(self) -> float:
        return float(depth_max(self.depth))

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)"""
        return self.array.shape[0], self.array.shape[1]


@dataclass
class SaveReport:
    """What :func:`save_image` wrote; clipped counts are samples, not pixels."""

    path: str
    format: str
    depth: int | str
    clipped_low: int = 0
    clipped_high: int = 0
    warnings: list[str] = field(default_factory=list)
    #: Time spent computing strips (and converting, and for PNG compressing them): see save_strips.
    strip_seconds: float = 0.0

    @property
    def clipped(self) -> int:
        return self.clipped_low + self.clipped_high


def depth_max(depth: int | str) -> float:
    return {8: 255.0, 16: 65535.0, 32: 2.0**31 - 1}.get(depth, 1.0)  # type: ignore[call-overload]


# ----------------------------------------------------------------------------- reading


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


def _one_line(text: object) -> str:
    """A message (Pillow's, pypng's, the OS's) on one line, without a trailing full stop."""
    return " ".join(str(text).split()).rstrip(".")


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
        return f"corrupt PNG: {_one_line(' '.join(str(a) for a in e.args)) or type(e).__name__}"
    except Exception as e:  # zlib.error, EOFError, ...
        return f"corrupt PNG: {_one_line(e) or type(e).__name__}"
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
    return (arr[:, :, 0] if planes == 1 else arr), _CHANNELS[planes], 16 if bits == 16 else 8


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
            text = _one_line(w.message)
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
        raise DeconvError(f"{p}: corrupt TIFF: libtiff: {_one_line(errors[0])}")
    notes.extend(f"{p}: libtiff: {_one_line(line)}" for line in lines[:_MAX_NOTES])


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
        raise DeconvError(f"{p}: refused as a possible decompression bomb ({_one_line(e)})") from None
    except MemoryError:
        raise DeconvError(f"{p}: not enough memory to decode it") from None
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ... on broken files
        problem = _png_problem(p) if _looks_png(p) else None
        raise DeconvError(
            f"{p}: {problem or 'corrupt or truncated image: ' + (_one_line(e) or type(e).__name__)}"
        ) from None
    dpi = info.get("dpi")
    return ImageData(
        array=_orient(array, orientation),
        channels=channels,
        depth=depth,
        format=fmt,
        icc_profile=info.get("icc_profile") or None,
        dpi=tuple(float(v) for v in dpi) if dpi else None,  # type: ignore[arg-type]
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
        raise DeconvError(f"{p}: refused as a possible decompression bomb ({_one_line(e)})") from None
    except Exception as e:
        raise DeconvError(f"{p}: unreadable image header ({_one_line(e) or type(e).__name__})") from None
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


# ----------------------------------------------------------------------------- writing


def output_format(path: str | os.PathLike) -> str:
    """Pillow format name (or ``"NPY"``) for an output path, from its extension."""
    suffix = Path(path).suffix.lower()
    try:
        return WRITE_FORMATS[suffix]
    except KeyError:
        exts = ", ".join(sorted(WRITE_FORMATS))
        raise DeconvError(
            f"{path}: cannot tell the output format from {suffix or 'a missing extension'!r}; use one of {exts}",
            usage=True,
        ) from None


def check_writable(path: str | os.PathLike, *, overwrite: bool = False, depth=None, channels=None) -> str:
    """Refuse early what :func:`save_image` would refuse; return the format."""
    p = Path(path)
    fmt = output_format(p)
    if p.is_dir():
        raise DeconvError(f"{p}: is a directory; give a file name to write")
    if p.exists() and not overwrite:
        raise DeconvError(f"{p}: already exists; pass --overwrite to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DeconvError(f"{p}: the directory {parent} does not exist")
    if depth is not None and channels is not None and fmt != "NPY":
        _check_caps(p, fmt, depth, channels)
    return fmt


def _check_caps(p: Path, fmt: str, depth, channels: str) -> None:
    caps = _CAPS[fmt]
    if depth not in caps:
        bits = "floating-point" if depth == "float" else f"{depth}-bit"
        stores = ", ".join("float" if d == "float" else f"{d}-bit" for d in caps)
        raise DeconvError(
            f"{p}: {fmt} cannot store {bits} {channels} data (it stores {stores}); "
            "write .png, .tif or .npy, or choose --depth"
        )
    if channels not in caps[depth]:
        bits = "float" if depth == "float" else f"{depth}-bit"
        raise DeconvError(
            f"{p}: {fmt} cannot store {bits} {channels} images (only {', '.join(caps[depth])}); "
            "write .png, .tif or .npy instead"
        )


def _create_temp(p: Path, parent: Path) -> tuple[int, str]:
    """Create ``.<name>.<random>.part`` beside ``p`` (exclusively, mode 0666 minus the umask)."""
    for _ in range(100):
        tmp = os.path.join(parent, f".{p.name}.{secrets.token_hex(4)}.part")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {p}")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None], *, overwrite: bool = False) -> None:
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
        raise DeconvError(f"{p}: cannot write in {parent} ({_one_line(e.strerror or e)})") from None
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
        raise DeconvError(f"{p}: write failed ({_one_line(e.strerror or e)})") from None
    except Exception as e:  # the writer's own failure (an encoder's ValueError, KeyError, ...)
        raise DeconvError(f"{p}: write failed ({_one_line(e) or type(e).__name__}); nothing was written") from e
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


_STORAGE = {8: np.uint8, 16: np.uint16, 32: np.int32, "float": np.float32}


def storage_dtype(depth: int | str) -> np.dtype:
    """The array dtype that holds samples of ``depth``."""
    return np.dtype(_STORAGE[depth])


def store(result: np.ndarray, depth: int | str, out: np.ndarray) -> tuple[int, int, int]:
    """Round half up, clip and write ``result`` into ``out`` (of :func:`storage_dtype`).

    ``result`` may be used as scratch: a float result is overwritten. Returns
    the samples clipped below 0 and above the maximum, and the NaN samples
    (stored as 0, counted in neither). Floats (``depth="float"``) are stored
    as float32 unclipped.
    """
    if depth == "float":
        with np.errstate(over="ignore"):  # beyond float32's range: +-inf, like any float writer
            np.copyto(out, result, casting="unsafe")
        return 0, 0, 0
    hi = depth_max(depth)
    lo = -(2.0**31) if depth == 32 else 0.0
    if result.dtype.kind != "f":  # integers: nothing to round
        low, high = int(np.count_nonzero(result < lo)), int(np.count_nonzero(result > hi))
        np.copyto(out, np.clip(result, lo, hi) if low or high else result, casting="unsafe")
        return low, high, 0
    # float32 cannot hold 2**31 - 1: round and clip 32-bit results in float64
    work = result.astype(np.float64) if depth == 32 and result.dtype.itemsize < 8 else result
    np.add(work, 0.5, out=work)
    np.floor(work, out=work)
    low = high = nans = 0
    if work.size and not (work.min() >= lo and work.max() <= hi):  # also taken when NaN is present
        low, high = int(np.count_nonzero(work < lo)), int(np.count_nonzero(work > hi))
        np.clip(work, lo, hi, out=work)
        nan = np.isnan(work)
        nans = int(np.count_nonzero(nan))
        if nans:
            work[nan] = 0
    np.copyto(out, work, casting="unsafe")
    return low, high, nans


def to_storage(result: np.ndarray, depth: int | str) -> tuple[np.ndarray, int, int]:
    """Round half up and clip a float result into the integer type of ``depth``.

    Returns the stored array and how many samples were clipped below 0 and
    above the maximum (floats are stored as float32 unclipped). NaN samples
    are stored as 0 and counted in neither.

    >>> to_storage(np.array([-3.0, 0.5, 254.49, 300.0]), 8)
    (array([  0,   1, 254, 255], dtype=uint8), 1, 1)
    """
    result = np.asarray(result)
    out = np.empty(result.shape, storage_dtype(depth))
    work = result.copy() if result.dtype.kind == "f" else result
    low, high, _ = store(work, depth, out)
    return out, low, high


# ----------------------------------------------------------------------------- PNG, strip by strip

#: PNG colour type per channel layout.
_PNG_COLOUR = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}


def _adler32_combine(a1: int, a2: int, len2: int) -> int:
    """zlib's adler32_combine: the checksum of A+B from those of A and B and B's length."""
    base = 65521
    rem = len2 % base
    s1 = a1 & 0xFFFF
    s2 = (rem * s1) % base
    s1 = (s1 + (a2 & 0xFFFF) + base - 1) % base
    s2 = (s2 + (a1 >> 16) + (a2 >> 16) + base - rem) % base
    return s1 | (s2 << 16)


def _chunk(f: IO[bytes], tag: bytes, data: bytes) -> None:
    f.write(len(data).to_bytes(4, "big") + tag + data + zlib.crc32(data, zlib.crc32(tag)).to_bytes(4, "big"))


class PngStream:
    """A PNG written in horizontal pieces that are filtered and compressed independently.

    Every piece becomes raw deflate data ending in a sync flush, so the pieces
    can be compressed on several threads (zlib releases the GIL) and
    concatenated into one zlib stream; the Adler-32 of the whole is combined
    from the pieces'. The first row of a piece uses the Sub filter (it cannot
    see the row above), the others Up: on upsampled images Up compresses
    best of the filters numpy applies in one pass (figures in bench/README.md).

    Usage: :meth:`start`, then :meth:`encode` each piece (any thread) and
    :meth:`write` the results in order, then :meth:`finish`.
    """

    def __init__(
        self,
        f: IO[bytes],
        width: int,
        height: int,
        channels: str,
        depth: int,
        level: int,
        *,
        icc_profile: bytes | None = None,
        dpi: tuple[float, float] | None = None,
        strategy: int | None = None,
    ):
        self.f = f
        self.size = (width, height)
        self.channels = channels
        self.depth = depth
        self.level = level
        self.strategy = zlib.Z_DEFAULT_STRATEGY if strategy is None else strategy
        self.icc_profile = icc_profile
        self.dpi = dpi
        self.bpp = len(channels) * depth // 8
        self.adler = 1
        self.rows = 0

    def start(self) -> None:
        w, h = self.size
        f = self.f
        f.write(b"\x89PNG\r\n\x1a\n")
        ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([self.depth, _PNG_COLOUR[self.channels], 0, 0, 0])
        _chunk(f, b"IHDR", ihdr)
        if self.icc_profile:
            _chunk(f, b"iCCP", b"ICC Profile\0\0" + zlib.compress(self.icc_profile))
        if self.dpi:  # as Pillow writes it: pixels per metre
            ppm = [int(d / 0.0254 + 0.5) for d in self.dpi]
            _chunk(f, b"pHYs", ppm[0].to_bytes(4, "big") + ppm[1].to_bytes(4, "big") + b"\x01")
        flevel = 0 if self.level < 2 or self.strategy >= zlib.Z_HUFFMAN_ONLY else 1 if self.level < 6 else 2 if self.level == 6 else 3
        head = (0x78 << 8) | (flevel << 6)
        head += 31 - head % 31
        _chunk(f, b"IDAT", head.to_bytes(2, "big"))

    def filtered(self, stored: np.ndarray) -> np.ndarray:
        """Rows of samples -> (rows, 1 + bytes per row) uint8, each led by its filter type."""
        n = stored.shape[0]
        if self.depth == 16:
            raw = stored.astype(">u2").reshape(n, -1).view(np.uint8)
        else:
            raw = np.ascontiguousarray(stored).reshape(n, -1)
        out = np.empty((n, raw.shape[1] + 1), np.uint8)
        bpp = self.bpp
        out[0, 0] = 1  # Sub
        out[0, 1 : 1 + bpp] = raw[0, :bpp]
        np.subtract(raw[0, bpp:], raw[0, :-bpp], out=out[0, 1 + bpp :])
        if n > 1:
            out[1:, 0] = 2  # Up
            np.subtract(raw[1:], raw[:-1], out=out[1:, 1:])
        return out

    def encode(self, stored: np.ndarray) -> tuple[bytes, int, int]:
        """Filter and compress rows of samples ((rows, W) or (rows, W, C), uint8 or uint16).

        Returns (raw deflate data ending in a sync flush, Adler-32 and length
        of the filtered bytes). Safe to call from several threads at once.
        """
        data = self.filtered(stored)
        z = zlib.compressobj(self.level, zlib.DEFLATED, -15, 8, self.strategy)
        return z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH), zlib.adler32(data), data.size

    def write(self, piece: tuple[bytes, int, int], rows: int) -> None:
        data, adler, length = piece
        _chunk(self.f, b"IDAT", data)
        self.adler = _adler32_combine(self.adler, adler, length)
        self.rows += rows

    def finish(self) -> None:
        if self.rows != self.size[1]:
            raise ValueError(f"PNG stream got {self.rows} rows, expected {self.size[1]}")
        end = zlib.compressobj(self.level, zlib.DEFLATED, -15).flush()  # an empty final block
        _chunk(self.f, b"IDAT", end + self.adler.to_bytes(4, "big"))
        _chunk(self.f, b"IEND", b"")


def _png_pieces(stored: np.ndarray, rows: int = 64) -> Iterator[np.ndarray]:
    for r in range(0, stored.shape[0], rows):
        yield stored[r : r + rows]


def _write_png(f: IO[bytes], stored: np.ndarray, channels: str, depth: int, level: int, opts: dict) -> None:
    """A whole stored array as a PNG, pieces compressed on a few threads."""
    from concurrent.futures import ThreadPoolExecutor

    from .engine import default_threads

    h, w = stored.shape[:2]
    png = PngStream(
        f, w, h, channels, depth, level, icc_profile=opts.get("icc_profile"), dpi=opts.get("dpi"), strategy=opts.get("strategy")
    )
    png.start()
    rows = max(1, (1 << 20) // max(1, stored[0].nbytes))
    pieces = list(_png_pieces(stored, rows))
    threads = min(default_threads(), len(pieces))
    if threads > 1:
        with ThreadPoolExecutor(threads) as ex:
            for piece, part in zip(ex.map(png.encode, pieces), pieces):
                png.write(piece, len(part))
    else:
        for part in pieces:
            png.write(png.encode(part), len(part))
    png.finish()


# ----------------------------------------------------------------------------- saving


def _save_options(p: Path, fmt: str, depth, channels: str, like: ImageData | None, compress: int | None) -> tuple[dict, list[str]]:
    """Pillow's save options for a format, and warnings."""
    _check_caps(p, fmt, depth, channels)
    if compress is not None and not 0 <= compress <= 9:
        raise DeconvError(f"compress must be 0..9, got {compress}", usage=True)
    opts: dict[str, object] = {}
    if like is not None and like.icc_profile and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        opts["icc_profile"] = like.icc_profile
    if like is not None and like.dpi and fmt in ("PNG", "JPEG", "TIFF", "BMP"):
        opts["dpi"] = like.dpi
    if fmt == "PNG":
        opts["compress_level"] = DEFAULT_PNG_COMPRESS if compress is None else compress
        opts["strategy"] = DEFAULT_PNG_STRATEGY if compress is None else zlib.Z_DEFAULT_STRATEGY
    elif fmt == "JPEG":
        opts["quality"] = 95
    elif fmt == "WEBP":
        opts["lossless"] = True
        opts["exact"] = True  # else libwebp rewrites the colour of fully transparent pixels
    elif fmt == "GIF" and channels == "L":
        opts["optimize"] = False  # keep the identity grey palette, which Pillow reads back as L
    elif fmt == "TIFF":
        opts["compression"] = "tiff_deflate" if depth != "float" else None
    notes = [f"{p}: GIF stores at most 256 colours; the result was quantised"] if fmt == "GIF" and channels != "L" else []
    return opts, notes


def _write_stored(f: IO[bytes], fmt: str, stored: np.ndarray, channels: str, depth, opts: dict) -> None:
    """Write samples already in their storage dtype."""
    if fmt == "PNG":
        _write_png(f, stored, channels, depth, int(opts["compress_level"]), opts)  # type: ignore[call-overload]
        return
    from PIL import Image

    # uint8 -> L/LA/RGB/RGBA, uint16 -> I;16, int32 -> I, float32 -> F
    Image.fromarray(np.ascontiguousarray(stored)).save(f, format=fmt, **opts)


def _nan_warning(p: Path, nans: int) -> list[str]:
    return [f"{p}: {nans} samples were NaN (not a number); stored as 0"] if nans else []


def save_image(
    path: str | os.PathLike,
    result: np.ndarray,
    *,
    channels: str,
    depth: int | str,
    like: ImageData | None = None,
    compress: int | None = None,
    overwrite: bool = False,
) -> SaveReport:
    """Save a float result atomically, in the format its extension names.

    Parameters
    ----------
    path : str or path
        ``.png .jpg .tif .bmp .webp .gif .ppm/.pgm .tga`` or ``.npy`` (the raw
        float array, no rounding or clipping).
    result : (H, W) or (H, W, C) ndarray
        Values in the units of ``depth`` (0..255 for 8-bit, 0..65535 for 16-bit).
    channels : {'L', 'LA', 'RGB', 'RGBA'}
    depth : {8, 16, 32, 'float'}

    Other parameters
    ----------------
    like : ImageData, optional
        Source of the ICC profile and DPI to keep where the format allows.
    compress : int 0..9, optional
        PNG zlib level; without it, :data:`DEFAULT_PNG_STRATEGY` (zlib's run-length strategy).
    overwrite : bool
        Replace an existing file (otherwise :class:`DeconvError`).

    Returns
    -------
    SaveReport
        Format, depth and the number of clipped samples.

    Notes
    -----
    Integer outputs are rounded half up (as Pillow rounds) and clipped to the
    depth's range; the clipped samples are counted (NaN samples are stored
    as 0, with a warning). JPEG is written at quality 95 and WebP losslessly,
    keeping the colour of fully transparent pixels. PNGs are written by
    :class:`PngStream`. A ``result`` whose shape does not fit ``channels`` is
    refused.
    """
    p = Path(path)
    fmt = output_format(p)
    result = np.asarray(result)
    report = SaveReport(str(p), fmt, "float" if fmt == "NPY" else depth)
    if fmt == "NPY":
        atomic_write(p, lambda f: np.save(f, result, allow_pickle=False), overwrite=overwrite)
        return report
    opts, report.warnings = _save_options(p, fmt, depth, channels, like, compress)
    result = _check_layout(p, result, channels)
    stored = np.empty(result.shape, storage_dtype(depth))
    work = result.copy() if result.dtype.kind == "f" else result
    report.clipped_low, report.clipped_high, nans = store(work, depth, stored)
    report.warnings += _nan_warning(p, nans if depth != "float" else 0)
    atomic_write(p, lambda f: _write_stored(f, fmt, stored, channels, depth, opts), overwrite=overwrite)
    return report


def save_strips(
    path: str | os.PathLike,
    plan,
    *,
    channels: str,
    depth: int | str,
    like: ImageData | None = None,
    compress: int | None = None,
    overwrite: bool = False,
    scale: float = 1.0,
) -> SaveReport:
    """Compute a :class:`~deconv_cli.engine.Plan` strip by strip straight into the file.

    As :func:`save_image`, with the float result never held whole: each strip
    is multiplied by ``scale`` (a depth change), rounded and clipped into the
    storage dtype as soon as it is computed. A PNG is filtered and compressed
    strip by strip too, so only the input, the compressed output and a few
    strips are in memory; other formats hold the stored samples (what Pillow
    needs to encode them); ``.npy`` holds the float result, which is the file.
    """
    p = Path(path)
    fmt = output_format(p)
    h, w, c = plan.shape
    shape = (h, w) if c == 1 else (h, w, c)
    report = SaveReport(str(p), fmt, "float" if fmt == "NPY" else depth)
    if fmt == "NPY":
        t0 = time.perf_counter()
        out = np.empty(plan.shape, plan.dtype)
        for _ in plan.run(out=out, sink=(lambda o0, strip: strip.__imul__(scale)) if scale != 1.0 else None):
            pass
        result = out.reshape(shape)
        report.strip_seconds = time.perf_counter() - t0
        atomic_write(p, lambda f: np.save(f, result, allow_pickle=False), overwrite=overwrite)
        return report
    opts, report.warnings = _save_options(p, fmt, depth, channels, like, compress)
    if len(channels) != c:
        raise DeconvError(f"{p}: cannot save an image of {c} channel(s) as {channels}")
    dtype = storage_dtype(depth)
    counts = [0, 0, 0]  # clipped low, clipped high, NaN: summed on the calling thread only

    def convert(strip: np.ndarray, out: np.ndarray) -> tuple[int, int, int]:
        if scale != 1.0:
            strip *= scale
        return store(strip if c > 1 else strip[:, :, 0], depth, out)

    if fmt == "PNG":
        level = int(opts["compress_level"])  # type: ignore[call-overload]
        local = threading.local()

        def write_png(f: IO[bytes]) -> None:
            t0 = time.perf_counter()
            png = PngStream(
                f, w, h, channels, int(depth), level,  # type: ignore[arg-type]
                icc_profile=opts.get("icc_profile"), dpi=opts.get("dpi"), strategy=opts.get("strategy"),  # type: ignore[arg-type]
            )  # fmt: skip
            png.start()

            def sink(o0: int, strip: np.ndarray):
                buf = getattr(local, "buf", None)  # this thread's stored rows
                if buf is None or buf.shape[0] < strip.shape[0]:
                    buf = local.buf = np.empty((strip.shape[0],) + shape[1:], dtype)
                part = buf[: strip.shape[0]]
                found = convert(strip, part)
                return png.encode(part), found, len(part)

            for piece, found, rows in plan.run(sink=sink):
                png.write(piece, rows)
                counts[:] = [a + b for a, b in zip(counts, found)]
            png.finish()
            report.strip_seconds = time.perf_counter() - t0

        atomic_write(p, write_png, overwrite=overwrite)
    else:
        stored = np.empty(shape, dtype)
        t0 = time.perf_counter()
        for found in plan.run(sink=lambda o0, strip: convert(strip, stored[o0 : o0 + strip.shape[0]])):
            counts[:] = [a + b for a, b in zip(counts, found)]
        report.strip_seconds = time.perf_counter() - t0
        atomic_write(p, lambda f: _write_stored(f, fmt, stored, channels, depth, opts), overwrite=overwrite)
    report.clipped_low, report.clipped_high = counts[0], counts[1]
    report.warnings += _nan_warning(p, counts[2] if depth != "float" else 0)
    return report


def _check_layout(p: Path, result: np.ndarray, channels: str) -> np.ndarray:
    """The result as (H, W) for L and (H, W, C) otherwise, or DeconvError if it does not fit ``channels``."""
    n = len(channels) if channels in _CHANNELS.values() else 0
    if n == 0:
        raise DeconvError(f"{p}: unknown channel layout {channels!r}; use L, LA, RGB or RGBA")
    if result.ndim == 3 and result.shape[2] == n:
        return result[:, :, 0] if n == 1 else result
    if result.ndim == 2 and n == 1:
        return result
    raise DeconvError(f"{p}: cannot save an array of shape {result.shape} as {channels} ({n} channel(s))")
