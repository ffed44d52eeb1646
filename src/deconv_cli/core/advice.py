"""What deconv tells a person about a result that is legal but surprising, each with its cure:
a border that got fewer kernel taps than the interior (a dark frame), stride phases that sum
unevenly (a checkerboard), a kernel gain other than 1, heavy clipping; and the kernel
normalizations (``--normalize``) that cure the last three.

Plain numpy. The texts name the command line's options, since that is where the cures are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DeconvError
from ..modes import Edge, Normalize, SamePadding
from .analysis import _support, deficient_border
from .geometry import AxisSize, Box, Geometry, Pair, as_pair

#: A phase sum within this relative distance of 1 is a gain of 1 (rounding in a kernel file).
GAIN_TOLERANCE = 1e-3
#: Clipping of more than this fraction of the output's values is worth a warning.
CLIP_FRACTION = 1e-3


def _planes(kernel) -> np.ndarray:
    k = np.asarray(kernel, np.float64)
    if k.ndim not in (2, 3):
        raise DeconvError(f"a (kh, kw) or (C, kh, kw) kernel is needed here, got shape {k.shape}", usage=True)
    return k[None] if k.ndim == 2 else k


def _phase_index(n: int, stride: int, dilation: int) -> np.ndarray:
    """(n,) the stride phase each of a kernel axis' n taps lands on: tap u is u*d rows after its
    input pixel's first output, so on phase (u*d) mod s."""
    return (np.arange(n, dtype=np.int64) * dilation) % stride


def normalize_kernel(kernel, stride: object, dilation: object, mode: Normalize | str) -> tuple[np.ndarray, np.ndarray]:
    """The kernel rescaled as ``--normalize`` asks, and the factor each tap was multiplied by.

    ``phase`` divides the taps of each stride phase by that phase's sum, so every phase sums to 1:
    a constant image comes out constant (no checkerboard from the kernel) and as bright as it went
    in. ``sum`` scales the whole kernel to total ``sy * sx``, the sum of a kernel whose phases all
    sum to 1: the average gain is 1, uneven phases stay uneven. ``none`` returns it unchanged.

    Parameters
    ----------
    kernel : (kh, kw) or (C, kh, kw) array_like
        Each channel's plane is normalized on its own.
    stride, dilation : int or (int, int)
    mode : Normalize or str

    Returns
    -------
    kernel : ndarray of float64, the shape given
    factors : (P, sy, sx) or (P, 1, 1) ndarray of float64
        The factor of each phase of each plane (``P`` = 1 for a 2-D kernel); with ``sum`` and
        ``none``, one factor per plane.

    Raises
    ------
    DeconvError
        When a phase (or, with ``sum``, the whole kernel) sums to 0 or less: no factor makes it 1
        without flipping or blowing up the image.

    Examples
    --------
    >>> k, f = normalize_kernel(np.ones((3, 3)), 2, 1, "phase")
    >>> f[0].tolist(), float(k.sum())
    ([[0.25, 0.5], [0.5, 1.0]], 4.0)
    >>> normalize_kernel(np.full((4, 4), 2.0), 2, 1, "sum")[1][0].tolist()
    [[0.125]]
    """
    mode = Normalize.of(mode, "normalize")
    planes = _planes(kernel)
    (sy, sx), (dy, dx) = as_pair(stride, "stride"), as_pair(dilation, "dilation")
    if mode is Normalize.phase and sy * sx > planes.shape[1] * planes.shape[2]:
        # more phases than taps: some phase gets none, whatever the kernel (and no grid is allocated)
        raise DeconvError(
            f"--normalize phase: stride {sy},{sx} has {sy * sx} phases but the kernel only "
            f"{planes.shape[1] * planes.shape[2]} taps, so some phase gets no tap at all (the kernel is shorter "
            "than the stride); use --normalize sum, or a longer kernel",
            usage=True,
        )
    phases = sy * sx
    if mode is not Normalize.phase:
        sy = sx = 1  # one factor per plane: no (sy, sx) grid for a stride that may be huge
    ry = _phase_index(planes.shape[1], sy, dy)
    rx = _phase_index(planes.shape[2], sx, dx)
    factors = np.ones((len(planes), sy, sx))
    out = planes.copy()
    for c, plane in enumerate(planes):
        sums = np.zeros((sy, sx))
        np.add.at(sums, (ry[:, None], rx[None, :]), plane)
        reached = np.zeros((sy, sx), bool)
        reached[ry[:, None], rx[None, :]] = True
        where = f" (channel {c})" if len(planes) > 1 else ""
        if mode is Normalize.phase:
            bad = [(int(r), int(q)) for r, q in np.argwhere(~reached | (sums <= 0))]
            if bad:
                r, q = bad[0]
                short = planes.shape[1] < sy or planes.shape[2] < sx
                why = "the kernel is shorter than the stride" if short else "stride and dilation share a factor"
                what = f"sums to {sums[r, q]:.4g}" if reached[r, q] else f"gets no tap at all ({why})"
                raise DeconvError(
                    f"--normalize phase: stride phase ({r}, {q}) of the kernel{where} {what}; only phases that "
                    f"sum to more than 0 can be scaled to 1 (use --normalize sum, or another kernel)",
                    usage=True,
                )
            factors[c] = 1.0 / sums
            out[c] = plane * factors[c][ry[:, None], rx[None, :]]
        elif mode is Normalize.sum:
            total = float(plane.sum())
            if total <= 0:
                raise DeconvError(
                    f"--normalize sum: the kernel{where} sums to {total:.4g}; only a kernel that sums to more "
                    "than 0 can be scaled",
                    usage=True,
                )
            factors[c] = phases / total
            out[c] = plane * factors[c, 0, 0]
    shaped = out[0] if np.ndim(kernel) == 2 else out
    return shaped, factors


