"""What a kernel does where: stride-phase sums, the taps and weight reaching each output
pixel, the border that gets fewer of them, and the factors that make up for it.

One question underlies all of it: which kernel taps reach output ``o`` of an
axis, and which of those bring a real input pixel. :class:`Reach` answers it
per axis; :func:`interior_weight` and :func:`received_weight` turn the answer
into kernel weight, and every user (``--edge renormalize``, ``--crop auto``,
``deconv inspect``, :func:`coverage`) goes through them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DeconvError
from ..modes import Edge
from .geometry import AxisSize, Box, Crop, as_pair, size_math


@dataclass(frozen=True)
class PhaseReport:
    """Per-phase kernel sums: what a constant image of value 1 becomes in the interior."""

    sums: np.ndarray  # (sy, sx)

    @property
    def lo(self) -> float:
        return float(self.sums.min())

    @property
    def hi(self) -> float:
        return float(self.sums.max())

    @property
    def flat(self) -> bool:
        """True when every phase sums alike, so a constant image comes out flat."""
        return alike(self.lo, self.hi)

    @property
    def amplitude(self) -> float:
        """max/min of the phase sums (inf when the smallest is <= 0 and they differ)."""
        return _amplitude(self.lo, self.hi, self.flat)


def alike(lo: float, hi: float) -> bool:
    """Phase sums from ``lo`` to ``hi`` are equal but for rounding (a relative 1e-6)."""
    return hi - lo <= 1e-6 * max(1.0, abs(lo), abs(hi))


def _amplitude(lo: float, hi: float, flat: bool) -> float:
    if flat:
        return 1.0
    return hi / lo if lo > 0 else math.inf


def phase_sums(kernel, stride: object = 2, dilation: object = 1) -> PhaseReport:
    """Sum of the kernel taps that land on each stride phase of the output.

    A constant image ``c`` comes out as ``c * sums[(o + p) % s]`` away from the
    borders, so unequal sums draw a checkerboard.

    Parameters
    ----------
    kernel : (kh, kw) array_like
    stride, dilation : int or (int, int)

    Returns
    -------
    PhaseReport
        ``sums`` has shape (sy, sx); ``sums[r, c]`` gathers taps ``(u, v)``
        with ``u*dy % sy == r`` and ``v*dx % sx == c``.

    Examples
    --------
    >>> phase_sums(np.ones((3, 3)), 2).sums.tolist()
    [[4.0, 2.0], [2.0, 1.0]]
    >>> phase_sums([[0.25, 0.75, 0.75, 0.25]], (1, 2)).flat
    True
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2:
        raise DeconvError(f"phase sums need a 2-D kernel, got shape {k.shape}", usage=True)
    (sy, sx), (dy, dx) = as_pair(stride, "stride"), as_pair(dilation, "dilation")
    if min(sy, sx, dy, dx) < 1:
        raise DeconvError("stride and dilation must be >= 1", usage=True)
    if sy * sx > MAX_PHASE_GRID:
        raise DeconvError(
            f"stride {sy},{sx} has {sy * sx} phases, more than the {MAX_PHASE_GRID} whose sums deconv lists; "
            "phase_range gives their smallest and largest sum",
            usage=True,
        )
    rows = _of_phase(np.arange(sy), sy, dy, k.shape[0])
    cols = _of_phase(np.arange(sx), sx, dx, k.shape[1])
    return PhaseReport(interior_weight(rows, cols, k))


#: The most stride phases (sy * sx) whose sums deconv holds as a grid; beyond it (a kernel far
#: shorter than a huge stride) only :func:`phase_range` is computed, from the taps themselves.
MAX_PHASE_GRID = 1 << 16


@dataclass(frozen=True)
class PhaseRange:
    """The smallest and largest stride-phase sum of a (kh, kw) kernel, found from its taps alone
    (never a (sy, sx) grid): ``reached`` of the ``phases`` = sy * sx phases get a tap; a phase
    that gets none sums to 0."""

    lo: float
    hi: float
    reached: int
    phases: int
    sums = None  # no grid: there may be billions of phases

    @property
    def flat(self) -> bool:
        return alike(self.lo, self.hi)  # an unreached phase's 0 is already within lo..hi

    @property
    def amplitude(self) -> float:
        return _amplitude(self.lo, self.hi, self.flat)


