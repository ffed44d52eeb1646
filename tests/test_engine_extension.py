"""A new computation method is one unit plus one registration line.

``Reference`` below is such a unit: a deliberately slow method that computes every output
pixel of a strip as the literal sum over the taps of its stride phase, in Python loops. It
knows nothing of edge modes, alpha or border renormalization, yet gives the right result
under all of them, because those reach the engine as the input extension and the
``prepare``/``finish`` steps the planner wraps around every method.
"""

from __future__ import annotations

import numpy as np
import pytest

from deconv_cli import engine
from deconv_cli.core import Geometry, plan
from deconv_cli.engine.methods import METHODS, Method, Problem, Scratch, fused, register
from deconv_cli.modes import Edge

from oracle import per_channel_reference


class Reference(Method):
    """Every output pixel as the sum of its phase's taps, one at a time."""

    name = "reference"

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        r, c, k = self.problem.rows, self.problem.cols, self.problem.kernel
        base = q0 - r.reach  # input row of blk's row 0
        for o in range(o0, o1):
            for p in range(c.n_out):
                total = np.zeros(dst.shape[2])
                for u, my in r.taps[r.phase(o)]:
                    for v, mx in c.taps[c.phase(p)]:
                        total += blk[r.q(o) - my - base, c.q(p) - mx - self.j_lo] * k[:, u, v]
                dst[o - o0, p] = total


@pytest.fixture
def with_reference():
    register(Reference)  # the one registration line
    yield
    METHODS.pop(Reference.name)


GEOMETRIES = [
    ((2, 2), (1, 1), (0, 0), (1, 1)),
    ((3, 2), (0, 2), (1, 1), (1, 2)),
    ((1, 1), (2, 0), (0, 0), (2, 1)),
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_a_registered_method_can_be_forced_and_equals_the_reference_loop(with_reference, geometry):
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((7, 6, 3)), rng.standard_normal((4, 3))
    p = plan(x, k, Geometry(*geometry), method="reference", strip_rows=2, threads=2)
    assert p.method == "reference" and isinstance(p.unit, Reference)
    np.testing.assert_allclose(p.compute_image(), per_channel_reference(x, k, geometry), atol=1e-12)


def test_edges_alpha_and_renormalize_come_with_any_method(with_reference):
    """The semantics around the arithmetic are the planner's, not the method's: the new unit
    gives what the built-in ones give under every edge mode, with alpha, with a crop."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (9, 8, 4)).astype(np.float64)
    x[rng.random((9, 8)) < 0.3, 3] = 0
    k = rng.random((4, 4))
    g = Geometry((2, 2), (1, 1))
    for edge in Edge.values():
        options = {"edge": edge, "alpha": (3, 255.0), "crop": (1, 0, 2, 1), "strip_rows": 3}
        ours = plan(x, k, g, method="reference", **options).compute_image()
        theirs = plan(x, k, g, method="terms", **options).compute_image()
        np.testing.assert_allclose(ours, theirs, atol=1e-9, err_msg=edge)


def test_the_cost_model_never_picks_a_method_without_features(with_reference):
    problem = plan(np.zeros((8, 8, 3)), np.ones((3, 3)), Geometry((2, 2))).problem
    assert engine.cost("reference", problem) == float("inf")
    assert engine.choose(problem) != "reference"
    assert "reference" in METHODS


def test_unregistered_names_are_refused():
    assert "reference" not in METHODS
    with pytest.raises(ValueError, match="method must be one of terms, fused, gemm, planes, taps, fft"):
        plan(np.zeros((4, 4)), np.ones((2, 2)), Geometry(), method="reference")


def test_every_built_in_method_is_a_unit_with_features():
    assert list(METHODS) == ["terms", "fused", "gemm", "planes", "taps", "fft"]
    problem = Problem(
        engine.Axis(8, 3, 2, 1, 0, 17), engine.Axis(8, 3, 2, 1, 0, 17), np.ones((1, 3, 3)), 3, np.dtype("f4")
    )
    for name, unit in METHODS.items():
        assert issubclass(unit, Method) and unit.name == name
        # fused: only where its compiled loop was built (tests/test_fused.py)
        assert (unit.features(problem) is not None) == (name != "fused" or fused.available())
