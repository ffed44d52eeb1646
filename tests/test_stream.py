"""Writing strip by strip: the PNG stream, the storage conversion and the pipeline's memory.

In every mode (a kernel here; learned layers, .mat offsets and --two-pass in
test_stream_modes.py), upsample_file computes the result in strips and converts each to
the storage dtype (and, for PNG, filters and compresses it) at once, so no
full-size float copy of the output exists. Here: the streamed PNGs decode (Pillow and pypng,
independently) to exactly the samples given; the per-strip conversion rounds,
clips and counts like to_storage; the pipeline writes exactly what computing
the whole float array and saving it writes; and its peak allocation stays far
below the size of that float array.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zlib

import numpy as np
import png
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from deconv_cli import conv_transpose2d, upsample
from deconv_cli.core import auto_crop, size_math
from deconv_cli.imageio import (
    PngStream,
    load_image,
    save_image,
    storage_dtype,
    store,
    to_storage,
)
from deconv_cli.imageio.pngstream import adler32_combine, write_png
from deconv_cli.kernels import load_kernel
from deconv_cli.pipeline import upsample_file

from conftest import SAMPLES, run

CHANNELS = ["L", "LA", "RGB", "RGBA"]


def decode_both(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(Pillow's pixels, pypng's samples) of a PNG, as (H, W, C)."""
    w, h, rows, info = png.Reader(bytes=data).read()
    planes = info["planes"]
    ref = np.array([np.asarray(r) for r in rows]).reshape(h, w, planes)
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        pil = np.asarray(im) if info["bitdepth"] == 8 else np.asarray(im.convert("I")).astype(np.uint16)
    return pil.reshape(h, w, -1), ref


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 23),
    w=st.integers(1, 29),
    channels=st.sampled_from(CHANNELS),
    depth=st.sampled_from([8, 16]),
    piece_rows=st.integers(1, 9),
    level=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_png_stream_gives_back_every_sample(h, w, channels, depth, piece_rows, level, seed):
    rng = np.random.default_rng(seed)
    hi = 255 if depth == 8 else 65535
    stored = rng.integers(0, hi + 1, (h, w, len(channels))).astype(storage_dtype(depth))
    if rng.random() < 0.5:  # smooth data too, where the filters matter
        stored[:] = (np.add.outer(np.arange(h), np.arange(w))[:, :, None] * 3 % (hi + 1)).astype(stored.dtype)
    f = io.BytesIO()
    pngs = PngStream(f, w, h, channels, depth, level)
    pngs.start()
    for r in range(0, h, piece_rows):
        part = stored[r : r + piece_rows]
        pngs.write(pngs.encode(part if len(channels) > 1 else part[:, :, 0]), len(part))
    pngs.finish()
    if depth == 16 and channels in ("LA", "RGB", "RGBA"):  # Pillow reduces these to 8 bits: pypng only
        w2, h2, rows, info = png.Reader(bytes=f.getvalue()).read()
        ref = np.array([np.asarray(r) for r in rows]).reshape(h, w, -1)
        np.testing.assert_array_equal(ref, stored)
        return
    pil, ref = decode_both(f.getvalue())
    np.testing.assert_array_equal(ref, stored)
    np.testing.assert_array_equal(pil, stored)


def test_png_stream_refuses_a_short_image():
    pngs = PngStream(io.BytesIO(), 4, 3, "L", 8, 1)
    pngs.start()
    pngs.write(pngs.encode(np.zeros((2, 4), np.uint8)), 2)
    with pytest.raises(ValueError):
        pngs.finish()


def test_whole_array_png_uses_many_pieces_and_threads():
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 256, (700, 600, 3)).astype(np.uint8)  # > 1 MB: several pieces
    f = io.BytesIO()
    write_png(f, stored, "RGB", 8, 1, {"dpi": (96.0, 96.0)})
    pil, ref = decode_both(f.getvalue())
    np.testing.assert_array_equal(ref, stored)
    np.testing.assert_array_equal(pil, stored)
    assert f.getvalue().count(b"IDAT") > 3


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_adler32_combine_equals_the_checksum_of_the_concatenation(a, b):
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_adler32_combine_on_long_pieces():
    a, b = bytes(range(256)) * 1000, bytes(reversed(range(256))) * 777
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