@dataclass(frozen=True)
class KernelTraits:
    """What a (kh, kw) or (C, kh, kw) kernel does to a constant image at one stride, per phase.

    ``lo`` and ``hi`` are the smallest and largest phase sums over every plane; ``flat`` when
    every plane's phases sum alike, and then ``gain`` is that sum (the largest over the planes).

    >>> t = KernelTraits.of(np.ones((3, 3)), 2, 1)
    >>> t.flat, t.lo, t.hi
    (False, 1.0, 4.0)
    >>> KernelTraits.of(np.full((4, 4), 1.0), 2, 1).gain
    4.0
    """

    lo: float
    hi: float
    flat: bool
    negative: bool

    @classmethod
    def of(cls, kernel, stride: object, dilation: object) -> KernelTraits:
        """From the taps alone (:func:`~deconv_cli.core.analysis.phase_range`): any stride, however large."""
        from .analysis import phase_range

        planes = _planes(kernel)
        ranges = [phase_range(p, stride, dilation) for p in planes]
        flat = all(r.flat for r in ranges) and len({r.lo for r in ranges}) == 1
        lo = min(r.lo for r in ranges)
        hi = max(r.hi for r in ranges)
        return cls(lo, hi, flat, bool((planes < 0).any()))

    @property
    def gain(self) -> float:
        return self.hi

    @property
    def checkerboard(self) -> bool:
        return not self.flat

    @property
    def amplitude(self) -> float:
        """max/min of the phase sums (inf when the smallest is 0 or less)."""
        return self.hi / self.lo if self.lo > 0 else math.inf

    @property
    def off_gain(self) -> bool:
        """Flat, with a gain other than 1."""
        return self.flat and abs(self.gain - 1.0) > GAIN_TOLERANCE

    def text(self) -> str | None:
        """What is surprising about this kernel, or None."""
        if self.checkerboard:
            amp = "inf" if math.isinf(self.amplitude) else f"{self.amplitude:.3g}"
            return (
                f"the kernel's stride phases sum unevenly ({self.lo:.3g} to {self.hi:.3g}, max/min {amp}), "
                "so it draws a checkerboard"
            )
        if self.off_gain:
            g = f"{self.gain:.4g}"
            return f"the kernel's stride phases all sum to {g}, so the result is {g} times as bright as the input"
        return None


