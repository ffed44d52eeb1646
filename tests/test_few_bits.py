"""Images of 5- and 6-bit samples (16-bit BMP and TGA): each sample widened to 8 bits by
replicating its bits, as libvips, ImageMagick and browsers do (Pillow rounds down), and a TGA's
top bit an alpha only when its header declares one; and a TIFF that does not say whether 0 is
black or white, which readers decode differently, refused. The files are written here, byte by
byte."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_cli import load_image

from conftest import run


def bmp16(path: Path, pixels: list[int], masks: tuple[int, int, int] | None = None) -> Path:
    """A one-row 16-bit BMP: BI_RGB (5-5-5) or BI_BITFIELDS with ``masks``."""
    row = b"".join(struct.pack("<H", p) for p in pixels)
    row += b"\0" * (-len(row) % 4)
    info = struct.pack("<IiiHHIIiiII", 40, len(pixels), 1, 1, 16, 3 if masks else 0, len(row), 2835, 2835, 0, 0)
    info += struct.pack("<III", *masks) if masks else b""
    offset = 14 + len(info)
    path.write_bytes(b"BM" + struct.pack("<IHHI", offset + len(row), 0, 0, offset) + info + row)
    return path


def tga16(path: Path, pixels: list[int], attribute_bits: int) -> Path:
    """A one-row uncompressed 16-bit true-colour TGA, top to bottom."""
    head = struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, len(pixels), 1, 16, 0x20 | attribute_bits)
    path.write_bytes(head + b"".join(struct.pack("<H", p) for p in pixels))
    return path


def widened(v: int, bits: int) -> int:
    return (v << (8 - bits)) | (v >> (2 * bits - 8))


FIVE = np.array([widened(v, 5) for v in range(32)])


def test_the_widening_is_bit_replication():
    assert FIVE[[0, 1, 3, 4, 16, 31]].tolist() == [0, 8, 24, 33, 132, 255]  # Pillow: 0 8 24 32 131 255
    assert [widened(v, 6) for v in (0, 1, 32, 63)] == [0, 4, 130, 255]


def test_a_555_bmp(tmp_path):
    f = bmp16(tmp_path / "a.bmp", [v | (v << 5) | (31 - v) << 10 for v in range(32)])
    got = load_image(f).array[0]
    assert np.array_equal(got, np.stack([FIVE[::-1], FIVE, FIVE], axis=1))
    with Image.open(f) as im:  # what Pillow alone gives: rounded down
        assert np.asarray(im)[0, 4, 1] == 32 and got[4, 1] == 33


def test_a_565_bmp(tmp_path):
    f = bmp16(tmp_path / "b.bmp", [(v >> 1) | v << 5 | (v >> 1) << 11 for v in range(64)], (0xF800, 0x7E0, 0x1F))
    got = load_image(f).array[0]
    assert got[:, 1].tolist() == [widened(v, 6) for v in range(64)]
    assert got[:, 0].tolist() == got[:, 2].tolist() == [widened(v >> 1, 5) for v in range(64)]


@pytest.mark.parametrize("top", [0, 0x8000])
def test_a_tga_without_attribute_bits_has_no_alpha(tmp_path, top):
    f = tga16(tmp_path / "c.tga", [v | v << 5 | v << 10 | top for v in range(32)], attribute_bits=0)
    image = load_image(f)
    assert image.channels == "RGB" and not image.warnings
    assert np.array_equal(image.array[0], np.stack([FIVE] * 3, axis=1))


def test_a_tga_with_an_alpha_bit_is_read_as_pillow_reads_it_and_says_so(tmp_path):
    f = tga16(tmp_path / "d.tga", [v | v << 5 | v << 10 | (0x8000 if v % 2 else 0) for v in range(32)], 1)
    image = load_image(f)
    assert image.channels == "RGBA"
    assert np.array_equal(image.array[0, :, :3], np.stack([FIVE] * 3, axis=1))
    assert image.array[0, :, 3].tolist() == [255, 0] * 16
    assert len(image.warnings) == 1 and "ImageMagick and libvips read it the other way round" in image.warnings[0]


def test_the_command_reads_the_rows_the_same(tmp_path):
    """The upsample reads an RGB image's rows from the decoder's image: the widened one."""
    f = bmp16(tmp_path / "e.bmp", [v | (v << 5) | (31 - v) << 10 for v in range(32)])
    r = run("upsample", f, "-k", "1x1:1", "-s", "1", "-o", tmp_path / "e.png", "-q")
    assert r.exit_code == 0, r.stderr
    with Image.open(tmp_path / "e.png") as im:
        assert np.array_equal(np.asarray(im)[0], load_image(f).array[0])


@pytest.mark.parametrize(
    "array", [np.arange(64, dtype=np.uint8).reshape(8, 8), np.arange(64, dtype=np.uint16).reshape(8, 8)]
)
def test_a_tiff_without_its_photometric_interpretation_is_refused(tmp_path, array):
    """Pillow takes an 8-bit grey TIFF without tag 262 as white-is-zero (inverted) and a 16-bit
    one not; libtiff refuses both: so does deconv, before decoding."""
    import io

    from deconv_cli import DeconvError

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        if struct.unpack_from("<H", data, ifd + 2 + 12 * i)[0] == 262:
            struct.pack_into("<H", data, ifd + 2 + 12 * i, 65000)  # a private tag instead
    f = tmp_path / "no262.tif"
    f.write_bytes(bytes(data))
    with pytest.raises(DeconvError, match="no PhotometricInterpretation"):
        load_image(f)


@pytest.mark.parametrize("tag", [262, 277, 284])
def test_a_tiff_whose_layout_tag_is_unreadable_is_refused(tmp_path, tag):
    """A tag that says where the pixels are or what they mean, stored with a type Pillow cannot
    read: Pillow drops it and may decode with its default (libtiff refuses the file): refused."""
    import io

    from deconv_cli import DeconvError

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    found = False
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] == tag:
            struct.pack_into("<H", data, entry + 2, 99)  # a type TIFF does not define
            found = True
    assert found
    f = tmp_path / "bad.tif"
    f.write_bytes(bytes(data))
    with pytest.raises(DeconvError) as refused:
        load_image(f)
    # without 262 or 277 Pillow cannot tell the mode and says so; without 284 it would decode
    if tag == 284:
        assert "corrupt TIFF: its tag 284 (PlanarConfiguration)" in str(refused.value)