# ---------------------------------------------------------------------------- storage conversion


@pytest.mark.parametrize(
    "values, depth, stored, low, high, nans",
    [
        ([-3.0, -0.5, -0.51, 0.5, 254.49, 254.5, 300.0], 8, [0, 0, 0, 1, 254, 255, 255], 2, 1, 0),
        ([np.nan, 7.4, np.inf, -np.inf], 8, [0, 7, 255, 0], 1, 1, 1),
        ([-1.0, 65534.5, 65535.4, 70000.0], 16, [0, 65535, 65535, 65535], 1, 1, 0),
        ([2.0**31, -(2.0**31) - 1, 12.5], 32, [2**31 - 1, -(2**31), 13], 1, 1, 0),
        ([1e300, -1e300, 1.5], "float", [np.inf, -np.inf, 1.5], 0, 0, 0),
    ],
)
def test_store_rounds_half_up_clips_and_counts(values, depth, stored, low, high, nans):
    for dtype in (np.float64, np.float32) if depth in (8, 16) else (np.float64,):
        src = np.array(values, dtype)
        out = np.empty(src.shape, storage_dtype(depth))
        assert store(src.copy(), depth, out) == (low, high, nans)
        np.testing.assert_array_equal(out, np.array(stored).astype(out.dtype))


def test_store_agrees_with_to_storage_on_random_data():
    rng = np.random.default_rng(3)
    x = rng.normal(128, 100, (50, 40, 3))
    for depth in (8, 16, 32):
        want, lo, hi = to_storage(x, depth)
        out = np.empty(x.shape, storage_dtype(depth))
        assert store(x.astype(np.float32), depth, out)[:2] == (lo, hi) or depth == 32
        np.testing.assert_array_equal(out, to_storage(x.astype(np.float32), depth)[0])
        assert np.array_equal(want, to_storage(x, depth)[0])


def test_store_of_integers_clips_without_rounding():
    out = np.empty(3, np.uint8)
    assert store(np.array([-4, 5, 300]), 8, out) == (1, 1, 0)
    assert out.tolist() == [0, 5, 255]


# ---------------------------------------------------------------------------- the pipeline


def whole_array_result(src, kernel, stride, padding, *, alpha, edge, crop, depth):
    """The pipeline's job done the direct way: the whole float result, cropped, scaled, saved."""
    image = load_image(src)
    k = load_kernel(kernel, stride)
    rows, cols = size_math(image.size, k.shape[-2:], stride, padding)  # resolves "same"
    args = (stride, (rows.padding, cols.padding), (rows.output_padding, cols.output_padding), 1)
    premultiply = alpha == "premultiply" and image.alpha_channel is not None
    if premultiply:
        result = upsample(
            image.array, k, *args, alpha_channel=image.alpha_channel, alpha_max=image.alpha_max, edge=edge
        )
    else:
        result = conv_transpose2d(image.array, k, *args, edge=edge)
    axes = size_math(image.size, k.shape[-2:], *args)
    t, b, l, r = auto_crop(axes, k) if crop == "auto" else (0, 0, 0, 0)
    result = result[t : result.shape[0] - b, l : result.shape[1] - r]
    out_depth = image.depth if depth is None else depth
    if (image.depth, out_depth) == (8, 16):
        result = result * 257.0
    return image, result, out_depth


CASES = [
    ("astro.png", "bilinear", "2", "1", "premultiply", "zero", None, None),
    ("astro.png", "bilinear", "3", "same", "premultiply", "replicate", None, 16),
    ("astro.png", "nearest", "2", "0", "premultiply", "zero", "auto", None),
    ("horse.png", "bilinear", "2", "0", "premultiply", "reflect", None, None),
    ("horse.png", "bilinear", "2", "1", "separate", "renormalize", "auto", None),
    ("camera.png", "bilinear", "4", "2", "premultiply", "wrap", None, None),
    ("camera.png", "bilinear", "2", "0", "premultiply", "zero", "auto", 16),
    ("coffee_16bit.png", "bilinear", "2", "1", "premultiply", "zero", None, None),
    ("coffee_16bit.png", "bilinear", "2", "1", "premultiply", "zero", None, 8),
]


