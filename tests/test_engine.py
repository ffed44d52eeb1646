"""Every fast path of the strip engine against the literal reference loop.

The engine chooses a method (``terms``: repeated rows and weight rows, exact
low-rank splits included; ``gemm`` and ``planes``: windows times a per-phase
matrix, all channels at once or one by one; ``taps``: the literal loop), a strip
height and a thread count by itself. Here each is forced, with strips as thin
as one row and two threads, so that every path and every strip boundary meets
the reference on odd sizes, strides larger than the kernel, dilation,
output_padding, padding beyond the kernel's overlap, 1-pixel images, per-channel
kernels, float32/float64 and integer images, crops and every edge mode.
Nothing here depends on timing.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconv_cli import DeconvError, conv_transpose2d, engine, phase_sums
from deconv_cli.core import Geometry, plan, size_math
from deconv_cli.engine import Axis, exact_terms, runs
from deconv_cli.engine.methods import fused
from deconv_cli.kernels import make_kernel

from oracle import NUMPY_MODE, cases, extended_reference, images, per_channel_reference, reference

#: ``fused`` is there when its compiled loop was built with the package (tests/test_fused.py).
METHODS = ["terms", *(["fused"] if fused.available() else []), "gemm", "planes", "taps"]
#: The method a small separable kernel gets: the compiled form of ``terms`` when there is one.
SMALL = "fused" if fused.available() else "terms"


def _plan(x, k, stride=1, padding=0, output_padding=0, dilation=1, **options):
    """The plan of conv_transpose2d(x, k, stride, ...), with the engine's options (method, strips, threads)."""
    return plan(x, k, Geometry.of(stride, padding, output_padding, dilation), **options)


#: (method, strip_rows, threads): each path, with thin strips and threads.
PATHS = [(m, rows, threads) for m in METHODS for rows, threads in [(1, 1), (2, 2), (3, 2), (None, 1)]]


def tolerance(expected, dtype):
    scale = max(1.0, float(np.abs(expected).max()))
    return (1e-12 if np.dtype(dtype) == np.float64 else 2e-5) * scale


# ---------------------------------------------------------------------------- every path


@pytest.mark.parametrize("method, strip_rows, threads", PATHS)
@settings(max_examples=40, deadline=None)
@given(images())
def test_every_path_equals_the_reference(method, strip_rows, threads, case):
    x, k, geometry = case
    p = _plan(x, k, *geometry, method=method, strip_rows=strip_rows, threads=threads)
    got = p.compute_image()
    want = per_channel_reference(x, k, geometry)
    assert p.method == method
    assert got.shape == want.shape
    assert got.dtype == (np.float64 if x.dtype == np.float64 else np.float32)
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(want, got.dtype))


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=40, deadline=None)
@given(images(), st.data())
def test_a_cropped_window_is_the_same_window_of_the_whole(method, case, data):
    x, k, geometry = case
    want = per_channel_reference(x, k, geometry)
    h, w = want.shape[:2]
    top = data.draw(st.integers(0, h - 1))
    bottom = data.draw(st.integers(0, h - 1 - top))
    left = data.draw(st.integers(0, w - 1))
    right = data.draw(st.integers(0, w - 1 - left))
    box = (top, bottom, left, right)
    got = _plan(x, k, *geometry, crop=box, method=method, strip_rows=2, threads=2).compute_image()
    np.testing.assert_allclose(got, want[top : h - bottom, left : w - right], rtol=0, atol=tolerance(want, got.dtype))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", sorted(NUMPY_MODE))
