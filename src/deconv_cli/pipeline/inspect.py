"""``deconv inspect``: what a kernel does to an image, and where: the result under three edge
modes, the coverage of every output pixel, the border bands and the crop that removes them."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import numpy as np

from ..core import (
    SIDES,
    AxisSize,
    ChannelPhases,
    Coverage,
    Geometry,
    auto_crop,
    border_means,
    channel_means,
    check_layer_edge,
    coverage_of,
    layer_phase_sums,
    layer_response,
    phase_report,
    plan,
)
from ..core.advice import Advice, KernelTraits, LayerTraits
from ..core.cures import cures, findings, upsample_command
from ..core.normalize import normalize_kernel
from ..core.ops import apply_layer
from ..errors import DeconvError
from ..imageio import ImageData, decode, depth_max, probe
from ..kernels import Kernel, Layer, make_layer, open_kernel
from ..modes import DEFAULT_KERNEL, INSPECT_MAX_PIXELS, Alpha, Edge, Normalize

#: Grey level of the synthetic image ``deconv inspect --size`` uses (8-bit, mid-grey,
#: so both darkened and brightened borders stay visible in the pictures).
SYNTHETIC_VALUE = 128
#: Largest synthetic image, per side.
SYNTHETIC_MAX_SIDE = 4096

#: About how many bytes deconv inspect holds per output pixel of a colour image.
INSPECT_BYTES_PER_PIXEL = 130


def parse_size(spec: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` (ImageMagick's order) or ``N`` -> (rows, cols).

    >>> parse_size("64x48"), parse_size("32")
    ((48, 64), (32, 32))
    """
    text = str(spec).strip().lower()
    try:
        parts = [int(v) for v in text.split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(1 <= v <= SYNTHETIC_MAX_SIDE for v in parts):
        raise DeconvError(
            f"size {spec!r} must be WIDTHxHEIGHT or N, each 1..{SYNTHETIC_MAX_SIDE} (e.g. --size 64x64)", usage=True
        )
    return parts[1], parts[0]


#: An image's channels by count, for the synthetic image of a layer's C_in channels.
_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


@dataclass
class LayerPhases:
    """What a learned layer makes of a constant input, per output channel: the input (``constant``,
    one value per input channel in [0, 1] units, the bias's; ``what`` says it in words), each
    (input, output) kernel's phase sums (``pairs``, (C_in, C_out/groups, sy, sx)) and each output
    channel's phase means with the bias (``channels``)."""

    layer: Layer
    constant: np.ndarray
    what: str
    pairs: np.ndarray
    channels: list[ChannelPhases]

    def inputs(self, o: int) -> list[int]:
        """The input channels output channel ``o`` sees (those of its group)."""
        cog = self.layer.c_out // self.layer.groups
        cig = self.layer.c_in // self.layer.groups
        g = o // cog
        return list(range(g * cig, (g + 1) * cig))

    def traits(self, weight: np.ndarray, depth: int | str) -> LayerTraits:
        return LayerTraits.of_channels(
            self.channels, bool((weight < 0).any()), self.what, depth_max(depth), bits_text(depth)
        )


def layer_phases(layer: Layer, weight: np.ndarray, geometry: Geometry, constant: np.ndarray, what: str) -> LayerPhases:
    """:class:`LayerPhases` of ``layer`` (with its 4-D ``weight``) at ``geometry``'s stride and dilation."""
    pairs = layer_phase_sums(weight, geometry.stride, geometry.dilation)
    resp = layer_response(pairs, layer.groups, constant, layer.bias)
    return LayerPhases(layer, np.asarray(constant, np.float64), what, pairs, [ChannelPhases(r) for r in resp])


@dataclass
class Inspection:
    """The numbers and pictures of ``deconv inspect``: what a kernel does to an image, and where."""

    source: str | None
    image: ImageData
    kernel_spec: str
    kernel: object  # (kh, kw), (C, kh, kw), or a layer's (C_in, C_out/groups, kh, kw) ndarray
    geometry: Geometry
    axes: tuple[AxisSize, AxisSize]
    results: dict  # edge mode -> (H_out, W_out[, C]) float array (zero, replicate, renormalize)
    coverage: Coverage
    box: tuple[int, int, int, int]  # what --crop auto cuts under zero edges: top, bottom, left, right
    layer: bool = False  # the kernel is a learned (depthwise) layer: no --normalize, no renormalize
    edge: Edge = Edge.zero  # the edge mode of the upsample being inspected: its result, findings, cures
    normalize: Normalize = Normalize.none  # how ``kernel`` was rescaled from the one given
    factors: np.ndarray | None = None  # --normalize's factor per stride phase (per plane)
    phases_of_layer: LayerPhases | None = None  # a learned layer's phase pattern per output channel

    @property
    def planes(self) -> np.ndarray:
        """(P, kh, kw): the kernel's planes, a layer's every (input, output) kernel; their union is its support."""
        k = np.asarray(self.kernel)
        return k.reshape((-1,) + k.shape[-2:])

    @property
    def result(self) -> np.ndarray:
        """The result of the upsample being inspected (under :attr:`edge`)."""
        return self.results[self.edge.value]

    @property
    def deficit(self) -> tuple[int, int, int, int]:
        """The deficient border per side under :attr:`edge` (none under the edges that extend)."""
        return self.box if self.edge is Edge.zero else (0, 0, 0, 0)

    @property
    def colour(self) -> list[int] | None:
        """Indices of the colour channels (alpha left out), None for a one-channel image."""
        a = self.image.array
        if a.ndim == 2:
            return None
        return [c for c in range(a.shape[2]) if c != self.image.alpha_channel]

    def intensity(self, edge: str = "zero"):
        """(H_out, W_out) mean over the colour channels, in the image's units.

        With alpha, the colour is weighted by alpha (composited over black), so a
        border that turns transparent counts as darker, as it looks.
        """
        out = self.results[edge]
        if out.ndim == 2:
            return out
        if self.phases_of_layer is not None:  # a layer's output channels are all data
            return out.mean(axis=2)
        mean = out[..., self.colour].mean(axis=2)
        a = self.image.alpha_channel
        return mean if a is None else mean * (out[..., a] / self.image.alpha_max)

    def points(self) -> list[tuple[str, int, int]]:
        h, w = self.coverage.taps.shape
        return [
            ("top-left corner", 0, 0),
            ("top edge", 0, w // 2),
            ("top-right corner", 0, w - 1),
            ("left edge", h // 2, 0),
            ("interior", h // 2, w // 2),
            ("right edge", h // 2, w - 1),
            ("bottom-left corner", h - 1, 0),
            ("bottom edge", h - 1, w // 2),
            ("bottom-right corner", h - 1, w - 1),
        ]

    def as_dict(self) -> dict:
        im, cov, g = self.image, self.coverage, self.geometry
        h, w = cov.taps.shape
        k = np.asarray(self.kernel)
        lp = self.phases_of_layer
        phases = []
        if lp is not None:
            phases = self._layer_channels(lp)
        for c, plane in enumerate([] if lp is not None else [k] if k.ndim == 2 else list(k)):
            ph = phase_report(plane, g.stride, g.dilation)
            phases.append(
                {
                    "channel": None if k.ndim == 2 else c,
                    "sums": None if ph.sums is None else ph.sums.tolist(),  # None: too many phases to list
                    "min": ph.lo,
                    "max": ph.hi,
                    "phases": g.stride[0] * g.stride[1],
                    "reached": None if ph.sums is not None else ph.reached,
                    "flat": ph.flat,
                    "amplitude": None if ph.amplitude == float("inf") else ph.amplitude,
                }
            )
        points = []
        for where, r, c in self.points():
            points.append(
                {
                    "where": where,
                    "row": r,
                    "col": c,
                    "taps": int(cov.taps[r, c]),
                    "full_taps": int(cov.full_taps[r, c]),
                    "weight": float(cov.weight[r, c]),
                    "full_weight": float(cov.full_weight[r, c]),
                    "ratio": _finite(float(cov.ratio[r, c])),
                }
            )
        zero, rep = self.intensity("zero"), self.intensity("replicate")
        interior, bands = border_means(zero, self.box)
        rep_interior, rep_bands = border_means(rep, self.box)
        sides = []
        for side, width in zip(SIDES, self.box, strict=True):
            m, rm = bands[side], rep_bands[side]
            sides.append(
                {
                    "side": side,
                    "width": width,
                    "mean": m,
                    "replicate_mean": rm,
                    "ratio": _ratio(m, interior),
                    "ratio_vs_replicate": _ratio(m, rm),
                }
            )
        diff = zero - rep
        t, b, l, r = self.box
        inner = diff[t : h - b, l : w - r]
        kept = [h - t - b, w - l - r]
        traits = lp.traits(k, im.depth) if lp is not None else KernelTraits.of(k, g.stride, g.dilation)
        image = self.source or "IMAGE"
        out = self.result
        clipped = clipped_values(out, im.depth)
        advice = Advice(
            self.deficit, (h, w), im.size, g.stride, g.same, traits, clipped=clipped, values=out.size, depth=im.depth
        )
        given = " ".join(
            ([f"--bias {lp.layer.bias_spec}"] if lp is not None and lp.layer.bias_spec is not None else [])
            + ([f"--groups {lp.layer.groups}"] if lp is not None and lp.layer.groups != _default_groups(k) else [])
            + ([f"--edge {self.edge}"] if self.edge is not Edge.zero else [])
            + ([f"--normalize {self.normalize}"] if self.normalize is not Normalize.none else [])
        )
        dt, db, dl, dr = self.deficit
        return {
            "input": {
                "path": self.source,
                "synthetic": self.source is None,
                "value": SYNTHETIC_VALUE if self.source is None else None,
                "height": im.size[0],
                "width": im.size[1],
                "channels": im.channels,
                "depth": im.depth,
            },
            "kernel": {
                "spec": self.kernel_spec,
                "shape": list(k.shape),
                "sum": float(k.sum()),
                "normalize": self.normalize.value,
                "factors": None if self.factors is None else self.factors.tolist(),
            },
            "layer": None if lp is None else self._layer_dict(lp, lp.traits(k, im.depth)),
            "edge": self.edge.value,
            "params": g.params(self.axes),
            "size_math": [a.as_dict() for a in self.axes],
            "output": {"height": h, "width": w, "clipped": clipped, "values": int(out.size)},
            "phases": phases,
            "checkerboard": not all(ph["flat"] for ph in phases),
            "coverage": {
                "interior_taps": [int(cov.full_taps.min()), int(cov.full_taps.max())],
                "interior_weight": [float(cov.full_weight.min()), float(cov.full_weight.max())],
                "complete_pixels": int(cov.complete.sum()),
                "pixels": int(cov.complete.size),
                # under --edge: every pixel gets its phase's taps when the edges extend the input
                "edge": self.edge.value,
                "complete_pixels_under_edge": int(cov.complete.sum() if self.edge is Edge.zero else cov.complete.size),
                "deficient_border": {"top": dt, "bottom": db, "left": dl, "right": dr},
                "points": points,
            },
            "bands": {"interior_mean": interior, "replicate_interior_mean": rep_interior, "sides": sides},
            "difference": {
                "what": "zero-edge minus replicate-edge result: mean of the colour channels "
                "(times alpha/max when there is alpha), in the image's units",
                "max_abs": float(np.abs(diff).max()),
                "min": float(diff.min()),
                "max": float(diff.max()),
                "interior_max_abs": float(np.abs(inner).max()) if inner.size else None,
            },
            "crop_auto": {
                "top": t,
                "bottom": b,
                "left": l,
                "right": r,
                "kept": {"width": kept[1], "height": kept[0]},
                "reason": "border rows/cols that receive fewer kernel taps "
                "than an interior pixel of their stride phase",
            },
            "findings": [
                {"what": what, "text": text} for what, text in findings(self.deficit, traits, advice.clip_text())
            ],
            "upsample": upsample_command(image, self.kernel_spec, g, given),
            "cures": [
                {
                    **c.as_dict(),
                    # None: the cure is no option ("another kernel")
                    "command": upsample_command(image, self.kernel_spec, g, f"{given} {c.options}".strip())
                    if c.options.startswith("-")
                    else None,
                }
                for c in cures(
                    self.axes,
                    self.planes if lp is not None else k,
                    g,
                    edge=self.edge,
                    layer=self.layer,
                    clipped=advice.clip_fraction,
                    traits=traits,
                )
            ],
        }

    def _layer_channels(self, lp: LayerPhases) -> list[dict]:
        """The phase pattern of each output channel of a layer, as the ``phases`` of :meth:`as_dict`."""
        sy, sx = self.geometry.stride
        unit = depth_max(self.image.depth)
        out = []
        for o, ch in enumerate(lp.channels):
            out.append(
                {
                    "channel": o,
                    "inputs": lp.inputs(o),
                    "sums": ch.sums.tolist(),
                    "min": ch.lo,
                    "max": ch.hi,
                    "mean": ch.mean,
                    "phases": sy * sx,
                    "reached": None,
                    "flat": ch.flat,
                    "amplitude": None if ch.amplitude == float("inf") else ch.amplitude,
                    "peak_to_peak": ch.peak_to_peak,
                    "peak_to_peak_levels": ch.peak_to_peak * unit,
                }
            )
        return out

    def _layer_dict(self, lp: LayerPhases, traits: LayerTraits) -> dict:
        layer = lp.layer
        unit = depth_max(self.image.depth)
        return {
            "groups": layer.groups,
            "c_in": layer.c_in,
            "c_out": layer.c_out,
            "bias": None if layer.bias is None else layer.bias.tolist(),
            "bias_spec": layer.bias_spec,
            "constant": {
                "values": lp.constant.tolist(),
                "what": lp.what,
                "units": "[0, 1] (the bias's units; phase means, min, max and peak_to_peak are in them too)",
                "levels": "peak_to_peak_levels: the same swing in the image's units "
                f"({bits_text(self.image.depth)}, full scale {unit:g})",
            },
            "pair_sums": lp.pairs.tolist(),
            "worst": traits.worst,
            "ranking": "output channels whose phases are not flat, by max/min of their phase means "
            "(the larger magnitude over the smaller; inf when they straddle 0), then by swing",
            "checkerboard": traits.checkerboard,
        }


def bits_text(depth: int | str) -> str:
    return f"{depth}-bit" if isinstance(depth, int) else str(depth)


def _default_groups(weight: np.ndarray) -> int:
    """The groups deconv gives a 4-D weight when --groups is not given (see :func:`~deconv_cli.kernels.make_layer`)."""
    return weight.shape[0] if weight.shape[1] == 1 else 1


def clipped_values(out: np.ndarray, depth: int | str) -> int:
    """How many values of a float result saving at ``depth`` clips (rounding half up into
    0..max); none for a float depth, which is stored unclipped.

    >>> clipped_values(np.array([-0.6, -0.4, 255.4, 255.5]), 8)
    2
    """
    if not isinstance(depth, int):
        return 0
    return int(np.count_nonzero(out < -0.5)) + int(np.count_nonzero(out >= depth_max(depth) + 0.5))


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _output(axes: tuple[AxisSize, AxisSize]) -> tuple[int, int]:
    return axes[0].n_out, axes[1].n_out


def _limit(size: tuple[int, int], what: str, limit: int) -> None:
    """Refuse what has more than ``limit`` pixels (0: no limit), before anything is allocated."""
    h, w = size
    if limit and h * w > limit:
        raise DeconvError(
            f"{what} would be {w}x{h} = {h * w} pixels, over the limit of {limit} for deconv inspect, which "
            f"holds about {INSPECT_BYTES_PER_PIXEL} bytes per output pixel in memory; raise --max-pixels if you have it"
        )


def inspect_image(
    src: str | os.PathLike | None,
    *,
    size: tuple[int, int] | None = None,
    kernel: str = DEFAULT_KERNEL,
    stride: object = 2,
    padding: object = 0,
    output_padding: object = 0,
    dilation: object = 1,
    alpha: Alpha | str = Alpha.premultiply,
    max_pixels: int | None = None,
    edge: Edge | str = Edge.zero,
    normalize: Normalize | str = Normalize.none,
    groups: int | None = None,
    bias: str | None = None,
) -> Inspection:
    """Upsample an image (or a synthetic constant one of ``size``) with zero,
    replicate and renormalize edges, and measure where the border differs.

    ``src`` None uses a ``size`` (rows, cols) grey image of
    :data:`SYNTHETIC_VALUE`, so only the kernel's own edge effect shows.
    ``padding`` may be ``"same"`` or ``"same-lower"``. ``max_pixels`` (default :data:`INSPECT_MAX_PIXELS`;
    0: none) applies to the input and to the output. ``groups`` and ``bias`` set up a 4-D weight's
    learned layer (see :func:`~deconv_cli.kernels.make_layer`).

    >>> d = inspect_image(None, size=(8, 8), kernel="bilinear", stride=2, padding=1).as_dict()
    >>> d["crop_auto"]["kept"], d["checkerboard"]
    ({'width': 14, 'height': 14}, False)
    """
    geometry = Geometry.of(stride, padding, output_padding, dilation)
    alpha_ = Alpha.of(alpha, "alpha")
    kern = open_kernel(kernel, geometry.stride)
    kern = replace(kern, layer=make_layer(kern.weight, groups, bias, str(kernel)))
    return inspect(
        src, size, kern, geometry, alpha_, max_pixels, Edge.of(edge, "edge"), Normalize.of(normalize, "normalize")
    )


def inspect(
    src: str | os.PathLike | None,
    size: tuple[int, int] | None,
    kern: Kernel,
    geometry: Geometry,
    alpha: Alpha,
    max_pixels: int | None = None,
    edge: Edge = Edge.zero,
    normalize: Normalize = Normalize.none,
) -> Inspection:
    """:func:`inspect_image` with checked settings: a resolved kernel, a geometry, an alpha mode,
    the edge mode of the upsample inspected (its result, findings and cures; zero, replicate and
    renormalize are always computed, for the comparisons) and the kernel's ``--normalize``."""
    if (src is None) == (size is None):
        raise DeconvError(
            "give either an IMAGE or --size WIDTHxHEIGHT (a synthetic constant image), not both or neither", usage=True
        )
    k = kern.weight
    layer = kern.layer
    if k.ndim == 4 and layer is None:
        layer = make_layer(k, None, None, kern.source)
    factors = None
    if normalize is not Normalize.none:
        k, factors = normalize_kernel(k, geometry.stride, geometry.dilation, normalize, f"kernel {kern.source}")
    if layer is not None:
        check_layer_edge(edge, f"kernel {kern.source}, weight {k.shape}")
        if src is None and layer.c_in not in _CHANNELS:
            raise DeconvError(
                f"--size makes a grey, grey+alpha, RGB or RGBA image (1 to 4 channels), but the layer {kern.source} "
                f"takes C_in = {layer.c_in}; inspect it on an image of {layer.c_in} channels",
                usage=True,
            )
    limit = INSPECT_MAX_PIXELS if max_pixels is None else max_pixels
    if src is None:
        assert size is not None
        _limit(size, "the synthetic image", limit)
        _limit(_output(geometry.axes(size, k.shape[-2:])), "the output", limit)
        shape = size if layer is None or layer.c_in == 1 else (*size, layer.c_in)
        mode_ = "L" if layer is None else _CHANNELS[layer.c_in]
        image = ImageData(np.full(shape, SYNTHETIC_VALUE, np.uint8), mode_, 8, source="synthetic")
    else:
        header = probe(src, max_pixels=limit)
        _limit(_output(geometry.axes(header.size, k.shape[-2:])), f"{src}: the output", limit)
        image = decode(header)
    axes = geometry.axes(image.size, k.shape[-2:])
    _limit(_output(axes), f"{src or 'synthetic image'}: the output", limit)
    if layer is not None:
        return _inspect_layer(src, image, kern, k, layer, geometry, axes, edge)
    premultiply = image.alpha_channel if alpha is Alpha.premultiply else None
    results = {}
    for mode in dict.fromkeys((Edge.zero, Edge.replicate, Edge.renormalize, edge)):
        try:
            results[mode.value] = plan(
                image.array,
                k,
                axes,
                edge=mode,
                dtype="float64",
                alpha=(premultiply, image.alpha_max) if premultiply is not None else None,
            ).compute_image()
        except DeconvError as e:
            raise DeconvError(f"{src or 'synthetic image'} with kernel {kern.source}: {e}", usage=e.usage) from None
    cov = coverage_of(axes, k)  # like the results and the crop: on what a same padding's trims leave
    box = auto_crop(axes, k)
    return Inspection(
        None if src is None else str(src),
        image,
        kern.source,
        k,
        geometry,
        axes,
        results,
        cov,
        box,
        layer=kern.layer is not None,
        edge=edge,
        normalize=normalize,
        factors=factors,
    )


def _inspect_layer(
    src: str | os.PathLike | None,
    image: ImageData,
    kern: Kernel,
    weight: np.ndarray,
    layer: Layer,
    geometry: Geometry,
    axes: tuple[AxisSize, AxisSize],
    edge: Edge,
) -> Inspection:
    """:func:`inspect` for a learned layer (any 4-D weight): its results under zero and replicate
    edges (renormalize means nothing once channels mix), the border of the union of its (input,
    output) kernels, and each output channel's phase pattern under a constant input: each input
    channel at the image's mean, or at 1 for the synthetic image (``--size``), in [0, 1] units,
    the bias added."""
    where = src or "synthetic image"
    x = image.array if image.array.ndim == 3 else image.array[:, :, None]
    if x.shape[2] != layer.c_in:
        raise DeconvError(
            f"{where}: has {image.channels} ({x.shape[2]} channel(s)) but the layer {kern.source} takes "
            f"C_in = {layer.c_in} (weight shape {weight.shape})",
            usage=True,
        )
    unit = depth_max(image.depth)
    bias = None if layer.bias is None else layer.bias * unit
    results = {}
    for mode in dict.fromkeys((Edge.zero, Edge.replicate, edge)):
        try:
            results[mode.value] = apply_layer(x, weight, bias, axes, layer.groups, edge=mode, dtype="float64")
        except DeconvError as e:
            raise DeconvError(f"{where} with kernel {kern.source}: {e}", usage=e.usage) from None
    planes = weight.reshape((-1,) + weight.shape[-2:])
    cog, cig = layer.c_out // layer.groups, layer.c_in // layer.groups
    # what an image of ones gives each output channel: the sum of its group's kernels
    totals = np.stack(
        [weight[(o // cog) * cig : (o // cog + 1) * cig, o % cog].sum(axis=0) for o in range(layer.c_out)]
    )
    taps, weights = coverage_of(axes, planes), coverage_of(axes, totals)
    cov = Coverage(taps.taps, taps.full_taps, weights.weight, weights.full_weight)
    box = auto_crop(axes, planes)  # the union of every (input, output) kernel's support
    if src is None:
        constant = np.ones(layer.c_in)
        what = "each input channel at 1, white in [0, 1] units" + (", plus the bias" if layer.bias is not None else "")
    else:
        constant = channel_means(x) / unit
        what = "each input channel at the image's mean, in [0, 1] units" + (
            ", plus the bias" if layer.bias is not None else ""
        )
    return Inspection(
        None if src is None else str(src),
        image,
        kern.source,
        weight,
        geometry,
        axes,
        results,
        cov,
        box,
        layer=True,
        edge=edge,
        phases_of_layer=layer_phases(layer, weight, geometry, constant, what),
    )