def phase_report(kernel, stride: object = 2, dilation: object = 1) -> PhaseReport | PhaseRange:
    """:func:`phase_sums` when the stride has at most :data:`MAX_PHASE_GRID` phases, else
    :func:`phase_range` (the same ``lo``, ``hi``, ``flat`` and ``amplitude``, no grid)."""
    sy, sx = as_pair(stride, "stride")
    return phase_sums(kernel, stride, dilation) if sy * sx <= MAX_PHASE_GRID else phase_range(kernel, stride, dilation)


def tap_phases(n: int, stride: int, dilation: int) -> np.ndarray:
    """(n,) the stride phase each of a kernel axis' n taps lands on: tap u is u*d rows after its
    input pixel's first output, so on phase (u*d) mod s.

    >>> tap_phases(5, 2, 1).tolist(), tap_phases(3, 4, 2).tolist()
    ([0, 1, 0, 1, 0], [0, 2, 0])
    """
    return (np.arange(n, dtype=np.int64) * dilation) % stride


def phase_range(kernel, stride: object = 2, dilation: object = 1) -> PhaseRange:
    """:class:`PhaseRange` of a (kh, kw) kernel: work and memory grow with its taps, not with the stride.

    >>> phase_range(np.ones((3, 3)), 2)
    PhaseRange(lo=1.0, hi=4.0, reached=4, phases=4)
    >>> phase_range(np.ones((1, 1)), 65536)
    PhaseRange(lo=0.0, hi=1.0, reached=1, phases=4294967296)
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2:
        raise DeconvError(f"phase sums need a 2-D kernel, got shape {k.shape}", usage=True)
    (sy, sx), (dy, dx) = as_pair(stride, "stride"), as_pair(dilation, "dilation")
    ry, rx = tap_phases(k.shape[0], sy, dy), tap_phases(k.shape[1], sx, dx)
    keys = (ry[:, None] * sx + rx[None, :]).ravel()
    found, index = np.unique(keys, return_inverse=True)
    sums = np.bincount(index.ravel(), weights=k.ravel(), minlength=len(found))
    phases = sy * sx
    lo, hi = float(sums.min()), float(sums.max())
    if len(found) < phases:  # some phase gets no tap at all: it sums to 0
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    return PhaseRange(lo, hi, int(len(found)), phases)


def _of_phase(f: np.ndarray, stride: int, dilation: int, k: int) -> np.ndarray:
    """(len(f), k) bool: tap u reaches full-grid position f from some input (``(f - u*d) % s == 0``)."""
    return (f[:, None] - np.arange(k)[None, :] * dilation) % stride == 0


@dataclass(frozen=True)
class Reach:
    """Which kernel taps reach each output position of one axis.

    Output ``o`` lies at ``f = o + start`` on the full grid, where input ``i``
    lands through tap ``u`` at ``f = i*s + u*d``. ``of_phase[o, u]``: tap u
    belongs to o's stride phase, so it reaches o in the interior of an image
    large enough; ``lands[o, u]``: it also brings a real input (``0 <= i <
    n_in``), as under zero edges. Both are (n_out, k) bool.

    >>> r = Reach.of(AxisSize.compute("rows", 3, 3, stride=1))
    >>> r.lands.sum(axis=1).tolist(), r.of_phase.sum(axis=1).tolist()
    ([1, 2, 3, 2, 1], [3, 3, 3, 3, 3])
    """

    of_phase: np.ndarray
    lands: np.ndarray

    @classmethod
    def of(cls, axis: AxisSize, lo: int = 0, hi: int = 0) -> Reach:
        """The reach of ``axis``'s outputs, of the window left after cutting ``lo`` and ``hi`` from its ends."""
        f = np.arange(lo, axis.n_out - hi) + axis.padding
        of_phase = _of_phase(f, axis.stride, axis.dilation, axis.kernel)
        i = (f[:, None] - np.arange(axis.kernel)[None, :] * axis.dilation) // axis.stride
        return cls(of_phase, of_phase & (i >= 0) & (i < axis.n_in))

    def complete(self, support) -> np.ndarray:
        """(n_out,) bool: every tap in ``support`` ((k,) bool) of the output's phase lands, as in the interior."""
        needed = self.of_phase & np.asarray(support, bool)[None, :]
        return np.all(self.lands | ~needed, axis=1)

    def rows(self, index) -> Reach:
        """The reach of some of the outputs only."""
        return Reach(self.of_phase[index], self.lands[index])


