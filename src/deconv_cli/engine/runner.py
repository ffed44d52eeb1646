"""Running a plan: strips of output rows on a pool of threads, each from a block of input
rows gathered once, with bounded work in flight."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import numpy as np

from .axis import runs
from .methods.base import Method, Problem

#: ``prepare(block)``: a step on each gathered (rows, cols, C) input block, in place.
Prepare = Callable[[np.ndarray], None]
#: ``finish(o0, o1, strip)``: a step on each computed strip of output rows ``[o0, o1)``, in place.
Finish = Callable[[int, int, np.ndarray], None]


class Strips:
    """Output computed in strips of whole rows, on a pool of threads: what :meth:`run` needs is
    :attr:`shape`, :attr:`dtype`, :attr:`strip_rows`, :attr:`threads` and :meth:`_compute`
    (fill one strip). :class:`Plan` is one transpose convolution, :class:`Sum` a sum of them."""

    method: str
    shape: tuple[int, int, int]
    dtype: np.dtype
    strip_rows: int
    threads: int
    squeeze: bool = False
    _local: threading.local

    def scratch(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A per-thread buffer, grown as needed, returned as a C-contiguous view of ``shape``."""
        bufs = getattr(self._local, "bufs", None)
        if bufs is None:
            bufs = self._local.bufs = {}
        n = math.prod(shape)  # not np.prod: a few microseconds each, several times a strip
        buf = bufs.get(name)
        if buf is None or buf.size < n:
            buf = bufs[name] = np.empty(max(n, 1), self.dtype)
        return buf[:n].reshape(shape)

    def strips(self) -> list[tuple[int, int]]:
        n, h = self.shape[0], self.strip_rows
        return [(o, min(o + h, n)) for o in range(0, n, h)]

    def run(self, out: np.ndarray | None = None, sink: Callable | None = None) -> Iterator:
        """Compute every strip; yield ``sink(o0, strip)`` for each, in order.

        ``out`` (``self.shape``, ``self.dtype``, C-contiguous: the methods write whole rows of
        it) receives the result when given; otherwise each strip lives in a per-thread buffer
        that is only valid inside ``sink``. Strips are computed on :attr:`threads` threads.
        """
        if out is not None and (out.shape != self.shape or out.dtype != self.dtype or not out.flags.c_contiguous):
            raise ValueError(
                f"out must be a C-contiguous {self.dtype} array of shape {self.shape}, got "
                f"{out.dtype} {out.shape}{'' if out.flags.c_contiguous else ' (not contiguous)'}"
            )

        def one(span):
            o0, o1 = span
            dst = out[o0:o1] if out is not None else self.scratch("strip", (o1 - o0,) + self.shape[1:])
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
                following = next(todo, None)
                if following is not None:
                    pending.append(ex.submit(one, following))
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

    def _compute(self, o0: int, o1: int, dst: np.ndarray) -> None:
        raise NotImplementedError