@dataclass(frozen=True)
class LayerTraits(KernelTraits):
    """:class:`KernelTraits` of a learned layer that mixes channels: from the stride-phase pattern
    of each output channel under a constant input (:class:`~deconv_cli.core.analysis.ChannelPhases`),
    ``constant`` saying in words which input that is. ``lo`` and ``hi`` are the smallest and largest
    phase mean of any channel; ``flat`` when every channel's phases are alike (the channels may differ
    from each other: a layer may change colours). No gain: a layer's output channels are whatever it
    was trained to give, so there is no gain of 1 to miss.

    >>> from .analysis import ChannelPhases
    >>> t = LayerTraits.of_channels([ChannelPhases(np.ones((2, 2))), ChannelPhases(np.array([[1, 2], [2, 1.0]]))],
    ...                             False, "each input channel at 1")
    >>> t.flat, t.worst, t.amplitude
    (False, [1], 2.0)
    """

    channels: tuple = ()
    constant: str = ""
    unit: float = 1.0  # the image's full scale, for the swing in its levels
    depth: str = "float"

    @classmethod
    def of_channels(
        cls, channels, negative: bool, constant: str, unit: float = 1.0, depth: str = "float"
    ) -> LayerTraits:
        chans = tuple(channels)
        lo, hi = min(c.lo for c in chans), max(c.hi for c in chans)
        return cls(lo, hi, all(c.flat for c in chans), negative, chans, constant, unit, depth)

    @property
    def off_gain(self) -> bool:
        return False

    @property
    def amplitude(self) -> float:
        return max(c.amplitude for c in self.channels)

    @property
    def worst(self) -> list[int]:
        from .analysis import worst_channels

        return worst_channels(list(self.channels))

    def text(self) -> str | None:
        if self.flat:
            return None
        worst = self.worst
        ch = self.channels[worst[0]]
        amp = "inf" if math.isinf(ch.amplitude) else f"{ch.amplitude:.4g}"
        many = f"s {', '.join(map(str, worst))} (worst first)"
        which = "output channel" + (many if len(worst) > 1 else f" {worst[0]}")
        return (
            f"{which} of the layer {'draw' if len(worst) > 1 else 'draws'} a checkerboard on a constant input "
            f"({self.constant}): channel {worst[0]}'s stride phases come out {ch.lo:.4g} to {ch.hi:.4g} "
            f"(max/min {amp}, a swing of {ch.peak_to_peak * self.unit:.3g} "
            + ("of full scale)" if self.depth == "float" else f"{self.depth} levels)")
        )


def border_deficit(axes: tuple[AxisSize, AxisSize], kernel, edge: Edge, cut: Box) -> Box:
    """Rows and columns per side (top, bottom, left, right) of the written output that receive
    fewer kernel taps than an interior pixel of their stride phase: the deficient border under
    zero edges, less what ``cut`` (the crop and a same padding's trim) removed. The edges that
    extend the input, and ``renormalize``, leave none.

    >>> from .geometry import size_math
    >>> border_deficit(size_math(10, 4, 2), np.ones((4, 4)), Edge.zero, (0, 0, 0, 0))
    (2, 2, 2, 2)
    >>> border_deficit(size_math(10, 4, 2), np.ones((4, 4)), Edge.zero, (1, 0, 3, 0))
    (1, 2, 0, 2)
    """
    if edge is not Edge.zero:
        return (0, 0, 0, 0)
    rows_support, cols_support = _support(kernel)
    top, bottom = deficient_border(axes[0], rows_support)
    left, right = deficient_border(axes[1], cols_support)
    t, b, l, r = cut
    return (max(0, top - t), max(0, bottom - b), max(0, left - l), max(0, right - r))


def border_words(border: Box) -> str:
    """The rows and columns of a deficient border in words.

    >>> border_words((2, 2, 1, 0))
    '2 rows top and bottom and 1 left and 0 right column'
    """
    t, b, l, r = border
    sides = []
    for a, z, one, other, noun in ((t, b, "top", "bottom", "row"), (l, r, "left", "right", "column")):
        plural = noun if max(a, z) == 1 else noun + "s"
        if a == z and a:
            sides.append(f"{a} {plural} {one} and {other}")
        elif a or z:
            sides.append(f"{a} {one} and {z} {other} {plural}")
    return " and ".join(sides)


