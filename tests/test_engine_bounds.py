"""Planning and set-up stay bounded: linear in the kernel's taps, within ``setup_bytes``, and
independent of the image's size; a huge stride costs its real work, not one step per phase.

Measured as work (bytes allocated while planning, through ``tracemalloc``, which sees numpy's
buffers; points transformed by ``fft``; steps of the strip loops), not as wall time: the
wall-clock bounds below are generous guards, 20x or more above what the runs take.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from deconv_cli.core import Geometry, plan
from deconv_cli.engine import METHODS, SETUP_BYTES, Axis
from deconv_cli.engine.methods import fused
from deconv_cli.engine.methods.base import STRIP_ELEMENTS, phase_rows, unreached
from deconv_cli.engine.methods.terms import Split

MB = 1 << 20


def _plan(x, k, stride=1, padding=0, output_padding=0, dilation=1, **options):
    return plan(x, k, Geometry.of(stride, padding, output_padding, dilation), **options)


def traced(make):
    """``make()``, the bytes it allocated at its peak, and the bytes it left allocated."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = make()
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - before, now - before


# ---------------------------------------------------------------------------- long kernels


@pytest.mark.parametrize("shape", [(1, 1), (0, 1), (1, 0)], ids=["tall", "tall-only", "wide"])
def test_planning_a_long_thin_kernel_is_linear_in_its_taps(shape):
    """Planning (the cost model of every method, then the chosen method's set-up) of an n-tap
    kernel allocates O(n) at its peak: 4x the taps, about 4x the bytes (quadratic: 16x)."""
    x = np.random.default_rng(0).random((37, 29))
    peaks = []
    for n in (4000, 16000):
        k = np.ones((n, 1) if shape[0] else (1, n)) if shape != (0, 1) else np.ones((n, 1))
        if shape == (1, 1):
            k[::7] = 0.5  # not a constant kernel: no exact split
        p, peak, _ = traced(lambda k=k: _plan(x, k))
        peaks.append(peak)
        assert p.method == "fft"
    assert peaks[1] < 6 * peaks[0] + MB


#: Every method this installation can run (``fused`` only where its loop was built).
RUNNABLE = [name for name in METHODS if name != "fused" or fused.available()]


def test_every_method_sets_up_a_long_kernel_in_linear_bytes():
    x = np.random.default_rng(0).random((37, 29))
    for name in RUNNABLE:
        peaks = []
        for n in (1000, 4000):
            k = np.linspace(1, 2, n)[:, None]
            _, peak, _ = traced(lambda k=k, name=name: _plan(x, k, method=name))
            peaks.append(peak)
        assert peaks[1] < 6 * peaks[0] + MB, name


def test_the_terms_split_of_a_million_rows_is_counted_not_built():
    """The split that the cost model asks about holds the rows' indices, nothing per term."""
    k = np.ones((1, 1 << 20, 1))
    split, peak, _ = traced(lambda: Split(k, np.dtype("f4")))
    assert len(split) == 1 << 20 and split.diagonal
    assert peak < 24 * MB  # the kernel's size in bytes (8 MB) and a mask and the indices


