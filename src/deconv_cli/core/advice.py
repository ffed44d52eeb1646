"""What deconv tells a person about a result that is legal but surprising: a border that got
fewer kernel taps than the interior (a dark frame), stride phases that sum unevenly (a
checkerboard), a kernel gain other than 1, heavy clipping; the hint and the warning that say it,
each with its cure (:mod:`.cures` lists every cure with its cost, :mod:`.normalize` is
``--normalize``).

Plain numpy. The texts name the command line's options, since that is where the cures are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np  # noqa: F401  (the examples use it)

from ..modes import Edge
from .analysis import _support, deficient_border
from .geometry import AxisSize, Box, Pair
from .normalize import _planes

#: A phase sum within this relative distance of 1 is a gain of 1 (rounding in a kernel file).
GAIN_TOLERANCE = 1e-3
#: Clipping of more than this fraction of the output's values is worth a warning.
CLIP_FRACTION = 1e-3


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


def _replicate_cure(stride: Pair, same: bool, what: str) -> str:
    """The cure of a deficient border that keeps every pixel: replicate edges (and a same padding,
    for exactly ``stride x`` ``what``, unless the padding is one already)."""
    if same:
        return "--edge replicate keeps the size and gives them every tap"
    return f"-p same --edge replicate gives exactly {_stride(stride)} {what} with every tap"


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
        second = _replicate_cure(self.stride, self.same, f"the input ({exact})")
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
    second = _replicate_cure(stride, same, "each input")
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