def border_text(border: Box, traits: KernelTraits | None) -> str:
    """The deficient border and how it looks, in one clause.

    >>> border_text((1, 1, 1, 1), None)
    'the border gets fewer kernel taps than the interior (1 row top and bottom and 1 column left and right), \
so it comes out darker or brighter'
    """
    look = "darker" if traits is not None and not traits.negative else "darker or brighter"
    return f"the border gets fewer kernel taps than the interior ({border_words(border)}), so it comes out {look}"


def _size(h: int, w: int) -> str:
    return f"{w}x{h}"


def _stride(stride: Pair) -> str:
    return f"{stride[0]}x" if stride[0] == stride[1] else f"{stride[0]}x{stride[1]} (rows x cols)"


@dataclass(frozen=True)
class Advice:
    """The hint and the warning of one result, and the numbers behind them.

    ``border`` is :func:`border_deficit`; ``shape`` the written output's (H, W); ``input`` the
    input's (H, W); ``traits`` None for a learned layer (its channels mix, so no single phase
    pattern); ``clipped`` of ``values`` samples were clipped into ``depth``'s range.
    """

    border: Box
    shape: Pair
    input: Pair
    stride: Pair
    same: bool
    traits: KernelTraits | None
    clipped: int = 0
    values: int = 0
    depth: int | str = 8
    offset: float = 0.0

    @property
    def clip_fraction(self) -> float:
        return self.clipped / self.values if self.values else 0.0

    def hint(self) -> str | None:
        """One line on the deficient border and its two cures, or None."""
        t, b, l, r = self.border
        if not any(self.border):
            return None
        h, w = self.shape
        exact = _size(self.input[0] * self.stride[0], self.input[1] * self.stride[1])
        second = (
            "--edge replicate keeps the size and gives them every tap"
            if self.same
            else f"-p same --edge replicate gives exactly {_stride(self.stride)} the input ({exact}) with every tap"
        )
        if h - t - b < 1 or w - l - r < 1:  # the kernel reaches past the whole image: nothing is complete
            whole = "which is all of it (--crop auto would leave nothing)"
            return f"{border_text(self.border, self.traits)}, {whole}: {second}"
        left = _size(h - t - b, w - l - r)
        return f"{border_text(self.border, self.traits)}: --crop auto cuts it ({left} left), or {second}"

    def kernel_text(self) -> str | None:
        """The kernel's part of the warning (the same for every file of a run), or None."""
        return self.traits.text() if self.traits is not None else None

    def clip_reason(self) -> str:
        """Why values clip, from the kernel ("" when the kernel does not explain it)."""
        tr = self.traits
        if isinstance(tr, LayerTraits):
            if tr.hi > 1 + GAIN_TOLERANCE:
                return f"by the layer's output reaching {tr.hi:.3g} of full scale on a constant input"
            return "by ringing: the layer's negative weights overshoot at sharp edges" if tr.negative else ""
        if tr is not None and tr.hi > 1 + GAIN_TOLERANCE:
            return (
                f"by the kernel's gain of {tr.hi:.4g}" if tr.flat else f"by its brightest phase's gain of {tr.hi:.3g}"
            )
        if tr is not None and tr.negative:
            return "by ringing: the kernel's negative taps overshoot at sharp edges"
        if self.offset:
            return f"by the kernel's offset of {self.offset:.4g}"
        return ""

    def clip_text(self) -> str | None:
        """The file's part of the warning: heavy clipping and why, or None."""
        if self.clip_fraction <= CLIP_FRACTION:
            return None
        bits = "float" if self.depth == "float" else f"{self.depth}-bit"
        why = self.clip_reason()
        return (
            f"{self.clipped} of {self.values} values ({100 * self.clip_fraction:.1f}%) clipped to the {bits} range"
            + (f", {why}" if why else "")
        )

    def cure(self) -> str | None:
        tr = self.traits
        if isinstance(tr, LayerTraits):  # a layer's weights are the model: deconv rescales none of them
            return "write .npy to keep the values outside the range" if self.clip_text() else None
        if tr is not None and tr.lo <= 0 and (tr.checkerboard or self.clip_text()):
            # no factor makes an empty or negative phase sum to 1: the kernel itself must change
            return (
                "--normalize cannot even out a phase that sums to 0 or less: use a kernel at least as long as "
                "the stride (and a dilation that shares no factor with it)"
            )
        if tr is not None and (tr.checkerboard or tr.off_gain or (self.clip_text() and tr.hi > 1 + GAIN_TOLERANCE)):
            return "--normalize phase makes every phase sum to 1"
        if self.clip_text() and tr is not None and tr.negative:
            return "write .npy to keep the overshoot, or use a kernel without negative taps (bilinear)"
        return None

    def warning(self, *, kernel: bool = True) -> str | None:
        """One line: the kernel's surprise (``kernel``: leave it out in a batch, where it is said
        once), the clipping, and the cure; None when nothing is surprising."""
        parts = [p for p in ((self.kernel_text() if kernel else None), self.clip_text()) if p]
        if not parts:
            return None
        cure = self.cure()
        return "; ".join(parts) + (f"; {cure}" if cure else "")

    def as_dict(self) -> dict:
        t, b, l, r = self.border
        tr = self.traits
        return {
            "hint": self.hint(),
            "warning": self.warning(),
            "kernel": self.kernel_text(),
            "clipping": self.clip_text(),
            "clip_reason": self.clip_reason() if self.clip_text() else None,
            "cure": self.cure(),
            "deficient_border": {"top": t, "bottom": b, "left": l, "right": r},
            "phase_sums": None if tr is None else {"min": tr.lo, "max": tr.hi},
            "checkerboard": None if tr is None else tr.checkerboard,
            "gain": None if tr is None or not tr.flat else tr.gain,
            "clipped_fraction": self.clip_fraction,
        }


