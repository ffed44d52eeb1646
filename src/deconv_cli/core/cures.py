"""The cures of what :mod:`.advice` finds, each as the exact options to add to the upsample
command, what it cures, what it costs and the size it gives; and the findings themselves in
words (what ``deconv inspect`` ends with). Plain numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DeconvError
from ..modes import Edge, Normalize, SamePadding
from .advice import (
    CLIP_FRACTION,
    GAIN_TOLERANCE,
    KernelTraits,
    LayerTraits,
    _size,
    _stride,
    border_deficit,
    border_text,
)
from .geometry import AxisSize, Box, Geometry, Pair
from .normalize import normalize_kernel

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
