"""The strips' input read from the decoder's own image (``PillowRows``), never copied whole.

``upsample_file`` decodes an RGB or RGBA image with ``decode(header, rows=True)``: the
strips read ranges of rows from Pillow's image, so the decoded image is the only full-size
copy of the input. Here: the rows are exactly the array ``load_image`` gives; the results
equal the array path's in every mode that reads them (edges, padding, crops, alpha,
``--two-pass``, a per-channel kernel); what cannot be read by rows (an EXIF turn, a learned
layer, other modes) still gets the whole array; and the pipeline's Python-tracked peak stays
below the size of the input itself, where ``np.asarray`` of the image alone costs twice that.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from deconv_cli import conv_transpose2d, load_image, upsample
from deconv_cli.core.ops import conv_transpose2d_two_pass
from deconv_cli.engine import Rows
from deconv_cli.imageio import read
from deconv_cli.imageio.pillow import PillowRows
from deconv_cli.kernels import make_kernel
from deconv_cli.pipeline import upsample_file


def _image(tmp_path, mode: str, h: int = 37, w: int = 53, name: str = "in.png", **save):
    rng = np.random.default_rng(len(mode) * 1000 + h * w)
    a = rng.integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
    if mode == "RGBA":
        a[..., 3] = np.where(rng.random((h, w)) < 0.2, 0, a[..., 3])  # some fully transparent pixels
    p = tmp_path / name
    Image.fromarray(a, mode).save(p, **save)
    return p, a


@pytest.mark.parametrize("fmt", ["png", "tiff", "bmp", "webp"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_rows_are_the_decoded_array(tmp_path, mode, fmt):
    if fmt == "bmp" and mode == "RGBA":
        pytest.skip("Pillow writes BMP as RGB")
    if fmt == "tiff" and mode == "RGBA":
        pytest.skip("uncompressed: mapped from the file, so an array (the test below)")
    kw = {"lossless": True} if fmt == "webp" else {}
    p, _ = _image(tmp_path, mode, name=f"in.{fmt}", **kw)
    a = read.decode(read.probe(p)).pixels  # WebP drops the colour of transparent pixels: as decoded
    assert isinstance(a, np.ndarray)
    image = read.decode(read.probe(p), rows=True)
    assert isinstance(image.pixels, PillowRows)
    assert image.size == a.shape[:2] and image.pixels.shape == a.shape and image.pixels.dtype == np.uint8
    np.testing.assert_array_equal(image.pixels[5:9], a[5:9])
    np.testing.assert_array_equal(image.pixels[30:100], a[30:])  # clipped to the image, as a slice is
    assert image.pixels[9:5].shape == (0, a.shape[1], a.shape[2])
    np.testing.assert_array_equal(np.asarray(image.pixels), a)
    np.testing.assert_array_equal(image.array, a)  # read whole once, then kept
    assert isinstance(image.pixels, np.ndarray)
    assert image.alpha_channel == (3 if mode == "RGBA" else None)


def test_rows_refuse_what_is_not_a_range_of_rows(tmp_path):
    p, _ = _image(tmp_path, "RGB")
    rows = read.decode(read.probe(p), rows=True).pixels
    assert isinstance(rows, Rows)
    for bad in (3, slice(0, 10, 2), (slice(0, 2), 1)):
        with pytest.raises(TypeError, match="ranges of rows"):
            rows[bad]
    with pytest.raises(ValueError, match="RGB and RGBA"):
        PillowRows(Image.new("L", (2, 2)))


@pytest.mark.parametrize(
    ("name", "mode", "save"),
    [
        ("grey.png", "L", {}),
        ("grey_alpha.png", "LA", {}),
        ("palette.png", "P", {}),
    ],
)
def test_other_modes_come_as_arrays(tmp_path, name, mode, save):
    p = tmp_path / name
    Image.new(mode, (7, 5)).save(p, **save)
    assert isinstance(read.decode(read.probe(p), rows=True).pixels, np.ndarray)


def test_an_image_pillow_maps_from_its_file_comes_as_an_array(tmp_path):
    """An uncompressed RGBA TIFF is memory-mapped by Pillow: reading its rows during the whole
    computation would read a file that may change (or be truncated: SIGBUS) meanwhile."""
    p, a = _image(tmp_path, "RGBA", name="mapped.tif")
    image = read.decode(read.probe(p), rows=True)
    assert isinstance(image.pixels, np.ndarray)
    np.testing.assert_array_equal(image.pixels, a)
    p.write_bytes(b"")  # the file emptied after decoding: the pixels are already in
    np.testing.assert_array_equal(image.array, a)


def test_an_exif_turn_reads_the_whole_image_and_turns_it(tmp_path):
    p, a = _image(tmp_path, "RGB", h=6, w=9)
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to view
    Image.fromarray(a).save(p, exif=exif)
    image = read.decode(read.probe(p), rows=True)
    assert isinstance(image.pixels, np.ndarray)
    np.testing.assert_array_equal(image.pixels, np.swapaxes(a, 0, 1)[:, ::-1])
    np.testing.assert_array_equal(image.pixels, load_image(p).array)


BILINEAR = make_kernel("bilinear", 2)
CASES = [
    # (options of upsample_file, the same through the array functions)
    ({"stride": 2, "padding": 1}, {"stride": 2, "padding": 1}),
    ({"stride": 2, "padding": 1, "edge": "replicate"}, {"stride": 2, "padding": 1, "edge": "replicate"}),
    ({"stride": 2, "padding": "same", "edge": "reflect"}, {"stride": 2, "padding": "same", "edge": "reflect"}),
    ({"stride": 2, "padding": 0, "edge": "wrap"}, {"stride": 2, "padding": 0, "edge": "wrap"}),
    ({"stride": 2, "padding": 1, "edge": "renormalize"}, {"stride": 2, "padding": 1, "edge": "renormalize"}),
    (
        {"stride": "3,2", "padding": "0,1", "edge": "symmetric"},
        {"stride": (3, 2), "padding": (0, 1), "edge": "symmetric"},
    ),
]


@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize(("options", "same"), CASES)
def test_results_equal_the_array_path(tmp_path, monkeypatch, mode, options, same, threads):
    """Written as .npy (the float result, unrounded), so every value is compared."""
    monkeypatch.setenv("DECONV_THREADS", threads)
    p, a = _image(tmp_path, mode, h=61, w=47)
    k = BILINEAR if "3" not in str(options["stride"]) else make_kernel("bilinear", (3, 2))
    np.save(tmp_path / "k.npy", k)
    out = tmp_path / "out.npy"
    outcome = upsample_file(p, out, kernel=str(tmp_path / "k.npy"), **options)
    assert isinstance(outcome.image.pixels, PillowRows)  # the strips did read rows
    alpha = {"alpha_channel": 3, "alpha_max": 255} if mode == "RGBA" else {"alpha_channel": None}
    want = upsample(a, k, **alpha, **same)
    np.testing.assert_array_equal(np.load(out), want.astype(np.float32))


def test_two_pass_and_per_channel_kernels_read_rows_too(tmp_path):
    p, a = _image(tmp_path, "RGB", h=40, w=33)
    out = tmp_path / "two.npy"
    upsample_file(p, out, kernel="bicubic", stride=2, padding="same", edge="replicate", two_pass=True)
    k = make_kernel("bicubic", 2)
    want = conv_transpose2d_two_pass(a, k, 2, "same", edge="replicate")
    np.testing.assert_array_equal(np.load(out), want.astype(np.float32))
    per = np.stack([BILINEAR, 2 * BILINEAR, 0.5 * BILINEAR])
    np.save(tmp_path / "per.npy", per)
    upsample_file(p, tmp_path / "per_out.npy", kernel=str(tmp_path / "per.npy"), stride=2, padding=1)
    np.testing.assert_array_equal(np.load(tmp_path / "per_out.npy"), conv_transpose2d(a, per, 2, 1).astype(np.float32))


def test_the_pipeline_holds_no_copy_of_the_input_beside_the_decoders(tmp_path, monkeypatch):
    """Python-tracked allocations (numpy's and bytes included; Pillow's own image is not
    Python's) peak below half the raw input's size: before, ``np.asarray`` of the decoded image
    alone took twice it (Pillow's bytes, joined from pieces, then kept as the array). A tall
    image, as the strips' scratch grows with the width."""
    monkeypatch.setenv("DECONV_THREADS", "1")
    y, x = np.mgrid[0:10000, 0:1000]
    src = tmp_path / "big.png"
    Image.fromarray(np.stack([x % 256, y % 256, (x * y) % 256], -1).astype(np.uint8)).save(src, compress_level=1)
    raw_input = 10000 * 1000 * 3
    tracemalloc.start()
    try:
        outcome = upsample_file(src, tmp_path / "big_x2.png", kernel="bilinear", stride="2", padding="1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(outcome.image.pixels, PillowRows)
    assert peak < raw_input / 2, (peak, raw_input)
    got = load_image(tmp_path / "big_x2.png").array
    assert got.shape == (20000, 2000, 3)
    top = conv_transpose2d(load_image(src).array[:30], BILINEAR, 2, 1)[:40]  # rows 0..39 need input rows 0..20
    np.testing.assert_array_equal(got[:40], np.clip(np.floor(top + 0.5), 0, 255))