def interior_weight(rows: np.ndarray | Reach, cols: np.ndarray | Reach, plane) -> np.ndarray:
    """Kernel weight an interior pixel of each output's stride phase receives: ``(n_rows, n_cols)``.

    ``rows`` and ``cols`` are :class:`Reach` (or their ``of_phase`` arrays);
    ``plane`` is a (kh, kw) kernel (its support as 0/1 gives the tap count).
    """
    r = rows.of_phase if isinstance(rows, Reach) else rows
    c = cols.of_phase if isinstance(cols, Reach) else cols
    return r.astype(np.float64) @ np.asarray(plane, np.float64) @ c.T.astype(np.float64)


def received_weight(rows: Reach, cols: Reach, plane) -> np.ndarray:
    """Kernel weight that reaches each output from real input pixels, under zero edges: ``(n_rows, n_cols)``."""
    return rows.lands.astype(np.float64) @ np.asarray(plane, np.float64) @ cols.lands.T.astype(np.float64)


@dataclass(frozen=True)
class Coverage:
    """What reaches each output pixel of the plain (zero-edge) operation.

    ``taps`` and ``weight`` are what an output pixel receives from an image of
    ones; ``full_taps`` and ``full_weight`` what an interior pixel of the same
    stride phase receives. A pixel is *complete* when ``taps == full_taps``.
    All four are (H_out, W_out) arrays of float64 (taps hold whole numbers).
    For a per-channel kernel the weights are averaged over the channels and a
    tap counts when it is non-zero in any channel.
    """

    taps: np.ndarray
    full_taps: np.ndarray
    weight: np.ndarray
    full_weight: np.ndarray

    @property
    def complete(self) -> np.ndarray:
        """(H_out, W_out) bool: the pixel received every tap an interior pixel of its phase gets."""
        return self.taps >= self.full_taps

    @property
    def ratio(self) -> np.ndarray:
        """weight / full_weight: 1 in the interior; below 1 where a border lost positive taps.

        Where the phase's interior weight is 0 the ratio is 1 if nothing arrived either, else inf.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            r = self.weight / self.full_weight
        same = np.isclose(self.weight, self.full_weight, rtol=1e-9, atol=1e-12)
        return np.where(same, 1.0, r)


def coverage(
    n_in: object,
    kernel,
    stride: object = 1,
    padding: object = 0,
    output_padding: object = 0,
    dilation: object = 1,
) -> Coverage:
    """Taps and kernel weight that reach every output pixel, and what the interior gets.

    Parameters
    ----------
    n_in : int or (int, int)
        Input size (rows, cols).
    kernel : (kh, kw) or (C, kh, kw) array_like
    stride, padding, output_padding, dilation : int or (int, int)

    Returns
    -------
    Coverage

    Examples
    --------
    >>> c = coverage(3, np.ones((3, 3)))
    >>> c.taps[0].tolist(), c.full_taps[0].tolist()
    ([1.0, 2.0, 3.0, 2.0, 1.0], [9.0, 9.0, 9.0, 9.0, 9.0])
    >>> k = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    >>> coverage(4, k, 2, 1).ratio[0].tolist()
    [0.5625, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.5625]
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim not in (2, 3):
        raise DeconvError(f"coverage needs a (kh, kw) or (C, kh, kw) kernel, got shape {k.shape}", usage=True)
    return coverage_of(size_math(n_in, k.shape[-2:], stride, padding, output_padding, dilation), k)


def coverage_of(axes: tuple[AxisSize, AxisSize], kernel) -> Coverage:
    """:func:`coverage` from the size math of both axes, on the output a same padding's trims leave.

    >>> coverage_of(size_math(3, 3, 2, "same"), np.ones((3, 3))).taps.shape
    (6, 6)
    """
    k = np.asarray(kernel, dtype=np.float64)
    planes = k[None] if k.ndim == 2 else k
    mean = planes.mean(axis=0)
    support = np.any(planes != 0, axis=0).astype(np.float64)
    ry, rx = (Reach.of(a, a.trim_start, a.trim_end) for a in axes)
    return Coverage(
        taps=np.rint(received_weight(ry, rx, support)),
        full_taps=interior_weight(ry, rx, support),
        weight=received_weight(ry, rx, mean),
        full_weight=interior_weight(ry, rx, mean),
    )


