"""The transpose convolution computed in row strips: polyphase, threaded, no full-size temporaries.

This is the machinery behind :func:`deconv_cli.core.conv_transpose2d`; use
that. It is pure numpy, holds no deconv semantics beyond the operation
itself, and is kept in its own module so the size math in ``core`` stays
short to read.

How it works
------------
Per axis, output position ``o`` lies at ``f = o + start`` on the full grid,
where input ``i`` lands through tap ``u`` at ``f = i*s + u*d``. Writing
``f = q*s + phase``, the taps that reach phase ``phase`` are those with
``u*d % s == phase``, and tap ``u`` brings input ``i = q - m`` with
``m = (u*d - phase) // s`` (:meth:`Axis.taps`). So every output phase is a
small correlation over the contiguous input: no scatter, no zero-stuffing.

The output is produced in strips of whole rows. For each strip, the input
rows it needs are gathered once into a small float block (converting the
input's dtype, extending it for the edge modes, premultiplying alpha), then
one of four methods fills the strip:

``terms``
    The columns' phases are interleaved once per strip by repeating every
    block pixel ``sx`` times; a horizontal pass multiplies the repeated
    rows by per-column weight rows (so every op runs over long contiguous
    rows), and a vertical pass adds the rows of each row phase. A kernel
    that splits exactly into ``r`` outer products (:func:`exact_terms`; a
    separable one has ``r = 1``) costs ``r`` horizontal passes instead of
    one per kernel row.
``gemm``, ``planes``
    For large kernels: each group of ``G`` input pixels' worth of output
    columns is one row of a matrix product between the block's windows
    (``im2col``, all row offsets at once) and a small per-row-phase matrix
    that holds the kernel, so BLAS does the multiply-adds. ``gemm`` takes
    all channels in one product (whose matrix is block-diagonal over them:
    C times the multiply-adds needed, but the result lands in place);
    ``planes`` one channel at a time, then copies the result into every
    C-th element of the output, which pays off from 5x5 kernels or so.
``taps``
    For kernels so large that the others' weight rows or matrices would
    not fit in :data:`SETUP_BYTES`: each tap's scaled slice of the block
    added into its phase's strided positions, as the literal definition.

A cost model picks the method; strips run on a thread pool (numpy and BLAS
release the GIL), and each finished strip goes to an optional sink (the
file writer converts it to the storage dtype and compresses it) while the
next ones are computed.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from itertools import islice

import numpy as np
from numpy.lib.stride_tricks import as_strided

#: Elements of the output per strip the strip height aims at (4 MB of float32): fewer, longer
#: numpy calls per strip (the threads contend for the GIL between calls) against cache reuse.
STRIP_ELEMENTS = 1 << 20

#: Below this many output elements everything runs in one strip on the calling thread.
SERIAL_BELOW = 1 << 18

# Rough costs in ns per output element, fitted to one thread on a 2-core AMD EPYC with numpy 2
# and OpenBLAS over kernels 2x2..16x16 at strides 1..4 (only their ratios matter): a strided
# copy, a copy of contiguous windows, an elementwise op over contiguous rows, one multiply-add
# inside sgemm/dgemm plus what every product costs per output element, and one tap of 'taps'
# (whose innermost loop runs over a pixel's channels when the column stride is above 1).
_COST_COPY = 0.6
_COST_WINDOW = 0.3
_COST_EW = 0.2
_COST_MAC = 0.04
_COST_GEMM_BASE = 0.7
_COST_TAP_STRIDED = 5.0

#: Largest set-up (weight rows, product matrices) a method may build; beyond it, another
#: method (at worst ``taps``, which builds nothing) is used.
SETUP_BYTES = 64 << 20

#: The methods, for :class:`Plan`'s ``method``.
METHODS = ("terms", "gemm", "planes", "taps")


@dataclass(frozen=True)
class Axis:
    """One axis: output ``o`` (``0 <= o < n_out``) lies at ``f = o + start``, input ``i`` reaches
    ``f = i*stride + u*dilation`` through tap ``u``. ``ext`` input pixels before/after the image
    repeat it as numpy's pad ``mode`` would (the edge modes); beyond them lies zero.

    >>> ax = Axis(n_in=4, kernel=4, stride=2, dilation=1, start=1, n_out=8)
    >>> ax.taps
    (((0, 0), (2, 1)), ((1, 0), (3, 1)))
    >>> ax.reach, ax.q(0), ax.q(7)
    (1, 0, 4)
    """

    n_in: int
    kernel: int
    stride: int
    dilation: int
    start: int
    n_out: int
    ext: tuple[int, int] = (0, 0)
    mode: str = "constant"

    @cached_property
    def taps(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Per phase, the ``(u, m)`` pairs: tap ``u`` brings input ``q - m`` to ``f = q*s + phase``."""
        s, d = self.stride, self.dilation
        return tuple(
            tuple((u, (u * d - ph) // s) for u in range(self.kernel) if (u * d) % s == ph) for ph in range(s)
        )

    @property
    def reach(self) -> int:
        """The largest ``m``: how many inputs before ``q`` can reach ``f = q*s + phase``."""
        return self.dilation * (self.kernel - 1) // self.stride

    def q(self, o: int) -> int:
        return (o + self.start) // self.stride

    def phase(self, o) -> int:
        return (o + self.start) % self.stride

    def source(self, lo: int, hi: int) -> np.ndarray:
        """Which input index supplies each of the (extended) inputs ``lo..hi-1``; -1 for zero."""
        idx = np.arange(lo, hi)
        before, after = self.ext
        inside = (idx >= -before) & (idx < self.n_in + after)
        if before or after:
            mode = "edge" if self.mode == "reflect" and self.n_in == 1 else self.mode
            mapped = np.pad(np.arange(self.n_in), (before, after), mode=mode)
            return np.where(inside, mapped[np.clip(idx + before, 0, len(mapped) - 1)], -1)
        return np.where(inside, idx, -1)


def _runs(src: np.ndarray) -> list[tuple[int, int, int]]:
    """Split a source-index map into ``(dst0, dst1, src0)`` runs of consecutive sources (src0 -1: zeros).

    >>> _runs(np.array([-1, -1, 0, 1, 2, 2, 1]))
    [(0, 2, -1), (2, 5, 0), (5, 6, 2), (6, 7, 1)]
    """
    src = np.asarray(src)
    if len(src) == 0:
        return []
    step = np.diff(src)
    # a run continues while both are zeros (-1) or the source advances by one
    cont = ((src[1:] < 0) & (src[:-1] < 0)) | ((src[:-1] >= 0) & (step == 1))
    starts = np.concatenate(([0], np.flatnonzero(~cont) + 1))
    ends = np.concatenate((starts[1:], [len(src)]))
    return [(int(a), int(b), int(src[a])) for a, b in zip(starts, ends)]


def exact_terms(k: np.ndarray, dtype=np.float64, max_terms: int = 4) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Split a kernel into at most ``max_terms`` outer products that give it back exactly.

    Greedy cross elimination: pick a pivot, take its column divided by it and its row as one
    term, subtract, repeat. Pivots that divide their column exactly are preferred, so kernels
    of integers or halves, quarters... keep factors of the same kind. The split is returned
    only if the terms, rounded to ``dtype``, add up to the kernel with no error at all: the
    result then differs from the literal sum of taps only by the order of additions. When no
    exact split is found (a full-rank kernel, or factors like 1/3 that no float holds), None:
    the caller computes one term per kernel row instead, which is always exact.

    >>> [(a.tolist(), b.tolist()) for a, b in exact_terms(np.outer([1, 2, 1], [1, 0, -1]))]
    [([0.5, 1.0, 0.5], [2.0, 0.0, -2.0])]
    >>> len(exact_terms(np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])))
    2
    >>> exact_terms(np.array([[1.0, 2.0], [3.0, 5.0]]), max_terms=1) is None
    True
    """
    dt = np.dtype(dtype)
    rest = np.array(k, dtype=np.float64)
    terms: list[tuple[np.ndarray, np.ndarray]] = []
    while np.any(rest):
        if len(terms) >= max_terms:
            return None
        order = np.argsort(-np.abs(rest), axis=None, kind="stable")[: min(rest.size, 64)]
        found: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # 0: dyadic factors, 1: exact, 2: any
        for flat in order:
            i, j = np.unravel_index(flat, rest.shape)
            piv = rest[i, j]
            if piv == 0:
                break
            a = (rest[:, j] / piv).astype(dt).astype(np.float64)
            b = rest[i].astype(dt).astype(np.float64)
            exact = np.array_equal(a * piv, rest[:, j]) and np.array_equal(b, rest[i])
            rank = (0 if np.array_equal(np.round(a * 4096) / 4096, a) else 1) if exact else 2
            found.setdefault(rank, (a, b))
            if rank == 0:
                break
        if not found:
            return None
        a, b = found[min(found)]
        terms.append((a, b))
        rest = rest - np.outer(a, b)
    total = np.zeros(np.shape(k))
    for a, b in terms:
        total += np.outer(a, b)
    if not np.array_equal(total, np.asarray(k, dtype=np.float64)):
        return None
    return terms


def available_cpus() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for the strips: ``DECONV_THREADS`` if set, else :func:`available_cpus`."""
    env = os.environ.get("DECONV_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return available_cpus()


class Plan:
    """A transpose convolution ready to run strip by strip.

    Parameters
    ----------
    x : (H, W, C) ndarray
        The image in any real dtype; it is read, never copied whole.
    kernel : (P, kh, kw) ndarray
        ``P = 1`` (one kernel for every channel) or ``P = C``.
    rows, cols : Axis
    dtype : float32 or float64
        Computation and result dtype.

    Other parameters
    ----------------
    alpha : (int, float) or None
        ``(channel, alpha_max)``: colour is premultiplied by ``alpha / alpha_max``
        before and divided by the resulting coverage after (see ``core.upsample``).
    renormalize : bool
        Multiply each border pixel by (interior phase weight) / (weight received).
    method : {None, 'terms', 'gemm', 'planes', 'taps'}
        None lets the cost model choose; the tests force each.
    strip_rows : int, optional
        Output rows per strip (default: about :data:`STRIP_ELEMENTS` elements).
    threads : int, optional
        Default :func:`default_threads`; 1 runs on the calling thread.
    squeeze : bool
        The image was (H, W): :meth:`compute_image` drops the channel axis.
    """

    def __init__(
        self,
        x: np.ndarray,
        kernel: np.ndarray,
        rows: Axis,
        cols: Axis,
        dtype,
        *,
        alpha: tuple[int, float] | None = None,
        renormalize: bool = False,
        method: str | None = None,
        strip_rows: int | None = None,
        threads: int | None = None,
        squeeze: bool = False,
    ):
        self.x = x
        self.squeeze = squeeze
        self.dtype = np.dtype(dtype)
        self.kernel = np.asarray(kernel, dtype=np.float64)
        if self.kernel.shape[0] > 1 and np.all(self.kernel == self.kernel[:1]):
            self.kernel = self.kernel[:1]  # the same kernel for every channel: shared, so it may split
        self.rows, self.cols = rows, cols
        self.channels = x.shape[2]
        self.alpha = alpha
        self.shape = (rows.n_out, cols.n_out, self.channels)
        self.row_len = cols.n_out * self.channels
        self._terms_cache: list | None = None
        method = method or self._choose()
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self.method = method
        {"terms": self._setup_terms, "gemm": self._setup_gemm, "planes": self._setup_planes, "taps": self._setup_taps}[method]()
        self._col_runs = _runs(cols.source(self.j_lo, self.j_lo + self.nj))
        total = rows.n_out * self.row_len
        if threads is None:
            threads = 1 if total < SERIAL_BELOW else default_threads()
        self.threads = max(1, int(threads))
        if strip_rows is None:
            # about STRIP_ELEMENTS per strip, at least 4 strips per thread, a multiple of the stride
            sy = rows.stride
            strip_rows = min(STRIP_ELEMENTS // max(1, self.row_len), -(-rows.n_out // (4 * self.threads)))
            strip_rows = max(sy, strip_rows // sy * sy)
        self.strip_rows = max(1, int(strip_rows))
        self._renorm = _Renormalizer(self) if renormalize else None
        self._local = threading.local()

    # ------------------------------------------------------------------ method choice

    def _terms_list(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if self._terms_cache is None:
            self._terms_cache = self._make_terms()
        return self._terms_cache

    def _make_terms(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(a, b)]`` with ``kernel[p] = sum(outer(a[p], b[p]))``, ``a``: (P, kh), ``b``: (P, kw).

        One term per non-zero kernel row, unless a shared kernel splits exactly into fewer
        outer products (:func:`exact_terms`): a separable kernel is one term.
        """
        k = self.kernel
        kh = k.shape[1]
        direct = []
        for u in range(kh):
            if np.any(k[:, u]):
                a = np.zeros((k.shape[0], kh))
                a[:, u] = 1.0
                direct.append((a, k[:, u].copy()))
        if k.shape[0] == 1 and k[0].size <= 4096:  # the split's search grows with the kernel
            split = exact_terms(k[0], self.dtype, max_terms=min(len(direct) - 1, 8))
            if split is not None:
                return [(a[None], b[None]) for a, b in split]
        return direct

    def _choose(self) -> str:
        """The method the cost model expects to be fastest per output element, among those whose
        set-up stays small (weight rows, product matrices)."""
        r, c = self.rows, self.cols
        kh, kw = self.kernel.shape[1:]
        ntaps_x = max(1, -(-kw // c.stride))  # taps per column phase
        ntaps_y = max(1, -(-kh // r.stride))
        costs = {"taps": ntaps_x * ntaps_y * (2 * _COST_EW if c.stride == 1 else _COST_TAP_STRIDED)}
        # terms: repeat the block (sx copies), then per term a horizontal pass over the block's
        # rows, then per output row the additions of its phase's term rows
        terms = self._terms_list()
        shifts = min(ntaps_x, c.reach + 1)
        if len(terms) * shifts * self.row_len * self.dtype.itemsize <= SETUP_BYTES:
            diagonal = all(np.count_nonzero(a) == a.shape[0] for a, _ in terms)  # one term per kernel row
            vertical = ntaps_y if diagonal else len(terms) * ntaps_y + len(terms) / r.stride
            costs["terms"] = (
                (_COST_COPY if c.stride > 1 else 0) / r.stride
                + len(terms) * (2 * shifts - 1) * _COST_EW / r.stride
                + vertical * _COST_EW
            )
        g = self._group()
        width = g + c.reach + 1
        k_inner = (r.reach + 1) * width * self.channels
        if r.stride * k_inner * g * c.stride * self.channels * 8 <= SETUP_BYTES:
            window = _COST_WINDOW * k_inner / (g * c.stride * r.stride * self.channels)
            costs["gemm"] = _COST_GEMM_BASE + k_inner * _COST_MAC + window
        g = self._plane_group()
        k_plane = (r.reach + 1) * (g + c.reach + 1)
        if self.channels > 1 and r.stride * k_plane * g * c.stride * self.kernel.shape[0] * 8 <= SETUP_BYTES:
            window = _COST_WINDOW * k_plane / (g * c.stride * r.stride)
            costs["planes"] = _COST_GEMM_BASE + k_plane * _COST_MAC + window + _COST_COPY
        return min(costs, key=costs.__getitem__)

    def _plane_group(self) -> int:
        """Input pixels per matrix row in ``planes``: enough that a row holds >= 16 outputs."""
        return max(1, -(-16 // self.cols.stride))

    def _group(self) -> int:
        """Input pixels per matrix row in ``gemm``: enough that a row holds >= 24 outputs."""
        return max(1, -(-24 // (self.cols.stride * self.channels)))

    # ------------------------------------------------------------------ terms: setup

    def _setup_terms(self) -> None:
        r, c = self.rows, self.cols
        C = self.channels
        kw = self.kernel.shape[2]
        phases_x = c.phase(np.arange(c.n_out))  # (n_out,)
        self.j_lo = c.q(0) - c.reach
        self.nj = c.q(c.n_out - 1) - self.j_lo + 1
        taps_x = c.taps
        self.terms = []
        for a, b in self._terms_list():
            # weight rows: w[m][o*C + ch] = b[ch][v] for the tap v of o's phase with that m
            per_m = {}
            for ph in range(c.stride):
                cols_of_phase = phases_x == ph
                if not cols_of_phase.any():
                    continue
                for v, m in taps_x[ph]:
                    if v >= kw or not np.any(b[:, v]):
                        continue
                    row = per_m.setdefault(m, np.zeros((c.n_out, C)))
                    row[cols_of_phase] = b[:, v] if b.shape[0] == C else b[0, v]
            wrows = [(m, row.reshape(-1).astype(self.dtype)) for m, row in sorted(per_m.items())]
            offsets = [((c.start % c.stride) + (c.reach - m) * c.stride) * C for m, _ in wrows]
            # vertical weights: per row phase, [(m_u, scalar or row)]
            vert = []
            for ph in range(r.stride):
                lst = []
                for u, m in r.taps[ph]:
                    w = a[:, u]
                    if not np.any(w):
                        continue
                    if a.shape[0] == 1 or np.all(w == w[0]):
                        lst.append((m, float(w[0])))
                    else:
                        lst.append((m, np.tile(w, c.n_out).astype(self.dtype)))
                vert.append(lst)
            if wrows and any(vert):
                self.terms.append((list(zip(offsets, [w for _, w in wrows])), vert))

    # ------------------------------------------------------------------ gemm: setup

    def _setup_gemm(self) -> None:
        r, c = self.rows, self.cols
        C = self.channels
        k = self.kernel
        kh, kw = k.shape[1:]
        g = self._group()
        period = g * c.stride  # output columns per matrix row
        r0 = c.start % c.stride
        width = g + c.reach + (1 if r0 else 0)  # input pixels each matrix row reads
        self.g, self.period, self.width = g, period, width
        self.ngroups = -(-c.n_out // period)
        self.j_lo = c.q(0) - c.reach
        self.nj = (self.ngroups - 1) * g + width
        my_n = r.reach + 1
        kdim = my_n * width * C
        # OpenBLAS splits a product over its own threads from M*N*K >= 2**19 on; under load that
        # hand-off can cost 10-30x, and the strips are threaded already: stay below it.
        self.gemm_rows = max(1, (1 << 19) // (2 * kdim * period * C))
        tt, ww, vv = self._column_taps(period, r0)
        self.mats = []
        for ph in range(r.stride):
            B = np.zeros((my_n, width, C, period, C))
            for u, my in r.taps[ph]:
                for ch in range(C):
                    B[my, ww, ch, tt, ch] = k[ch if k.shape[0] == C else 0, u, vv]
            B = B.reshape(kdim, period * C)
            self.mats.append(B.astype(self.dtype) if np.any(B) else None)

    # ------------------------------------------------------------------ planes: setup

    def _setup_planes(self) -> None:
        """gemm one channel at a time: no block-diagonal waste (a C-channel product does C times
        the multiply-adds it needs), for one strided copy of the result into the channels."""
        r, c = self.rows, self.cols
        k = self.kernel
        g = self._plane_group()
        period = g * c.stride
        r0 = c.start % c.stride
        width = g + c.reach + (1 if r0 else 0)
        self.g, self.period, self.width = g, period, width
        self.ngroups = -(-c.n_out // period)
        self.j_lo = c.q(0) - c.reach
        self.nj = (self.ngroups - 1) * g + width
        my_n = r.reach + 1
        kdim = my_n * width
        self.gemm_rows = max(1, (1 << 19) // (2 * kdim * period))
        tt, ww, vv = self._column_taps(period, r0)
        self.mats = []
        for ph in range(r.stride):
            B = np.zeros((k.shape[0], my_n, width, period))
            for u, my in r.taps[ph]:
                B[:, my, ww, tt] = k[:, u, vv]
            self.mats.append(B.reshape(k.shape[0], kdim, period).astype(self.dtype) if np.any(B) else None)

    def _column_taps(self, period: int, r0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t, w, v): output t of a group takes tap v from window pixel w; the same for every row."""
        c = self.cols
        tt, ww, vv = [], [], []
        for t in range(period):
            phx, qoff = (r0 + t) % c.stride, (r0 + t) // c.stride
            for v, m in c.taps[phx]:
                tt.append(t)
                ww.append(qoff - m + c.reach)
                vv.append(v)
        return np.array(tt, int), np.array(ww, int), np.array(vv, int)

    # ------------------------------------------------------------------ taps: setup

    def _setup_taps(self) -> None:
        c = self.cols
        self.j_lo = c.q(0) - c.reach
        self.nj = c.q(c.n_out - 1) - self.j_lo + 1
        self.kern = self.kernel.astype(self.dtype)

    # ------------------------------------------------------------------ running

    def _scratch(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A per-thread buffer, grown as needed, returned as a C-contiguous view of ``shape``."""
        bufs = getattr(self._local, "bufs", None)
        if bufs is None:
            bufs = self._local.bufs = {}
        n = int(np.prod(shape))
        buf = bufs.get(name)
        if buf is None or buf.size < n:
            buf = bufs[name] = np.empty(max(n, 1), self.dtype)
        return buf[:n].reshape(shape)

    def strips(self) -> list[tuple[int, int]]:
        n, h = self.rows.n_out, self.strip_rows
        return [(o, min(o + h, n)) for o in range(0, n, h)]

    def run(self, out: np.ndarray | None = None, sink: Callable | None = None) -> Iterator:
        """Compute every strip; yield ``sink(o0, strip)`` for each, in order.

        ``out`` (``self.shape``, ``self.dtype``) receives the result when given;
        otherwise each strip lives in a per-thread buffer that is only valid
        inside ``sink``. Strips are computed on :attr:`threads` threads.
        """

        def one(span):
            o0, o1 = span
            dst = out[o0:o1] if out is not None else self._scratch("strip", (o1 - o0,) + self.shape[1:])
            self._compute(o0, o1, dst)
            return sink(o0, dst) if sink is not None else None

        spans = self.strips()
        if self.threads <= 1 or len(spans) == 1:
            for span in spans:
                yield one(span)
            return
        # A window of 2 strips per thread in flight: results wait for the consumer in bounded
        # number, and an error or Ctrl-C cancels what has not started instead of finishing it.
        threads = min(self.threads, len(spans))
        ex = ThreadPoolExecutor(threads)
        pending: deque = deque()
        todo = iter(spans)
        try:
            for span in islice(todo, 2 * threads):
                pending.append(ex.submit(one, span))
            while pending:
                result = pending.popleft().result()
                span = next(todo, None)
                if span is not None:
                    pending.append(ex.submit(one, span))
                yield result
        finally:
            for fut in pending:
                fut.cancel()
            ex.shutdown(wait=True)

    def compute(self) -> np.ndarray:
        """The whole result as one (H_out, W_out, C) array."""
        out = np.empty(self.shape, self.dtype)
        for _ in self.run(out=out):
            pass
        return out

    def compute_image(self) -> np.ndarray:
        """:meth:`compute`, as (H_out, W_out) when the image was (H, W) (``squeeze``)."""
        out = self.compute()
        return out[:, :, 0] if self.squeeze else out

    # ------------------------------------------------------------------ one strip

    def _block(self, o0: int, o1: int, repeat: int = 1) -> tuple[np.ndarray, int]:
        """The input rows strip ``[o0, o1)`` needs, gathered into a float block (ni, nj, C), and
        the first q. With ``repeat`` > 1 the block is (ni, nj, repeat, C), every pixel repeated:
        filled straight from the image when there is no alpha to premultiply first."""
        r = self.rows
        q0, q1 = r.q(o0), r.q(o1 - 1)
        i_lo = q0 - r.reach
        ni = q1 - i_lo + 1
        nj, C = self.nj, self.channels
        direct = repeat > 1 and self.alpha is None
        blk = self._scratch("rep" if direct else "block", (ni, nj, repeat, C) if direct else (ni, nj, C))
        x = self.x
        inside = 0 <= i_lo and i_lo + ni <= r.n_in  # the common case: one run of real rows
        for a0, a1, s0 in [(0, ni, i_lo)] if inside else _runs(r.source(i_lo, i_lo + ni)):
            if s0 < 0:
                blk[a0:a1] = 0
                continue
            src = x[s0 : s0 + a1 - a0]
            for b0, b1, t0 in self._col_runs:
                if t0 < 0:
                    blk[a0:a1, b0:b1] = 0
                elif direct:  # one strided copy per (copy, channel): inner loops stay long
                    for t in range(repeat):
                        for ch in range(C):
                            blk[a0:a1, b0:b1, t, ch] = src[:, t0 : t0 + b1 - b0, ch]
                else:
                    blk[a0:a1, b0:b1] = src[:, t0 : t0 + b1 - b0]
        if direct:
            return blk, q0
        if self.alpha is not None:
            ach, amax = self.alpha
            cover = self._scratch("cover", (ni, nj))
            np.divide(blk[:, :, ach], self.dtype.type(amax), out=cover)
            for ch in range(C):
                if ch != ach:
                    np.multiply(blk[:, :, ch], cover, out=blk[:, :, ch])
        if repeat > 1:
            rep = self._scratch("rep", (ni, nj, repeat, C))
            for t in range(repeat):
                for ch in range(C):
                    rep[:, :, t, ch] = blk[:, :, ch]
            return rep, q0
        return blk, q0

    def _compute(self, o0: int, o1: int, dst: np.ndarray) -> None:
        blk, q0 = self._block(o0, o1, self.cols.stride if self.method == "terms" else 1)
        {"terms": self._terms, "gemm": self._gemm, "planes": self._planes, "taps": self._taps}[self.method](o0, o1, blk, q0, dst)
        if self._renorm is not None:
            self._renorm.apply(o0, o1, dst)
        if self.alpha is not None:
            _unpremultiply(dst, *self.alpha)

    def _phase_rows(self, o0: int, o1: int):
        """Per row phase: (phase, first row offset in the strip, row count, q of the first row)."""
        r = self.rows
        for k in range(min(r.stride, o1 - o0)):
            o = o0 + k
            yield r.phase(o), k, len(range(k, o1 - o0, r.stride)), r.q(o)

    def _terms(self, o0, o1, rep, q0, dst) -> None:
        """Horizontal pass per term over the repeated block's rows, then per output row the sum
        of the term rows its phase's taps select; a vertical weight other than 1 is applied once
        per strip to a copy of the term's rows, so the sums are plain additions."""
        r = self.rows
        L = self.row_len
        ni = rep.shape[0]
        flat = rep.reshape(ni, -1)
        out2 = dst.reshape(o1 - o0, L)
        tmp = self._scratch("tmp", (ni, L))
        hsum = self._scratch("h", (ni, L))
        written = [False] * r.stride
        base = q0 - r.reach  # input row of hsum's row 0
        for wrows, vert in self.terms:
            for n, (off, w) in enumerate(wrows):
                if n == 0:
                    np.multiply(flat[:, off : off + L], w, out=hsum)
                else:
                    np.multiply(flat[:, off : off + L], w, out=tmp)
                    hsum += tmp
            scaled: dict[object, np.ndarray] = {}
            for ph, k, nq, qa in self._phase_rows(o0, o1):
                view = out2[k :: r.stride]
                sources = []
                for m, wt in vert[ph]:
                    key = wt if isinstance(wt, float) else id(wt)
                    if key == 1.0:
                        rows_h = hsum
                    elif key in scaled:
                        rows_h = scaled[key]
                    elif len(scaled) < 4:
                        rows_h = scaled[key] = self._scratch(f"scaled{len(scaled)}", (ni, L))
                        np.multiply(hsum, wt, out=rows_h)
                    else:  # many distinct weights: scale just these rows
                        rows_h = None
                    if rows_h is None:  # a fresh array each: a shared scratch would be overwritten by the next source
                        sources.append(np.multiply(hsum[qa - m - base :][:nq], wt))
                    else:
                        sources.append(rows_h[qa - m - base :][:nq])
                if not sources:
                    continue
                first = 0
                if not written[ph]:
                    if len(sources) == 1:
                        np.copyto(view, sources[0])
                    else:
                        np.add(sources[0], sources[1], out=view)
                        first = 1
                    first += 1
                    written[ph] = True
                for src in sources[first:]:
                    view += src
        for ph, k, _, _ in self._phase_rows(o0, o1):
            if not written[ph]:
                out2[k :: r.stride] = 0

    def _taps(self, o0, o1, blk, q0, dst) -> None:
        _taps_strip(self, o0, o1, blk, q0, dst)

    def _planes(self, o0, o1, blk, q0, dst) -> None:
        _planes_strip(self, o0, o1, blk, q0, dst)

    def _gemm(self, o0, o1, blk, q0, dst) -> None:
        r = self.rows
        C = self.channels
        ni, nj = blk.shape[:2]
        nq = ni - r.reach
        my_n = r.reach + 1
        wlen = self.width * C
        win = self._scratch("im2col", (nq, self.ngroups, my_n, wlen))
        s0, s1, s2 = blk.strides
        for my in range(my_n):
            base = blk[r.reach - my :]
            view = as_strided(base, shape=(nq, self.ngroups, wlen), strides=(s0, self.g * s1, s2), writeable=False)
            win[:, :, my, :] = view
        a = win.reshape(nq, self.ngroups, my_n * wlen)
        L = self.row_len
        ncol = self.period * C
        full = self.cols.n_out // self.period  # whole groups; the rest of the row is one partial group
        rem = L - full * ncol
        out2 = dst.reshape(o1 - o0, L)
        for ph, k, nqp, qa in self._phase_rows(o0, o1):
            view = out2[k :: r.stride]
            B = self.mats[ph]
            if B is None:
                view[...] = 0
                continue
            rows_a = a[qa - q0 :][:nqp]
            step = self.gemm_rows
            for n in range(nqp):  # 2-D products: numpy's batched matmul into a strided output is slow
                dst_row = view[n, : full * ncol].reshape(full, ncol)
                for g0 in range(0, full, step):
                    g1 = min(g0 + step, full)
                    np.matmul(rows_a[n, g0:g1], B, out=dst_row[g0:g1])
                if rem:
                    view[n, full * ncol :] = (rows_a[n, full] @ B)[:rem]


def _planes_strip(plan: Plan, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray) -> None:
    """gemm per channel: the channel's windows times the row phase's matrix, copied into every
    C-th element of the output rows."""
    r = plan.rows
    C, n_out = plan.channels, plan.cols.n_out
    ni = blk.shape[0]
    nq = ni - r.reach
    my_n, width, ng = r.reach + 1, plan.width, plan.ngroups
    kdim = my_n * width
    g = plan.g
    plane = plan._scratch("plane", blk.shape[:2])
    # the windows stored transposed, one (window pixel) a row: each is then one copy with a long
    # inner loop, and BLAS reads the transposed matrix as it is
    win_t = plan._scratch("im2col", (my_n, width, nq, ng))
    y = plan._scratch("planes_y", (nq * ng, plan.period))
    out2 = dst.reshape(o1 - o0, n_out, C)
    step = plan.gemm_rows
    for ch in range(C):
        np.copyto(plane, blk[:, :, ch])
        # win_t[my, w, q, n] = plane[reach - my + q, n*g + w], as one view: one copy a channel
        s0, s1 = plane.strides
        view = as_strided(plane[r.reach :], shape=(my_n, width, nq, ng), strides=(-s0, s1, s0, g * s1), writeable=False)
        np.copyto(win_t, view)
        a = win_t.reshape(kdim, nq * ng).T
        for ph, k, nqp, qa in plan._phase_rows(o0, o1):
            view = out2[k :: r.stride, :, ch]
            B = plan.mats[ph]
            if B is None:
                view[...] = 0
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
            view[...] = yy.reshape(nqp, ng * plan.period)[:, :n_out]


def _taps_strip(plan: Plan, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray) -> None:
    """Every tap of every phase in turn: a scaled slice of the block added into the strided
    output positions of its phase. Slow (the innermost loop runs over the channels) but it
    builds nothing, whatever the kernel's size."""
    r, c = plan.rows, plan.cols
    k = plan.kern
    base = q0 - r.reach
    for ph_y, ky, nq, qa in plan._phase_rows(o0, o1):
        rows_view = dst[ky :: r.stride]
        for cx in range(min(c.stride, c.n_out)):
            view = rows_view[:, cx :: c.stride]
            tmp = plan._scratch("taps", view.shape)
            col0 = c.q(cx) - plan.j_lo
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


def _unpremultiply(dst: np.ndarray, ach: int, amax: float) -> None:
    """Divide colour by the coverage the alpha channel reached (0 where it is below half a level)."""
    alpha = dst[..., ach]
    visible = alpha >= 0.5
    cover = np.clip(alpha / dst.dtype.type(amax), 0, 1)
    cover[~visible] = 1
    for ch in range(dst.shape[2]):
        if ch != ach:
            col = dst[..., ch]
            np.divide(col, cover, out=col)
            col[~visible] = 0


class _Renormalizer:
    """Factors (interior phase weight) / (weight received) for the border pixels, where they differ
    from 1; every other pixel received all its taps and is left alone."""

    def __init__(self, plan: Plan):
        r, c = plan.rows, plan.cols
        k = plan.kernel  # (P, kh, kw) float64
        support = np.any(k != 0, axis=0)
        vy = _landing(r)  # (n_out, kh): tap u lands from a real input
        vx = _landing(c)
        full_y = _complete(r, vy, support.any(axis=1))
        full_x = _complete(c, vx, support.any(axis=0))
        self.bad_rows = np.flatnonzero(~full_y)
        self.bad_cols = np.flatnonzero(~full_x)
        tiny = 1e-9 * float(np.abs(k).max())
        sums = np.stack([_phase_sums(kp, r, c) for kp in k])  # (P, sy, sx)
        py, px = r.phase(np.arange(r.n_out)), c.phase(np.arange(c.n_out))
        self.row_factor = {}
        self.col_factor = None
        dt = plan.dtype
        if len(self.bad_rows):
            reached = np.stack([vy[self.bad_rows] @ kp @ vx.T for kp in k], -1)  # (rows, cols, P)
            interior = np.moveaxis(sums[:, py[self.bad_rows]][:, :, px], 0, -1)
            fac = _ratio(interior, reached, tiny).astype(dt)
            self.row_factor = {int(o): fac[n] for n, o in enumerate(self.bad_rows)}
        if len(self.bad_cols):
            # a complete row of phase ph receives every tap u of that phase
            vy_full = np.zeros((r.stride, k.shape[1]))
            for ph in range(r.stride):
                for u, _ in r.taps[ph]:
                    vy_full[ph, u] = 1
            reached = np.stack([vy_full @ kp @ vx[self.bad_cols].T for kp in k], -1)  # (sy, cols, P)
            interior = np.moveaxis(sums[:, :, px[self.bad_cols]], 0, -1)
            self.col_factor = _ratio(interior, reached, tiny).astype(dt)  # (sy, ncols, P)
        self.rows = r

    def apply(self, o0: int, o1: int, dst: np.ndarray) -> None:
        """Multiply the border pixels of strip ``[o0, o1)`` by their factors (a (P = 1) factor
        broadcasts over the channels)."""
        for o in range(o0, o1):
            f = self.row_factor.get(o)
            if f is not None:
                dst[o - o0] *= f
            elif self.col_factor is not None:
                dst[o - o0, self.bad_cols] *= self.col_factor[self.rows.phase(o)]


def _ratio(interior: np.ndarray, reached: np.ndarray, tiny: float) -> np.ndarray:
    ok = np.abs(reached) > tiny
    return np.where(ok, interior / np.where(ok, reached, 1), 0)


def _landing(ax: Axis) -> np.ndarray:
    """(n_out, k): 1 where tap u brings a real input (0 <= i < n_in) to output o (zero edges)."""
    return landing(ax.n_in, ax.n_out, ax.start, ax.stride, ax.dilation, ax.kernel).astype(np.float64)


def _complete(ax: Axis, landing_: np.ndarray, support: np.ndarray) -> np.ndarray:
    return complete_positions(ax.n_in, ax.n_out, ax.start, ax.stride, ax.dilation, support, landing_.astype(bool))


def landing(n_in: int, n_out: int, start: int, stride: int, dilation: int, k: int) -> np.ndarray:
    """(n_out, k) bool: tap u of the kernel brings a real input (0 <= i < n_in) to output o,
    where ``o = i*stride - start + u*dilation`` (``start`` is the padding, plus any crop)."""
    f = np.arange(n_out)[:, None] + start - np.arange(k)[None, :] * dilation
    return (f % stride == 0) & (f >= 0) & (f // stride < n_in)


def complete_positions(n_in, n_out, start, stride, dilation, support, lands=None) -> np.ndarray:
    """(n_out,) bool: every non-zero tap (``support``, (k,) bool) of the output's stride phase
    brings a real input, as in the interior. ``lands`` is :func:`landing`, if already at hand."""
    support = np.asarray(support, bool)
    if lands is None:
        lands = landing(n_in, n_out, start, stride, dilation, support.size)
    f = np.arange(n_out)[:, None] + start - np.arange(support.size)[None, :] * dilation
    of_phase = (f % stride == 0) & support[None, :]
    return np.all(lands | ~of_phase, axis=1)


def _phase_sums(k: np.ndarray, r: Axis, c: Axis) -> np.ndarray:
    from .core import phase_sums

    return phase_sums(k, (r.stride, c.stride), (r.dilation, c.dilation)).sums
