"""The structure of image files, read without decoding pixels: PNG chunks and the length of
their image data, JPEG markers and scans, GIF blocks.

Decoders fill in what a damaged file lacks (Pillow decodes a PNG whose image data ends
early as rows of zeros; libjpeg invents grey for a JPEG whose header claims more pixels than
its data holds) and some files make them work without end (a progressive JPEG with
thousands of scans). These walks find such files first, in one pass over the bytes, and say
what is wrong in one line.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from zlib_ng import zlib_ng as zlib  # inflate and CRC-32 2x faster than Python's zlib (the PNG check)

from ..errors import DeconvError

#: zlib-ng's exception class (its type stub declares ``error`` as an instance).
INFLATE_ERROR: type[Exception] = zlib.error  # type: ignore[assignment]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Bytes read at a time while walking a file.
_BLOCK = 1 << 20

#: Channels per PNG colour type.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}

#: Adam7 passes: (row start, column start, row step, column step).
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))

#: More scans than this in a JPEG is refused: a progressive JPEG has about ten, and each scan
#: costs the decoder a pass over the whole image (libjpeg-turbo advises such a limit too).
MAX_JPEG_SCANS = 500


@dataclass(frozen=True)
class PngLayout:
    """What a PNG's chunks say: its IHDR, and the payload of an eXIf chunk if there is one."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int
    exif: bytes | None = None


