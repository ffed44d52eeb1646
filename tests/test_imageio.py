"""Tests for deconv_cli.imageio: decoding against independent references, refusals, round trips, atomic writes.

References are Pillow's own decoding (``Image.open(f).convert(mode)``), pypng
for 16-bit PNGs, and numpy arithmetic worked by hand. Every expected array
comes from outside deconv_cli.imageio.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import png
import pytest
from PIL import Image, ImageOps

from deconv_cli import imageio
from deconv_cli.errors import DeconvError
from deconv_cli.imageio import (
    ImageData,
    atomic_write,
    check_writable,
    image_size,
    load_image,
    output_format,
    save_image,
    to_storage,
)
from deconv_cli.imageio.write import EXTENSION

from conftest import PILLOW, PILLOW_BOMBS, PILLOW_BROKEN, PNGSUITE, PNGSUITE_CORRUPT, PNGSUITE_VALID, SAMPLES, read_png

PILLOW_FILES = sorted(f for f in PILLOW.iterdir() if f.name != "LICENSE")
SAMPLE_FILES = sorted(SAMPLES.glob("*.png"))

CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
DTYPES = {8: np.uint8, 16: np.uint16, 32: np.int32, "float": np.float32}


def ids(paths):
    return [p.name for p in paths]


# ----------------------------------------------------------------------------- helpers


@contextmanager
def no_warnings():
    """Fail if any Python warning is emitted inside, whatever pytest's own filters say."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]


def load(path, **kw) -> ImageData:
    with no_warnings():
        return load_image(path, **kw)


