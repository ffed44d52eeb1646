"""``terms``: the kernel as a few outer products, computed as whole-row elementwise passes.

The columns' phases are interleaved once per strip by repeating every block pixel
``sx`` times; a horizontal pass multiplies the repeated rows by weight rows (so every op
runs over long contiguous runs), and a vertical pass adds the rows of each row phase. The
weights repeat with the column phase, so a weight row is one chunk of a few thousand
elements (:class:`Layout`) that every chunk of a row reuses: the set-up grows with the
kernel, not with the image. A kernel that splits exactly into ``r`` outer products
(:func:`exact_terms`; a separable one has ``r = 1``) costs ``r`` horizontal passes instead
of one per kernel row; the split is counted without building its terms (:class:`Split`),
so the cost model's question costs ``O(taps)`` however long the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .base import STRIP_ELEMENTS, Method, Problem, Scratch, phase_rows, taps_per_phase, unreached

#: Kernels of at most this many taps are searched for an exact split (the search grows with them).
EXACT_SEARCH_TAPS = 4096
#: Elements of a weight row (one chunk of the repeated row; the horizontal pass runs chunk by chunk).
CHUNK_ELEMENTS = 1 << 13
#: Bytes a weight row costs beyond its elements (the array and the lists holding it).
ROW_OVERHEAD = 256


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


class Split:
    """The kernel as terms ``kernel[p] = sum(outer(a, b[p]))``, kept compact: made and counted in
    ``O(taps)``, each term built only when iterated.

    One term per non-zero kernel row (``a`` picks the row), unless a shared kernel splits exactly
    into fewer outer products (:func:`exact_terms`): a separable kernel is one term.
    """

    def __init__(self, kernel: np.ndarray, dtype: np.dtype):
        self.kernel = kernel
        self.used = np.any(kernel != 0, axis=(0, 2))  # the non-zero rows: one byte a row
        self.rows = int(np.count_nonzero(self.used))
        self.exact: list[tuple[np.ndarray, np.ndarray]] | None = None
        if kernel.shape[0] == 1 and kernel[0].size <= EXACT_SEARCH_TAPS and self.rows > 1:
            self.exact = exact_terms(kernel[0], dtype, max_terms=min(self.rows - 1, 8))

    def __len__(self) -> int:
        return self.rows if self.exact is None else len(self.exact)

    @property
    def diagonal(self) -> bool:
        """Every term reads one kernel row (the vertical pass then adds rows with no weights)."""
        return self.exact is None or all(np.count_nonzero(a) == 1 for a, _ in self.exact)

    def __iter__(self) -> Iterator[tuple[list[tuple[int, float]], np.ndarray]]:
        """Per term: its kernel rows ``[(u, a[u])]`` (non-zero weights only) and ``b``, (P, kw)."""
        if self.exact is None:
            for u in np.flatnonzero(self.used):
                yield [(int(u), 1.0)], self.kernel[:, u]
        else:
            for a, b in self.exact:
                yield [(int(u), float(a[u])) for u in np.flatnonzero(a)], b[None]


def split(problem: Problem) -> Split:
    """The problem's kernel as terms (:class:`Split`), worked out once per problem."""
    return problem.remember("terms", lambda: Split(problem.kernel, problem.dtype))


