"""The pixels of each format, once its header has passed: PNG checked in full (its structure on
a thread beside the decoder), 16-bit PNG through pypng, JPEG through libjpeg-turbo with its
warnings as errors, TIFF and palette images checked for what decoders would fill in."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import DeconvError, one_line
from .containers import check_png, png_data_length, png_layout, tga_attribute_bits, tiff_tag_ids
from .image import CHANNELS
from .native import native_stderr
from .pillow import (
    MAX_NOTES,
    PillowRows,
    open_image,
    orientation,
)


def png_problem(path: Path) -> str | None:
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


def _load_tiff(im, p: Path, notes: list[str]) -> None:
    """``im.load()`` for a TIFF, refusing what libtiff calls an error (its warnings become notes)."""
    lines: list[str] = []
    with native_stderr(lines):
        im.load()
    errors = [line for line in lines if "Warning," not in line]
    if errors:
        raise DeconvError(f"{p}: corrupt TIFF: libtiff: {one_line(errors[0])}")
    notes.extend(f"{p}: libtiff: {one_line(line)}" for line in lines[:MAX_NOTES])


#: A PNG whose image data would take more bytes than this is checked in full before it is
#: decoded, so that a forged header over a few bytes of data allocates nothing; smaller ones are
#: checked on a thread beside the decoder.
CHECK_FIRST_BYTES = 64 << 20


def looks_png(p: Path) -> bool:
    if p.suffix.lower() == ".png":
        return True
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x89PNG"
    except OSError:
        return False


def png_pixels(
    p: Path, notes: list[str], rows: bool = False
) -> tuple[np.ndarray | PillowRows, str, int | str, int | None]:
    """A PNG's pixels, while another thread walks its structure (:func:`~.containers.check_png`):
    both read the file once and decompress its data, zlib and Pillow's decoder release the
    GIL, so the check costs little time. The check's verdict comes first: it says what is
    wrong more precisely than a decoder error does. Returns the EXIF orientation as well,
    read once the pixels are in (text chunks after the image data may hold it)."""
    layout = png_layout(p)
    if layout is not None and png_data_length(*_layout_args(layout)) > CHECK_FIRST_BYTES:
        check_png(p)  # a large image is checked before its canvas is allocated: its data may be a few bytes
        return _png_decode(p, notes, rows)
    with ThreadPoolExecutor(1) as ex:
        check = ex.submit(check_png, p)
        try:
            decoded = _png_decode(p, notes, rows)
        except Exception:
            check.result()  # a DeconvError naming the damage, if the structure shows it
            raise
        check.result()
    return decoded


def _layout_args(layout) -> tuple[int, int, int, int, int]:
    return layout.width, layout.height, layout.bit_depth, layout.colour_type, layout.interlace


def _png_decode(p: Path, notes: list[str], rows: bool) -> tuple[np.ndarray | PillowRows, str, int | str, int | None]:
    layout = png_layout(p)
    with open_image(p) as im:
        keyed = "transparency" in im.info and layout is not None and layout.colour_type in (0, 2)
        if layout is not None and (layout.bit_depth == 16 or keyed):
            # pypng's samples: Pillow reduces 16-bit colour to 8 bits and misses grey keys. Pillow
            # does not decode here, so the orientation stays the one read from the header.
            return (*_read_png_raw(p), None)
        array, channels, depth = pixels(im, p, "PNG", notes, rows)
        return array, channels, depth, orientation(im, p, "LOADED", notes)


def jpeg_pixels(p: Path, notes: list[str]) -> tuple[np.ndarray | PillowRows, str, int | str]:
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
    with open_image(p) as im:
        return pixels(im, p, "JPEG", notes)


#: Bits per TIFF sample deconv reads (Pillow would read 12-bit samples as 16-bit values 0..4095).
_TIFF_BITS = (1, 2, 4, 8, 16, 32)


#: The tags that say where a TIFF's pixels are and what they mean: one that is stored but that
#: Pillow could not read (a wrong type or count) is refused, not decoded around.
_TIFF_LAYOUT_TAGS = {
    256: "ImageWidth",
    257: "ImageLength",
    258: "BitsPerSample",
    259: "Compression",
    262: "PhotometricInterpretation",
    273: "StripOffsets",
    277: "SamplesPerPixel",
    278: "RowsPerStrip",
    279: "StripByteCounts",
    284: "PlanarConfiguration",
    317: "Predictor",
    322: "TileWidth",
    323: "TileLength",
    324: "TileOffsets",
    325: "TileByteCounts",
    338: "ExtraSamples",
    339: "SampleFormat",
}


def _check_tiff(im, p: Path) -> None:
    """Refuse, before decoding, a TIFF whose samples have a size deconv does not read, or whose
    strips or tiles do not cover the image its header declares (the decoder would leave the
    rest as zeros) or point beyond the end of the file, or that lacks its PhotometricInterpretation
    (tag 262, which says whether 0 is black or white: libtiff and libvips refuse such a file,
    Pillow takes an 8-bit grey one as white-is-zero and inverts it, a 16-bit one not)."""
    lost = set(_TIFF_LAYOUT_TAGS) & (tiff_tag_ids(p) or set()) - set(im.tag_v2)
    if lost:
        raise DeconvError(
            f"{p}: corrupt TIFF: its tag {min(lost)} ({_TIFF_LAYOUT_TAGS[min(lost)]}) has a type or size Pillow "
            "cannot read, so it decodes the pixels without it; libtiff refuses the file"
        )
    if 262 not in im.tag_v2:
        raise DeconvError(
            f"{p}: corrupt TIFF: no PhotometricInterpretation (tag 262), so whether 0 is black or white is "
            "unknown; readers disagree on it (libtiff refuses the file)"
        )
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


#: Pillow's raw modes of 15- and 16-bit pixels (BMP, TGA): the bits of their R, G and B samples.
#: Pillow widens a sample ``v`` of ``b`` bits to ``v * 255 // (2**b - 1)``, rounding down; libvips,
#: ImageMagick and the browsers replicate its bits, ``(v << (8 - b)) | (v >> (2 * b - 8))``, as
#: the PNG specification recommends for widening samples. deconv replicates too: the two differ
#: by 1 level in about half of the codes (5-bit 3: Pillow 24, replicated 24, exact 24.7; 5-bit 4:
#: 32, 33 and 32.9).
FEW_BITS = {"BGR;15": (5, 5, 5), "BGR;16": (5, 6, 5), "BGRA;15": (5, 5, 5), "BGRA;15Z": (5, 5, 5)}


def _raw_mode(im) -> str | None:
    """The raw mode of an opened image's first tile (before it is loaded), if it has one."""
    tile = getattr(im, "tile", None)
    args = tile[0].args if tile else None
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return args if isinstance(args, str) else None