@settings(max_examples=30, deadline=None)
@given(cases())
def test_edge_modes_on_every_path(method, mode, case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    geometry = (stride, padding, output_padding, dilation)
    got = _plan(x, k, *geometry, edge=mode, method=method, strip_rows=3, threads=2).compute_image()
    want = extended_reference(x, k, *geometry, mode)
    np.testing.assert_allclose(got, want, atol=1e-9 * max(1, np.abs(want).max()))


def renormalized_reference(x, k, geometry):
    """Plain result times (interior phase weight) / (weight received), the weight received being
    the reference loop run on an image of ones."""
    stride, padding, _, dilation = geometry
    plain = reference(x, k, *geometry)
    reached = reference(np.ones_like(x), k, *geometry)
    sums = phase_sums(k, stride, dilation).sums
    r = (np.arange(plain.shape[0]) + padding[0]) % stride[0]
    c = (np.arange(plain.shape[1]) + padding[1]) % stride[1]
    interior = sums[r][:, c]
    ok = np.abs(reached) > 1e-9 * np.abs(k).max()
    return np.where(ok, plain * interior / np.where(ok, reached, 1), 0)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=40, deadline=None)
@given(cases())
def test_renormalize_on_every_path(method, case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((h, w)), rng.random((kh, kw)) + 0.1
    geometry = (stride, padding, output_padding, dilation)
    got = _plan(x, k, *geometry, edge="renormalize", method=method, strip_rows=2, threads=2).compute_image()
    want = renormalized_reference(x, k, geometry)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * max(1, np.abs(want).max()))


def test_renormalize_with_per_channel_kernels():
    rng = np.random.default_rng(11)
    x, k = rng.standard_normal((7, 6, 2)), rng.random((2, 3, 4)) + 0.1
    geometry = ((2, 3), (1, 2), (1, 0), (1, 1))
    for method in METHODS:
        got = _plan(x, k, *geometry, edge="renormalize", method=method, strip_rows=1).compute_image()
        for c in range(2):
            np.testing.assert_allclose(got[..., c], renormalized_reference(x[..., c], k[c], geometry), rtol=1e-9)


def premultiplied_reference(x, k, geometry, alpha, amax):
    """Colour times alpha/amax, the reference loop, colour divided by the coverage reached."""
    pre = x.astype(np.float64).copy()
    colour = [c for c in range(x.shape[2]) if c != alpha]
    pre[..., colour] *= pre[..., alpha : alpha + 1] / amax
    out = per_channel_reference(pre, k, geometry)
    a = out[..., alpha : alpha + 1]
    cover = np.clip(a / amax, 0, 1)
    out[..., colour] = np.where(a >= 0.5, out[..., colour] / np.where(a >= 0.5, cover, 1), 0)
    return out


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=30, deadline=None)
@given(cases(), st.sampled_from([2, 4]))
def test_premultiplied_alpha_on_every_path(method, case, channels):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (h, w, channels)).astype(np.float64)
    x[rng.random((h, w)) < 0.3, -1] = 0  # some fully transparent pixels
    k = rng.random((kh, kw))
    geometry = (stride, padding, output_padding, dilation)
    got = _plan(x, k, *geometry, alpha=(channels - 1, 255.0), method=method, strip_rows=2, threads=2).compute_image()
    want = premultiplied_reference(x, k, geometry, channels - 1, 255.0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * max(1, np.abs(want).max()))


