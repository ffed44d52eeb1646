"""``terms``: the kernel as a few outer products, computed as whole-row elementwise passes.

The columns' phases are interleaved once per strip by repeating every block pixel
``sx`` times; a horizontal pass multiplies the repeated rows by per-column weight rows
(so every op runs over long contiguous rows), and a vertical pass adds the rows of each
row phase. A kernel that splits exactly into ``r`` outer products (:func:`exact_terms`;
a separable one has ``r = 1``) costs ``r`` horizontal passes instead of one per kernel row.
"""

from __future__ import annotations

import numpy as np

from .base import Method, Problem, Scratch, phase_rows, taps_per_phase

Split = list[tuple[np.ndarray, np.ndarray]]
#: A vertical weight: one number for every column, or a row of them (per-channel kernels).
Weight = float | np.ndarray


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


def split(problem: Problem) -> Split:
    """``[(a, b)]`` with ``kernel[p] = sum(outer(a[p], b[p]))``, ``a``: (P, kh), ``b``: (P, kw).

    One term per non-zero kernel row, unless a shared kernel splits exactly into fewer
    outer products (:func:`exact_terms`): a separable kernel is one term.
    """
    k = problem.kernel
    kh = k.shape[1]
    direct = []
    for u in range(kh):
        if np.any(k[:, u]):
            a = np.zeros((k.shape[0], kh))
            a[:, u] = 1.0
            direct.append((a, k[:, u].copy()))
    if k.shape[0] == 1 and k[0].size <= 4096:  # the split's search grows with the kernel
        found = exact_terms(k[0], problem.dtype, max_terms=min(len(direct) - 1, 8))
        if found is not None:
            return [(a[None], b[None]) for a, b in found]
    return direct


class Terms(Method):
    name = "terms"

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float] | None:
        """A repeat of the block (sx copies), then per term a horizontal pass over the block's
        rows, then per output row the additions of its phase's term rows."""
        r, c = problem.rows, problem.cols
        kh, kw = problem.kernel.shape[1:]
        terms = problem.remember("terms", lambda: split(problem))
        shifts = min(taps_per_phase(kw, c.stride), c.reach + 1)
        if len(terms) * shifts * problem.row_len * problem.dtype.itemsize > problem.setup_bytes:
            return None
        ntaps_y = taps_per_phase(kh, r.stride)
        diagonal = all(np.count_nonzero(a) == a.shape[0] for a, _ in terms)  # one term per kernel row
        vertical = ntaps_y if diagonal else len(terms) * ntaps_y + len(terms) / r.stride
        return {
            "copy": (1.0 if c.stride > 1 else 0.0) / r.stride,
            "ew": len(terms) * (2 * shifts - 1) / r.stride + vertical,
        }

    def __init__(self, problem: Problem):
        super().__init__(problem)
        r, c = problem.rows, problem.cols
        C, dt = problem.channels, problem.dtype
        kw = problem.kernel.shape[2]
        self.repeat = c.stride
        phases_x = c.phase(np.arange(c.n_out))  # (n_out,)
        taps_x = c.taps
        self.terms: list[tuple[list[tuple[int, np.ndarray]], list[list[tuple[int, Weight]]]]] = []
        for a, b in problem.remember("terms", lambda: split(problem)):
            # weight rows: w[m][o*C + ch] = b[ch][v] for the tap v of o's phase with that m
            per_m: dict[int, np.ndarray] = {}
            for ph in range(c.stride):
                cols_of_phase = phases_x == ph
                if not cols_of_phase.any():
                    continue
                for v, m in taps_x[ph]:
                    if v >= kw or not np.any(b[:, v]):
                        continue
                    row = per_m.setdefault(m, np.zeros((c.n_out, C)))
                    row[cols_of_phase] = b[:, v] if b.shape[0] == C else b[0, v]
            wrows = [(m, row.reshape(-1).astype(dt)) for m, row in sorted(per_m.items())]
            offsets = [((c.start % c.stride) + (c.reach - m) * c.stride) * C for m, _ in wrows]
            # vertical weights: per row phase, [(m_u, scalar or row)]
            vert: list[list[tuple[int, Weight]]] = []
            for ph in range(r.stride):
                lst: list[tuple[int, Weight]] = []
                for u, m in r.taps[ph]:
                    w = a[:, u]
                    if not np.any(w):
                        continue
                    if a.shape[0] == 1 or np.all(w == w[0]):
                        lst.append((m, float(w[0])))
                    else:
                        lst.append((m, np.tile(w, c.n_out).astype(dt)))
                vert.append(lst)
            if wrows and any(vert):
                self.terms.append((list(zip(offsets, [w for _, w in wrows], strict=True)), vert))

    def strip(self, o0: int, o1: int, rep: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        """Horizontal pass per term over the repeated block's rows, then per output row the sum
        of the term rows its phase's taps select; a vertical weight other than 1 is applied once
        per strip to a copy of the term's rows, so the sums are plain additions."""
        r = self.problem.rows
        L = self.problem.row_len
        ni = rep.shape[0]
        flat = rep.reshape(ni, -1)
        out2 = dst.reshape(o1 - o0, L)
        tmp = scratch("tmp", (ni, L))
        hsum = scratch("h", (ni, L))
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
            for ph, k, nq, qa in phase_rows(r, o0, o1):
                view = out2[k :: r.stride]
                sources = []
                for m, wt in vert[ph]:
                    key = wt if isinstance(wt, float) else id(wt)
                    rows_h: np.ndarray | None
                    if key == 1.0:
                        rows_h = hsum
                    elif key in scaled:
                        rows_h = scaled[key]
                    elif len(scaled) < 4:
                        rows_h = scaled[key] = scratch(f"scaled{len(scaled)}", (ni, L))
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
        for ph, k, _, _ in phase_rows(r, o0, o1):
            if not written[ph]:
                out2[k :: r.stride] = 0