def batch_hint(borders: list[dict], total: int, stride: Pair, same: bool) -> str | None:
    """One line for the deficient borders of a batch (``borders``: the ``deficient_border`` of each
    file that has one, out of ``total`` files written), or None.

    >>> batch_hint([{"top": 7, "bottom": 7, "left": 7, "right": 7}] * 3, 3, (3, 3), False)[:60]
    '3 of 3 files have a deficient border (7 rows and 7 columns p'
    """
    if not borders:
        return None
    rows = max(max(b["top"], b["bottom"]) for b in borders)
    cols = max(max(b["left"], b["right"]) for b in borders)
    uniform = all(b == {"top": rows, "bottom": rows, "left": cols, "right": cols} for b in borders)
    extent = (
        f"{'' if uniform else 'up to '}{rows} {'row' if rows == 1 else 'rows'} and "
        f"{cols} {'column' if cols == 1 else 'columns'} per side"
    )
    second = (
        "--edge replicate keeps the size and gives them every tap"
        if same
        else f"-p same --edge replicate gives exactly {_stride(stride)} each input with every tap"
    )
    files = f"{len(borders)} of {total} files have" if total > 1 else "the file has"
    return (
        f"{files} a deficient border ({extent} get fewer kernel taps than the interior): --crop auto cuts it, "
        f"or {second}"
    )