def test_a_million_tap_kernel_is_planned_in_bounded_bytes_and_computed_by_fft():
    """2**20 taps, the kernel size limit: planning takes well under a second and 64 MB, and
    ``fft`` computes the 2**20 + 3 output rows (a convolution per column) in well under a
    second, in about the output's memory."""
    rng = np.random.default_rng(1)
    x = rng.random((4, 3))
    k = rng.random((1 << 20, 1))
    t0 = time.process_time()
    p, peak, kept = traced(lambda: _plan(x, k))
    assert time.process_time() - t0 < 20
    assert p.method == "fft"
    assert peak < SETUP_BYTES and kept < k.nbytes + 2 * MB  # the plan holds the kernel (float64)
    got, peak, _ = traced(p.compute_image)
    assert peak < 2 * got.nbytes + 16 * MB  # the output, and blocks of the image, not of the kernel's reach
    want = np.stack([np.convolve(x[:, j], k[:, 0]) for j in range(3)], axis=1)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_fft_transforms_points_in_proportion_to_the_output(monkeypatch):
    """The work of ``fft`` on an 8000x1 kernel over a 37x29 image: transformed points a small
    multiple of the output (a tile plus the image's 37 rows each), not of taps x outputs."""
    points = []
    real = np.fft.rfft2

    def counting(a, s=None, *args, **kwargs):
        points.append(int(np.prod(s)) * (a.size // int(np.prod(a.shape[-2:]))))
        return real(a, s, *args, **kwargs)

    monkeypatch.setattr(np.fft, "rfft2", counting)
    rng = np.random.default_rng(2)
    x, k = rng.random((37, 29)), rng.random((8000, 1))
    p = _plan(x, k)
    out = p.compute_image()
    assert p.method == "fft" and sum(points) < 8 * out.size


# ---------------------------------------------------------------------------- huge strides


def test_a_huge_stride_plans_in_constant_time_and_bytes():
    """``-k 1x1:1 -s 1,100000000`` on a 1x2 image: a 1 x 100000001 output. Planning looks at
    the phases some tap reaches (one here), not at the 10**8 phases."""
    x = np.ones((1, 2), np.float32)
    t0 = time.process_time()
    p, peak, kept = traced(lambda: _plan(x, np.ones((1, 1)), (1, 10**8)))
    assert time.process_time() - t0 < 5
    assert peak < MB and kept < MB
    assert p.shape == (1, 10**8 + 1, 1)


@pytest.mark.parametrize("stride", [(1, 10**7), (10**7, 1)], ids=["columns", "rows"])
def test_a_huge_stride_computes_its_real_work(stride):
    """Every method, forced or chosen, on a 10**7 stride: the output (40 MB) zeroed, two pixels
    written; the strip loops step through the phases that a tap reaches only."""
    x = np.array([[3.0, 5.0]], np.float32) if stride[1] > 1 else np.array([[3.0], [5.0]], np.float32)
    for name in [None, "taps", "fft", "terms"]:
        if name == "terms" and stride[1] > 1:
            continue  # its repeated rows would be 10**7 copies of each pixel: the cost model refuses
        t0 = time.process_time()
        got = _plan(x, np.ones((1, 1)), stride, method=name).compute_image().reshape(-1)
        assert time.process_time() - t0 < 30, name
        assert got.size == 10**7 + 1 and got[0] == 3 and got[-1] == 5
        assert np.count_nonzero(got) == 2


@pytest.mark.parametrize("method", [None, "fft"])
def test_a_huge_row_stride_on_a_wide_image_keeps_strips_bounded(method):
    """Strips are whole stride periods, unless a period is huge: 50000 rows of 2000 pixels
    would be one 400 MB strip. Each strip is checked as it comes (the output is not kept)."""
    x = np.array([[1.0] * 2000, [2.0] * 2000], np.float32)
    p = _plan(x, np.ones((1, 1)), (50000, 1), method=method)
    assert p.strip_rows * 2000 <= 16 * STRIP_ELEMENTS
    found = []

    def sink(o0, strip):
        rows = np.flatnonzero(strip.any(axis=(1, 2)))
        found.extend((o0 + int(r), float(strip[r].mean())) for r in rows)

    for _ in p.run(sink=sink):
        pass
    assert found == [(0, 1.0), (50000, 2.0)]


def test_phase_rows_of_a_huge_stride_visit_only_the_reached_phases():
    ax = Axis(n_in=3, kernel=2, stride=10**9, dilation=5, start=7, n_out=2 * 10**9 + 6)
    assert ax.phases == (0, 5)
    rows = list(phase_rows(ax, 0, 10**6, reached=True))
    assert [ph for ph, *_ in rows] == [] and unreached(ax, 0, 10**6)
    rows = list(phase_rows(ax, 10**9 - 10, 10**9 + 10, reached=True))
    assert [(ph, k) for ph, k, *_ in rows] == [(0, 3), (5, 8)]
    assert ax.tap_ranges(5) == (range(1, 2, 10**9), range(0, 1, 1))


# ---------------------------------------------------------------------------- set-up bounds


@pytest.mark.parametrize("method", RUNNABLE)
def test_setup_does_not_grow_with_the_image(method):
    """What a method keeps after set-up (weight rows, product matrices, tilings) is the same
    for a 3x40000 and a 3x400000 image: it grows with the kernel and the strides only."""
    rng = np.random.default_rng(3)
    k = rng.random((5, 6))
    kept = []
    for width in (40000, 400000):
        x = rng.random((3, width, 3)).astype(np.float32)
        _, _, left = traced(lambda x=x: _plan(x, k, 2, 1, method=method))
        kept.append(left)
    assert kept[1] - kept[0] < 64 << 10, kept


@pytest.mark.parametrize("budget", [1 << 16, 1 << 20, 16 << 20])
@pytest.mark.parametrize("kshape", [(9, 9), (33, 17), (120, 2), (2, 300)])
def test_setup_stays_within_setup_bytes(budget, kshape):
    """The chosen method keeps no more than ``setup_bytes`` (and a little for Python's own
    objects), and ``fft`` keeps the sub-kernels' spectra within it while it computes."""
    rng = np.random.default_rng(4)
    x = rng.random((40, 30, 3)).astype(np.float32)
    k = rng.random(kshape)
    for method in [None, "fft"]:
        p, _, kept = traced(lambda method=method: _plan(x, k, 2, 1, setup_bytes=budget, method=method))
        assert kept < budget + 256 << 10, (p.method, kept)
        p.compute_image()
        if p.method == "fft":
            assert p.unit._kept <= budget
