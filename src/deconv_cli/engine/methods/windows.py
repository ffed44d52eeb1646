"""The windows that ``gemm`` and ``planes`` multiply: output columns in groups, each group
computed from one window of consecutive input pixels.

Every ``g`` input pixels' worth of output columns (a *period* of ``g * sx`` outputs) is one
row of a matrix product between the block's windows (``im2col``, all row offsets at once)
and a small per-row-phase matrix that holds the kernel, so BLAS does the multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..axis import Axis


@dataclass(frozen=True)
class Windows:
    """Column grouping of one problem: ``g`` input pixels a group, ``period = g*sx`` outputs,
    ``width`` input pixels read by each group, ``ngroups`` groups; the block spans input
    columns ``j_lo .. j_lo + nj - 1``."""

    g: int
    period: int
    width: int
    ngroups: int
    j_lo: int
    nj: int
    r0: int

    @classmethod
    def of(cls, cols: Axis, g: int) -> Windows:
        period = g * cols.stride
        r0 = cols.start % cols.stride
        width = g + cols.reach + (1 if r0 else 0)
        ngroups = -(-cols.n_out // period)
        j_lo = cols.q(0) - cols.reach
        return cls(g, period, width, ngroups, j_lo, (ngroups - 1) * g + width, r0)

    def column_taps(self, cols: Axis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t, w, v): output t of a group takes tap v from window pixel w; the same for every row."""
        tt, ww, vv = [], [], []
        for t in range(self.period):
            phx, qoff = (self.r0 + t) % cols.stride, (self.r0 + t) // cols.stride
            for v, m in cols.phase_taps(phx):
                tt.append(t)
                ww.append(qoff - m + cols.reach)
                vv.append(v)
        return np.array(tt, int), np.array(ww, int), np.array(vv, int)


def blas_rows(kdim: int, ncols: int) -> int:
    """Matrix rows per product call: OpenBLAS splits a product over its own threads from
    M*N*K >= 2**19 on; under load that hand-off can cost 10-30x, and the strips are threaded
    already, so stay below it."""
    return max(1, (1 << 19) // (2 * kdim * ncols))