def png_data_length(width: int, height: int, bit_depth: int, colour_type: int, interlace: int) -> int:
    """Bytes of filtered image data (a filter byte, then the packed samples, per row) a PNG holds.

    >>> png_data_length(64, 64, 8, 2, 0)      # 64 rows of 1 + 192 bytes
    12352
    >>> png_data_length(3, 3, 1, 0, 1)        # Adam7: passes 1, 4, 5, 6 and 7 hold pixels
    12
    """
    bits = bit_depth * _PNG_CHANNELS[colour_type]
    if interlace == 0:
        return height * (1 + (width * bits + 7) // 8)
    total = 0
    for r0, c0, dr, dc in _ADAM7:
        w, h = (width - c0 + dc - 1) // dc, (height - r0 + dr - 1) // dr
        if w > 0 and h > 0:
            total += h * (1 + (w * bits + 7) // 8)
    return total


def check_png(path: Path) -> PngLayout:
    """Walk every chunk of a PNG: signature, IHDR, each chunk's CRC, one run of IDAT chunks whose
    zlib stream ends exactly after the image data the header declares, and IEND.

    Raises
    ------
    DeconvError
        ``corrupt PNG: ...`` or ``truncated PNG: ...`` naming what is wrong.
    """
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            raise DeconvError(f"{path}: bad PNG signature: the file is damaged or is not a PNG despite its name")
        layout: PngLayout | None = None
        expected = produced = 0
        inflate = None
        seen_idat = idat_done = False
        exif = None
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise DeconvError(f"{path}: truncated PNG: the file ends before its IEND chunk")
            length, tag = struct.unpack(">I4s", head)
            if length >= 1 << 31:
                raise DeconvError(f"{path}: corrupt PNG: chunk {_name(tag)} declares {length} bytes")
            crc = zlib.crc32(tag)
            if tag == b"IDAT":
                if layout is None or idat_done:
                    raise DeconvError(f"{path}: corrupt PNG: image data (IDAT) out of place")
                seen_idat = True
            elif seen_idat:
                idat_done = True
            keep = tag == b"IHDR" or (tag == b"eXIf" and length < 1 << 24)
            kept = bytearray()
            left = length
            while left:
                piece = f.read(min(left, _BLOCK))
                if not piece:
                    raise DeconvError(f"{path}: truncated PNG: chunk {_name(tag)} is cut short")
                left -= len(piece)
                crc = zlib.crc32(piece, crc)
                if tag == b"IDAT":
                    assert inflate is not None and layout is not None
                    try:
                        out = inflate.decompress(piece, expected - produced + 1)
                        while out and produced + len(out) <= expected and inflate.unconsumed_tail:
                            produced += len(out)
                            out = inflate.decompress(inflate.unconsumed_tail, expected - produced + 1)
                    except INFLATE_ERROR as e:
                        raise DeconvError(f"{path}: corrupt PNG: image data does not decompress ({e})") from None
                    produced += len(out)
                    if produced > expected:
                        size = f"{layout.width}x{layout.height}"
                        raise DeconvError(f"{path}: corrupt PNG: more image data than its {size} header declares")
                elif keep:
                    kept += piece
            stored = f.read(4)
            if len(stored) < 4:
                raise DeconvError(f"{path}: truncated PNG: the file ends inside chunk {_name(tag)}")
            if struct.unpack(">I", stored)[0] != crc & 0xFFFFFFFF:
                raise DeconvError(f"{path}: corrupt PNG: chunk {_name(tag)} fails its checksum (CRC)")
            if tag == b"IHDR":
                layout = _ihdr(path, bytes(kept))
                expected = png_data_length(
                    layout.width, layout.height, layout.bit_depth, layout.colour_type, layout.interlace
                )
                inflate = zlib.decompressobj()
            elif layout is None:
                raise DeconvError(f"{path}: corrupt PNG: the first chunk is {_name(tag)}, not IHDR")
            elif tag == b"eXIf":
                exif = bytes(kept)
            elif tag == b"IEND":
                break
        assert layout is not None and inflate is not None
        if produced < expected or not inflate.eof:
            raise DeconvError(
                f"{path}: truncated PNG: its image data (IDAT) holds {produced} of the {expected} bytes "
                f"a {layout.width}x{layout.height} image needs"
            )
        if inflate.unused_data:
            raise DeconvError(f"{path}: corrupt PNG: data after the end of the compressed image data")
    return PngLayout(layout.width, layout.height, layout.bit_depth, layout.colour_type, layout.interlace, exif)


def _name(tag: bytes) -> str:
    """A chunk's name as text: four letters, or their repr when they are not letters."""
    return tag.decode("ascii") if tag.isalpha() else repr(tag)


def _ihdr(path: Path, data: bytes) -> PngLayout:
    if len(data) != 13:
        raise DeconvError(f"{path}: corrupt PNG: IHDR holds {len(data)} bytes, not 13")
    w, h, depth, colour, compression, filt, interlace = struct.unpack(">IIBBBBB", data)
    if not (0 < w < 1 << 31 and 0 < h < 1 << 31):
        raise DeconvError(f"{path}: corrupt PNG: size {w}x{h}")
    if depth not in _PNG_DEPTHS.get(colour, ()):
        raise DeconvError(f"{path}: corrupt PNG: bit depth {depth} with colour type {colour}")
    if compression or filt or interlace > 1:
        raise DeconvError(
            f"{path}: corrupt PNG: unknown compression, filter or interlace method ({compression}, {filt}, {interlace})"
        )
    return PngLayout(w, h, depth, colour, interlace)


def png_layout(path: Path) -> PngLayout | None:
    """The IHDR of a PNG from its first bytes (no other chunk read), or None if it is no PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return PngLayout(w, h, depth, colour, interlace)


def png_exif(path: Path) -> bytes | None:
    """The payload of a PNG's eXIf chunk, reading chunk headers only (the data is skipped)."""
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            return None
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            length, tag = struct.unpack(">I4s", head)
            if tag == b"eXIf" and length < 1 << 24:
                return f.read(length)
            if tag == b"IEND":
                return None
            f.seek(length + 4, 1)


def jpeg_scans(path: Path) -> int:
    """The number of scans (SOS segments) in a JPEG's main image, walking its markers.

    Entropy-coded data is skipped by looking for the next marker (``0xFF`` followed by
    neither ``0x00`` nor a restart marker), so embedded thumbnails in APP segments are not
    counted. Raises :class:`DeconvError` past :data:`MAX_JPEG_SCANS`.
    """
    data = path.read_bytes()
    if data[:2] != b"\xff\xd8":
        return 0
    i, n, scans = 2, len(data), 0
    while i + 4 <= n:
        if data[i] != 0xFF:
            i = data.find(b"\xff", i)
            if i < 0:
                break
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # restart markers, TEM: no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        i += 2 + length
        if marker == 0xDA:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise DeconvError(
                    f"{path}: JPEG with more than {MAX_JPEG_SCANS} scans (a progressive JPEG has about ten); "
                    "refused, as decoding it would take a pass over the whole image per scan"
                )
            while True:  # entropy-coded data up to the next marker
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    return scans
                nxt = data[j + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                    i = j + 2
                    continue
                i = j
                break
    return scans


@dataclass(frozen=True)
class GifLayout:
    """A GIF's logical screen grown to every frame's extent, how many frames it holds, its
    logical screen as declared, and the first frame's box (left, top, width, height)."""

    width: int
    height: int
    frames: int
    screen: tuple[int, int] = (0, 0)
    first: tuple[int, int, int, int] | None = None


def gif_layout(path: Path) -> GifLayout:
    """(width, height) the frames of a GIF span together, and their count, from its block
    structure, without decoding. Pillow grows the canvas to fit every frame, but checks a
    frame's extent against its decompression-bomb limit only when it seeks to that frame."""
    with open(path, "rb") as f:
        head = f.read(13)
        if len(head) < 13:
            return GifLayout(0, 0, 0)
        width, height = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        screen = (width, height)
        first = None
        frames = 0
        if head[10] & 0x80:
            f.seek(3 << ((head[10] & 7) + 1), 1)

        def skip_sub_blocks() -> bool:
            while True:
                n = f.read(1)
                if not n:
                    return False
                if n[0] == 0:
                    return True
                f.seek(n[0], 1)

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
                first = first or (x0, y0, fw, fh)
                frames += 1
                if d[8] & 0x80:
                    f.seek(3 << ((d[8] & 7) + 1), 1)
                if not f.read(1) or not skip_sub_blocks():  # LZW code size, then the data
                    break
            else:  # trailer, end of file or garbage
                break
    return GifLayout(width, height, frames, screen, first)


def check_bmp(path: Path) -> None:
    """Refuse a BMP whose pixel data offset (``bfOffBits``) lies inside its own headers, colour masks
    or palette: readers then disagree on where the pixels start (Pillow reads after the palette,
    libvips at the offset), so either picture may be the wrong one."""
    with open(path, "rb") as f:
        head = f.read(54)
    if len(head) < 18 or head[:2] != b"BM":
        return  # Pillow's own checks answer for such a file
    offset, info_size = struct.unpack_from("<II", head, 10)
    end = 14 + info_size
    if info_size == 12 and len(head) >= 26:  # OS/2 BITMAPCOREHEADER: 3-byte palette entries
        bits = struct.unpack_from("<H", head, 24)[0]
        end += 3 * (1 << bits) if bits <= 8 else 0
    elif info_size >= 40 and len(head) >= 50:
        bits, compression = struct.unpack_from("<HI", head, 28)
        colours = struct.unpack_from("<I", head, 46)[0]
        if info_size == 40 and compression in (3, 6):  # BI_BITFIELDS / ALPHABITFIELDS: masks after the header
            end += 12 if compression == 3 else 16
        if bits <= 8:
            end += 4 * (colours or (1 << bits))
    if offset < end:
        raise DeconvError(
            f"{path}: corrupt BMP: its pixel data offset ({offset}) lies inside its headers and palette, which end "
            f"at byte {end}; readers disagree on where its pixels start, so none of them can be trusted"
        )


def tga_attribute_bits(path: Path) -> int | None:
    """The attribute (alpha) bits per pixel a TGA's header declares (image descriptor bits
    0-3), or None when the file is too short to say."""
    with open(path, "rb") as f:
        head = f.read(18)
    return head[17] & 0x0F if len(head) == 18 else None


#: Most entries a first IFD is read for (a real one has a few dozen).
_MAX_IFD_ENTRIES = 4096


def tiff_tag_ids(path: Path) -> set[int] | None:
    """The tag numbers of a classic TIFF's first image file directory, as stored (whatever their
    types and values); None for a BigTIFF or a file too short or odd to say."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8 or head[:4] not in (b"II*\0", b"MM\0*"):
            return None
        order = "<" if head[:2] == b"II" else ">"
        f.seek(struct.unpack(order + "I", head[4:])[0])
        count = f.read(2)
        if len(count) < 2:
            return None
        n = min(struct.unpack(order + "H", count)[0], _MAX_IFD_ENTRIES)
        entries = f.read(12 * n)
    return {struct.unpack_from(order + "H", entries, 12 * i)[0] for i in range(len(entries) // 12)}