def _support(kernel) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) bool: which kernel rows and columns hold a non-zero tap in any plane."""
    nz = np.asarray(kernel) != 0
    rows = nz.any(axis=tuple(a for a in range(nz.ndim) if a != nz.ndim - 2))
    cols = nz.any(axis=tuple(range(nz.ndim - 1)))
    return rows, cols


def deficient_border(axis: AxisSize, support) -> tuple[int, int]:
    """Output rows (or columns) at the start and at the end of one axis that receive
    fewer kernel taps than an interior pixel of their stride phase, under zero edges;
    counted on what a same padding's trims leave (:attr:`AxisSize.kept`), as a crop is.

    Parameters
    ----------
    axis : AxisSize
    support : (k,) array_like of bool
        Which taps along this axis carry any non-zero weight (zero taps
        contribute nothing, so they do not count).

    Returns
    -------
    (before, after) : (int, int)
        Cropping these many from each end leaves only fully covered pixels.

    Examples
    --------
    >>> deficient_border(AxisSize.compute("rows", 10, 4, stride=2), [True] * 4)
    (2, 2)
    >>> deficient_border(AxisSize.compute("rows", 10, 4, stride=2, padding=1), [True] * 4)
    (1, 1)
    """
    # Work and memory grow with the kernel's taps, not with the output (a Reach of the whole axis
    # would be n_out x k). Output o sits at f = o + f0 on the full grid; it is short when a tap u of
    # its phase (u*d = f mod s) brings no input: f < u*d (before the first input) or
    # f > (n_in - 1)*s + u*d (after the last). Per phase q that is f < hi_u(q)*d or f > last + lo_u(q)*d.
    s, d = axis.stride, axis.dilation
    taps = np.flatnonzero(np.asarray(support, bool)).astype(np.int64)
    n = axis.kept
    if n <= 0 or taps.size == 0:
        return 0, 0
    phase = (taps * d) % s
    q, index = np.unique(phase, return_inverse=True)
    first = np.full(q.size, np.iinfo(np.int64).max, np.int64)
    last = np.full(q.size, -1, np.int64)
    np.minimum.at(first, index, taps)
    np.maximum.at(last, index, taps)
    starts = last * d  # f below this is short (the phase's last tap reads before the first input)
    ends = (axis.n_in - 1) * s + first * d  # f above this is short (its first tap reads past the last input)
    f0 = axis.trim_start + axis.padding
    mid = f0 + (n + 1) // 2  # the first f of the second half (o >= n/2)
    f_end = f0 + n - 1

    def largest(lo, hi):  # the largest f in [lo, hi] of each phase, or -1
        f = hi - ((hi - q) % s)
        return np.where(f >= lo, f, -1)

    def smallest(lo, hi):  # the smallest f in [lo, hi] of each phase, or a value past f_end
        f = lo + ((q - lo) % s)
        return np.where(f <= hi, f, f_end + 1)

    head = np.maximum(largest(f0, np.minimum(starts - 1, mid - 1)), largest(np.maximum(ends + 1, f0), mid - 1))
    tail = np.minimum(smallest(mid, np.minimum(starts - 1, f_end)), smallest(np.maximum(ends + 1, mid), f_end))
    before = int(head.max() - f0 + 1) if head.max() >= f0 else 0
    after = int(f_end - tail.min() + 1) if tail.min() <= f_end else 0
    return before, after


def auto_crop(axes: tuple[AxisSize, AxisSize], kernel) -> Box:
    """(top, bottom, left, right): the border rows and columns that receive fewer
    kernel taps than the interior under zero edges (see :func:`deficient_border`).

    >>> auto_crop(size_math(10, 4, 2, 1), np.ones((4, 4)))
    (1, 1, 1, 1)
    """
    rows_support, cols_support = _support(kernel)
    top, bottom = deficient_border(axes[0], rows_support)
    left, right = deficient_border(axes[1], cols_support)
    return top, bottom, left, right


def crop_box(crop: Crop, axes: tuple[AxisSize, AxisSize], kernel, edge: Edge) -> Box:
    """What ``crop`` cuts from this output, (top, bottom, left, right): its box, or for ``auto``
    the deficient border (:func:`auto_crop`), which the extending edges (replicate, reflect,
    wrap) leave empty: every kept pixel already receives all its taps.

    >>> axes, auto, k = size_math(10, 4, 2, 1), Crop(auto=True), np.ones((4, 4))
    >>> crop_box(auto, axes, k, Edge.zero), crop_box(auto, axes, k, Edge.wrap)
    ((1, 1, 1, 1), (0, 0, 0, 0))
    """
    if not crop.auto:
        return crop.box
    return (0, 0, 0, 0) if edge.pad_mode else auto_crop(axes, kernel)


@dataclass(frozen=True)
class Renormalization:
    """Factors (interior phase weight) / (weight received) for the pixels of an output window
    that did not receive every tap; every other pixel is left alone.

    ``rows``: output row -> (n_cols, P) factors for a whole deficient row;
    ``cols``: the deficient columns, ``col_factors`` (sy, len(cols), P) for them in the
    complete rows, by row phase. ``P`` is 1 (a shared kernel) or the channels.
    """

    rows: dict[int, np.ndarray]
    cols: np.ndarray
    col_factors: np.ndarray | None
    row_phase: np.ndarray  # (n_rows,) the stride phase of each output row

    def apply(self, o0: int, o1: int, dst: np.ndarray) -> None:
        """Multiply the deficient pixels of output rows ``[o0, o1)`` (``dst``: (rows, cols, C)) by their factors."""
        for o in range(o0, o1):
            f = self.rows.get(o)
            if f is not None:
                dst[o - o0] *= f
            elif self.col_factors is not None:
                dst[o - o0, self.cols] *= self.col_factors[self.row_phase[o]]


def renormalization(axes: tuple[AxisSize, AxisSize], kernel: np.ndarray, crop: Box, dtype) -> Renormalization:
    """The :class:`Renormalization` of the output window ``crop`` leaves, for a (P, kh, kw) kernel."""
    k = np.asarray(kernel, np.float64)
    top, bottom, left, right = crop
    ry, rx = Reach.of(axes[0], top, bottom), Reach.of(axes[1], left, right)
    rows_support, cols_support = _support(k)
    bad_rows = np.flatnonzero(~ry.complete(rows_support))
    bad_cols = np.flatnonzero(~rx.complete(cols_support))
    tiny = 1e-9 * float(np.abs(k).max())
    row_factors: dict[int, np.ndarray] = {}
    col_factors = None
    if len(bad_rows):
        sub = ry.rows(bad_rows)
        fac = _ratio(
            np.stack([interior_weight(sub, rx, p) for p in k], -1),
            np.stack([received_weight(sub, rx, p) for p in k], -1),
            tiny,
        ).astype(dtype)
        row_factors = {int(o): fac[n] for n, o in enumerate(bad_rows)}
    sy = axes[0].stride
    if len(bad_cols):
        # a complete row of phase ph receives every tap of that phase: its landing row is its phase row
        phase_rows = _of_phase(np.arange(sy), sy, axes[0].dilation, axes[0].kernel)
        sub = rx.rows(bad_cols)
        interior = np.stack([interior_weight(phase_rows, sub, p) for p in k], -1)
        col_factors = _ratio(interior, np.stack([phase_rows.astype(np.float64) @ p @ sub.lands.T for p in k], -1), tiny)
        col_factors = col_factors.astype(dtype)
    row_phase = (np.arange(top, axes[0].n_out - bottom) + axes[0].padding) % sy
    return Renormalization(row_factors, bad_cols, col_factors, row_phase)


def _ratio(interior: np.ndarray, reached: np.ndarray, tiny: float) -> np.ndarray:
    ok = np.abs(reached) > tiny
    return np.where(ok, interior / np.where(ok, reached, 1), 0)


def border_means(out, box: Box) -> tuple[float | None, dict[str, float | None]]:
    """Mean of the interior and of each border band that ``box`` would crop.

    Parameters
    ----------
    out : (H, W) or (H, W, C) array_like
    box : (top, bottom, left, right)
        Band widths, e.g. from :func:`auto_crop`.

    Returns
    -------
    interior : float or None
        Mean over what is left after cropping ``box`` (None if nothing is).
    bands : dict
        ``{'top': mean, ...}`` over every value of the band between the side
        bands (corners excluded, so each band shows one side's effect), None
        for a band of width 0.

    Examples
    --------
    >>> out = np.ones((6, 6)); out[0] = 0.5; out[:, -1] = 2.0
    >>> border_means(out, (1, 0, 0, 1))
    (1.0, {'top': 0.5, 'bottom': None, 'left': None, 'right': 2.0})
    """
    a = np.asarray(out, dtype=np.float64)
    h, w = a.shape[:2]
    t, b, l, r = box
    rows = slice(t, h - b) if t + b < h else slice(0, h)
    cols = slice(l, w - r) if l + r < w else slice(0, w)
    interior = float(a[t : h - b, l : w - r].mean()) if t + b < h and l + r < w else None
    regions = {
        "top": a[:t, cols],
        "bottom": a[h - b :, cols] if b else a[:0],
        "left": a[rows, :l],
        "right": a[rows, w - r :] if r else a[:, :0],
    }
    return interior, {side: (float(v.mean()) if v.size else None) for side, v in regions.items()}


# --------------------------------------------------------------------------- learned layers

#: The most (input, output) phase sums, C_in * C_out/groups * sy * sx, a layer's analysis holds.
MAX_LAYER_PHASES = 1 << 22


def layer_phase_sums(weight, stride: object = 2, dilation: object = 1) -> np.ndarray:
    """:func:`phase_sums` of every (input, output) kernel of a learned layer.

    Parameters
    ----------
    weight : (C_in, C_out/groups, kh, kw) array_like
        PyTorch's ``ConvTranspose2d.weight`` layout.
    stride, dilation : int or (int, int)

    Returns
    -------
    (C_in, C_out/groups, sy, sx) ndarray of float64
        ``[i, j]`` is the phase-sum grid of ``weight[i, j]``: what input channel ``i`` at 1 adds to
        each stride phase of output channel ``g * C_out/groups + j`` of its group ``g``.

    Examples
    --------
    >>> w = np.ones((2, 1, 3, 3)); w[1] *= -0.5
    >>> layer_phase_sums(w, 2)[:, 0].tolist()
    [[[4.0, 2.0], [2.0, 1.0]], [[-2.0, -1.0], [-1.0, -0.5]]]
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4:
        raise DeconvError(f"a layer's weight must be 4-D (C_in, C_out/groups, kh, kw), got shape {w.shape}", usage=True)
    sy, sx = as_pair(stride, "stride")
    if sy * sx > MAX_PHASE_GRID:
        raise DeconvError(
            f"stride {sy},{sx} has {sy * sx} phases, more than the {MAX_PHASE_GRID} whose sums deconv computes "
            "for each kernel of a layer",
            usage=True,
        )
    if w.shape[0] * w.shape[1] * sy * sx > MAX_LAYER_PHASES:
        raise DeconvError(
            f"a layer of weight {w.shape} at stride {sy},{sx} has {w.shape[0] * w.shape[1] * sy * sx} (input, output, "
            f"phase) sums, more than the {MAX_LAYER_PHASES} deconv computes",
            usage=True,
        )
    out = np.empty(w.shape[:2] + (sy, sx))
    for i, j in np.ndindex(*w.shape[:2]):
        out[i, j] = phase_sums(w[i, j], (sy, sx), dilation).sums
    return out


def layer_response(pair_sums, groups: int, constant, bias=None) -> np.ndarray:
    """What a learned layer makes of a constant input, per output channel and stride phase.

    Output channel ``o = g * C_out/groups + j`` sees only the inputs ``i`` of its group ``g``::

        response[o] = sum(constant[i] * pair_sums[i, j] for i in group g) + bias[o]

    Parameters
    ----------
    pair_sums : (C_in, C_out/groups, sy, sx) array_like
        :func:`layer_phase_sums`.
    groups : int
    constant : (C_in,) array_like
        The value of each input channel, in the bias's units.
    bias : (C_out,) array_like, optional

    Returns
    -------
    (C_out, sy, sx) ndarray of float64
        The interior of the output, one stride step of it, away from the borders.

    Examples
    --------
    >>> ps = layer_phase_sums(np.ones((2, 2, 2, 2)), 2)       # every pair: each phase gets 1 tap
    >>> layer_response(ps, 1, [0.5, 0.25], [0.0, 1.0])[:, 0, 0].tolist()
    [0.75, 1.75]
    >>> layer_response(ps, 2, [0.5, 0.25])[:, 0, 0].tolist()  # groups 2: output 0, 1 see input 0; 2, 3 input 1
    [0.5, 0.5, 0.25, 0.25]
    """
    ps = np.asarray(pair_sums, dtype=np.float64)
    c_in, cog = ps.shape[:2]
    m = np.asarray(constant, dtype=np.float64).reshape(c_in)
    cig = c_in // groups
    out = np.zeros((cog * groups,) + ps.shape[2:])
    for g in range(groups):
        ins = slice(g * cig, (g + 1) * cig)
        out[g * cog : (g + 1) * cog] = np.einsum("i,ijrc->jrc", m[ins], ps[ins])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64).reshape(-1)[:, None, None]
    return out


