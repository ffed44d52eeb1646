"""``gemm``: every channel in one matrix product per row phase.

The product's matrix is block-diagonal over the channels (C times the multiply-adds
needed), but the result lands in place. For large kernels on one channel; and for a linear
map between channels (a learned layer), where the matrix is full: every output channel from
every input channel in the one product.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .base import Method, Problem, Scratch, phase_rows, unreached
from .windows import Windows, blas_rows


def _group(problem: Problem) -> int:
    """Input pixels per matrix row: enough that a row holds >= 24 outputs."""
    return max(1, -(-24 // (problem.cols.stride * problem.out_channels)))


class Gemm(Method):
    name = "gemm"
    mixes = True

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float] | None:
        r, c, C, C_out = problem.rows, problem.cols, problem.channels, problem.out_channels
        g = _group(problem)
        k_inner = (r.reach + 1) * (g + c.reach + 1) * C
        if r.stride * k_inner * g * c.stride * C_out * 8 > problem.setup_bytes:
            return None
        return {"gemm_base": 1.0, "mac": k_inner, "window": k_inner / (g * c.stride * r.stride * C_out)}

    def __init__(self, problem: Problem):
        super().__init__(problem)
        r, c, C, C_out, k = problem.rows, problem.cols, problem.channels, problem.out_channels, problem.kernel
        self.win = w = Windows.of(c, _group(problem))
        self.j_lo, self.nj = w.j_lo, w.nj
        my_n = r.reach + 1
        kdim = my_n * w.width * C
        self.gemm_rows = blas_rows(kdim, w.period * C_out)
        tt, ww, vv = w.column_taps(c)
        self.mats: dict[int, np.ndarray] = {}  # per row phase with taps; the others are zeros
        for ph in r.phases:
            blocks = np.zeros((my_n, w.width, C, w.period, C_out))
            for u, my in r.phase_taps(ph):
                if k.ndim == 4:  # a linear map: every (input, output) pair
                    blocks[my, ww, :, tt, :] = k[:, :, u, vv].transpose(2, 0, 1)
                    continue
                for ch in range(C):
                    blocks[my, ww, ch, tt, ch] = k[ch if k.shape[0] == C else 0, u, vv]
            B = blocks.reshape(kdim, w.period * C_out)
            if np.any(B):
                self.mats[ph] = B.astype(problem.dtype)

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        r, c, C, w = self.problem.rows, self.problem.cols, self.problem.channels, self.win
        C_out = self.problem.out_channels
        ni = blk.shape[0]
        nq = ni - r.reach
        my_n = r.reach + 1
        wlen = w.width * C
        win = scratch("im2col", (nq, w.ngroups, my_n, wlen))
        s0, s1, s2 = blk.strides
        for my in range(my_n):
            base = blk[r.reach - my :]
            view = as_strided(base, shape=(nq, w.ngroups, wlen), strides=(s0, w.g * s1, s2), writeable=False)
            win[:, :, my, :] = view
        a = win.reshape(nq, w.ngroups, my_n * wlen)
        L = self.problem.row_len
        ncol = w.period * C_out
        full = c.n_out // w.period  # whole groups; the rest of the row is one partial group
        rem = L - full * ncol
        out2 = dst.reshape(o1 - o0, L)
        if unreached(r, o0, o1):
            dst[...] = 0  # rows of phases no tap reaches
        for ph, k, nqp, qa in phase_rows(r, o0, o1, reached=True):
            rows_view = out2[k :: r.stride]
            B = self.mats.get(ph)
            if B is None:
                rows_view[...] = 0
                continue
            rows_a = a[qa - q0 :][:nqp]
            step = self.gemm_rows
            for n in range(nqp):  # 2-D products: numpy's batched matmul into a strided output is slow
                dst_row = rows_view[n, : full * ncol].reshape(full, ncol)
                for g0 in range(0, full, step):
                    g1 = min(g0 + step, full)
                    np.matmul(rows_a[n, g0:g1], B, out=dst_row[g0:g1])
                if rem:
                    rows_view[n, full * ncol :] = (rows_a[n, full] @ B)[:rem]
