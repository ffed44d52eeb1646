"""One file in, one file out: check, load, compute in strips, save; and the report of it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..core import AxisSize, Box, crop_box, plan, work_seconds
from ..core.advice import Advice, KernelTraits, LayerTraits, border_deficit
from ..core.analysis import ChannelPhases, channel_means, layer_phase_sums, layer_response
from ..core.ops import separable_factors
from ..core.planning import plan_layer, plan_two_pass
from ..engine import Strips
from ..errors import DeconvError
from ..imageio import (
    WRITE_FORMATS,
    ImageData,
    SaveReport,
    check_writable,
    decode,
    depth_max,
    output_format,
    probe,
    save_strips,
)
from ..modes import Alpha, SamePadding
from .settings import Settings


@dataclass
class Outcome:
    """Everything a report of one upsample needs."""

    input: str
    output: str
    settings: Settings
    axes: tuple[AxisSize, AxisSize]
    image: ImageData
    out_shape: tuple[int, ...]
    saved: SaveReport
    crop: Box = (0, 0, 0, 0)  # what was cut: the crop asked for, plus a same padding's trims
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return self.image.warnings + self.saved.warnings

    @property
    def advice(self) -> Advice:
        """The hint (a deficient border) and the warning (checkerboard, gain, clipping) of this result."""
        s, k = self.settings, self.settings.kernel
        h, w = self.out_shape[:2]
        values = int(np.prod(self.out_shape))
        traits = (
            self._layer_traits()
            if k.layer is not None
            else KernelTraits.of(k.weight, s.geometry.stride, s.geometry.dilation)
        )
        rows, cols = self.axes
        t, b, l, r = self.crop  # the crop and a same padding's trims; border_deficit counts after the trims
        cropped = (t - rows.trim_start, b - rows.trim_end, l - cols.trim_start, r - cols.trim_end)
        return Advice(
            border=border_deficit(self.axes, k.weight, s.edge, cropped),
            shape=(h, w),
            input=self.image.size,
            stride=s.geometry.stride,
            # a model file's padding is the model's: the cure is replicate edges, not another padding
            same=s.geometry.same or (s.geometry_from or {}).get("padding") == "file",
            traits=traits,
            clipped=self.saved.clipped,
            values=values,
            depth=self.saved.depth,
            offset=k.offset,
        )

    def _layer_traits(self) -> LayerTraits | None:
        """A learned layer's checkerboard: each output channel's stride phases under a constant input,
        every input channel at this image's mean (in [0, 1] units, the bias's), as inspect computes
        it; None where the stride has more phases than deconv computes sums for (nothing is said)."""
        s, k = self.settings, self.settings.kernel
        layer = k.layer
        assert layer is not None
        unit = depth_max(self.image.depth)
        x = self.image.array
        constant = channel_means(x) / unit
        try:
            pairs = layer_phase_sums(k.weight, s.geometry.stride, s.geometry.dilation)
        except DeconvError:
            return None
        response = layer_response(pairs, layer.groups, constant, layer.bias)
        depth = self.saved.depth
        channels = [ChannelPhases(r) for r in response]
        traits = LayerTraits.of_channels(
            channels,
            bool((k.weight < 0).any()),
            "each input channel at the image's mean" + (", plus the bias" if layer.bias is not None else ""),
            depth_max(depth),
            f"{depth}-bit" if isinstance(depth, int) else "float",
        )
        # a pattern under half a level of the saved file (half an 8-bit level for floats) cannot be
        # seen in it: upsample says nothing (inspect still reports it, with its swing)
        visible = 0.5 / (depth_max(depth) if isinstance(depth, int) else 255.0)
        if all(c.peak_to_peak < visible for c in channels):
            return replace(traits, flat=True)
        return traits

    def as_dict(self) -> dict:
        im, s = self.image, self.settings
        kern, layer = s.kernel, s.kernel.layer
        return {
            "input": {
                "path": self.input,
                "format": im.format,
                "height": im.size[0],
                "width": im.size[1],
                "channels": im.channels,
                "depth": im.depth,
            },
            "output": {
                "path": self.output,
                "format": self.saved.format,
                "height": self.out_shape[0],
                "width": self.out_shape[1],
                "channels": layer.channels if layer else im.channels,
                "depth": self.saved.depth,
            },
            "kernel": {
                "spec": kern.source,
                "shape": list(kern.weight.shape),
                "sum": float(kern.weight.sum()),
                "offset": kern.offset,
                "groups": layer.groups if layer else None,
                "bias": layer.bias_spec if layer else None,
                "normalize": kern.normalize.value,
                "factors": None if kern.factors is None else kern.factors.tolist(),
            },
            "params": {
                **s.geometry.params(self.axes),
                "geometry_from": None if s.geometry_from is None else dict(s.geometry_from),
                "edge": s.edge.value,
                "scale": None if s.scale is None else {"factor": list(s.scale), "means": s.scale_means},
                "alpha": "none (learned layer: every channel is data)" if layer else s.alpha.value,
                "dtype": s.dtype.value,
                "quality": s.quality,
            },
            "size_math": [a.as_dict() for a in self.axes],
            "crop": {
                "mode": s.crop.mode,
                "top": self.crop[0],
                "bottom": self.crop[1],
                "left": self.crop[2],
                "right": self.crop[3],
                "reason": self._crop_reason(),
            },
            "clipped": {"below": self.saved.clipped_low, "above": self.saved.clipped_high, "total": self.saved.clipped},
            "warnings": self.warnings,
            "advice": self.advice.as_dict(),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }

    def _crop_reason(self) -> str:
        mode, edge = self.settings.crop.mode, self.settings.edge
        parts = []
        if mode == "auto" and edge.pad_mode:
            parts.append(f"none needed: --edge {edge.value} gives every kept pixel all its kernel taps")
        elif mode == "auto":
            parts.append("border rows/cols that receive fewer kernel taps than the interior")
        elif mode == "explicit":
            parts.append("as requested")
        dropped = [a.dropped() for a in self.axes if a.dropped()]
        if dropped:
            pad = self.settings.geometry.padding
            by = f"--padding {pad}" if isinstance(pad, SamePadding) else f"the model's {getattr(pad, 'text', pad)}"
            parts.append(f"{' and '.join(dropped)} dropped by {by}, which no PyTorch padding cuts")
        return "; ".join(parts) or "none"


def output_suffix(src: str | os.PathLike) -> str:
    """The extension of an image's default output: its own, except GIF (which would quantise
    the result to 256 colours) and extensions deconv does not write, which become ``.png``.

    >>> output_suffix("a.JPG"), output_suffix("b.gif"), output_suffix("c.ico")
    ('.jpg', '.png', '.png')
    """
    suffix = Path(src).suffix.lower()
    return ".png" if WRITE_FORMATS.get(suffix) in (None, "GIF", "NPY") else suffix


def default_output(src: str | os.PathLike, label: str) -> Path:
    """``photo.jpg`` -> ``photo_x2.jpg`` beside it (``label``: the stride, see :attr:`Geometry.label`).

    >>> default_output("shots/cat.gif", "2").as_posix()
    'shots/cat_x2.png'
    """
    p = Path(src)
    return p.with_name(f"{p.stem}_x{label}{output_suffix(p)}")


def upsample_file(src: str | os.PathLike, dst: str | os.PathLike | None = None, **options) -> Outcome:
    """Upsample one image file into another.

    ``options`` are those of :meth:`Settings.of` (``kernel``, ``stride``,
    ``padding`` (an int, a pair, ``"same"`` or ``"same-lower"``), ``edge``, ``crop``, ``depth``,
    ...). ``dst`` None writes ``IMAGE_x2.EXT`` beside the input. See :func:`process`.

    >>> # upsample_file("photo.png", "big.png", kernel="bicubic", stride=2, padding="same")
    """
    return process(src, dst, Settings.of(**options))


def _layout(src, s: Settings, size: tuple[int, int]) -> tuple[tuple[AxisSize, AxisSize], Box]:
    """The output's axes and the crop for an input of ``size`` (H, W), refusing what does not fit:
    a padding that leaves nothing, an output over the pixel limit, a crop that leaves nothing."""
    k = s.kernel.weight
    axes = s.geometry.axes(size, k.shape[-2:])
    _output_limit(src, axes, s.max_pixels)
    rows, cols = axes
    box = crop_box(s.crop, axes, k, s.edge)
    cut = (box[0] + rows.trim_start, box[1] + rows.trim_end, box[2] + cols.trim_start, box[3] + cols.trim_end)
    if rows.n_out - cut[0] - cut[1] < 1 or cols.n_out - cut[2] - cut[3] < 1:
        raise DeconvError(
            f"crop {cut[0]},{cut[1]},{cut[2]},{cut[3]} (top,bottom,left,right) leaves nothing "
            f"of the {rows.n_out}x{cols.n_out} output",
            usage=not s.crop.auto,
        )
    return axes, box


def process(
    src: str | os.PathLike,
    dst: str | os.PathLike | None,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Upsample one image file into another with the settings of a run.

    Everything is checked (output path and format, the image's size against
    the limit and the padding, the crop) before the pixels are computed, and
    the output is written atomically: on any error nothing is left behind.

    A 4-D kernel is a learned layer (:func:`~deconv_cli.core.conv_transpose2d_layer`):
    its bias is in [0, 1] units (the image's range, as PyTorch's ToTensor feeds a
    network) and is scaled to the image's units; every channel is data (no alpha
    premultiplication). A ``.mat`` kernel's offset is added after the convolution, in
    the image's units, to every channel but alpha under ``premultiply``.

    ``progress(strips done, strips in all)`` is called as the strips are written (from the
    thread that calls this), for a progress display.
    """
    t0 = time.perf_counter()
    s = settings
    kern = s.kernel
    k, layer = kern.weight, kern.layer
    dst = Path(dst) if dst is not None else default_output(src, s.geometry.label)
    if Path(src).exists() and dst.exists() and os.path.samefile(src, dst):
        raise DeconvError(f"{dst}: is the input file itself; choose another output")
    check_writable(dst, overwrite=True, quality=s.quality)  # a file name, in a directory that exists, of a known format
    if layer and layer.c_out not in (1, 3, 4) and output_format(dst) != "NPY":
        raise DeconvError(
            f"{dst}: the layer outputs {layer.c_out} channels; an image holds 1, 3 or 4, so write .npy", usage=True
        )
    header = probe(src, max_pixels=s.max_pixels)
    # what the parameters make of this size (padding, limit, crop) is checked from the header,
    # before the output's existence and before any pixel is decoded
    _layout(src, s, header.size)
    check_writable(dst, overwrite=s.overwrite)
    image = decode(header, rows=True)  # RGB(A) as rows of the decoder's image: no second full-size copy
    n_channels = image.pixels.shape[2] if image.pixels.ndim == 3 else 1
    if layer and n_channels != layer.c_in:
        raise DeconvError(
            f"{src}: has {image.channels} ({n_channels} channel(s)) but the "
            f"layer {kern.source} takes C_in = {layer.c_in} (weight shape {k.shape})",
            usage=True,
        )
    axes, box = _layout(src, s, image.size)  # the same unless the EXIF orientation turned out otherwise
    rows, cols = axes
    cut = (box[0] + rows.trim_start, box[1] + rows.trim_end, box[2] + cols.trim_start, box[3] + cols.trim_end)
    out_depth = image.depth if s.depth.bits is None else s.depth.bits
    out_channels = layer.channels if layer else image.channels
    check_writable(dst, overwrite=s.overwrite, depth=out_depth, channels=out_channels)
    t1 = time.perf_counter()
    alpha = (
        (image.alpha_channel, image.alpha_max)
        if s.alpha is Alpha.premultiply and image.alpha_channel is not None
        else None
    )
    scale = _depth_scale(image.depth, out_depth)
    try:
        strips = _plan(image, s, axes, box, alpha)
    except DeconvError as e:  # e.g. a per-channel kernel that does not fit: say which files
        raise DeconvError(f"{src} with kernel {kern.source}: {e}", usage=e.usage) from None
    _work_limit(src, strips, s.max_work)
    t2 = time.perf_counter()
    saved = save_strips(  # every mode: strips computed, converted and written as they come
        dst,
        strips,
        channels=out_channels,
        depth=out_depth,
        like=image,
        compress=s.compress,
        quality=s.quality,
        overwrite=s.overwrite,
        scale=scale,
        progress=progress,
    )
    out_shape = strips.shape[:2] if strips.squeeze else strips.shape
    t3 = time.perf_counter()
    return Outcome(
        input=str(src),
        output=str(dst),
        settings=s,
        axes=axes,
        image=image,
        out_shape=out_shape,
        saved=saved,
        crop=cut,
        # strips are computed, converted and (PNG) compressed together: "compute" is that loop
        seconds={
            "load": t1 - t0,
            "compute": t2 - t1 + saved.strip_seconds,
            "save": t3 - t2 - saved.strip_seconds,
            "total": t3 - t0,
        },
    )