def batch_warning(advice: list[dict]) -> str | None:
    """One line for the kernel and the clipping of a batch (``advice``: each written file's
    :meth:`Advice.as_dict`), or None: the kernel's surprise (the same for every file), how many
    files clipped heavily and why, and the cure.

    >>> a = {"kernel": None, "clipping": "x", "clipped_fraction": 0.023, "clip_reason": "by ringing", "cure": None}
    >>> batch_warning([a, {**a, "clipping": None, "clipped_fraction": 0.0}])
    '1 of 2 files clipped more than 0.1% of their values (up to 2.3%), by ringing'
    """
    if not advice:
        return None
    parts = []
    kernel = next((a["kernel"] for a in advice if a["kernel"]), None)
    if kernel:
        parts.append(kernel)
    clipped = [a for a in advice if a["clipping"]]
    if clipped:
        worst = max(clipped, key=lambda a: a["clipped_fraction"])
        files = f"{len(clipped)} of {len(advice)} files" if len(advice) > 1 else "the file"
        why = worst["clip_reason"]
        parts.append(
            f"{files} clipped more than {100 * CLIP_FRACTION:.1f}% of their values "
            f"(up to {100 * worst['clipped_fraction']:.1f}%)" + (f", {why}" if why else "")
        )
    if not parts:
        return None
    cure = next((a["cure"] for a in advice if a["cure"]), None)
    return "; ".join(parts) + (f"; {cure}" if cure else "")


#: What :func:`cures` has to say when it finds nothing to cure.
NOTHING_TO_CURE = (
    "nothing to cure: every output pixel gets all the kernel taps of its stride phase, "
    "and every stride phase sums to 1 (no checkerboard, gain 1)"
)


@dataclass(frozen=True)
class Cure:
    """One way out of a surprise: the ``options`` to add to (or change in) the upsample command,
    what it ``cures`` (``border``, ``checkerboard`` or ``gain``), what it ``cost`` s, and the
    ``size`` (rows, cols) of the result with it."""

    cures: str
    options: str
    cost: str
    size: Pair

    def as_dict(self) -> dict:
        return {
            "cures": self.cures,
            "options": self.options,
            "cost": self.cost,
            "output": {"height": self.size[0], "width": self.size[1]},
        }


def _factors(factors: np.ndarray) -> str:
    """--normalize phase's factors, rows of each sy x sx grid split by ``|``, per channel if several."""
    planes = [" | ".join(" ".join(f"{v:.4g}" for v in row) for row in plane) for plane in factors]
    return planes[0] if len(planes) == 1 else "; ".join(f"channel {c}: {t}" for c, t in enumerate(planes))


def _cuts(axes: tuple[AxisSize, AxisSize]) -> tuple[object, ...]:
    """What decides which rows and columns of the full output a geometry keeps."""
    return tuple((ax.n_out, ax.kept, ax.cut) for ax in axes)


def _cut_words(border: Box) -> str:
    """What --crop auto cuts, in words: ``2 rows and columns per side`` or each side's number.

    >>> _cut_words((1, 1, 1, 1)), _cut_words((2, 0, 2, 1))
    ('1 row and column per side', 'top 2, bottom 0, left 2, right 1 rows/columns')
    """
    t, b, l, r = border
    if t == b == l == r:
        return f"{t} {'row and column' if t == 1 else 'rows and columns'} per side"
    return f"top {t}, bottom {b}, left {l}, right {r} rows/columns"