@dataclass(frozen=True)
class ChannelPhases(PhaseReport):
    """The stride-phase pattern of one output channel of a learned layer under a constant input
    (:func:`layer_response`): ``sums`` are the phase means, the value each stride phase of the
    interior takes.

    A layer's output may be legitimately signed, so :attr:`amplitude` is the ratio of the larger
    magnitude to the smaller when every phase has the same sign (``max/min`` for positive phases,
    ``min/max`` for negative ones), 1 when the phases are :func:`alike`, and inf when they straddle
    or touch 0 (no ratio means anything there: :attr:`peak_to_peak` still does).

    >>> ChannelPhases(np.array([[1.0, 1.0], [1.0, 1.25]])).amplitude
    1.25
    >>> ChannelPhases(np.array([[-2.0, -1.0]])).amplitude, ChannelPhases(np.array([[-1.0, 1.0]])).amplitude
    (2.0, inf)
    """

    @property
    def amplitude(self) -> float:
        lo, hi = self.lo, self.hi
        if self.flat:
            return 1.0
        if lo > 0:
            return hi / lo
        if hi < 0:
            return lo / hi
        return math.inf

    @property
    def mean(self) -> float:
        return float(self.sums.mean())

    @property
    def peak_to_peak(self) -> float:
        """Largest minus smallest phase mean: the checkerboard's swing, in the response's units."""
        return self.hi - self.lo