def refused(call, path) -> str:
    """Run ``call``; it must raise DeconvError (and nothing else, no warning) with a
    one-line message naming ``path``. Returns the message."""
    with no_warnings(), pytest.raises(DeconvError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and "\r" not in msg, msg
    assert str(path) in msg, msg
    return msg


def pil_mode_for_8bit(f: Path) -> str:
    """Channel layout the rules give for a file Pillow decodes at 8 bits or less."""
    with Image.open(f) as im:
        keyed = "transparency" in im.info
        if im.mode == "P":
            return "RGBA" if keyed else "RGB"
        if keyed:  # a tRNS colour key on grey or RGB becomes an alpha channel
            return {"1": "LA", "L": "LA", "RGB": "RGBA"}[im.mode]
        return {"1": "L", "L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA"}[im.mode]


def keyed_reference(f: Path) -> np.ndarray:
    """pypng's asDirect (tRNS key -> alpha), samples scaled to 8 bits."""
    ref, info = read_png(f)
    ref = ref * (255 // ((1 << info["bitdepth"]) - 1))
    return (ref[..., 0] if ref.shape[2] == 1 else ref).astype(np.uint8)


def pil_reference(f: Path, mode: str) -> np.ndarray:
    with Image.open(f) as im:
        return np.asarray(im.convert(mode))


def png_bitdepth(f: Path) -> int:
    with open(f, "rb") as fh:
        r = png.Reader(file=fh)
        r.preamble()
        return r.bitdepth


def pypng_raw(f: Path) -> np.ndarray:
    """pypng's raw samples (``read``: no sBIT shift, no tRNS), (H, W, planes)."""
    with open(f, "rb") as fh:
        w, h, rows, info = png.Reader(file=fh).read()
        a = np.array([np.asarray(row, dtype=np.uint16) for row in rows], dtype=np.uint16)
    return a.reshape(h, w, info["planes"])


def as3d(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 3 else a[:, :, None]


def listing(d: Path) -> list[str]:
    return sorted(os.listdir(d))


@pytest.fixture
def umask():
    """Lets a test set the process umask; the old one is restored afterwards."""
    saved = os.umask(0o022)
    yield os.umask
    os.umask(saved)


# ----------------------------------------------------------------------------- 1. PngSuite, valid files


def test_corpus_is_present():
    assert len(PNGSUITE_VALID) == 161 and len(PNGSUITE_CORRUPT) == 14
    assert len(PILLOW_FILES) == 29


@pytest.mark.parametrize("f", PNGSUITE_VALID, ids=ids(PNGSUITE_VALID))
def test_pngsuite_matches_independent_decode(f):
    im = load(f)
    assert im.format == "PNG"
    assert im.source == str(f)
    if png_bitdepth(f) == 16:
        ref, info = read_png(f)
        assert im.depth == 16 and im.array.dtype == np.uint16
        assert im.channels == CHANNELS[info["planes"]]
        assert im.channels in (("L", "LA") if info["greyscale"] else ("RGB", "RGBA"))
        got = as3d(im.array)
        assert got.shape == ref.shape
        if info["bitdepth"] == 16:
            np.testing.assert_array_equal(got, ref)
        else:
            # sBIT: asDirect shifts the samples down to the significant bits; the
            # loader keeps all 16 stored bits, so its top bits are asDirect's and
            # the whole value is the raw sample.
            np.testing.assert_array_equal(got >> (16 - info["bitdepth"]), ref)
            np.testing.assert_array_equal(got, pypng_raw(f))
    else:
        mode = pil_mode_for_8bit(f)
        assert im.depth == 8 and im.array.dtype == np.uint8
        assert im.channels == mode
        with Image.open(f) as pil:
            keyed = "transparency" in pil.info and pil.mode != "P"
        expected = keyed_reference(f) if keyed else pil_reference(f, mode)
        np.testing.assert_array_equal(im.array, expected)
    assert im.alpha_channel == ({"LA": 1, "RGBA": 3}.get(im.channels))


def test_pngsuite_16bit_files_really_use_16_bits():
    """The 16-bit comparison above is not vacuous: these files need more than 8 bits."""
    sixteen = [f for f in PNGSUITE_VALID if png_bitdepth(f) == 16]
    assert len(sixteen) >= 25
    im = load(PNGSUITE / "basn2c16.png")
    assert im.array.max() > 255 and np.any(im.array % 257 != 0)


@pytest.mark.parametrize(
    "name, channels",
    [("tbwn0g16.png", "LA"), ("tbbn2c16.png", "RGBA"), ("tbgn2c16.png", "RGBA"), ("basn0g16.png", "L")],
)
def test_png16_trns_becomes_alpha(name, channels):
    f = PNGSUITE / name
    im = load(f)
    assert im.channels == channels
    if channels in ("LA", "RGBA"):
        alpha = im.array[..., -1]
        assert set(np.unique(alpha)) == {0, 65535}
        with open(f, "rb") as fh:
            r = png.Reader(file=fh)
            r.preamble()
            key = np.asarray(r.transparent, dtype=np.uint16)
        colour = as3d(im.array)[..., :-1]
        np.testing.assert_array_equal(alpha == 0, np.all(colour == key, axis=2))


def test_png_sbit_keeps_stored_16_bits():
    """cs3n2c16 has 13 significant bits; the loader must not rescale them (it used to, off by one)."""
    im = load(PNGSUITE / "cs3n2c16.png")
    raw = pypng_raw(PNGSUITE / "cs3n2c16.png")
    np.testing.assert_array_equal(im.array, raw)
    assert 8185 in raw  # 1023 << 3 with bit replication: the stored value, not 1023 * 65535 // 8191


@pytest.mark.parametrize("f", SAMPLE_FILES, ids=ids(SAMPLE_FILES))
def test_sample_images(f):
    im = load(f)
    if png_bitdepth(f) == 16:
        ref, info = read_png(f)
        assert info["bitdepth"] == 16 and im.array.dtype == np.uint16
        np.testing.assert_array_equal(as3d(im.array), ref)
        # 16 bits really kept: many values are not 8-bit values scaled by 257
        assert np.count_nonzero(im.array % 257) > im.array.size // 2
    else:
        mode = pil_mode_for_8bit(f)
        assert im.channels == mode
        np.testing.assert_array_equal(im.array, pil_reference(f, mode))


def test_sample_image_layouts():
    got = {f.name: (im.channels, im.depth) for f in SAMPLE_FILES for im in [load(f)]}
    assert got == {
        "astronaut.png": ("RGB", 8),
        "camera.png": ("L", 8),
        "horse.png": ("RGBA", 8),
        "coffee_16bit.png": ("RGB", 16),
    }


# ----------------------------------------------------------------------------- 2. PngSuite, corrupt files

SPECIFIC = ("corrupt", "checksum", "signature", "invalid", "truncated", "idat")


@pytest.mark.parametrize("f", PNGSUITE_CORRUPT, ids=ids(PNGSUITE_CORRUPT))
def test_pngsuite_corrupt_files_are_refused(f):
    msg = refused(lambda: load_image(f), f)
    assert any(word in msg.lower() for word in SPECIFIC), msg


def test_bad_idat_crc_is_refused_although_pillow_accepts_it():
    f = PNGSUITE / "xcsn0g01.png"
    with Image.open(f) as im:  # Pillow alone decodes it without complaint
        im.load()
    msg = refused(lambda: load_image(f), f)
    assert "checksum" in msg.lower() and "IDAT" in msg


def test_png_without_idat_is_refused():
    f = PNGSUITE / "xdtn0g01.png"
    msg = refused(lambda: load_image(f), f)
    assert "IDAT" in msg


@pytest.mark.parametrize("name", ["xs1n0g01.png", "xcrn0g04.png", "xlfn0g04.png"])
def test_bad_signature_says_so(name):
    msg = refused(lambda: load_image(PNGSUITE / name), PNGSUITE / name)
    assert "signature" in msg


# ----------------------------------------------------------------------------- 3. Pillow corpus


@pytest.mark.parametrize("name", PILLOW_BOMBS)
def test_decompression_bombs_are_refused(name):
    f = PILLOW / name
    msg = refused(lambda: load_image(f), f)
    assert "decompression bomb" in msg


def test_ico_bomb_is_refused():
    """ICO is not a format deconv decodes at all: refused before any pixel is touched."""
    f = PILLOW / "decompression_bomb.ico"
    msg = refused(lambda: load_image(f), f)
    assert "not an image deconv can read" in msg


def test_max_pixels_limit():
    f = PILLOW / "hopper.png"  # 128 x 128
    msg = refused(lambda: load_image(f, max_pixels=128 * 128 - 1), f)
    assert "16384 pixels" in msg and "decompression bomb" in msg
    assert load(f, max_pixels=128 * 128).size == (128, 128)


@pytest.mark.parametrize("name", PILLOW_BROKEN)
def test_broken_files_raise_deconv_error(name):
    f = PILLOW / name
    msg = refused(lambda: load_image(f), f)
    assert any(word in msg.lower() for word in ("corrupt", "truncated", "checksum", "invalid")), msg


def test_libtiff_error_is_named_and_nothing_leaks_to_stderr(capfd):
    f = PILLOW / "crash-0da013a13571cc8eb457a39fee8db18f8a3c7127.tif"
    msg = refused(lambda: load_image(f), f)
    assert "corrupt TIFF: libtiff: Fax4Decode: Bad code word" in msg
    assert capfd.readouterr().err == ""
    # a healthy TIFF is untouched by the capture
    assert load_image(PILLOW / "hopper.tif").size == (128, 128)


@pytest.mark.parametrize("f", PILLOW_FILES, ids=ids(PILLOW_FILES))
def test_pillow_corpus_only_ever_raises_deconv_error(f):
    """Whatever the file, load_image and image_size give a result or a DeconvError: no other
    exception, no warning. A file that loads matches Pillow's own decoding."""
    with no_warnings():
        try:
            im = load_image(f)
        except DeconvError as e:
            assert str(f) in str(e) and "\n" not in str(e)
            im = None
        try:
            size = image_size(f)
        except DeconvError as e:
            assert str(f) in str(e) and "\n" not in str(e)
            size = None
    if im is not None:
        assert size == im.size
        if im.depth == 8 and im.format != "PNG":
            with Image.open(f) as pim:
                ref = np.asarray(ImageOps.exif_transpose(pim).convert(im.channels))
            np.testing.assert_array_equal(im.array, ref)


ROTATED = [
    "hopper_orientation_3.jpg",
    "hopper_orientation_6.jpg",
    "hopper_orientation_8.jpg",
    "exif_imagemagick_orientation.png",
]


@pytest.mark.parametrize("name", ROTATED)
def test_exif_orientation_is_applied(name):
    f = PILLOW / name
    im = load(f)
    with Image.open(f) as pim:
        assert pim.getexif().get(0x0112) in (3, 6, 8)
        upright = np.asarray(ImageOps.exif_transpose(pim).convert("RGB"))
    with Image.open(f) as pim:
        stored = np.asarray(pim.convert("RGB"))
    assert not np.array_equal(upright, stored)  # the orientation matters for this file
    np.testing.assert_array_equal(im.array, upright)
    assert image_size(f) == im.size


def _exif_file(tmp_path: Path, orientation: int, ext: str) -> tuple[Path, np.ndarray]:
    """A 5x3 (H x W) image carrying an EXIF orientation tag."""
    a = (np.arange(5 * 3 * 3).reshape(5, 3, 3) * 5 % 256).astype(np.uint8)
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / f"o{orientation}{ext}"
    im.save(p, exif=exif.tobytes(), **({"quality": 100} if ext == ".jpg" else {}))
    return p, a


@pytest.mark.parametrize("ext", [".png", ".jpg"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations_on_non_square_image(tmp_path, orientation, ext):
    p, _ = _exif_file(tmp_path, orientation, ext)
    im = load(p)
    with Image.open(p) as pim:
        assert pim.getexif().get(0x0112) == orientation
        ref = np.asarray(ImageOps.exif_transpose(pim).convert("RGB"))
    np.testing.assert_array_equal(im.array, ref)
    expected = (3, 5) if orientation >= 5 else (5, 3)
    assert im.size == expected
    assert image_size(p) == expected


@pytest.mark.parametrize("name", ["broken_exif_dpi.jpg", "exif-dpi-zerodivision.jpg"])
def test_bad_exif_still_loads(name):
    f = PILLOW / name
    im = load(f)
    assert im.channels == "RGB" and im.depth == 8
    np.testing.assert_array_equal(im.array, pil_reference(f, "RGB"))
    assert all(isinstance(w, str) and str(f) in w for w in im.warnings)


def test_cmyk_gives_rgb_and_a_warning():
    f = PILLOW / "pil_sample_cmyk.jpg"
    im = load(f)
    assert im.channels == "RGB" and im.array.shape == (100, 100, 3)
    np.testing.assert_array_equal(im.array, pil_reference(f, "RGB"))
    assert any("CMYK" in w and str(f) in w for w in im.warnings)


@pytest.mark.parametrize(
    "name, pil_mode",
    [
        ("16bit.MM.cropped.tif", "I;16B"),
        ("16bit.cropped.tif", "I;16"),
        ("16bit.deflate.tif", "I;16"),
        ("hopper_16bit.pgm", "I"),
    ],
)
def test_16bit_tiff_and_pgm(name, pil_mode):
    f = PILLOW / name
    im = load(f)
    with Image.open(f) as pim:
        assert pim.mode == pil_mode
        ref = np.asarray(pim)
    assert im.channels == "L" and im.depth == 16 and im.array.dtype == np.uint16
    assert ref.max() > 255
    np.testing.assert_array_equal(im.array.astype(np.int64), ref.astype(np.int64))


def test_icc_profile_is_kept():
    f = PILLOW / "hopper.iccprofile.tif"
    im = load(f)
    with Image.open(f) as pim:
        icc = pim.info["icc_profile"]
    assert icc and im.icc_profile == icc


def test_la_tga_loads_as_la():
    f = PILLOW / "la.tga"
    im = load(f)
    assert im.channels == "LA" and im.array.shape == (64, 64, 2) and im.alpha_channel == 1
    np.testing.assert_array_equal(im.array, pil_reference(f, "LA"))


def test_mode_1_with_transparency_loads_as_la():
    # Its tRNS key (255) is out of range for 1-bit samples; masked to 1 bit, as libpng and
    # Pillow read it, white is transparent.
    f = PILLOW / "1_trns.png"
    im = load(f)
    assert im.channels == "LA"
    np.testing.assert_array_equal(im.array, pil_reference(f, "LA"))
    assert set(np.unique(im.array[..., 1])) == {0, 255}
    assert np.all((im.array[..., 1] == 0) == (im.array[..., 0] == 255))


def test_apng_16bit_first_frame_and_frame_warning():
    f = PILLOW / "mode_16bit.png"
    im = load(f)
    ref, _ = read_png(f)
    assert im.channels == "RGBA" and im.array.dtype == np.uint16
    np.testing.assert_array_equal(im.array, ref)
    assert any("3 frames" in w for w in im.warnings)


@pytest.mark.parametrize("name", ["hopper.png", "hopper.jpg", "hopper.tif"])
def test_hopper(name):
    f = PILLOW / name
    im = load(f)
    assert im.channels == "RGB" and im.size == (128, 128) and not im.warnings
    np.testing.assert_array_equal(im.array, pil_reference(f, "RGB"))
    assert im.dpi is not None and im.dpi[0] == pytest.approx(96, abs=0.1)


# ----------------------------------------------------------------------------- 4. round trips

EXT = {**EXTENSION, "TGA": ".tga"}  # the formats deconv writes, and TGA, which it only reads
SUPPORTED = [(fmt, depth, ch) for fmt, caps in imageio.CAPS.items() for depth, chs in caps.items() for ch in chs]
LOSSY = ("JPEG", "GIF")
ALL_DEPTHS = (8, 16, 32, "float")
UNSUPPORTED = [
    (fmt, depth, ch)
    for fmt in imageio.CAPS
    for depth in ALL_DEPTHS
    for ch in ("L", "LA", "RGB", "RGBA")
    if ch not in imageio.CAPS[fmt].get(depth, ())
]


def _id(c):
    return "-".join(map(str, c))


def random_values(depth, channels, shape=(6, 9), seed=0) -> np.ndarray:
    """Integer-valued float64 samples covering the depth's whole range (floats: float32-exact)."""
    rng = np.random.default_rng(seed)
    full = shape if len(channels) == 1 else (*shape, len(channels))
    if depth == "float":
        a = (rng.standard_normal(full) * 3).astype(np.float32).astype(np.float64)
        a.flat[0], a.flat[1] = -7.25, 1e6  # unclipped, outside 0..1
        return a
    lo, hi = (-(2**31), 2**31 - 1) if depth == 32 else (0, int(imageio.depth_max(depth)))
    a = rng.integers(lo, hi, full, endpoint=True).astype(np.float64)
    a.flat[0], a.flat[1] = lo, hi
    if channels.endswith("A"):
        a[0, 2, -1] = 0  # a fully transparent pixel whose colour must survive
        a[0, 3, -1] = hi
    return a


def smooth_values(channels, shape=(24, 32)) -> np.ndarray:
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    colour = [40 + 5 * x + 2 * y, 200 - 4 * y, 30 + 3 * x + 3 * y][: len(channels.rstrip("A"))]
    alpha = [np.where(x < 4, 0, 255)] if channels.endswith("A") else []  # what GIF's one transparent entry holds
    a = np.stack(colour + alpha, axis=-1).astype(np.float64)
    return a[:, :, 0] if len(channels) == 1 else a


@pytest.mark.parametrize("combo", SUPPORTED, ids=[_id(c) for c in SUPPORTED])
def test_round_trip(tmp_path, combo):
    fmt, depth, channels = combo
    p = tmp_path / f"out{EXT[fmt]}"
    a = smooth_values(channels) if fmt in LOSSY else random_values(depth, channels)
    with no_warnings():
        report = save_image(p, a, channels=channels, depth=depth)
    assert report.format == fmt and report.depth == depth and report.clipped == 0
    assert p.is_file()
    im = load(p)
    if (fmt, channels) == ("GIF", "LA"):  # a GIF is a palette: grey with transparency reads back as RGBA
        assert im.channels == "RGBA" and (im.array[..., 0] == im.array[..., 2]).all()
        im = replace(im, pixels=im.array[..., [0, 3]], channels="LA")
    assert im.channels == channels and im.depth == depth
    assert im.array.shape == a.shape
    assert im.array.dtype == DTYPES[depth]
    if fmt == "GIF" and channels.endswith("A"):  # alpha exact (0 or 255); colour where it is seen
        np.testing.assert_array_equal(im.array[..., -1], a[..., -1])
        seen = a[..., -1] > 0
        im = replace(im, pixels=im.array[seen])
        a = a[seen]
    if fmt in LOSSY:
        err = np.abs(im.array.astype(np.float64) - a)
        assert err.mean() < 3 and err.max() < 40, (err.mean(), err.max())
    else:
        np.testing.assert_array_equal(im.array.astype(np.float64), a)


@pytest.mark.parametrize("combo", UNSUPPORTED, ids=[_id(c) for c in UNSUPPORTED])
def test_unsupported_combinations_are_refused(tmp_path, combo):
    fmt, depth, channels = combo
    p = tmp_path / f"out{EXT[fmt]}"
    a = random_values(8, channels).astype(np.float64)
    refused(lambda: save_image(p, a, channels=channels, depth=depth), p)
    refused(lambda: check_writable(p, depth=depth, channels=channels), p)
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    "name, channels, depth",
    [
        ("a.jpg", "RGBA", 8),
        ("a.tif", "RGB", 16),
        ("a.png", "L", "float"),
        ("a.bmp", "RGBA", 8),
        ("a.webp", "L", 8),
        ("a.gif", "RGB", 16),
        ("a.jpeg", "L", 16),
        ("a.ppm", "RGB", 16),
        ("a.tif", "RGBA", "float"),
    ],
)
def test_named_unsupported_combinations_suggest_only_what_can_hold_the_data(tmp_path, name, channels, depth):
    from deconv_cli.imageio.write import CAPS

    p = tmp_path / name
    a = np.zeros((4, 4, len(channels))) if len(channels) > 1 else np.zeros((4, 4))
    msg = refused(lambda: save_image(p, a, channels=channels, depth=depth), p)
    assert "cannot store" in msg
    assert not p.exists()
    suggested = re.search(r"; write (.*) instead", msg).group(1).replace(" or ", ", ").split(", ")
    assert suggested[-1] == ".npy" and Path(name).suffix not in suggested
    for ext in suggested[:-1]:  # each one really holds it: the writer takes it
        fmt = next(f for f, e in EXTENSION.items() if e == ext)
        assert channels in CAPS[fmt][depth]
        save_image(tmp_path / f"ok{ext}", a, channels=channels, depth=depth)
    eight = depth != 8 and channels in CAPS[_fmt(name)].get(8, ())
    assert (f"or keep {Path(name).suffix} with --depth 8" in msg) == eight


def _fmt(name: str) -> str:
    from deconv_cli.imageio.write import output_format

    return output_format(Path(name))


@pytest.mark.parametrize("channels", ["RGBA", "LA"])
def test_gif_keeps_alpha_as_its_transparent_entry_at_half(tmp_path, channels):
    h, w = 6, 40
    alpha = np.tile(np.linspace(0, 255, w), (h, 1))
    colour = np.tile(np.arange(w) * 6.0, (h, 1))
    planes = [colour] * (3 if channels == "RGBA" else 1) + [alpha]
    p = tmp_path / "a.gif"
    report = save_image(p, np.stack(planes, axis=2), channels=channels, depth=8)
    assert any("alpha below 50% became transparent" in w for w in report.warnings)
    with Image.open(p) as im:
        assert im.info["transparency"] == 255
        got = np.asarray(im.convert("RGBA"))
    stored_alpha = np.floor(alpha + 0.5)
    np.testing.assert_array_equal(got[..., 3], np.where(stored_alpha < 128, 0, 255))
    opaque = stored_alpha >= 128  # 40 colours: the palette holds them exactly
    np.testing.assert_array_equal(got[..., 0][opaque], np.floor(colour + 0.5)[opaque])


def test_png16_rgb_keeps_low_byte(tmp_path):
    p = tmp_path / "lo.png"
    a = np.array(
        [
            [[0x1200, 0x3400, 0x5600], [0x1201, 0x34FF, 0x5680]],
            [[0xFF00, 0x00FF, 0x0001], [0xFFFF, 0x0100, 0x8081]],
        ],
        dtype=np.float64,
    )
    save_image(p, a, channels="RGB", depth=16)
    im = load(p)
    assert im.array.dtype == np.uint16
    np.testing.assert_array_equal(im.array, a.astype(np.uint16))
    ref, info = read_png(p)  # and an independent reader agrees
    assert info["bitdepth"] == 16
    np.testing.assert_array_equal(ref, a.astype(np.uint16))


@pytest.mark.parametrize("ext", [".png", ".tif", ".ppm"])
def test_16bit_grey_keeps_low_byte(tmp_path, ext):
    p = tmp_path / f"lo{ext}"
    a = np.array([[0x1200, 0x1201, 0x12FF], [0x0001, 0xFFFE, 0xFFFF]], dtype=np.float64)
    save_image(p, a, channels="L", depth=16)
    np.testing.assert_array_equal(load(p).array, a.astype(np.uint16))
    with Image.open(p) as pim:
        np.testing.assert_array_equal(np.asarray(pim).astype(np.int64), a.astype(np.int64))


@pytest.mark.parametrize(
    "ext, channels", [(".png", "RGB"), (".png", "L"), (".jpg", "RGB"), (".tif", "RGB"), (".tif", "L")]
)
def test_icc_and_dpi_are_kept(tmp_path, ext, channels):
    src = load(PILLOW / "hopper.iccprofile.tif")
    like = ImageData(src.array, src.channels, 8, icc_profile=src.icc_profile, dpi=(300.0, 150.0))
    p = tmp_path / f"meta{ext}"
    save_image(p, smooth_values(channels), channels=channels, depth=8, like=like)
    im = load(p)
    assert im.icc_profile == src.icc_profile
    assert im.dpi == pytest.approx((300.0, 150.0), abs=0.02)
    with Image.open(p) as pim:  # as Pillow sees it
        assert pim.info.get("icc_profile") == src.icc_profile
        assert tuple(pim.info["dpi"]) == pytest.approx((300.0, 150.0), abs=0.02)


def test_png16_colour_keeps_dpi_and_icc(tmp_path):
    src = load(PILLOW / "hopper.iccprofile.tif")
    like = ImageData(src.array, src.channels, 8, icc_profile=src.icc_profile, dpi=(72.0, 72.0))
    p = tmp_path / "c16.png"
    a = random_values(16, "RGB")
    report = save_image(p, a, channels="RGB", depth=16, like=like)
    assert report.warnings == []
    back = load(p)
    assert back.dpi == pytest.approx((72.0, 72.0), abs=0.02)
    assert back.icc_profile == src.icc_profile
    np.testing.assert_array_equal(back.array, a.astype(np.uint16))


def test_npy_stores_raw_float_array(tmp_path):
    p = tmp_path / "raw.npy"
    a = np.array([[-5.5, 0.25, 300.125], [1e9, -1e-9, 65535.75]])
    report = save_image(p, a, channels="L", depth=8)
    assert report.format == "NPY" and report.depth == "float" and report.clipped == 0
    back = np.load(p, allow_pickle=False)
    assert back.dtype == a.dtype
    np.testing.assert_array_equal(back, a)


def test_gif_rgb_with_many_colours_is_quantised(tmp_path):
    p = tmp_path / "many.gif"
    y, x = np.mgrid[0:64, 0:64]
    a = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.float64)  # 4096 colours
    report = save_image(p, a, channels="RGB", depth=8)
    assert any("256 colours" in w for w in report.warnings)
    im = load(p)
    assert im.array.shape == a.shape
    assert np.abs(im.array - a).mean() < 12


@pytest.mark.parametrize(
    "ext, fmt",
    [(".jpeg", "JPEG"), (".TIFF", "TIFF"), (".pgm", "PPM"), (".pnm", "PPM"), (".npy", "NPY"), (".PNG", "PNG")],
)
def test_output_format(ext, fmt):
    assert output_format(f"x{ext}") == fmt


@pytest.mark.parametrize("name", ["x.exr", "noext", "x.png.bak"])
def test_output_format_unknown_extension(name):
    with pytest.raises(DeconvError) as info:
        output_format(name)
    assert info.value.usage and name in str(info.value) and ".png" in str(info.value)


def test_save_refuses_array_that_does_not_fit_channels(tmp_path):
    p = tmp_path / "shape.png"
    refused(lambda: save_image(p, np.zeros((4, 4)), channels="RGB", depth=8), p)
    refused(lambda: save_image(p, np.zeros((4, 4, 3)), channels="RGBA", depth=8), p)
    assert listing(tmp_path) == []
    save_image(p, np.full((4, 4, 1), 7.0), channels="L", depth=8)  # (H, W, 1) is fine for L
    np.testing.assert_array_equal(load(p).array, np.full((4, 4), 7, np.uint8))


def test_compress_out_of_range(tmp_path):
    with pytest.raises(DeconvError) as info:
        save_image(tmp_path / "c.png", np.zeros((2, 2)), channels="L", depth=8, compress=10)
    assert info.value.usage and "compress" in str(info.value)


# ----------------------------------------------------------------------------- 5. to_storage and clip counts


def test_to_storage_8bit_rounds_half_up_and_counts_clips():
    x = np.array([-3.0, -0.51, -0.5, -0.49, 0.5, 1.5, 2.5, 254.49, 254.5, 255.49, 255.5, 300.0])
    stored, low, high = to_storage(x, 8)
    assert stored.dtype == np.uint8
    assert stored.tolist() == [0, 0, 0, 0, 1, 2, 3, 254, 255, 255, 255, 255]
    assert (low, high) == (2, 2)  # -3.0 and -0.51 (rounds to -1); 255.5 (rounds to 256) and 300


def test_to_storage_16bit():
    stored, low, high = to_storage(np.array([-1.0, 1000.5, 65534.5, 65535.4, 65535.5, 70000.0]), 16)
    assert stored.dtype == np.uint16
    assert stored.tolist() == [0, 1001, 65535, 65535, 65535, 65535]
    assert (low, high) == (1, 2)


def test_to_storage_32bit():
    x = np.array([-2147483649.0, -2147483648.0, -1.5, 1.5, 2147483647.0, 2147483648.0])
    stored, low, high = to_storage(x, 32)
    assert stored.dtype == np.int32
    assert stored.tolist() == [-(2**31), -(2**31), -1, 2, 2**31 - 1, 2**31 - 1]  # half up: -1.5 -> -1
    assert (low, high) == (1, 1)


def test_to_storage_float_and_integer_input():
    stored, low, high = to_storage(np.array([-1.0, 2.5, 1e6]), "float")
    assert stored.dtype == np.float32 and stored.tolist() == [-1.0, 2.5, 1e6] and (low, high) == (0, 0)
    stored, low, high = to_storage(np.array([-1, 5, 300]), 8)
    assert stored.tolist() == [0, 5, 255] and (low, high) == (1, 1)


def test_to_storage_32bit_from_float32():
    """The pipeline computes in float32, which cannot hold 2**31 - 1: clipping there must not wrap around."""
    x = np.array([3e9, 2147483520.0, -3e9, 1.5], dtype=np.float32)
    with no_warnings():
        stored, low, high = to_storage(x, 32)
    assert stored.tolist() == [2**31 - 1, 2147483520, -(2**31), 2]
    assert (low, high) == (1, 1)


def test_to_storage_nan_and_inf():
    x = np.array([np.nan, 1.0, -np.inf, np.inf])
    with no_warnings():
        stored, low, high = to_storage(x, 8)
        as_float, _, _ = to_storage(np.array([1e300, -1e300]), "float")
    assert stored.tolist() == [0, 1, 0, 255] and (low, high) == (1, 1)
    assert as_float.tolist() == [np.inf, -np.inf]


def test_save_warns_about_nan(tmp_path):
    p = tmp_path / "nan.png"
    with no_warnings():
        report = save_image(p, np.array([[np.nan, 7.0], [np.nan, 300.0]]), channels="L", depth=8)
    assert any("2 samples were NaN" in w for w in report.warnings)
    assert report.clipped == 1
    with Image.open(p) as pim:
        assert np.asarray(pim).tolist() == [[0, 7], [0, 255]]


def test_save_reports_clipped_samples(tmp_path):
    p = tmp_path / "clip.png"
    a = np.array([[-3.0, 0.4, 255.6], [300.0, -0.6, 127.5]])
    report = save_image(p, a, channels="L", depth=8)
    assert (report.clipped_low, report.clipped_high, report.clipped) == (2, 2, 4)
    with Image.open(p) as pim:
        assert np.asarray(pim).tolist() == [[0, 0, 255], [255, 0, 128]]


def test_clip_counts_are_samples_not_pixels(tmp_path):
    a = np.full((2, 2, 3), 100.0)
    a[0, 0] = [256.0, 300.0, 1000.0]
    a[1, 1, 2] = -1.0
    report = save_image(tmp_path / "c.tif", a, channels="RGB", depth=8)
    assert (report.clipped_low, report.clipped_high) == (1, 3)


# ----------------------------------------------------------------------------- 6. atomic writes


def _png_bytes(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((2, 2), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_save_refuses_to_overwrite(tmp_path):
    p = tmp_path / "out.png"
    p.write_bytes(b"old content")
    msg = refused(lambda: save_image(p, np.zeros((3, 3)), channels="L", depth=8), p)
    assert "overwrite" in msg
    assert p.read_bytes() == b"old content"
    assert listing(tmp_path) == ["out.png"]


def test_save_overwrites_when_asked(tmp_path):
    p = tmp_path / "out.png"
    p.write_bytes(b"old content")
    save_image(p, np.full((3, 3), 42.0), channels="L", depth=8, overwrite=True)
    np.testing.assert_array_equal(load(p).array, np.full((3, 3), 42, np.uint8))
    assert listing(tmp_path) == ["out.png"]


def test_atomic_write_refuses_and_replaces(tmp_path):
    p = tmp_path / "k.txt"
    p.write_bytes(b"old")
    refused(lambda: atomic_write(p, lambda f: f.write(b"new")), p)
    assert p.read_bytes() == b"old"
    atomic_write(p, lambda f: f.write(b"new"), overwrite=True)
    assert p.read_bytes() == b"new"
    atomic_write(tmp_path / "fresh.txt", lambda f: f.write(b"x"))
    assert (tmp_path / "fresh.txt").read_bytes() == b"x"
    assert listing(tmp_path) == ["fresh.txt", "k.txt"]


def _failing_writer(f):
    f.write(b"half of the data")
    f.flush()
    raise RuntimeError("encoder exploded")


@pytest.mark.parametrize("overwrite", [False, True])
def test_failing_writer_leaves_nothing_behind(tmp_path, overwrite):
    p = tmp_path / "out.png"
    msg = refused(lambda: atomic_write(p, _failing_writer, overwrite=overwrite), p)
    assert "encoder exploded" in msg
    assert listing(tmp_path) == []  # neither the target nor a .out.png.*.part


def test_failing_writer_keeps_old_file(tmp_path):
    p = tmp_path / "out.png"
    p.write_bytes(_png_bytes(9))
    refused(lambda: atomic_write(p, _failing_writer, overwrite=True), p)
    assert p.read_bytes() == _png_bytes(9)
    assert listing(tmp_path) == ["out.png"]


def test_writer_deconv_error_passes_through(tmp_path):
    p = tmp_path / "out.bin"

    def writer(f):
        f.write(b"x")
        raise DeconvError(f"{p}: custom failure")

    with pytest.raises(DeconvError, match="custom failure"):
        atomic_write(p, writer)
    assert listing(tmp_path) == []


def test_missing_directory(tmp_path):
    p = tmp_path / "nope" / "out.png"
    msg = refused(lambda: save_image(p, np.zeros((2, 2)), channels="L", depth=8), p)
    assert "does not exist" in msg
    refused(lambda: atomic_write(p, lambda f: f.write(b"x")), p)
    refused(lambda: check_writable(p), p)
    assert listing(tmp_path) == []


def test_target_is_a_directory(tmp_path):
    d = tmp_path / "d.png"
    d.mkdir()
    for overwrite in (False, True):
        msg = refused(partial(save_image, d, np.zeros((2, 2)), channels="L", depth=8, overwrite=overwrite), d)
        assert "directory" in msg
        msg = refused(partial(check_writable, d, overwrite=overwrite), d)
        assert "directory" in msg
    assert listing(tmp_path) == ["d.png"] and listing(d) == []


def test_check_writable(tmp_path):
    p = tmp_path / "a.tif"
    assert check_writable(p, depth=16, channels="L") == "TIFF"
    p.write_bytes(b"x")
    assert "overwrite" in refused(lambda: check_writable(p), p)
    assert check_writable(p, overwrite=True) == "TIFF"


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_umask(tmp_path, umask, mask, mode):
    umask(mask)
    p = tmp_path / "u.png"
    save_image(p, np.zeros((2, 2)), channels="L", depth=8)
    assert p.stat().st_mode & 0o777 == mode
    q = tmp_path / "u.npy"
    save_image(q, np.zeros((2, 2)), channels="L", depth=8)
    assert q.stat().st_mode & 0o777 == mode
    r = tmp_path / "u.txt"
    atomic_write(r, lambda f: f.write(b"x"))
    assert r.stat().st_mode & 0o777 == mode
    p.chmod(0o600)
    save_image(p, np.zeros((2, 2)), channels="L", depth=8, overwrite=True)
    assert p.stat().st_mode & 0o777 == mode


# ----------------------------------------------------------------------------- 7. unreadable inputs


def test_missing_file(tmp_path):
    p = tmp_path / "missing.png"
    assert "no such file" in refused(lambda: load_image(p), p)
    assert "no such file" in refused(lambda: image_size(p), p)


def test_directory(tmp_path):
    assert "directory" in refused(lambda: load_image(tmp_path), tmp_path)
    refused(lambda: image_size(tmp_path), tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.touch()
    assert "empty" in refused(lambda: load_image(p), p)
    assert "empty" in refused(lambda: image_size(p), p)


def test_text_file_named_png(tmp_path):
    p = tmp_path / "x.png"
    p.write_text("hello, this is not an image\n")
    msg = refused(lambda: load_image(p), p)
    assert "signature" in msg and "not a PNG" in msg
    refused(lambda: image_size(p), p)


def test_npy_named_png(tmp_path):
    p = tmp_path / "array.png"
    with open(p, "wb") as f:
        np.save(f, np.zeros((4, 4)))
    msg = refused(lambda: load_image(p), p)
    assert "signature" in msg


def test_unknown_format(tmp_path):
    p = tmp_path / "data.bin"
    p.write_bytes(bytes(range(256)) * 4)
    msg = refused(lambda: load_image(p), p)
    assert "not an image deconv can read" in msg and "PNG" in msg


def test_npy_file_is_not_an_input(tmp_path):
    p = tmp_path / "a.npy"
    np.save(p, np.zeros((3, 3)))
    assert "not an image deconv can read" in refused(lambda: load_image(p), p)


def test_truncated_png(tmp_path):
    p = tmp_path / "cut.png"
    p.write_bytes((SAMPLES / "camera.png").read_bytes()[:5000])
    msg = refused(lambda: load_image(p), p)
    assert "corrupt" in msg.lower() or "truncated" in msg.lower()


def test_truncated_16bit_png(tmp_path):
    p = tmp_path / "cut16.png"
    p.write_bytes((SAMPLES / "coffee_16bit.png").read_bytes()[:20000])
    refused(lambda: load_image(p), p)


# ----------------------------------------------------------------------------- 8. image_size


@pytest.mark.parametrize("f", PNGSUITE_VALID[::10] + SAMPLE_FILES, ids=ids(PNGSUITE_VALID[::10] + SAMPLE_FILES))
def test_image_size_matches_load(f):
    assert image_size(f) == load(f).size


def test_image_size_swaps_for_rotations_6_and_8():
    for name in ("hopper_orientation_6.jpg", "hopper_orientation_8.jpg"):
        f = PILLOW / name
        assert image_size(f) == load(f).size


# ----------------------------------------------------------------------------- 9. several frames


def test_multi_frame_gif_loads_first_frame(tmp_path):
    p = tmp_path / "anim.gif"
    frames = [Image.fromarray(np.full((6, 8, 3), c, np.uint8)) for c in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(p) as pim:
        assert pim.n_frames == 3
        first = np.asarray(pim.convert("RGB"))
    im = load(p)
    assert im.format == "GIF" and im.array.shape == (6, 8, 3)
    np.testing.assert_array_equal(im.array, first)
    assert tuple(im.array[0, 0]) == (200, 30, 30)
    assert any("3 frames" in w and "first" in w and str(p) in w for w in im.warnings)


def test_gif_frame_beyond_first_canvas_counts_towards_the_limit(tmp_path):
    """A later GIF frame placed far outside the first one stretches the canvas (Pillow's
    decompression_bomb_extents.gif does this); max_pixels applies to that canvas."""
    one = tmp_path / "one.gif"
    Image.fromarray(np.full((6, 8, 3), (10, 120, 230), np.uint8)).save(one)
    b = one.read_bytes()
    start = 13 + (3 << ((b[10] & 7) + 1) if b[10] & 0x80 else 0)
    assert b[start : start + 1] == b"," and b[-1:] == b";"  # image descriptor right after the colour table
    second = bytearray(b[start:-1])
    second[1:3] = (1000).to_bytes(2, "little")  # left offset of the second frame
    p = tmp_path / "two.gif"
    p.write_bytes(b[:-1] + bytes(second) + b";")
    with Image.open(p) as pim:
        assert pim.n_frames == 2
        first = np.asarray(pim.convert("RGB"))
        pim.seek(1)
        assert pim.size == (1008, 6)  # Pillow's own view of the stretched canvas
    im = load(p)
    np.testing.assert_array_equal(im.array, first)
    assert any("2 frames" in w for w in im.warnings)
    msg = refused(lambda: load_image(p, max_pixels=1008 * 6 - 1), p)
    assert "1008x6" in msg and "decompression bomb" in msg
    assert load(p, max_pixels=1008 * 6).size == (6, 8)


def test_multi_page_tiff_warns(tmp_path):
    p = tmp_path / "pages.tif"
    pages = [Image.fromarray(np.full((4, 5), v, np.uint8)) for v in (10, 20)]
    pages[0].save(p, save_all=True, append_images=pages[1:])
    im = load(p)
    np.testing.assert_array_equal(im.array, np.full((4, 5), 10, np.uint8))
    assert any("2 frames" in w for w in im.warnings)


def test_single_frame_has_no_warnings():
    assert load(SAMPLES / "astronaut.png").warnings == []


# ----------------------------------------------------------------------------- ImageData


def test_image_data_properties():
    la = ImageData(np.zeros((2, 3, 2), np.uint16), "LA", 16)
    assert la.alpha_channel == 1 and la.alpha_max == 65535.0 and la.size == (2, 3)
    rgba = ImageData(np.zeros((2, 3, 4), np.uint8), "RGBA", 8)
    assert rgba.alpha_channel == 3 and rgba.alpha_max == 255.0
    assert ImageData(np.zeros((2, 3), np.uint8), "L", 8).alpha_channel is None