def _plan(image: ImageData, s: Settings, axes: tuple[AxisSize, AxisSize], box: Box, alpha) -> Strips:
    """The strips of the output: of the kernel (with alpha and a ``.mat`` offset), of a learned
    layer (:func:`~deconv_cli.core.planning.plan_layer`, its bias in the image's units) or of
    the two-pass computation (:func:`~deconv_cli.core.planning.plan_two_pass`)."""
    kern = s.kernel
    k, layer, x, dtype = kern.weight, kern.layer, image.pixels, s.dtype.value
    if layer:  # its parts read channels of the whole image
        x = image.array
        bias = None if layer.bias is None else layer.bias * depth_max(image.depth)
        x3 = x if x.ndim == 3 else x[:, :, None]
        return plan_layer(x3, k, bias, axes, layer.groups, edge=s.edge, dtype=dtype, crop=box, offset=kern.offset)
    if s.two_pass:
        if image.depth not in (8, 16):
            raise DeconvError(
                f"--two-pass stores the intermediate in the image's integer range; this image is {image.depth}"
                f"{'-bit' if isinstance(image.depth, int) else ''} (use the default, exact computation)",
                usage=True,
            )
        if image.alpha_channel is not None and s.alpha is Alpha.premultiply:
            raise DeconvError(
                "--two-pass treats every channel alike: add --alpha separate for an image with alpha", usage=True
            )
        factors = separable_factors(k)
        assert factors is not None  # Settings checked it
        clip = (0.0, float(depth_max(image.depth)))
        return plan_two_pass(x, factors, axes, edge=s.edge, clip=clip, dtype=dtype, crop=box, offset=kern.offset)
    return plan(x, k, axes, edge=s.edge, dtype=dtype, crop=box, alpha=alpha, offset=kern.offset)


