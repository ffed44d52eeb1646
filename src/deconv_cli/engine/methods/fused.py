"""``fused``: the ``terms`` method's arithmetic in one compiled loop over the output rows.

``terms`` (its set-up is this unit's: the same weight rows and vertical weights) makes about
seven passes over strip-sized memory per strip in numpy, with no multiply-add to fuse them.
Here a small C loop (``deconv_cli.engine._fused``, built with the package; without a compiler
the package installs without it and the planner never offers this method) reads the plain
block (``repeat`` 1), repeats each of its rows once into a few rows that stay in the cache,
forms their horizontal sums into a ring of rows, and writes each output row once. The
operations and their order are those of ``terms``, so both give the same bits (the tests hold
them to it); bilinear 4x4 at stride 2 on 3x1080x1920 float32 runs in 0.5-0.6x ``terms``' time
(bench/README.md).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..axis import Axis
from .base import STRIP_ELEMENTS, Problem, Scratch, phase_rows
from .terms import Layout, Terms, split

try:
    from .. import _fused
except ImportError:  # built without a C compiler: the planner skips this method
    _fused = None  # type: ignore[assignment]

#: Bytes of the ring and row buffers each strip thread holds, at most (beyond: ``terms``).
RING_BYTES = 32 << 20


def available() -> bool:
    """Whether the compiled loop was built with the package."""
    return _fused is not None


def _window(taps: Iterable[tuple[int, float]]) -> int:
    """The input rows that vertical taps ``(m, weight)`` span, from the first to the last."""
    ms = [m for m, _ in taps]
    return max(ms) - min(ms) + 1 if ms else 1


class Fused(Terms):
    name = "fused"
    #: The default height, not ``terms``' half: beside its strip it holds the repeated block
    #: (half a strip) and a ring of a few rows, not four block-sized rows. Bilinear 4x4 at
    #: stride 2 on 3x1080x1920, 2 threads, 7 rounds: 1 << 18 elements 40.5 ms, 1 << 19 27.5,
    #: 1 << 20 25.8, 1 << 21 46.8.
    strip_elements = STRIP_ELEMENTS

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float] | None:
        """``terms``' repeated block (``copy``) and its elementwise operations, counted as they
        are, each at the cost of an operation on rows in the cache (``fused``) instead of
        numpy's pass over a strip (``ew``), and the output written once (``fused_out``)."""
        if _fused is None or problem.dtype not in (np.float32, np.float64):
            return None
        base = Terms.features(problem)
        if base is None:
            return None
        ring = len(split(problem)) * (problem.rows.reach + 1) * Layout.of(problem).width
        if ring * problem.dtype.itemsize > RING_BYTES:
            return None
        return {"copy": base["copy"], "fused": base["ew"], "fused_out": 1.0}

    def __init__(self, problem: Problem):
        if _fused is None:
            raise ValueError("method fused: its compiled loop was not built with this installation (no C compiler)")
        if problem.dtype not in (np.float32, np.float64):
            raise ValueError(f"method fused computes in float32 or float64, not {problem.dtype}")
        super().__init__(problem)
        self.repeat = 1  # the loop repeats each block row itself, into a row that stays in the cache
        dt = problem.dtype
        lay = self.layout
        weights, offsets, starts = [], [], [0]
        for wrows, _ in self.terms:
            for off, w in wrows:
                offsets.append(off)
                weights.append(w)
            starts.append(len(offsets))
        self.weights = np.ascontiguousarray(np.stack(weights) if weights else np.zeros((0, lay.chunk)), dtype=dt)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int64)
        # a term's horizontal sums kept per block row: the rows its taps span
        self.ring_rows = max([_window(t for taps in vert.values() for t in taps) for _, vert in self.terms] or [1])
        # the repeated block rows: those every term's taps span
        self.rep_rows = _window(t for _, vert in self.terms for taps in vert.values() for t in taps)
        self.taps = max([len(taps) for _, vert in self.terms for taps in vert.values()] or [1])

    def _vertical(self, rows: Axis, o0: int, o1: int, base: int) -> tuple[np.ndarray, np.ndarray]:
        """Per output row of ``[o0, o1)`` and term: the block rows its taps read (-1 after the last)
        and their weights, in the order ``terms`` adds them."""
        n, nterms, K = o1 - o0, len(self.terms), self.taps
        idx = np.full((n, nterms, K), -1, dtype=np.int64)
        wts = np.zeros((n, nterms, K), dtype=self.problem.dtype)
        for ph, k, nq, qa in phase_rows(rows, o0, o1, reached=True):
            q = qa + np.arange(nq)
            for t, (_, vert) in enumerate(self.terms):
                for j, (m, wt) in enumerate(vert.get(ph, ())):
                    idx[k :: rows.stride, t, j] = q - m - base
                    wts[k :: rows.stride, t, j] = wt
        return idx, wts

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        p = self.problem
        r, c = p.rows, p.cols
        lay = self.layout
        ni, nj, C = blk.shape
        idx, wts = self._vertical(r, o0, o1, q0 - r.reach)
        nterms = len(self.terms)
        rep = scratch("fused_rep", (self.rep_rows * nj * c.stride * C,))
        ring = scratch("fused_ring", (max(1, nterms * self.ring_rows * lay.width),))
        tags = np.empty(nterms * self.ring_rows + self.rep_rows, dtype=np.int64)
        shape = (o1 - o0, p.row_len, ni, nj, C, c.stride, lay.chunk, lay.chunks, lay.offset)
        assert _fused is not None
        _fused.strip(
            (*shape, nterms, self.taps, self.ring_rows, self.rep_rows),
            p.dtype == np.float64,
            dst,
            blk,
            self.weights,
            self.offsets,
            self.starts,
            idx,
            wts,
            rep,
            ring,
            tags,
        )
