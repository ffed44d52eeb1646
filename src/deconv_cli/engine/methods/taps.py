"""``taps``: the literal definition, tap by tap; for kernels too large for the others' set-up.

Each tap's scaled slice of the block is added into its phase's strided output positions.
Slow (the innermost loop runs over the channels when the column stride is above 1) but it
builds nothing, whatever the kernel's size.
"""

from __future__ import annotations

import numpy as np

from .base import Method, Problem, Scratch, phase_rows, taps_per_phase, unreached


class Taps(Method):
    name = "taps"

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float]:
        """Per output element, the taps of its phases (2 ops each over contiguous rows, one
        strided op each otherwise); when a stride leaves phases that no tap reaches, only the
        others cost taps, and the strip is zeroed first."""
        r, c = problem.rows, problem.cols
        kh, kw = problem.kernel.shape[1:]
        reached = len(r.phases) / r.stride * len(c.phases) / c.stride
        n = taps_per_phase(kw, c.stride) * taps_per_phase(kh, r.stride) * min(1.0, reached)
        found = {"ew": 2.0 * n} if c.stride == 1 else {"tap_strided": n}
        return found if reached >= 1 else {**found, "copy": 1.0}

    def __init__(self, problem: Problem):
        super().__init__(problem)
        c = problem.cols
        self.kern = problem.kernel.astype(problem.dtype)
        # the first output column of each column phase some tap reaches, with that phase
        firsts = ((ph - c.start) % c.stride for ph in c.phases)
        self.col_phases = sorted((cx, c.phase(cx)) for cx in firsts if cx < c.n_out)
        self.sparse = len(self.col_phases) < min(c.stride, c.n_out)

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        r, c = self.problem.rows, self.problem.cols
        k = self.kern
        base = q0 - r.reach
        if self.sparse or unreached(r, o0, o1):
            dst[...] = 0  # the rows or columns of phases no tap reaches
        for ph_y, ky, nq, qa in phase_rows(r, o0, o1, reached=True):
            rows_view = dst[ky :: r.stride]
            row_taps = r.tap_ranges(ph_y)
            for cx, ph_x in self.col_phases:
                view = rows_view[:, cx :: c.stride]
                tmp = scratch("taps", view.shape)
                col0 = c.q(cx) - self.j_lo
                first = True
                for u, my in zip(*row_taps, strict=True):
                    for v, mx in zip(*c.tap_ranges(ph_x), strict=True):
                        w = k[:, u, v]
                        if not np.any(w):
                            continue
                        src = blk[qa - my - base :][:nq, col0 - mx :][:, : view.shape[1]]
                        if first:
                            np.multiply(src, w, out=view)
                            first = False
                        else:
                            np.multiply(src, w, out=tmp)
                            view += tmp
                if first:
                    view[...] = 0
