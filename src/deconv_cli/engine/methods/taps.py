"""``taps``: the literal definition, tap by tap; for kernels too large for the others' set-up.

Each tap's scaled slice of the block is added into its phase's strided output positions.
Slow (the innermost loop runs over the channels when the column stride is above 1) but it
builds nothing, whatever the kernel's size.
"""

from __future__ import annotations

import numpy as np

from .base import Method, Problem, Scratch, phase_rows, taps_per_phase


class Taps(Method):
    name = "taps"

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float]:
        r, c = problem.rows, problem.cols
        kh, kw = problem.kernel.shape[1:]
        n = taps_per_phase(kw, c.stride) * taps_per_phase(kh, r.stride)
        return {"ew": 2.0 * n} if c.stride == 1 else {"tap_strided": float(n)}

    def __init__(self, problem: Problem):
        super().__init__(problem)
        self.kern = problem.kernel.astype(problem.dtype)

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        r, c = self.problem.rows, self.problem.cols
        k = self.kern
        base = q0 - r.reach
        for ph_y, ky, nq, qa in phase_rows(r, o0, o1):
            rows_view = dst[ky :: r.stride]
            for cx in range(min(c.stride, c.n_out)):
                view = rows_view[:, cx :: c.stride]
                tmp = scratch("taps", view.shape)
                col0 = c.q(cx) - self.j_lo
                first = True
                for u, my in r.taps[ph_y]:
                    for v, mx in c.taps[c.phase(cx)]:
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