class Plan(Strips):
    """A transpose convolution ready to run strip by strip; made by :func:`~.planner.plan`.

    Attributes
    ----------
    method : str
        The name of the method unit computing the strips (``unit``).
    shape : (H_out, W_out, C)
    dtype : numpy dtype
        Computation and result dtype.
    threads, strip_rows : int
    """

    def __init__(
        self,
        x: np.ndarray,
        problem: Problem,
        unit: Method,
        *,
        strip_rows: int,
        threads: int,
        prepare: Prepare | None = None,
        finish: Finish | None = None,
        squeeze: bool = False,
    ):
        self.x = x
        self.problem = problem
        self.unit = unit
        self.method = unit.name
        self.rows, self.cols = problem.rows, problem.cols
        self.channels = problem.channels
        self.dtype = problem.dtype
        self.shape = (self.rows.n_out, self.cols.n_out, problem.out_channels)
        self.strip_rows = strip_rows
        self.threads = threads
        self.prepare = prepare
        self.finish = finish
        self.squeeze = squeeze
        self._col_runs = runs(self.cols.source(unit.j_lo, unit.j_lo + unit.nj))
        self._local = threading.local()

    def _compute(self, o0: int, o1: int, dst: np.ndarray) -> None:
        blk, q0 = self._block(*self.unit.block_rows(o0, o1), self.unit.repeat, self.unit.trim)
        self.unit.strip(o0, o1, blk, q0, dst, self.scratch)
        if self.finish is not None:
            self.finish(o0, o1, dst)

    def _block(self, o0: int, o1: int, repeat: int = 1, trim: bool = False) -> tuple[np.ndarray, int]:
        """The input rows strip ``[o0, o1)`` needs, gathered into a float block (ni, nj, C), and
        the first q. With ``repeat`` > 1 the block is (ni, nj, repeat, C), every pixel repeated:
        filled straight from the image when no ``prepare`` step must see the block first.

        With ``trim``, only the rows that are not zero (the image and its edge extension): a
        kernel far taller than the image then gathers the image, not the kernel's reach of
        zeros. The block's row 0 is input row ``q0 - reach`` all the same."""
        r = self.rows
        q0, q1 = r.q(o0), r.q(o1 - 1)
        i_lo, i_hi = q0 - r.reach, q1
        if trim:
            lo, hi = max(i_lo, -r.ext[0]), min(i_hi, r.n_in - 1 + r.ext[1])
            i_lo, i_hi = (lo, hi) if lo <= hi else (lo, lo)  # no such rows: one row, never read
            q0 = i_lo + r.reach
        ni = i_hi - i_lo + 1
        nj, C = self.unit.nj, self.channels
        direct = repeat > 1 and self.prepare is None
        blk = self.scratch("rep" if direct else "block", (ni, nj, repeat, C) if direct else (ni, nj, C))
        x = self.x
        inside = i_lo >= 0 and i_lo + ni <= r.n_in  # the common case: one run of real rows
        for a0, a1, s0 in [(0, ni, i_lo)] if inside else runs(r.source(i_lo, i_lo + ni)):
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
        if self.prepare is not None:
            self.prepare(blk)
        if repeat > 1:
            rep = self.scratch("rep", (ni, nj, repeat, C))
            for t in range(repeat):
                for ch in range(C):
                    rep[:, :, t, ch] = blk[:, :, ch]
            return rep, q0
        return blk, q0


class Sum(Strips):
    """Strips that are sums of other plans' strips: each part's strip is added into a range of
    the output's channels (a learned layer: one part per input channel, into its group's
    outputs), then an optional ``finish`` step; one strip of each part at a time, never a
    part's whole output.

    Every part has the same rows and columns (``shape[:2]``); the parts' own strip heights and
    threads are not used: the sum runs strips of :attr:`strip_rows` on :attr:`threads`.
    """

    def __init__(
        self,
        parts: list[tuple[Plan, slice]],
        channels: int,
        *,
        finish: Finish | None = None,
        strip_rows: int | None = None,
        threads: int | None = None,
        squeeze: bool = False,
    ):
        first = parts[0][0]
        if any(p.shape[:2] != first.shape[:2] or p.dtype != first.dtype for p, _ in parts):
            raise ValueError("the parts of a sum must have the same rows, columns and dtype")
        self.parts = parts
        self.method = first.method
        self.shape = first.shape[:2] + (channels,)
        self.dtype = first.dtype
        self.strip_rows = first.strip_rows if strip_rows is None else max(1, int(strip_rows))
        self.threads = first.threads if threads is None else max(1, int(threads))
        self.finish = finish
        self.squeeze = squeeze
        self._local = threading.local()
        for part, _ in parts:  # they run one after another within a strip: one set of buffers per thread
            part._local = self._local

    def _compute(self, o0: int, o1: int, dst: np.ndarray) -> None:
        parts = self.parts
        first = parts[0][0]
        if first.shape[2] == self.shape[2] and dst.flags.c_contiguous:  # it covers every channel: no zeroing
            first._compute(o0, o1, dst)
            parts = parts[1:]
        else:
            dst[...] = 0
        for part, where in parts:
            tmp = self.scratch("sum_part", (o1 - o0,) + part.shape[1:])
            part._compute(o0, o1, tmp)
            dst[:, :, where] += tmp
        if self.finish is not None:
            self.finish(o0, o1, dst)
