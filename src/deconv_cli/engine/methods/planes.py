"""``planes``: the matrix products of ``gemm`` one channel at a time.

No block-diagonal waste (a C-channel product does C times the multiply-adds it needs), for
one strided copy of the result into every C-th element of the output; pays off from 5x5
kernels or so on colour images.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .base import Method, Problem, Scratch, phase_rows, unreached
from .windows import Windows, blas_rows


def _group(problem: Problem) -> int:
    """Input pixels per matrix row: enough that a row holds >= 16 outputs."""
    return max(1, -(-16 // problem.cols.stride))


class Planes(Method):
    name = "planes"

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float] | None:
        r, c = problem.rows, problem.cols
        g = _group(problem)
        k_plane = (r.reach + 1) * (g + c.reach + 1)
        if (
            problem.channels == 1
            or r.stride * k_plane * g * c.stride * problem.kernel.shape[0] * 8 > problem.setup_bytes
        ):
            return None
        return {"gemm_base": 1.0, "mac": k_plane, "window": k_plane / (g * c.stride * r.stride), "copy": 1.0}

    def __init__(self, problem: Problem):
        super().__init__(problem)
        r, c, k = problem.rows, problem.cols, problem.kernel
        self.win = w = Windows.of(c, _group(problem))
        self.j_lo, self.nj = w.j_lo, w.nj
        my_n = r.reach + 1
        kdim = my_n * w.width
        self.gemm_rows = blas_rows(kdim, w.period)
        tt, ww, vv = w.column_taps(c)
        self.mats: dict[int, np.ndarray] = {}  # per row phase with taps; the others are zeros
        for ph in r.phases:
            B = np.zeros((k.shape[0], my_n, w.width, w.period))
            for u, my in r.phase_taps(ph):
                B[:, my, ww, tt] = k[:, u, vv]
            if np.any(B):
                self.mats[ph] = B.reshape(k.shape[0], kdim, w.period).astype(problem.dtype)

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        """Per channel: the channel's windows times the row phase's matrix, copied into every
        C-th element of the output rows."""
        r, w = self.problem.rows, self.win
        C, n_out = self.problem.channels, self.problem.cols.n_out
        ni = blk.shape[0]
        nq = ni - r.reach
        my_n, width, ng, g = r.reach + 1, w.width, w.ngroups, w.g
        kdim = my_n * width
        plane = scratch("plane", blk.shape[:2])
        # the windows stored transposed, one (window pixel) a row: each is then one copy with a long
        # inner loop, and BLAS reads the transposed matrix as it is
        win_t = scratch("im2col", (my_n, width, nq, ng))
        y = scratch("planes_y", (nq * ng, w.period))
        out2 = dst.reshape(o1 - o0, n_out, C)
        step = self.gemm_rows
        if unreached(r, o0, o1):
            dst[...] = 0  # rows of phases no tap reaches
        for ch in range(C):
            np.copyto(plane, blk[:, :, ch])
            # win_t[my, w, q, n] = plane[reach - my + q, n*g + w], as one view: one copy a channel
            s0, s1 = plane.strides
            view = as_strided(
                plane[r.reach :], shape=(my_n, width, nq, ng), strides=(-s0, s1, s0, g * s1), writeable=False
            )
            np.copyto(win_t, view)
            a = win_t.reshape(kdim, nq * ng).T
            for ph, k, nqp, qa in phase_rows(r, o0, o1, reached=True):
                out_view = out2[k :: r.stride, :, ch]
                B = self.mats.get(ph)
                if B is None:
                    out_view[...] = 0
                    continue
                Bc = B[ch if B.shape[0] == C else 0]
                a0 = (qa - q0) * ng
                yy = y[: nqp * ng]
                # products split per input row, whatever the strip: BLAS's rounding may depend on a
                # row's place in a call, and the result must not depend on strips or threads
                if step >= ng:  # one batched call: numpy runs the per-row products in C
                    np.matmul(a[a0 : a0 + nqp * ng].reshape(nqp, ng, kdim), Bc, out=yy.reshape(nqp, ng, -1))
                else:
                    for n in range(nqp):
                        for m0 in range(n * ng, (n + 1) * ng, step):
                            m1 = min(m0 + step, (n + 1) * ng)
                            np.matmul(a[a0 + m0 : a0 + m1], Bc, out=yy[m0:m1])
                out_view[...] = yy.reshape(nqp, ng * w.period)[:, :n_out]
