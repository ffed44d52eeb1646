"""The ``fft`` method against the literal reference loop, on the cases every method meets.

``fft`` computes each pair of stride phases as an FFT convolution (float64 inside) over
fixed tiles of the output. Here it is forced with strips as thin as one row and two threads
(a strip then computes the whole tiles it cuts), on the oracle's random geometries: odd
sizes, strides larger than the kernel, dilation, output_padding, padding, 1-pixel images,
shared and per-channel kernels, float32/float64 and integer images, crops, every edge mode,
alpha and border renormalization. And the cost model picks it for large kernels only.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconv_cli.core import Geometry, plan
from deconv_cli.engine import METHODS, Axis, choose, cost
from deconv_cli.engine.costs import COSTS
from deconv_cli.engine.methods import fused
from deconv_cli.engine.methods.fft import FFT, Tiles, fast_len
from deconv_cli.kernels import make_kernel

from oracle import NUMPY_MODE, cases, extended_reference, images, per_channel_reference, reference

PATHS = [(1, 1), (2, 2), (3, 2), (None, 1), (None, 2)]


def _plan(x, k, stride=1, padding=0, output_padding=0, dilation=1, **options):
    return plan(x, k, Geometry.of(stride, padding, output_padding, dilation), **options)


def tolerance(expected, dtype):
    scale = max(1.0, float(np.abs(expected).max()))
    return (1e-12 if np.dtype(dtype) == np.float64 else 2e-5) * scale


@pytest.mark.parametrize("strip_rows, threads", PATHS)
@settings(max_examples=60, deadline=None)
@given(images())
def test_fft_equals_the_reference(strip_rows, threads, case):
    x, k, geometry = case
    p = _plan(x, k, *geometry, method="fft", strip_rows=strip_rows, threads=threads)
    got = p.compute_image()
    want = per_channel_reference(x, k, geometry)
    assert p.method == "fft"
    assert got.shape == want.shape
    assert got.dtype == (np.float64 if x.dtype == np.float64 else np.float32)
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(want, got.dtype))


@settings(max_examples=60, deadline=None)
@given(images(), st.data())
def test_fft_on_a_cropped_window(case, data):
    x, k, geometry = case
    want = per_channel_reference(x, k, geometry)
    h, w = want.shape[:2]
    top = data.draw(st.integers(0, h - 1))
    bottom = data.draw(st.integers(0, h - 1 - top))
    left = data.draw(st.integers(0, w - 1))
    right = data.draw(st.integers(0, w - 1 - left))
    got = _plan(x, k, *geometry, crop=(top, bottom, left, right), method="fft", strip_rows=2, threads=2)
    np.testing.assert_allclose(
        got.compute_image(), want[top : h - bottom, left : w - right], rtol=0, atol=tolerance(want, np.float32)
    )


@pytest.mark.parametrize("mode", sorted(NUMPY_MODE))
@settings(max_examples=40, deadline=None)
@given(cases())
def test_fft_under_the_edge_modes(mode, case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    geometry = (stride, padding, output_padding, dilation)
    got = _plan(x, k, *geometry, edge=mode, method="fft", strip_rows=3, threads=2).compute_image()
    want = extended_reference(x, k, *geometry, mode)
    np.testing.assert_allclose(got, want, atol=1e-9 * max(1, np.abs(want).max()))


@settings(max_examples=40, deadline=None)
@given(cases(), st.sampled_from(["zero", "renormalize", "replicate"]))
def test_fft_with_alpha_and_renormalize_gives_what_taps_gives(case, edge):
    """Alpha and border renormalization are steps around the method: the same for ``fft`` as
    for ``taps`` (the literal loop, itself checked against the reference)."""
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (h, w, 4)).astype(np.float64)
    x[rng.random((h, w)) < 0.3, 3] = 0
    k = rng.random((kh, kw)) + 0.1
    geometry = (stride, padding, output_padding, dilation)
    options = {"edge": edge, "alpha": (3, 255.0), "strip_rows": 2, "threads": 2}
    ours = _plan(x, k, *geometry, method="fft", **options).compute_image()
    theirs = _plan(x, k, *geometry, method="taps", **options).compute_image()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9 * max(1, np.abs(theirs).max()))


def test_fft_on_integer_images_rounds_to_the_exact_result():
    """Integers in, integers out: float64 FFT error is far below half a unit."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (37, 29, 3)).astype(np.uint8)
    k = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    got = _plan(x, k, 2, 1, 0, 1, method="fft", strip_rows=5, threads=2, dtype=np.float64).compute_image()
    want = per_channel_reference(x, k.astype(float), ((2, 2), (1, 1), (0, 0), (1, 1)))
    np.testing.assert_array_equal(np.round(got), want)
    assert np.abs(got - want).max() < 1e-9