def replicate_bits(im, bits: tuple[int, ...]):
    """A loaded RGB or RGBA image of few-bit samples (``bits`` of R, G, B) with each sample's
    bits replicated instead of Pillow's rounding down (:data:`FEW_BITS`); alpha is kept."""
    lut: list[int] = []
    for b in bits:
        top = (1 << b) - 1
        table = list(range(256))
        for v in range(top + 1):
            table[v * 255 // top] = (v << (8 - b)) | (v >> (2 * b - 8))
        lut += table
    return im.point(lut + list(range(256)) * (len(im.mode) - len(bits)))


def _tga16_alpha(im, p: Path, notes: list[str]):
    """A 16-bit TGA's top bit: no alpha when its header declares no attribute bits (Pillow reads
    the bit as alpha all the same, so a file whose writer set it on every pixel came out
    transparent; libvips and ImageMagick ignore it, as the format says). With an attribute
    bit, readers disagree on its sense: Pillow and GIMP take a set bit as transparent,
    ImageMagick and libvips as opaque; deconv reads it as Pillow does, and says so."""
    if not tga_attribute_bits(p):
        return im.convert("RGB")
    notes.append(
        f"{p}: a 16-bit TGA's 1-bit alpha, read as Pillow and GIMP read it (a set bit is transparent); "
        "ImageMagick and libvips read it the other way round"
    )
    return im


def pixels(
    im, p: Path, fmt: str, notes: list[str], rows: bool = False
) -> tuple[np.ndarray | PillowRows, str, int | str]:
    """The decoded pixels of an opened image in deconv's layouts (see :func:`~.read.load_image`).

    With ``rows``, an RGB or RGBA image is returned as :class:`~.pillow.PillowRows` (read a
    range of rows at a time from Pillow's own image: no second full-size copy); every other
    mode as an array, and so is an image Pillow maps from the file (``readonly``: uncompressed
    RGBA), which must not be read after the file could have changed. Pillow's file is closed
    either way once the pixels are in (its context manager closes the file, not the image)."""
    mode = im.mode
    if fmt == "TIFF" and mode in ("RGB", "RGBA", "CMYK"):
        bits = im.tag_v2.get(258, (8,))
        if max(bits if isinstance(bits, tuple) else (bits,)) > 8:
            raise DeconvError(
                f"{p}: {max(bits)}-bit colour TIFF would be reduced to 8 bits by the decoder; "
                "save it as a 16-bit PNG to keep the precision"
            )
    few_bits = FEW_BITS.get(_raw_mode(im) or "")
    if fmt == "TIFF":
        _check_tiff(im, p)
        _load_tiff(im, p, notes)
    else:
        im.load()
    if few_bits is not None and im.mode in ("RGB", "RGBA"):
        im = replicate_bits(im, few_bits)
        if fmt == "TGA" and im.mode == "RGBA":
            im = _tga16_alpha(im, p, notes)
        mode = im.mode
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
    rows = rows and not im.readonly
    if mode == "RGBA":
        return (PillowRows(im) if rows else np.asarray(im)), "RGBA", 8
    if mode == "RGBa":
        return np.asarray(im.convert("RGBA")), "RGBA", 8
    if mode == "RGB":
        return (PillowRows(im) if rows else np.asarray(im)), "RGB", 8
    if mode == "CMYK":
        notes.append(f"{p}: CMYK image converted to RGB")
    elif mode not in ("RGBX", "YCbCr"):
        notes.append(f"{p}: {mode} image converted to RGB")
    return np.asarray(im.convert("RGB")), "RGB", 8