@pytest.fixture
def samples(tmp_path):
    made = {}
    for name in ("astronaut.png", "horse.png", "camera.png", "coffee_16bit.png"):
        short = "astro.png" if name == "astronaut.png" else name
        with Image.open(SAMPLES / name) as im:
            im.load()
            part = im.crop((40, 30, 40 + 61, 30 + 47))  # odd sizes
            made[short] = tmp_path / short
            part.save(made[short])
    return made


def _tiff_can_store(case) -> bool:
    """TIFF holds 16 bits for grey images only: leave out 16-bit colour outputs."""
    name, depth = case[0], case[-1]
    sixteen = depth == 16 or (depth is None and name.startswith("coffee"))
    return not sixteen or name.startswith("camera")


PIPELINE_CASES = [
    (ext, *case) for ext in (".png", ".tif", ".npy") for case in CASES if ext != ".tif" or _tiff_can_store(case)
]


@pytest.mark.parametrize("ext, name, kernel, stride, padding, alpha, edge, crop, depth", PIPELINE_CASES)
def test_pipeline_writes_what_the_whole_array_gives(
    samples, tmp_path, monkeypatch, ext, name, kernel, stride, padding, alpha, edge, crop, depth
):
    monkeypatch.setenv("DECONV_THREADS", "2")
    src = samples[name]
    dst = tmp_path / f"out{ext}"
    outcome = upsample_file(
        src, dst, kernel=kernel, stride=stride, padding=padding, alpha=alpha, edge=edge, crop=crop, depth=depth
    )
    image, result, out_depth = whole_array_result(
        src, kernel, stride, padding, alpha=alpha, edge=edge, crop=crop, depth=depth
    )
    if ext == ".npy":
        got = np.load(dst)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, result.astype(np.float32))
        return
    ref = tmp_path / f"ref{ext}"
    report = save_image(ref, result, channels=image.channels, depth=out_depth, like=image)
    assert load_image(dst).array.tolist() == load_image(ref).array.tolist()
    assert (outcome.saved.clipped_low, outcome.saved.clipped_high) == (report.clipped_low, report.clipped_high)
    assert outcome.out_shape == result.shape


def test_pipeline_peak_memory_is_far_below_one_float_output(tmp_path, monkeypatch):
    """No full-size float copy of the output exists: the peak of Python-tracked allocations
    (numpy's included) stays under half the float32 result's size (the strips' scratch is
    about 15 MB per thread whatever the image size)."""
    monkeypatch.setenv("DECONV_THREADS", "2")
    y, x = np.mgrid[0:1500, 0:1500]
    src = tmp_path / "big.png"
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(src, compress_level=1)
    float_output = 3000 * 3000 * 3 * 4
    tracemalloc.start()
    try:
        upsample_file(src, tmp_path / "big_x2.png", kernel="bilinear", stride="2", padding="1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < float_output / 2, (peak, float_output)
    assert load_image(tmp_path / "big_x2.png").array.shape == (3000, 3000, 3)


def test_json_report_keeps_its_timing_keys(samples, tmp_path):
    r = run("upsample", samples["astro.png"], "-o", tmp_path / "o.png", "--json", "-q")
    assert r.exit_code == 0, r.output
    seconds = json.loads(r.stdout)["seconds"]
    assert set(seconds) == {"load", "compute", "save", "total"}
    assert seconds["total"] >= seconds["load"]


def test_compress_levels_and_the_default_strategy(tmp_path):
    """Level 0 stores the filtered rows as they are; every setting decodes to the same samples;
    the default (run-length strategy) lies between level 0 and level 9 in size."""
    y, x = np.mgrid[0:120, 0:160]
    a = np.stack([(x + y) % 256, 2 * y % 256, np.full_like(x, 7)], -1).astype(np.float64)
    sizes = {}
    for name, compress in (("0", 0), ("9", 9), ("default", None)):
        p = tmp_path / f"c{name}.png"
        save_image(p, a, channels="RGB", depth=8, compress=compress)
        sizes[name] = p.stat().st_size
        assert load_image(p).array.tolist() == a.astype(np.uint8).tolist()
    assert sizes["0"] > a.size  # stored: every byte plus filter bytes and headers
    assert sizes["9"] <= sizes["default"] < sizes["0"]