def cures(
    axes: tuple[AxisSize, AxisSize],
    kernel,
    geometry: Geometry,
    *,
    edge: Edge = Edge.zero,
    layer: bool = False,
    clipped: float = 0.0,
    traits: KernelTraits | None = None,
) -> list[Cure]:
    """Each cure of what this upsample does surprisingly, with its cost and the size it gives.

    The deficient border (under ``edge``; see :func:`border_deficit`) has three: ``--crop auto``
    cuts it, ``-p same --edge replicate`` (``--edge replicate`` under a same padding already)
    gives every pixel every tap by repeating the edge pixels, ``--edge renormalize`` divides it by
    the weight that arrived. A checkerboard or a gain other than 1 has one, ``--normalize phase``.
    A learned (depthwise) ``layer`` gets neither renormalize nor normalize: deconv refuses both
    for layers. Heavy clipping (more than :data:`CLIP_FRACTION` of the values, ``clipped``) by a
    kernel's negative taps alone has ``-o RESULT.npy``, the raw float array. An empty list: nothing
    to cure (:data:`NOTHING_TO_CURE`).

    Parameters
    ----------
    axes : (AxisSize, AxisSize)
        The size math of the command, ``geometry.axes(input, kernel size)``.
    kernel : (kh, kw) or (C, kh, kw) array_like
    geometry : Geometry
    edge : Edge
        The edge mode of the command; only ``zero`` leaves a deficient border.
    layer : bool
    clipped : float
        The fraction of the result's values outside the range of the image's depth.
    traits : KernelTraits, optional
        What the kernel does to a constant image, when not :meth:`KernelTraits.of` ``kernel``: a layer
        that mixes channels gives :class:`LayerTraits` and its (input, output) kernels as ``kernel``
        (their union decides the border).

    Returns
    -------
    list of Cure

    Examples
    --------
    >>> from .geometry import Geometry
    >>> g = Geometry.of(2, 0)
    >>> [(c.options, c.size) for c in cures(g.axes((10, 10), (3, 3)), np.ones((3, 3)), g)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('--crop auto', (19, 19)), ('-p same --edge replicate', (20, 20)),
     ('--edge renormalize', (21, 21)), ('--normalize phase', (21, 21))]
    >>> g = Geometry.of(2, "same")
    >>> cures(g.axes((10, 10), (4, 4)), np.full((4, 4), 0.25), g, edge=Edge.replicate)
    []
    """
    k = np.asarray(kernel, np.float64)
    rows, cols = axes
    h, w = rows.kept, cols.kept
    size = _size(h, w)
    if traits is None:
        traits = KernelTraits.of(k, geometry.stride, geometry.dilation)
    out: list[Cure] = []
    border = border_deficit(axes, k, edge, (0, 0, 0, 0))
    if any(border):
        t, b, l, r = border
        out.append(
            Cure(
                "border",
                "--crop auto",
                f"keeps the size math and cuts the deficient border, {_cut_words(border)}: output "
                f"{_size(h - t - b, w - l - r)} instead of {size}; every pixel kept is the plain result, "
                "nothing invented",
                (h - t - b, w - l - r),
            )
        )
        same = Geometry(geometry.stride, SamePadding.same_upper, (0, 0), geometry.dilation)
        s_rows, s_cols = same.axes((rows.n_in, cols.n_in), k.shape[-2:])
        exact = _size(s_rows.kept, s_cols.kept)
        invented = (
            "the taps that fall beyond the image read copies of its edge pixels (border values invented, "
            "a smooth continuation)"
        )
        if geometry.same or _cuts(axes) == _cuts((s_rows, s_cols)):  # the padding given is a same padding
            options, what = (
                "--edge replicate",
                f"keeps the size, exactly {_stride(geometry.stride)} the input ({exact})",
            )
        else:
            options = "-p same --edge replicate"
            instead = (
                f" instead of {size}" if (s_rows.kept, s_cols.kept) != (h, w) else ", the same size, cut otherwise"
            )
            what = f"exactly {_stride(geometry.stride)} the input ({exact}{instead})"
            if geometry.output_padding != (0, 0):
                options += " (and drop --output-padding)"
        out.append(
            Cure("border", options, f"{what}; every pixel gets every tap: {invented}", (s_rows.kept, s_cols.kept))
        )
        if not layer:
            out.append(
                Cure(
                    "border",
                    "--edge renormalize",
                    f"keeps the size ({size}); divides each border pixel by the share of the kernel weight that "
                    "reached it (as Pillow does): nothing invented or cut, but the border is an average of fewer "
                    "input pixels"
                    + (", and the negative taps that arrive alone overshoot more" if traits.negative else ""),
                    (h, w),
                )
            )
    if traits.checkerboard or traits.off_gain:
        what = "checkerboard" if traits.checkerboard else "gain"
        if layer:
            out.append(
                Cure(
                    what,
                    "another kernel",
                    "deconv does not rescale a learned layer's weights (--normalize is refused for layers); "
                    + (
                        "retrain it with its stride phases tied (or a resize followed by a convolution), so that a "
                        "constant input comes out flat in every output channel"
                        if isinstance(traits, LayerTraits)
                        else "retrain or rescale it so every stride phase sums to 1"
                    ),
                    (h, w),
                )
            )
        else:
            try:
                _, factors = normalize_kernel(k, geometry.stride, geometry.dilation, Normalize.phase)
            except DeconvError as e:
                out.append(Cure(what, "another kernel", f"{e}", (h, w)))
            else:
                if traits.checkerboard:
                    cost = (
                        f"keeps the size ({size}); each stride phase multiplied by {_factors(factors)} (rows of the "
                        f"{geometry.stride[0]}x{geometry.stride[1]} phase grid) so that each sums to 1: no "
                        "checkerboard, gain 1; the kernel is no longer the one given, its phases weighted anew"
                    )
                else:
                    cost = (
                        f"keeps the size ({size}); the kernel divided by its gain of {traits.gain:.4g}: the result "
                        "as bright as the input, the kernel's shape unchanged"
                    )
                if clipped > CLIP_FRACTION and traits.hi > 1 + GAIN_TOLERANCE:
                    cost += "; with gain 1, the clipping the gain caused goes too"
                out.append(Cure(what, "--normalize phase", cost, (h, w)))
    elif clipped > CLIP_FRACTION and traits.negative and traits.hi <= 1 + GAIN_TOLERANCE:
        out.append(
            Cure(
                "clipping",
                "-o RESULT.npy",
                f"keeps the size ({size}) and every value, the overshoot of the negative taps included, as a raw "
                "float array instead of a picture; or use a kernel without negative taps (-k bilinear), "
                "which cannot overshoot but is softer",
                (h, w),
            )
        )
    return out