@dataclass(frozen=True)
class Layout:
    """Where the horizontal pass's rows lie: the ``G`` input columns (q) the output row spans,
    repeated ``s*C`` times each, cut into ``chunks`` runs of ``chunk`` elements (whole q's,
    ``G`` rounded up) so that a weight row is one chunk long, whatever the image's width. An
    output row is ``row[offset : offset + row_len]`` of the ``width``-element rows."""

    groups: int
    chunks: int
    chunk: int
    offset: int

    @classmethod
    def of(cls, problem: Problem) -> Layout:
        c = problem.cols
        sc = c.stride * problem.channels
        groups = c.q(c.n_out - 1) - c.q(0) + 1
        chunks = -(-groups // max(1, CHUNK_ELEMENTS // sc))
        per = -(-groups // chunks)
        return cls(chunks * per, chunks, per * sc, (c.start % c.stride) * problem.channels)

    @property
    def width(self) -> int:
        return self.chunks * self.chunk


class Terms(Method):
    name = "terms"
    #: Half the default: ``terms`` holds four block-sized rows of scratch beside its strip, so
    #: its strips cost ~3.5x their own size per thread. At half the height it computes as fast
    #: (bilinear 4x4 s2 on 3x1080x1920: 44- and 88-row strips within the noise, 18-21 ms on
    #: 2 threads) and a 4000x4000 -> 8000x8000 PNG peaks 11 MB lower (bench/README.md).
    strip_elements = STRIP_ELEMENTS // 2

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float] | None:
        """A repeat of the block (sx copies), then per term a horizontal pass over the block's
        rows, then per output row the additions of its phase's term rows."""
        r, c = problem.rows, problem.cols
        kh, kw = problem.kernel.shape[1:]
        terms = split(problem)
        lay = Layout.of(problem)
        shifts = min(taps_per_phase(kw, c.stride), c.reach + 1)
        rows_built = len(terms) * min(kw, c.reach + 1)  # weight rows, at most
        if rows_built * (lay.chunk * problem.dtype.itemsize + ROW_OVERHEAD) > problem.setup_bytes:
            return None
        ntaps_y = taps_per_phase(kh, r.stride)
        vertical = ntaps_y if terms.diagonal else len(terms) * ntaps_y + len(terms) / r.stride
        # the horizontal passes run over the block's rows (a strip's rows and the kernel's reach
        # above them) and the repeated row's width: per output element, that much more
        q_rows = max(1, min(cls.strip_elements // max(1, problem.row_len), -(-r.n_out // 4)) // r.stride)
        more = (q_rows + r.reach) / q_rows * lay.width / problem.row_len
        return {
            "copy": (1.0 if c.stride > 1 else 0.0) / r.stride * more,
            "ew": len(terms) * (2 * shifts - 1) / r.stride * more + vertical,
        }

    def __init__(self, problem: Problem):
        super().__init__(problem)
        r, c = problem.rows, problem.cols
        C, dt = problem.channels, problem.dtype
        s, sc = c.stride, c.stride * problem.channels
        self.repeat = s
        self.layout = lay = Layout.of(problem)
        self.nj = lay.groups + c.reach  # from j_lo = q(0) - reach: the q's of the chunks and the reach
        reps = lay.chunk // sc
        self.terms: list[tuple[list[tuple[int, np.ndarray]], dict[int, list[tuple[int, float]]]]] = []
        for rows_a, b in split(problem):
            # weight rows, one chunk each: w[m][(q*s + ph)*C + ch] = b[ch][v] for the tap v of phase ph with that m
            vs = np.flatnonzero(np.any(b != 0, axis=0))
            phs = vs * c.dilation % s
            ms = (vs * c.dilation - phs) // s
            wrows = []
            for m in sorted(set(ms.tolist())):  # not np.unique: it imports numpy.ma (~9 ms of start-up)
                pattern = np.zeros((s, C))
                sel = ms == m
                pattern[phs[sel]] = b[:, vs[sel]].T  # (taps, P) into (taps, C): P = 1 broadcasts
                wrows.append(((c.reach - int(m)) * sc, np.tile(pattern.reshape(-1), reps).astype(dt)))
            # vertical weights: per row phase, [(m_u, weight)]
            vert: dict[int, list[tuple[int, float]]] = {}
            for u, weight in rows_a:
                ph = u * r.dilation % r.stride
                vert.setdefault(ph, []).append(((u * r.dilation - ph) // r.stride, weight))
            if wrows and vert:
                self.terms.append((wrows, vert))

    def strip(self, o0: int, o1: int, rep: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        """Horizontal pass per term over the repeated block's rows, then per output row the sum
        of the term rows its phase's taps select; a vertical weight other than 1 is applied once
        per strip to a copy of the term's rows, so the sums are plain additions."""
        r = self.problem.rows
        L = self.problem.row_len
        lay = self.layout
        width, off0 = lay.width, lay.offset
        ni = rep.shape[0]
        flat = rep.reshape(ni, -1)
        out2 = dst.reshape(o1 - o0, L)
        tmp = scratch("tmp", (ni, width))
        hsum = scratch("h", (ni, width))
        chunked = (ni, lay.chunks, lay.chunk)
        written: set[int] = set()  # the row phases whose output rows hold a sum already
        base = q0 - r.reach  # input row of hsum's row 0
        if unreached(r, o0, o1):
            dst[...] = 0  # rows of phases no tap reaches
        for wrows, vert in self.terms:
            for n, (off, w) in enumerate(wrows):
                src = flat[:, off : off + width].reshape(chunked)  # a view: whole chunks of each row
                if n == 0:
                    np.multiply(src, w, out=hsum.reshape(chunked))
                else:
                    np.multiply(src, w, out=tmp.reshape(chunked))
                    hsum += tmp
            scaled: dict[float, np.ndarray] = {}
            for ph, k, nq, qa in phase_rows(r, o0, o1, reached=True):
                view = out2[k :: r.stride]
                sources = []
                for m, wt in vert.get(ph, ()):
                    rows_h: np.ndarray | None
                    if wt == 1.0:
                        rows_h = hsum
                    elif wt in scaled:
                        rows_h = scaled[wt]
                    elif len(scaled) < 4:
                        rows_h = scaled[wt] = scratch(f"scaled{len(scaled)}", (ni, width))
                        np.multiply(hsum, wt, out=rows_h)
                    else:  # many distinct weights: scale just these rows
                        rows_h = None
                    if rows_h is None:  # a fresh array each: a shared scratch would be overwritten by the next source
                        sources.append(np.multiply(hsum[qa - m - base :][:nq, off0 : off0 + L], wt))
                    else:
                        sources.append(rows_h[qa - m - base :][:nq, off0 : off0 + L])
                if not sources:
                    continue
                first = 0
                if ph not in written:
                    if len(sources) == 1:
                        np.copyto(view, sources[0])
                    else:
                        np.add(sources[0], sources[1], out=view)
                        first = 1
                    first += 1
                    written.add(ph)
                for src in sources[first:]:
                    view += src
        for ph, k, _, _ in phase_rows(r, o0, o1, reached=True):
            if ph not in written:
                out2[k :: r.stride] = 0