def test_strips_and_threads_do_not_change_a_single_bit():
    """The tiles are the problem's, not the strips': a thin strip computes its whole tiles."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((61, 47, 3)).astype(np.float32)
    for k, s in ((make_kernel("bilinear", 3), 3), (rng.standard_normal((7, 5)), 2), (rng.random((40, 33)), 1)):
        runs = [
            _plan(x, k, s, 1, method="fft", strip_rows=rows, threads=t).compute_image()
            for rows, t in [(None, 1), (1, 2), (7, 2), (None, 2)]
        ]
        for other in runs[1:]:
            np.testing.assert_array_equal(other, runs[0])


@pytest.mark.parametrize(
    "shape, kshape, stride, dilation", [((40, 36), (33, 47), 1, 1), ((23, 31), (20, 17), (2, 3), (1, 2))]
)
def test_fft_on_larger_kernels_against_the_direct_sum_in_float64(shape, kshape, stride, dilation):
    rng = np.random.default_rng(7)
    x, k = rng.random(shape + (2,)), rng.standard_normal((2,) + kshape)
    g = Geometry.of(stride, 3, 0, dilation)
    want = plan(x, k, g, method="taps", dtype=np.float64).compute_image()
    got = plan(x, k, g, method="fft", dtype=np.float64).compute_image()
    scale = np.abs(x).sum() * np.abs(k).max()  # the largest partial sums
    assert np.abs(got - want).max() <= 1e-14 * scale


@pytest.mark.parametrize("strip_rows, threads", [(1, 1), (3, 2), (None, 2)])
@settings(max_examples=60, deadline=None)
@given(images(), st.integers(1, 4), st.integers(1, 4))
def test_fft_cut_into_small_tiles_equals_the_reference(strip_rows, threads, case, q_rows, q_cols):
    """Many tiles per axis: each transforms only the input it meets and the part of the
    sub-kernels that reaches its outputs, shorter at the image's edges."""
    x, k, geometry = case
    p = _plan(x, k, *geometry, method="fft", strip_rows=strip_rows, threads=threads)
    p.unit.use_tiles(q_rows, q_cols)
    if strip_rows is None:
        p.strip_rows = p.unit.row_tile
    want = per_channel_reference(x, k, geometry)
    got = p.compute_image()
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(want, got.dtype))


def test_a_long_kernel_meets_only_the_input_in_each_tile():
    """An 8000x1 kernel on 37 rows, in tiles of 500 rows: each transform spans a tile plus the
    image's 37 rows, not the kernel's 8000."""
    rng = np.random.default_rng(3)
    x, k = rng.random((37, 29)), rng.random((8000, 1))
    p = _plan(x, k, method="fft", dtype=np.float64)
    p.unit.use_tiles(500, 29)
    p.strip_rows = 500
    rows = p.unit.tiling.rows
    spans = [rows.span(t) for t in range(rows.count)]
    assert rows.count == 17 and all(s is not None and s.n <= fast_len(500 + 37) for s in spans)
    want = np.stack([np.convolve(x[:, j], k[:, 0]) for j in range(29)], axis=1)
    np.testing.assert_allclose(p.compute_image(), want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_tiles_that_no_input_reaches_are_zero():
    x = np.ones((3, 3))
    k = np.zeros((30, 30))
    k[0, 0] = k[-1, -1] = 1.0  # two taps far apart: the rows between them receive nothing
    got = _plan(x, k, 1, method="fft", strip_rows=4, threads=2).compute_image()
    want = per_channel_reference(x, k, ((1, 1), (0, 0), (0, 0), (1, 1)))
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_a_tile_that_only_output_padding_reaches_has_no_span():
    """Output padding adds outputs beyond every tap: their tile transforms nothing."""
    ax = Axis(n_in=1, kernel=2, stride=2, dilation=3, start=0, n_out=6)  # taps land on 0 and 3
    tiles = Tiles.of(ax, q_per_tile=1)
    assert tiles.count == 3 and tiles.span(0) is not None and tiles.span(2) is None
    got = _plan(np.ones((1, 1)), np.ones((1, 2)), (1, 2), 0, (0, 2), (1, 3), method="fft").compute_image()
    np.testing.assert_allclose(got, [[1, 0, 0, 1, 0, 0]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["nearest", "bilinear", "bicubic", "lanczos3", "gaussian:sigma=1.3"])
@pytest.mark.parametrize("s", [1, 2, 3, 5])
def test_fft_on_each_builtin_kernel(name, s):
    k = make_kernel(name, s)
    x = np.random.default_rng(s).random((9, 7))
    p = (k.shape[0] - s) // 2
    want = reference(x, k, (s, s), (p, p), (0, 0), (1, 1))
    got = _plan(x, k, s, p, dtype=np.float64, method="fft").compute_image()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- the cost model


def test_the_cost_model_picks_fft_for_large_kernels_only():
    rng = np.random.default_rng(0)
    x = np.zeros((64, 64, 3), np.float32)
    assert _plan(x, make_kernel("bilinear", 2), 2, 1).method == ("fused" if fused.available() else "terms")
    assert _plan(x, rng.random((16, 16)), 4, 6).method == "planes"
    assert _plan(x[:, :, 0], rng.random((16, 16)), 4, 6).method == "gemm"
    assert _plan(x, rng.random((64, 64)), 1).method == "fft"
    assert _plan(x[:, :, 0], rng.random((48, 48)), 1).method == "fft"


def test_a_1024x1024_kernel_is_planned_for_fft_and_the_others_cost_far_more():
    x = np.zeros((1000, 1000), np.float32)
    p = _plan(x, np.ones((1024, 1024)), 1)
    assert p.method == "fft"
    fft = cost("fft", p.problem)
    others = [cost(m, p.problem) for m in METHODS if m != "fft"]
    assert min(others) > 100 * fft
    assert choose(p.problem) == "fft"


def test_fft_is_a_registered_unit_with_features():
    assert METHODS["fft"] is FFT and list(METHODS)[-1] == "fft"
    p = _plan(np.zeros((8, 8, 3)), np.ones((3, 3)), 2)
    assert FFT.features(p.problem) is not None
    assert set(FFT.features(p.problem)) <= set(COSTS)


@pytest.mark.parametrize("n", [1, 2, 7, 11, 97, 1000, 1025, 4097, 65537])
def test_fast_len_is_the_next_7_smooth_number(n):
    m = fast_len(n)
    assert m >= n
    rest = m
    for p in (2, 3, 5, 7):
        while rest % p == 0:
            rest //= p
    assert rest == 1
    for smaller in range(n, m):
        r = smaller
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        assert r != 1
