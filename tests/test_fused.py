"""The ``fused`` method: the compiled loop of ``terms`` (deconv_cli/engine/_fused.c).

It must give ``terms``' bits exactly (same operations, same order, no fused multiply-add) on
every geometry, dtype, edge mode and strip split; its loop must refuse buffers that do not fit
what it is told instead of reading past them; and without the compiled module (a machine with
no C compiler) the planner must never offer it. Its equality to the literal reference loop is
in test_engine.py, with the other methods.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconv_cli.core import Geometry, plan
from deconv_cli.engine import choose
from deconv_cli.engine.methods import fused
from deconv_cli.kernels import make_kernel

from oracle import images, per_channel_reference

built = pytest.mark.skipif(not fused.available(), reason="built without a C compiler: no compiled loop")


def _both(x, k, geometry, **options):
    g = Geometry.of(*geometry)
    ours = plan(x, k, g, method="fused", **options)
    theirs = plan(x, k, g, method="terms", **options).compute_image()
    return ours, theirs


@built
@settings(max_examples=150, deadline=None)
@given(
    images(), st.sampled_from([None, 1, 2, 3]), st.sampled_from([1, 2]), st.sampled_from(["zero", "replicate", "wrap"])
)
def test_the_same_bits_as_terms(case, strip_rows, threads, edge):
    x, k, geometry = case
    ours, theirs = _both(x, k, geometry, strip_rows=strip_rows, threads=threads, edge=edge)
    got = ours.compute_image()
    assert ours.method == "fused"
    assert got.dtype == theirs.dtype and got.shape == theirs.shape
    assert np.array_equal(got, theirs)


@built
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kernel, stride, padding",
    [("bilinear", 2, 1), ("bicubic", 3, 3), ("lanczos3", 2, 5), ("random5x7", 3, 1), ("random16", 4, 6)],
)
def test_a_photo_sized_image(dtype, kernel, stride, padding):
    """Long rows (several weight-row chunks), three channels, many strips on two threads."""
    rng = np.random.default_rng(0)
    k = {"random5x7": rng.standard_normal((5, 7)), "random16": rng.standard_normal((16, 16))}.get(kernel)
    k = make_kernel(kernel, stride) if k is None else k
    x = rng.random((97, 3001, 3)).astype(np.float32)
    ours, theirs = _both(x, k, (stride, padding), dtype=dtype, threads=2)
    assert np.array_equal(ours.compute_image(), theirs)


@built
def test_against_the_reference_loop_on_a_bilinear_photo():
    x = np.random.default_rng(1).random((40, 61, 3))
    k = make_kernel("bilinear", 2)
    got = plan(x, k, Geometry.of(2, 1), method="fused", dtype=np.float64).compute_image()
    np.testing.assert_allclose(got, per_channel_reference(x, k, ((2, 2), (1, 1), (0, 0), (1, 1))), rtol=0, atol=1e-12)


@built
def test_the_planner_takes_it_for_a_small_kernel():
    p = plan(np.zeros((64, 64, 3), np.float32), make_kernel("bilinear", 2), Geometry.of(2, 1))
    assert p.method == "fused" and choose(p.problem) == "fused"


def test_without_the_compiled_loop_it_is_never_offered(monkeypatch):
    monkeypatch.setattr(fused, "_fused", None)
    x = np.random.default_rng(2).random((20, 30, 3)).astype(np.float32)
    p = plan(x, make_kernel("bilinear", 2), Geometry.of(2, 1))
    assert not fused.available() and fused.Fused.features(p.problem) is None
    assert p.method == "terms"
    with pytest.raises(ValueError, match="not built"):
        plan(x, make_kernel("bilinear", 2), Geometry.of(2, 1), method="fused")
    assert np.array_equal(
        p.compute_image(), plan(x, make_kernel("bilinear", 2), Geometry.of(2, 1), method="terms").compute_image()
    )


@built
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(dst=a["dst"][:-1]), "dst holds"),
        (lambda a: a.update(blk=a["blk"][:-1]), "blk holds"),
        (lambda a: a.update(ring=a["ring"][:-1]), "ring holds"),
        (lambda a: a.update(rep=a["rep"][:-1]), "rep holds"),
        (lambda a: a.update(tags=a["tags"][:-1]), "tags holds"),
        (lambda a: a["rows"].__setitem__(0, 10**9), "outside its buffer"),
        (lambda a: a["offsets"].__setitem__(0, 10**9), "outside its buffer"),
        (lambda a: a["offsets"].__setitem__(0, -1), "outside its buffer"),
        (lambda a: a.update(starts=a["starts"][:1]), "outside its buffer"),
    ],
)
def test_the_loop_refuses_buffers_that_do_not_fit(change, message):
    """What the unit passes, with one buffer cut short or one index out of range: a ValueError,
    never a read or a write past a buffer."""
    x = np.random.default_rng(3).random((12, 20, 3)).astype(np.float32)
    p = plan(x, make_kernel("bilinear", 2), Geometry.of(2, 1), method="fused", strip_rows=4, threads=1)
    unit = p.unit
    blk, q0 = p._block(0, 4, unit.repeat)
    ni, nj, C = blk.shape[0], blk.shape[1], blk.shape[-1]
    rows, weights = unit._vertical(p.rows, 0, 4, q0 - p.rows.reach)
    lay, nterms = unit.layout, len(unit.terms)
    args = {
        "dst": np.zeros(4 * p.problem.row_len, np.float32),
        "blk": np.ascontiguousarray(blk).reshape(-1),
        "weights": unit.weights,
        "offsets": unit.offsets.copy(),
        "starts": unit.starts.copy(),
        "rows": rows.reshape(-1).copy(),
        "row_weights": weights,
        "rep": np.zeros(unit.rep_rows * nj * p.cols.stride * C, np.float32),
        "ring": np.zeros(nterms * unit.ring_rows * lay.width, np.float32),
        "tags": np.zeros(nterms * unit.ring_rows + unit.rep_rows, np.int64),
    }
    shape = (4, p.problem.row_len, ni, nj, C, p.cols.stride, lay.chunk, lay.chunks, lay.offset, nterms, unit.taps)
    strip = fused._fused.strip  # type: ignore[union-attr]
    strip((*shape, unit.ring_rows, unit.rep_rows), False, *args.values())  # as given: fine
    for bad in (-1, 2**40):  # a size out of range in the shape: never trusted
        for at in range(len(shape)):
            with pytest.raises(ValueError):
                strip((*shape[:at], bad, *shape[at + 1 :], unit.ring_rows, unit.rep_rows), False, *args.values())
    change(args)
    with pytest.raises(ValueError, match=message):
        strip((*shape, unit.ring_rows, unit.rep_rows), False, *args.values())


@built
@pytest.mark.parametrize("channels", [2, 5])
@pytest.mark.parametrize("stride", [1, 2, 3, 5])
def test_channel_counts_the_loop_does_not_unroll(channels, stride):
    """1, 3 and 4 channels have their own repeat loops; others take the general one."""
    rng = np.random.default_rng(channels * 10 + stride)
    x = rng.random((13, 17, channels)).astype(np.float32)
    for k in (rng.standard_normal((4, 4)), rng.standard_normal((3, 5)), np.outer(rng.random(6), rng.random(6))):
        ours, theirs = _both(x, k, (stride, 1 if stride > 1 else 0), strip_rows=3, threads=2)
        assert np.array_equal(ours.compute_image(), theirs)