def worst_channels(channels: list[ChannelPhases]) -> list[int]:
    """The output channels whose phases are not flat, the worst first: by :attr:`ChannelPhases.amplitude`,
    then (among equal amplitudes, as the infinite ones) by the swing relative to the channel's magnitude.

    >>> worst_channels([ChannelPhases(np.array([[1.0, 2.0]])), ChannelPhases(np.ones((1, 2))),
    ...                 ChannelPhases(np.array([[1.0, 4.0]]))])
    [2, 0]
    """

    def key(o: int) -> tuple[float, float]:
        ch = channels[o]
        scale = max(abs(ch.lo), abs(ch.hi), 1e-300)
        return (-ch.amplitude, -ch.peak_to_peak / scale)

    return sorted((o for o, ch in enumerate(channels) if not ch.flat), key=key)


def channel_means(x: np.ndarray) -> np.ndarray:
    """(C,) float64: the mean of each channel of an (H, W) or (H, W, C) image, without a float copy
    of it (summed row by row into one row of float64 sums, which reads the image once in order).

    >>> channel_means(np.array([[[0, 10], [2, 30]]], np.uint8)).tolist()
    [1.0, 20.0]
    """
    h = x.shape[0]
    c = x.shape[2] if x.ndim == 3 else 1
    if x.size == 0:
        return np.zeros(c)
    return x.reshape(h, -1).sum(axis=0, dtype=np.float64).reshape(-1, c).sum(axis=0) / (x.size // c)