def _work_limit(src: str | os.PathLike, strips: Strips, limit: float) -> None:
    """Refuse work the cost model estimates at more than ``limit`` seconds of one core (0: no limit)."""
    work = work_seconds(strips)
    if limit and work > limit:
        raise DeconvError(
            f"{src}: the computation would take about {work:.3g} s of one CPU core by the cost model "
            f"({strips.method} method, {strips.shape[1]}x{strips.shape[0]} output), over the --max-work "
            f"limit of {limit:g} s; raise --max-work if you mean it"
        )


def _output_limit(src: str | os.PathLike, axes: tuple[AxisSize, AxisSize], limit: int) -> None:
    """Refuse an output the size formula makes larger than ``limit`` pixels (0: no limit)."""
    rows, cols = axes
    if limit and rows.n_out * cols.n_out > limit:
        raise DeconvError(
            f"{src}: the output would be {cols.n_out}x{rows.n_out} = {rows.n_out * cols.n_out} pixels, "
            f"over the limit of {limit}; raise --max-pixels if you have the memory"
        )


def _depth_scale(src: int | str, dst: int | str) -> float:
    """Factor that carries values from one integer depth's units to another's (8 -> 16: 257)."""
    if src == dst or "float" in (src, dst) or 32 in (src, dst):
        return 1.0
    return 257.0 if (src, dst) == (8, 16) else 1 / 257.0  # 8 -> 16 or 16 -> 8