def upsample_command(image: str, kernel_spec: str, geometry: Geometry, options: str = "") -> str:
    """The ``deconv upsample`` command line of ``geometry`` with ``kernel_spec``, and ``options``
    added: a cure's options (``-p same`` replaces the padding and drops the output padding; a
    parenthesized remark is left out).

    >>> upsample_command("a b.png", "bilinear", Geometry.of(2, 1), "--crop auto")
    "deconv upsample 'a b.png' -k bilinear -s 2 -p 1 --crop auto"
    >>> upsample_command("x.png", "k.npy", Geometry.of("2,3", 0, 1, 2), "-p same --edge replicate (and drop ...)")
    'deconv upsample x.png -k k.npy -s 2,3 -d 2 -p same --edge replicate'
    """
    import shlex

    def pair(p: Pair) -> str:
        return str(p[0]) if p[0] == p[1] else f"{p[0]},{p[1]}"

    added = options.split(" (")[0].split()  # shlex.join quotes nothing these options hold
    args = ["deconv", "upsample", image, "-k", kernel_spec, "-s", pair(geometry.stride)]
    if geometry.dilation != (1, 1):
        args += ["-d", pair(geometry.dilation)]
    if "-p" not in added:
        if isinstance(geometry.padding, SamePadding):
            args += ["-p", geometry.padding.value]
        elif isinstance(geometry.padding, tuple) and geometry.padding != (0, 0):
            args += ["-p", pair(geometry.padding)]  # a SidePadding comes with its model file (-k)
        if geometry.output_padding != (0, 0):
            args += ["--output-padding", pair(geometry.output_padding)]
    return shlex.join(args + added)


def findings(border: Box, traits: KernelTraits | None, clipping: str | None = None) -> list[tuple[str, str]]:
    """What is surprising about a result, as (what, sentence) without the cures: its deficient
    ``border`` (:func:`border_deficit`), its kernel's ``traits`` (``kernel``) and the ``clipping``
    (:meth:`Advice.clip_text`); empty when nothing is.

    >>> findings((1, 1, 1, 1), KernelTraits.of(np.full((4, 4), 0.25), 2, 1))[0][1][:58]
    'the border gets fewer kernel taps than the interior (1 row'
    >>> [what for what, _ in findings((0, 0, 0, 0), KernelTraits.of(np.ones((3, 3)), 2, 1), "9 of 9 values")]
    ['kernel', 'clipping']
    """
    out = [("border", border_text(border, traits))] if any(border) else []
    kernel = traits.text() if traits is not None else None
    return out + ([("kernel", kernel)] if kernel else []) + ([("clipping", clipping)] if clipping else [])