# ---------------------------------------------------------------------------- exactness, determinism


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "k",
    [
        np.ones((3, 3)),
        np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]),
        np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]),
        np.ones((2, 5)),
    ],
    ids=["box", "binomial", "cross", "2x5"],
)
def test_integer_kernels_on_integer_images_are_exact(method, k):
    """Every partial sum is an integer below 2**24, so any order of additions is exact."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (37, 29, 3)).astype(np.uint8)
    got = _plan(x, k, 2, 1, 0, 1, method=method, strip_rows=5, threads=2).compute_image()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, per_channel_reference(x, k.astype(float), ((2, 2), (1, 1), (0, 0), (1, 1))))


def test_threads_and_strips_do_not_change_a_single_bit():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((61, 47, 3)).astype(np.float32)
    for k, s in ((make_kernel("bilinear", 3), 3), (rng.standard_normal((7, 5)), 2)):
        for method in METHODS:
            runs = [
                _plan(x, k, s, 1, method=method, strip_rows=rows, threads=t).compute_image()
                for rows, t in [(None, 1), (1, 2), (7, 2)]
            ]
            for other in runs[1:]:
                np.testing.assert_array_equal(other, runs[0])


def test_large_images_run_on_several_strips_and_threads():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (300, 257, 3)).astype(np.uint8)
    k = make_kernel("bilinear", 2)
    p = _plan(x, k, 2, 1, threads=2)
    assert len(p.strips()) > 2 and p.threads == 2
    got = p.compute_image()
    # the interior is bilinear interpolation of the input at 2x; check a few rows exactly against the loop
    want = per_channel_reference(x[:20], k, ((2, 2), (1, 1), (0, 0), (1, 1)))
    np.testing.assert_allclose(got[:38], want[:38], atol=1e-3)


def test_an_error_in_a_sink_stops_the_run_without_computing_the_rest():
    x = np.zeros((200, 30, 3), np.float32)
    p = _plan(x, make_kernel("bilinear", 2), 2, 1, strip_rows=2, threads=2)
    seen = []

    def sink(o0, strip):
        seen.append(o0)
        if o0 == 6:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        for _ in p.run(sink=sink):
            pass
    assert len(p.strips()) == 200 and len(seen) <= 12  # the window in flight, not all 200


# ---------------------------------------------------------------------------- the pieces


def test_the_cost_model_picks_terms_for_small_kernels_and_matrix_products_for_large_ones():
    """A small separable kernel: ``terms`` (``fused``, its compiled form, when built). A 16x16
    one: matrix products, one channel at a time (``planes``) on a colour image, ``gemm`` on a
    grey one."""
    x = np.zeros((64, 64, 3), np.float32)
    assert _plan(x, make_kernel("bilinear", 2), 2, 1).method == SMALL
    assert _plan(x, np.random.default_rng(0).random((16, 16)), 4, 6).method == "planes"
    assert _plan(x[:, :, 0], np.random.default_rng(0).random((16, 16)), 4, 6).method == "gemm"  # one channel


def test_a_separable_kernel_is_one_term():
    x = np.zeros((8, 8), np.float32)
    p = _plan(x, make_kernel("bilinear", 2), 2, 1, method="terms")
    assert len(p.unit.terms) == 1
    same = np.stack([make_kernel("bilinear", 2)] * 3)  # one kernel per channel, all equal: shared
    assert len(_plan(np.zeros((8, 8, 3)), same, 2, 1, method="terms").unit.terms) == 1
    p = _plan(x, np.random.default_rng(0).random((4, 4)), 2, 1, method="terms")
    assert len(p.unit.terms) == 4  # one per kernel row


@pytest.mark.parametrize("seed", range(6))
def test_exact_terms_give_the_kernel_back_exactly(seed):
    rng = np.random.default_rng(seed)
    rank = 1 + seed % 3
    # factors of -1/0/1 times powers of two: some pivot always divides its column exactly
    k = sum(np.outer(rng.integers(-1, 2, 5), rng.integers(-1, 2, 6) * 2.0 ** rng.integers(-3, 3)) for _ in range(rank))
    terms = exact_terms(k, max_terms=5)
    assert terms is not None and len(terms) <= rank
    np.testing.assert_array_equal(sum((np.outer(a, b) for a, b in terms), np.zeros_like(k)), k)
    float32_terms = exact_terms(k, np.float32, max_terms=5)
    assert all(np.array_equal(v, v.astype(np.float32)) for t in float32_terms for v in t)


def test_exact_terms_of_a_separable_kernel_in_float32():
    k = make_kernel("bilinear", 2)  # outer([.25, .75, .75, .25]) with itself
    ((a, b),) = exact_terms(k, np.float32)
    np.testing.assert_array_equal(np.outer(a, b), k)
    assert a.astype(np.float32).tolist() == a.tolist() and b.astype(np.float32).tolist() == b.tolist()


def test_exact_terms_refuse_what_does_not_split():
    k = np.random.default_rng(0).standard_normal((6, 6))
    assert exact_terms(k, max_terms=5) is None
    assert exact_terms(np.zeros((3, 3))) == []


def test_axis_taps_and_sources():
    ax = Axis(n_in=3, kernel=5, stride=2, dilation=1, start=2, n_out=6, ext=(2, 1), mode="reflect")
    assert ax.taps == (((0, 0), (2, 1), (4, 2)), ((1, 0), (3, 1)))
    assert ax.reach == 2
    assert ax.source(-3, 5).tolist() == [-1, 2, 1, 0, 1, 2, 1, -1]
    assert runs(ax.source(-3, 5)) == [(0, 1, -1), (1, 2, 2), (2, 3, 1), (3, 6, 0), (6, 7, 1), (7, 8, -1)]


def test_kernels_too_large_to_set_up_take_a_method_that_builds_nothing():
    """Weight rows and product matrices grow with the kernel (a 1000x1000 kernel would need
    GBs); past SETUP_BYTES the plan computes tap by tap or by FFT, which build nothing."""
    rng = np.random.default_rng(8)
    x, k = rng.standard_normal((5, 4, 2)), rng.standard_normal((2, 30, 20))
    assert _plan(x, k, 1, 3).method != "taps"
    small = _plan(x, k, 1, 3, setup_bytes=1000)
    assert small.method in ("taps", "fft")
    want = per_channel_reference(x, k, ((1, 1), (3, 3), (0, 0), (1, 1)))
    np.testing.assert_allclose(small.compute_image(), want, atol=1e-10 * np.abs(want).max())


def test_plan_refuses_an_unknown_method():
    with pytest.raises(ValueError):
        engine.plan(np.zeros((2, 2, 1)), np.ones((1, 2, 2)), *(Axis(2, 2, 1, 1, 0, 3),) * 2, np.float32, method="nope")


def test_crop_that_leaves_nothing_is_refused():
    with pytest.raises(DeconvError):
        _plan(np.ones((3, 3)), np.ones((2, 2)), 1, crop=(2, 2, 0, 0))


def test_public_function_is_unchanged_by_the_engine():
    rng = np.random.default_rng(9)
    x, k = rng.standard_normal((9, 11, 3)), rng.standard_normal((3, 4, 5))
    got = conv_transpose2d(x, k, (2, 3), (1, 2), (1, 0), (2, 1))
    rows, cols = size_math((9, 11), (4, 5), (2, 3), (1, 2), (1, 0), (2, 1))
    assert got.shape == (rows.n_out, cols.n_out, 3)
    np.testing.assert_allclose(got, per_channel_reference(x, k, ((2, 3), (1, 2), (1, 0), (2, 1))), atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_an_out_array_that_does_not_fit_is_refused(method):
    """``run(out=...)`` takes a C-contiguous array of the plan's shape and dtype: a view would
    have been left unwritten by the methods that reshape it (terms, gemm gave zeros)."""
    x = np.random.default_rng(7).random((30, 41, 3)).astype(np.float32)
    p = _plan(x, make_kernel("bilinear", 2), 2, 1, method=method, strip_rows=4)
    whole = np.zeros(p.shape[:2] + (5,), np.float32)
    for out in (whole[:, :, 1:4], np.zeros(p.shape, np.float64), np.zeros(p.shape[:2], np.float32)):
        with pytest.raises(ValueError, match="out must be a C-contiguous"):
            list(p.run(out=out))
    good = np.zeros(p.shape, np.float32)
    list(p.run(out=good))
    np.testing.assert_allclose(
        good, per_channel_reference(x, make_kernel("bilinear", 2), ((2, 2), (1, 1), (0, 0), (1, 1))), atol=1e-5
    )
    assert not whole.any()
