"""``fft``: every pair of stride phases as a convolution computed by FFT (``numpy.fft``, in
float64), tile by tile.

Its cost grows with the logarithm of the tile's size, not with the kernel's taps: measured
on full-rank kernels, it is the fastest method from 8x8 kernels at stride 1 and from 32x32
to 64x64 at stride 4, and a 1024x1024 kernel on a 1000x1000 image takes about a second
where a multiply-add per tap and output pixel takes more than 20 minutes.

How: output ``f = q*s + phase`` (per axis) is ``sum_m x[q - m] * S_phase[m]``, with the
phase's sub-kernel ``S_phase[m] = kernel[u]`` for its taps (:meth:`Axis.tap_ranges`); so each
pair of row and column phases is one plain 2-D convolution of the (extended) input with a
small kernel, the stride's zero-insertion never built. The output is cut into fixed tiles
(:class:`Tiling`: multiples of the strides, sized by the cost model's constants, at most
``FFT_BYTES`` of transforms a thread unless the kernel's reach needs more). For each tile,
the input it reads is transformed once per channel; then per pair of phases, the product
with the sub-kernel's spectrum is transformed back and its valid part (overlap-save: the
circular wrap-around lands only on outputs of other tiles) copied into every ``s``-th output.
Only the input that is not zero enters a tile (an image smaller than the kernel makes short
transforms), and only the part of the sub-kernel that meets it, so a transform spans the
tile plus ``min(kernel reach, input span)``, however long the kernel. The sub-kernels'
spectra are kept, within ``setup_bytes``, for the tiles that share them; the transforms run
in per-thread buffers.

The tiles do not depend on the strips: a strip computes whole tiles (the planner's strips are
whole tiles; a block holds a whole tile's input, :meth:`FFT.block_rows`), so the result does
not change by a bit with the strip height or the threads. It is the literal sum of taps up to
float64 rounding relative to the largest values of the tile (about 1e-16 of them: a pixel far
smaller than its neighbours, or an exact zero, gets that absolute error too), then cast to
the computation dtype.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..axis import Axis
from ..costs import COSTS
from .base import Method, Problem, Scratch

#: Bytes a tile's transforms may hold per thread (input spectra of every channel, a sub-kernel's
#: spectrum, the product and the inverse): a tile's points are ``FFT_BYTES / ((C + P + 3) * 8)``
#: at most, unless the kernel's reach needs more (up to 4x the smallest tile the reach allows).
FFT_BYTES = 64 << 20


@lru_cache(maxsize=4096)
def fast_len(n: int) -> int:
    """The smallest ``2^a 3^b 5^c 7^d >= n``: a length ``numpy.fft`` transforms quickly.

    >>> fast_len(1), fast_len(1025), fast_len(2017), fast_len(4096)
    (1, 1029, 2025, 4096)
    """
    if n <= 1:
        return 1
    best = 1 << (n - 1).bit_length()
    p7 = 1
    while p7 < best:
        p5 = p7
        while p5 < best:
            p3 = p5
            while p3 < best:
                p = p3
                while p < n:
                    p *= 2
                best = min(best, p)
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best


def _lengths(lo: int, hi: int) -> list[int]:
    """Fast lengths from ``fast_len(lo)`` to ``fast_len(hi)``, about 8 % apart."""
    found, n = [], fast_len(lo)
    top = fast_len(hi)
    while n < top:
        found.append(n)
        n = fast_len(max(n + 1, int(n * 1.08)))
    found.append(top)
    return found


@dataclass(frozen=True)
class Span:
    """One axis of one tile: the inputs ``i_lo..i_hi`` (those not zero), the sub-kernel's
    ``m0..m1`` that meet them, and the transform length ``n``. Input ``i`` sits at ``i - i_lo``
    and tap ``m`` at ``m - m0``, so output ``q`` comes out at ``q - i_lo - m0``."""

    i_lo: int
    i_hi: int
    m0: int
    m1: int
    n: int

    def taps(self, ax: Axis, phase: int) -> tuple[slice, slice] | None:
        """Phase ``phase``'s taps within ``m0..m1``: the kernel's slice and the sub-kernel's."""
        us, ms = ax.tap_ranges(phase)
        if not us:
            return None
        t_lo = max(0, -((ms.start - self.m0) // ms.step))
        t_hi = min(len(us) - 1, (self.m1 - ms.start) // ms.step)
        if t_lo > t_hi:
            return None
        return (
            slice(us[t_lo], us[t_hi] + 1, us.step),
            slice(ms[t_lo] - self.m0, ms[t_hi] - self.m0 + 1, ms.step),
        )

    def outputs(self, ax: Axis, phase: int, lo: int, hi: int) -> tuple[slice, slice] | None:
        """Where phase ``phase``'s outputs ``lo..hi-1`` go (offsets from ``lo``, step ``s``) and
        where they are in the inverse transform."""
        first = lo + (phase - lo - ax.start) % ax.stride
        if first >= hi:
            return None
        n = len(range(first, hi, ax.stride))
        c = ax.q(first) - self.i_lo - self.m0
        return slice(first - lo, hi - lo, ax.stride), slice(c, c + n)


@dataclass(frozen=True)
class Tiles:
    """One axis cut into tiles of ``tile`` outputs (``tile / stride`` q's), from output 0;
    ``first..last`` are the (extended) inputs that are not zero."""

    axis: Axis
    tile: int
    first: int
    last: int

    @classmethod
    def of(cls, ax: Axis, q_per_tile: int) -> Tiles:
        return cls(ax, q_per_tile * ax.stride, -ax.ext[0], ax.n_in - 1 + ax.ext[1])

    @property
    def count(self) -> int:
        return -(-self.axis.n_out // self.tile)

    def span(self, t: int) -> Span | None:
        """Tile ``t``'s span; None when no input that is not zero reaches it."""
        ax = self.axis
        a, b = t * self.tile, min((t + 1) * self.tile, ax.n_out)
        qa, qb = ax.q(a), ax.q(b - 1)
        i_lo, i_hi = max(qa - ax.reach, self.first), min(qb, self.last)
        if i_lo > i_hi:
            return None
        m0, m1 = max(0, qa - i_hi), min(ax.reach, qb - i_lo)
        c_lo, c_hi = qa - i_lo - m0, qb - i_lo - m0
        # the circular convolution must not fold any other output onto c_lo..c_hi
        n = fast_len(max(c_hi + 1, (i_hi - i_lo) + (m1 - m0) + 1 - c_lo))
        return Span(i_lo, i_hi, m0, m1, n)


def _axis_options(ax: Axis) -> tuple[list[tuple[int, int, int]], int]:
    """Per candidate transform length: (length, q's per tile, tiles); and the smallest length."""
    nq = ax.q(ax.n_out - 1) - ax.q(0) + 1
    span = ax.n_in - 1 + ax.ext[0] + ax.ext[1]
    extra = min(ax.reach, span) + (1 if ax.start % ax.stride else 0)
    options = []
    for n in _lengths(extra + 1, extra + nq):
        tq = min(n - extra, nq)
        options.append((fast_len(tq + extra), tq, -(-ax.n_out // (tq * ax.stride))))
    return options, fast_len(extra + 1)


@dataclass(frozen=True)
class Tiling:
    """The tiles of one problem, chosen by the cost model's own constants, and the features."""

    rows: Tiles
    cols: Tiles
    features: dict[str, float]

    @classmethod
    def of(cls, problem: Problem) -> Tiling:
        r, c, C, P = problem.rows, problem.cols, problem.channels, problem.kernel.shape[0]
        pairs = len(r.phases) * len(c.phases)
        outputs = r.n_out * c.n_out * C
        rows, ny_min = _axis_options(r)
        cols, nx_min = _axis_options(c)
        cap = max(FFT_BYTES // ((C + P + 3) * 8), 4 * ny_min * nx_min)
        # the tiles that the whole kernel meets (all but those at the edges, when the kernel fits
        # inside the input) share their sub-kernels' spectra: transformed once, and kept
        shared = r.reach <= r.n_in - 1 + sum(r.ext) and c.reach <= c.n_in - 1 + sum(c.ext)
        # every pair of candidate lengths at once: rows along axis 0, columns along axis 1
        ny, qy, ty = (np.array(v, dtype=np.float64)[:, None] for v in zip(*rows, strict=True))
        nx, qx, tx = (np.array(v, dtype=np.float64)[None, :] for v in zip(*cols, strict=True))
        area = ny * nx
        tiles = ty * tx
        inner = np.maximum(ty - 2, 0) * np.maximum(tx - 2, 0) if shared else np.zeros_like(tiles)
        kept = pairs * P * ny * (nx // 2 + 1) * 16 <= problem.setup_bytes
        kernels = np.where(kept & (inner > 0), tiles - inner + 1, tiles)
        transforms = tiles * (C + pairs * C) + kernels * pairs * P
        feats = {
            "fft": transforms * area * np.log2(np.maximum(2, area)) / outputs,
            "fft_mul": tiles * pairs * C * area / outputs,
            "fft_call": (tiles * (10 + 3 * C + 4 * pairs * C) + 4 * kernels * pairs) / outputs,
        }
        total = np.zeros(area.shape)
        for k, n in feats.items():
            total += n * COSTS.get(k, 0.0)
        total[area > cap] = np.inf  # (0, 0), the shortest lengths, is always within the cap
        i, j = np.unravel_index(int(np.argmin(total)), total.shape)
        chosen = {k: float(v[i, j]) for k, v in feats.items()} | {"copy": 1.0}
        return cls(Tiles.of(r, int(qy[i, 0])), Tiles.of(c, int(qx[0, j])), chosen)


def tiling(problem: Problem) -> Tiling:
    return problem.remember("fft", lambda: Tiling.of(problem))


class FFT(Method):
    name = "fft"
    trim = True  # only the input that is not zero is read: a long kernel's reach is not gathered

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float]:
        """Per output element: transforms (points times log2 points), spectrum products and
        calls, for the tiles the cost model finds cheapest; and one strided copy."""
        return tiling(problem).features

    def __init__(self, problem: Problem):
        super().__init__(problem)
        c = problem.cols
        lo, hi = max(self.j_lo, -c.ext[0]), min(self.j_lo + self.nj - 1, c.n_in - 1 + c.ext[1])
        if lo <= hi:  # the block's columns: those that are not zero
            self.j_lo, self.nj = lo, hi - lo + 1
        else:  # none: one column, never read
            self.nj = 1
        self.tiling = tiling(problem)
        self.row_tile = self.tiling.rows.tile
        self._spectra: dict[tuple, np.ndarray] = {}
        self._kept = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def use_tiles(self, q_rows: int, q_cols: int) -> None:
        """Compute with tiles of ``q_rows`` x ``q_cols`` q's instead of the cost model's (the tests
        cut small outputs into many tiles this way); before the plan runs."""
        p = self.problem
        self.tiling = Tiling(Tiles.of(p.rows, q_rows), Tiles.of(p.cols, q_cols), self.tiling.features)
        self.row_tile = self.tiling.rows.tile

    def block_rows(self, o0: int, o1: int) -> tuple[int, int]:
        """The whole tiles that strip ``[o0, o1)`` touches."""
        t = self.row_tile
        return o0 // t * t, min(self.problem.rows.n_out, -(-o1 // t) * t)

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        rows, cols = self.tiling.rows, self.tiling.cols
        base = q0 - self.problem.rows.reach  # input row of blk's row 0
        for t in range(o0 // rows.tile, -(-o1 // rows.tile)):
            ys = rows.span(t)
            lo, hi = max(o0, t * rows.tile), min(o1, (t + 1) * rows.tile)
            out = dst[lo - o0 : hi - o0]
            for tc in range(cols.count):
                b0, b1 = tc * cols.tile, min((tc + 1) * cols.tile, cols.axis.n_out)
                xs = cols.span(tc)
                if ys is None or xs is None:
                    out[:, b0:b1] = 0
                    continue
                self._tile(ys, xs, (lo, hi), (b0, b1), blk, base, out[:, b0:b1])

    def _tile(
        self,
        ys: Span,
        xs: Span,
        rows_out: tuple[int, int],
        cols_out: tuple[int, int],
        blk: np.ndarray,
        base: int,
        out: np.ndarray,
    ) -> None:
        """One tile: output rows ``rows_out`` (``out``'s rows) and columns ``cols_out``.

        The transforms run in this thread's buffers (fresh arrays would cost a page fault per
        page, as much as the transforms themselves), one axis at a time: the rows that are zero
        are not transformed, and back only the rows that are kept."""
        p = self.problem
        r, c, C = p.rows, p.cols, p.channels
        row_phases = self._phases(r, ys, *rows_out)
        col_phases = self._phases(c, xs, *cols_out)
        present_rows = min(r.stride, rows_out[1] - rows_out[0])
        present_cols = min(c.stride, cols_out[1] - cols_out[0])
        if len(row_phases) < present_rows or len(col_phases) < present_cols:
            out[...] = 0  # outputs that no tap reaches here
        if not row_phases or not col_phases:
            return
        ny, nx = ys.n, xs.n
        half = nx // 2 + 1
        x = blk[ys.i_lo - base : ys.i_hi - base + 1, xs.i_lo - self.j_lo : xs.i_hi - self.j_lo + 1]
        rows_in, cols_in = x.shape[:2]
        real = self._buffer("real", (ny, nx), np.float64)
        spectra = self._buffer("spectra", (C, ny, half), np.complex128)
        product = self._buffer("product", (ny, half), np.complex128)
        for ch in range(C):
            real[:rows_in, :cols_in] = x[:, :, ch]
            real[:rows_in, cols_in:] = 0
            np.fft.rfft(real[:rows_in], axis=1, out=spectra[ch, :rows_in])
            spectra[ch, rows_in:] = 0
            np.fft.fft(spectra[ch], axis=0, out=spectra[ch])
        for py, (ky, sy), (dy, ry) in row_phases:
            for px, (kx, sx), (dx, rx) in col_phases:
                key = (py, px, ys.m0, ys.m1, xs.m0, xs.m1, ny, nx)
                kspec = self._spectrum(key, (ky, kx), (sy, sx))
                for ch in range(C):
                    np.multiply(spectra[ch], kspec[ch if len(kspec) == C else 0], out=product)
                    np.fft.ifft(product, axis=0, out=product)
                    kept = product[ry]
                    back = real[: len(kept)]
                    np.fft.irfft(kept, n=nx, axis=1, out=back)
                    out[dy, dx, ch] = back[:, rx]

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        """This thread's buffer ``name``, grown as needed, as a C-contiguous view of ``shape``."""
        bufs = getattr(self._local, "bufs", None)
        if bufs is None:
            bufs = self._local.bufs = {}
        n = math.prod(shape)
        buf = bufs.get(name)
        if buf is None or buf.size < n:
            buf = bufs[name] = np.empty(max(n, 1), dtype)
        return buf[:n].reshape(shape)

    @staticmethod
    def _phases(ax: Axis, span: Span, lo: int, hi: int) -> list[tuple[int, tuple[slice, slice], tuple[slice, slice]]]:
        """The phases with outputs in ``lo..hi-1`` and taps in the span: (phase, taps, outputs)."""
        found = []
        for ph in ax.phases:
            taps = span.taps(ax, ph)
            where = span.outputs(ax, ph, lo, hi) if taps is not None else None
            if taps is not None and where is not None:
                found.append((ph, taps, where))
        return found

    def _spectrum(self, key: tuple, kernel_at: tuple[slice, slice], sub_at: tuple[slice, slice]) -> np.ndarray:
        """The spectrum of one pair of phases' sub-kernel, (P, n_y, n_x//2 + 1): a kept one, or
        one in this thread's buffer (valid until the next). The whole sub-kernel's, which the
        inner tiles share, is kept if it fits ``setup_bytes``; an edge tile's part is not."""
        found = self._spectra.get(key)
        if found is not None:
            return found
        p = self.problem
        k = p.kernel
        m0y, m1y, m0x, m1x, ny, nx = key[2:]
        rows = m1y - m0y + 1  # the sub-kernel's rows: the others are zero
        sub = self._buffer("sub", (k.shape[0], rows, nx), np.float64)
        sub[...] = 0
        sub[:, sub_at[0], sub_at[1]] = k[:, kernel_at[0], kernel_at[1]]
        spec = self._buffer("kspec", (k.shape[0], ny, nx // 2 + 1), np.complex128)
        np.fft.rfft(sub, axis=2, out=spec[:, :rows])
        spec[:, rows:] = 0
        np.fft.fft(spec, axis=1, out=spec)
        whole = (m0y, m1y, m0x, m1x) == (0, p.rows.reach, 0, p.cols.reach)  # as every inner tile's
        with self._lock:
            if whole and key not in self._spectra and self._kept + spec.nbytes <= p.setup_bytes:
                self._spectra[key] = spec.copy()
                self._kept += spec.nbytes
        return spec
