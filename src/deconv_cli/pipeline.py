"""One file in, one file out: load the kernel and image, check, compute, save."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .core import (
    AXES,
    EDGE_MODES,
    SIDES,
    AxisSize,
    Coverage,
    _plan,
    as_pair,
    auto_crop,
    border_means,
    check_axis,
    conv_transpose2d_two_pass,
    coverage,
    phase_sums,
    same_padding,
    size_math,
    upsample,
)
from .errors import DeconvError
from .imageio import (
    WRITE_FORMATS,
    ImageData,
    SaveReport,
    check_writable,
    depth_max,
    load_image,
    output_format,
    save_image,
    save_strips,
)
from .kernels import load_bias, open_kernel

if TYPE_CHECKING:
    import numpy as np


#: Default limit on the pixels of an input, and of an output as the size formula predicts it
#: before anything is allocated (16384 x 16384; a float32 RGB result that size takes 3 GiB).
DEFAULT_MAX_PIXELS = 1 << 28


@dataclass
class Params:
    """Geometry of the operation, each a (rows, cols) pair once parsed.

    ``same`` asks for the padding (and output_padding, and a one-row trim where
    needed) that makes the output exactly stride x the input; it is resolved
    against the kernel by :meth:`resolve_same`.
    """

    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)
    output_padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    same: bool = False
    trim_end: tuple[int, int] = (0, 0)

    @classmethod
    def parse(cls, stride="2", padding="0", output_padding="0", dilation="1") -> Params:
        same = isinstance(padding, str) and padding.strip().lower() == "same"
        params = cls(
            as_pair(stride, "stride"),
            (0, 0) if same else as_pair(padding, "padding"),
            as_pair(output_padding, "output_padding"),
            as_pair(dilation, "dilation"),
            same=same,
        )
        if same and params.output_padding != (0, 0):
            raise DeconvError("--padding same chooses the output_padding itself; drop --output-padding", usage=True)
        for i, axis in enumerate(AXES):
            check_axis(axis, params.stride[i], params.padding[i], params.output_padding[i], params.dilation[i])
        return params

    def resolve_same(self, kernel_shape: tuple[int, ...]) -> None:
        """Fill padding, output_padding and trim_end for ``same`` from the kernel size."""
        if not self.same:
            return
        chosen = [same_padding(kernel_shape[-2 + i], self.stride[i], self.dilation[i]) for i in range(2)]
        self.padding = (chosen[0][0], chosen[1][0])
        self.output_padding = (chosen[0][1], chosen[1][1])
        self.trim_end = (chosen[0][2], chosen[1][2])

    def label(self) -> str:
        sy, sx = self.stride
        return str(sy) if sy == sx else f"{sy}x{sx}"


def parse_crop(spec: str | None) -> str | tuple[int, int, int, int]:
    """``none``, ``auto``, ``N`` (every side) or ``T,B,L,R`` -> "auto" or a 4-tuple.

    >>> parse_crop("auto"), parse_crop("2"), parse_crop("1,2,3,4"), parse_crop(None)
    ('auto', (2, 2, 2, 2), (1, 2, 3, 4), (0, 0, 0, 0))
    """
    text = "none" if spec is None else str(spec).strip().lower()
    if text == "none":
        return (0, 0, 0, 0)
    if text == "auto":
        return "auto"
    try:
        nums = [int(v) for v in text.split(",")]
    except ValueError:
        nums = []
    if len(nums) == 1:
        nums *= 4
    if len(nums) != 4 or min(nums) < 0:
        raise DeconvError(f"crop {spec!r} must be none, auto, N or TOP,BOTTOM,LEFT,RIGHT (integers >= 0)", usage=True)
    return tuple(nums)  # type: ignore[return-value]


@dataclass
class Outcome:
    """Everything a report of one upsample needs."""

    input: str
    output: str
    kernel_spec: str
    kernel_shape: tuple[int, ...]
    kernel_sum: float
    params: Params
    axes: tuple[AxisSize, AxisSize]
    image: ImageData
    out_shape: tuple[int, ...]
    out_depth: int | str
    saved: SaveReport
    alpha: str
    dtype: str
    edge: str = "zero"
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    crop_mode: str = "none"
    seconds: dict[str, float] = field(default_factory=dict)
    layer: Layer | None = None
    offset: float = 0.0

    @property
    def warnings(self) -> list[str]:
        return self.image.warnings + self.saved.warnings

    def as_dict(self) -> dict:
        im = self.image
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
                "channels": self.layer.channels if self.layer else im.channels,
                "depth": self.out_depth,
            },
            "kernel": {
                "spec": self.kernel_spec, "shape": list(self.kernel_shape), "sum": self.kernel_sum, "offset": self.offset,
                "groups": self.layer.groups if self.layer else None, "bias": self.layer.bias_spec if self.layer else None,
            },  # fmt: skip
            "params": {
                "stride": list(self.params.stride),
                "padding": list(self.params.padding),
                "output_padding": list(self.params.output_padding),
                "dilation": list(self.params.dilation),
                "same": self.params.same,
                "edge": self.edge,
                "alpha": self.alpha,
                "dtype": self.dtype,
            },
            "size_math": [a.as_dict() for a in self.axes],
            "crop": {
                "mode": self.crop_mode,
                "top": self.crop[0],
                "bottom": self.crop[1],
                "left": self.crop[2],
                "right": self.crop[3],
                "reason": _crop_reason(self.crop_mode, self.params, self.edge),
            },
            "clipped": {"below": self.saved.clipped_low, "above": self.saved.clipped_high, "total": self.saved.clipped},
            "warnings": self.warnings,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }


def _crop_reason(mode: str, params: Params, edge: str) -> str:
    parts = []
    if mode == "auto" and edge in ("replicate", "reflect", "wrap"):
        parts.append(f"none needed: --edge {edge} gives every kept pixel all its kernel taps")
    elif mode == "auto":
        parts.append("border rows/cols that receive fewer kernel taps than the interior")
    elif mode == "explicit":
        parts.append("as requested")
    if any(params.trim_end):
        parts.append("one row/col trimmed at the end for an exact --padding same (stride 1, odd trim)")
    return "; ".join(parts) or "none"


@dataclass
class Layer:
    """A 4-D kernel used as a learned ConvTranspose2d layer: groups, bias, and what it outputs."""

    groups: int
    c_in: int
    c_out: int
    bias: np.ndarray | None = None  # (C_out,), in [0, 1] units
    bias_spec: str | None = None

    @property
    def channels(self) -> str:
        """Layout of the output: L, RGB, RGBA, or 'N channels' (only .npy can hold those)."""
        return {1: "L", 3: "RGB", 4: "RGBA"}.get(self.c_out, f"{self.c_out} channels")

    @classmethod
    def setup(cls, weight, groups: int | None, bias: str | None, kernel: str, edge: str = "zero") -> Layer | None:
        """None for a 2-D/3-D kernel (refusing groups and bias there); the layer for a 4-D one."""
        if weight.ndim != 4:
            for name, given in (("--groups", groups), ("--bias", bias)):
                if given is not None:
                    raise DeconvError(
                        f"{name} applies to a learned layer, a 4-D weight (C_in, C_out/groups, kh, kw); kernel {kernel} "
                        f"has shape {weight.shape} (reshape a per-channel kernel to (C, 1, kh, kw) to use it)",
                        usage=True,
                    )
            return None
        if edge == "renormalize":
            raise DeconvError(
                f"--edge renormalize divides by the kernel weight that arrived, which has no meaning for a layer that "
                f"mixes channels (kernel {kernel} has shape {weight.shape}); use zero, replicate, reflect or wrap",
                usage=True,
            )
        c_in, cog = weight.shape[0], weight.shape[1]
        if groups is None:
            groups = c_in if cog == 1 else 1
        if groups < 1 or c_in % groups:
            raise DeconvError(
                f"--groups {groups} must divide C_in = {c_in} (kernel {kernel} has shape {weight.shape})", usage=True
            )
        layer = cls(groups, c_in, cog * groups, bias_spec=bias)
        if bias is not None:
            layer.bias = load_bias(bias, layer.c_out)
        return layer


def default_output(src: str | os.PathLike, params: Params) -> Path:
    """``photo.jpg`` -> ``photo_x2.jpg`` beside it.

    The input's format is kept, except GIF (which would quantise the result to
    256 colours) and extensions deconv does not write, which become PNG.
    """
    p = Path(src)
    return p.with_name(f"{p.stem}_x{params.label()}{output_suffix(p)}")


def output_suffix(src: str | os.PathLike) -> str:
    """The extension of an image's default output: its own, except GIF (which would quantise
    the result to 256 colours) and extensions deconv does not write, which become ``.png``.

    >>> output_suffix("a.JPG"), output_suffix("b.gif"), output_suffix("c.ico")
    ('.jpg', '.png', '.png')
    """
    suffix = Path(src).suffix.lower()
    return ".png" if WRITE_FORMATS.get(suffix) in (None, "GIF", "NPY") else suffix


def upsample_file(
    src: str | os.PathLike,
    dst: str | os.PathLike | None = None,
    *,
    kernel: str = "bilinear",
    params: Params | None = None,
    alpha: str = "premultiply",
    edge: str = "zero",
    crop: str | None = None,
    dtype: str = "float32",
    depth: int | str | None = None,
    compress: int | None = None,
    overwrite: bool = False,
    max_pixels: int | None = None,
    groups: int | None = None,
    bias: str | None = None,
    two_pass: bool = False,
) -> Outcome:
    """Upsample one image file into another.

    ``depth`` None keeps the input's depth; ``alpha`` is ``premultiply`` or
    ``separate``; ``edge`` one of :data:`~deconv_cli.core.EDGE_MODES`; ``crop``
    ``none``, ``auto``, ``N`` or ``T,B,L,R`` (see :func:`parse_crop`).
    Everything is checked (parameters, kernel, output path and format) before
    the pixels are decoded, and the output is written atomically: on any
    error nothing is left behind.

    A 4-D kernel is a learned layer (:func:`~deconv_cli.core.conv_transpose2d_layer`):
    ``groups`` defaults to C_in when its second dimension is 1, else 1;
    ``bias`` is ``FILE[:NAME]``, a list or a number, in [0, 1] units (the
    image's range, as PyTorch's ToTensor feeds a network) and is scaled to
    the image's units. Every channel is data (no alpha premultiplication).
    A ``.mat`` kernel's offset is added after the convolution, in the
    image's units, to every channel but alpha under ``premultiply``.
    """
    t0 = time.perf_counter()
    params = params or Params()
    if alpha not in ("premultiply", "separate"):
        raise DeconvError(f"alpha must be premultiply or separate, got {alpha!r}", usage=True)
    if edge not in EDGE_MODES:
        raise DeconvError(f"edge must be one of {', '.join(EDGE_MODES)}, got {edge!r}", usage=True)
    crop_spec = parse_crop(crop)
    kern = open_kernel(kernel, params.stride)
    k = kern.weight
    layer = Layer.setup(k, groups, bias, kernel, edge)
    params.resolve_same(k.shape)
    dst = Path(dst) if dst is not None else default_output(src, params)
    if Path(src).exists() and dst.exists() and os.path.samefile(src, dst):
        raise DeconvError(f"{dst}: is the input file itself; choose another output")
    check_writable(dst, overwrite=overwrite)
    if layer and layer.c_out not in (1, 3, 4) and output_format(dst) != "NPY":
        raise DeconvError(
            f"{dst}: the layer outputs {layer.c_out} channels; an image holds 1, 3 or 4, so write .npy", usage=True
        )
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    image = load_image(src, max_pixels=limit)
    n_channels = image.array.shape[2] if image.array.ndim == 3 else 1
    if layer and n_channels != layer.c_in:
        raise DeconvError(
            f"{src}: has {image.channels} ({n_channels} channel(s)) but the "
            f"layer {kernel} takes C_in = {layer.c_in} (weight shape {k.shape})",
            usage=True,
        )
    axes = size_math(image.size, k.shape[-2:], params.stride, params.padding, params.output_padding, params.dilation)
    if limit and axes[0].n_out * axes[1].n_out > limit:
        raise DeconvError(
            f"{src}: the output would be {axes[1].n_out}x{axes[0].n_out} = {axes[0].n_out * axes[1].n_out} pixels, "
            f"over the limit of {limit}; raise --max-pixels if you have the memory"
        )
    if crop_spec == "auto":  # under replicate/reflect/wrap every kept pixel already has all its taps
        crop_box = auto_crop(axes, k) if edge in ("zero", "renormalize") else (0, 0, 0, 0)
    else:
        crop_box = crop_spec
    ty, tx = params.trim_end
    crop_box = (crop_box[0], crop_box[1] + ty, crop_box[2], crop_box[3] + tx)
    kept = (axes[0].n_out - crop_box[0] - crop_box[1], axes[1].n_out - crop_box[2] - crop_box[3])
    if min(kept) < 1:
        raise DeconvError(
            f"crop {crop_box[0]},{crop_box[1]},{crop_box[2]},{crop_box[3]} (top,bottom,left,right) leaves nothing "
            f"of the {axes[0].n_out}x{axes[1].n_out} output",
            usage=crop_spec != "auto",
        )
    out_depth = image.depth if depth is None else depth
    out_channels = layer.channels if layer else image.channels
    check_writable(dst, overwrite=overwrite, depth=out_depth, channels=out_channels)
    t1 = time.perf_counter()
    in_memory = bool(layer) or bool(kern.offset) or two_pass  # else: strips computed while saving
    try:
        if in_memory:
            result = _compute(image, k, kern.offset, layer, params, alpha, edge, dtype, two_pass)
        else:
            plan = _plan(
                image.array, k, params.stride, params.padding, params.output_padding, params.dilation,
                edge=edge, dtype=dtype, crop=crop_box,
                alpha=(image.alpha_channel, image.alpha_max) if alpha == "premultiply" and image.alpha_channel is not None else None,
            )  # fmt: skip
    except DeconvError as e:  # e.g. a per-channel kernel that does not fit: say which files
        raise DeconvError(f"{src} with kernel {kernel}: {e}", usage=e.usage) from None
    scale = _depth_scale(image.depth, out_depth)
    if in_memory:
        t, b, l, r = crop_box
        if any(crop_box):
            result = result[t : result.shape[0] - b, l : result.shape[1] - r]
        if scale != 1.0:
            result *= scale
        t2 = time.perf_counter()
        saved = save_image(
            dst, result, channels=out_channels, depth=out_depth, like=image, compress=compress, overwrite=overwrite
        )
        out_shape = result.shape
    else:
        t2 = time.perf_counter()
        saved = save_strips(
            dst, plan, channels=image.channels, depth=out_depth, like=image, compress=compress, overwrite=overwrite, scale=scale
        )
        out_shape = plan.shape if plan.shape[2] > 1 else plan.shape[:2]
    t3 = time.perf_counter()
    return Outcome(
        input=str(src),
        output=str(dst),
        kernel_spec=str(kernel),
        kernel_shape=tuple(k.shape),
        kernel_sum=float(k.sum()),
        params=params,
        axes=axes,
        image=image,
        out_shape=out_shape,
        out_depth=saved.depth,
        saved=saved,
        alpha="none (learned layer: every channel is data)" if layer else alpha,
        dtype=str(dtype),
        edge=edge,
        crop=crop_box,
        crop_mode="auto" if crop_spec == "auto" else ("explicit" if any(crop_spec) else "none"),
        # strips are computed, converted and (PNG) compressed together: "compute" is that loop
        seconds={"load": t1 - t0, "compute": t2 - t1 + saved.strip_seconds, "save": t3 - t2 - saved.strip_seconds, "total": t3 - t0},
        layer=layer,
        offset=kern.offset,
    )


def _compute(image: ImageData, k, offset: float, layer, params: Params, alpha: str, edge: str, dtype: str, two_pass: bool):
    """The whole result in memory: learned layers, .mat offsets and the two-pass computation."""
    if layer:
        result = _apply_layer(image, k, layer, params, edge, dtype)
    elif two_pass:
        if image.depth not in (8, 16):
            raise DeconvError(
                f"--two-pass stores the intermediate in the image's integer range; this image is {image.depth}"
                f"{'-bit' if isinstance(image.depth, int) else ''} (use the default, exact computation)",
                usage=True,
            )
        if image.alpha_channel is not None and alpha == "premultiply":
            raise DeconvError("--two-pass treats every channel alike: add --alpha separate for an image with alpha", usage=True)
        if k.ndim != 2:
            raise DeconvError(f"--two-pass needs one separable 2-D kernel, got shape {k.shape}", usage=True)
        result = conv_transpose2d_two_pass(
            image.array, k, params.stride, params.padding, params.output_padding, params.dilation,
            edge=edge, clip=(0.0, depth_max(image.depth)), dtype=dtype,
        )  # fmt: skip
    else:
        result = upsample(
            image.array, k, params.stride, params.padding, params.output_padding, params.dilation,
            alpha_channel=image.alpha_channel if alpha == "premultiply" else None,
            alpha_max=image.alpha_max, edge=edge, dtype=dtype,
        )  # fmt: skip
    if offset:
        keep_alpha = not layer and alpha == "premultiply" and image.alpha_channel is not None
        result[..., : result.shape[-1] - 1 if keep_alpha else None] += offset
    return result


def _apply_layer(image: ImageData, weight, layer: Layer, params: Params, edge: str, dtype: str):
    """The learned layer on the image's own units: W*x is linear; the bias, in [0, 1] units, is scaled."""
    from .core import conv_transpose2d_layer

    bias = None if layer.bias is None else layer.bias * depth_max(image.depth)
    return conv_transpose2d_layer(
        image.array, weight, bias, params.stride, params.padding, params.output_padding, params.dilation,
        layer.groups, edge=edge, dtype=dtype,
    )  # fmt: skip


def _depth_scale(src, dst) -> float:
    """Factor that carries values from one integer depth's units to another's (8 -> 16: 257)."""
    if src == dst or "float" in (src, dst) or 32 in (src, dst):
        return 1.0
    return {(8, 16): 257.0, (16, 8): 1 / 257.0}[(src, dst)]


# --------------------------------------------------------------------------- inspect

#: Grey level of the synthetic image ``deconv inspect --size`` uses (8-bit, mid-grey,
#: so both darkened and brightened borders stay visible in the pictures).
SYNTHETIC_VALUE = 128
#: Largest synthetic image, per side.
SYNTHETIC_MAX_SIDE = 4096


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


@dataclass
class Inspection:
    """The numbers and pictures of ``deconv inspect``: what a kernel does to an image, and where."""

    source: str | None
    image: ImageData
    kernel_spec: str
    kernel: object  # (kh, kw) or (C, kh, kw) ndarray
    params: Params
    axes: tuple[AxisSize, AxisSize]
    results: dict  # edge mode -> (H_out, W_out[, C]) float array (zero, replicate, renormalize)
    coverage: Coverage
    box: tuple[int, int, int, int]  # what --crop auto cuts: top, bottom, left, right

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
        mean = out[..., self.colour].mean(axis=2)
        a = self.image.alpha_channel
        return mean if a is None else mean * (out[..., a] / self.image.alpha_max)

    def points(self) -> list[tuple[str, int, int]]:
        h, w = self.coverage.taps.shape
        return [
            ("top-left corner", 0, 0), ("top edge", 0, w // 2), ("top-right corner", 0, w - 1),
            ("left edge", h // 2, 0), ("interior", h // 2, w // 2), ("right edge", h // 2, w - 1),
            ("bottom-left corner", h - 1, 0), ("bottom edge", h - 1, w // 2), ("bottom-right corner", h - 1, w - 1),
        ]  # fmt: skip

    def as_dict(self) -> dict:
        import numpy as np

        im, cov, p = self.image, self.coverage, self.params
        k = np.asarray(self.kernel)
        planes = [k] if k.ndim == 2 else list(k)
        phases = []
        for c, plane in enumerate(planes):
            ph = phase_sums(plane, p.stride, p.dilation)
            phases.append({
                "channel": None if k.ndim == 2 else c,
                "sums": ph.sums.tolist(),
                "min": float(ph.sums.min()),
                "max": float(ph.sums.max()),
                "flat": ph.flat,
                "amplitude": None if ph.amplitude == float("inf") else ph.amplitude,
            })  # fmt: skip
        points = []
        for where, r, c in self.points():
            points.append({
                "where": where, "row": r, "col": c,
                "taps": int(cov.taps[r, c]), "full_taps": int(cov.full_taps[r, c]),
                "weight": float(cov.weight[r, c]), "full_weight": float(cov.full_weight[r, c]),
                "ratio": _finite(float(cov.ratio[r, c])),
            })  # fmt: skip
        zero, rep = self.intensity("zero"), self.intensity("replicate")
        interior, bands = border_means(zero, self.box)
        rep_interior, rep_bands = border_means(rep, self.box)
        sides = []
        for side, width in zip(SIDES, self.box):
            m, rm = bands[side], rep_bands[side]
            sides.append({
                "side": side, "width": width, "mean": m, "replicate_mean": rm,
                "ratio": _ratio(m, interior), "ratio_vs_replicate": _ratio(m, rm),
            })  # fmt: skip
        diff = zero - rep
        t, b, l, r = self.box
        h, w = diff.shape
        inner = diff[t : h - b, l : w - r]
        kept = [h - t - b, w - l - r]
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
            "kernel": {"spec": self.kernel_spec, "shape": list(k.shape), "sum": float(k.sum())},
            "params": {
                "stride": list(p.stride),
                "padding": list(p.padding),
                "output_padding": list(p.output_padding),
                "dilation": list(p.dilation),
                "same": p.same,
                "trim_end": list(p.trim_end),
            },
            "size_math": [a.as_dict() for a in self.axes],
            "output": {"height": h, "width": w},
            "phases": phases,
            "checkerboard": not all(ph["flat"] for ph in phases),
            "coverage": {
                "interior_taps": [int(cov.full_taps.min()), int(cov.full_taps.max())],
                "interior_weight": [float(cov.full_weight.min()), float(cov.full_weight.max())],
                "complete_pixels": int(cov.complete.sum()),
                "pixels": int(cov.complete.size),
                "points": points,
            },
            "bands": {"interior_mean": interior, "replicate_interior_mean": rep_interior, "sides": sides},
            "difference": {
                "what": "zero-edge minus replicate-edge result: mean of the colour channels (times alpha/max when there is alpha), in the image's units",
                "max_abs": float(np.abs(diff).max()),
                "min": float(diff.min()),
                "max": float(diff.max()),
                "interior_max_abs": float(np.abs(inner).max()) if inner.size else None,
            },
            "crop_auto": {
                "top": t, "bottom": b, "left": l, "right": r, "kept": kept,
                "reason": "border rows/cols that receive fewer kernel taps than an interior pixel of their stride phase",
            },  # fmt: skip
        }


def _finite(v: float) -> float | None:
    import math

    return v if math.isfinite(v) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def inspect_image(
    src: str | os.PathLike | None,
    *,
    size: tuple[int, int] | None = None,
    kernel: str = "bilinear",
    params: Params | None = None,
    alpha: str = "premultiply",
    max_pixels: int | None = None,
) -> Inspection:
    """Upsample an image (or a synthetic constant one of ``size``) with zero,
    replicate and renormalize edges, and measure where the border differs.

    ``src`` None uses a ``size`` (rows, cols) grey image of
    :data:`SYNTHETIC_VALUE`, so only the kernel's own edge effect shows.
    """
    import numpy as np

    params = params or Params()
    if (src is None) == (size is None):
        raise DeconvError("give either an IMAGE or --size WIDTHxHEIGHT (a synthetic constant image), not both or neither", usage=True)
    if alpha not in ("premultiply", "separate"):
        raise DeconvError(f"alpha must be premultiply or separate, got {alpha!r}", usage=True)
    k = open_kernel(kernel, params.stride).weight
    if k.ndim == 4 and k.shape[1] == 1:
        k = k[:, 0]  # a depthwise layer: one kernel per channel
    elif k.ndim == 4:
        raise DeconvError(
            f"kernel {kernel}: inspect looks at one kernel per channel; a layer that mixes channels "
            f"(weight shape {k.shape}) has no single edge pattern. Use deconv upsample with it",
            usage=True,
        )
    params.resolve_same(k.shape)
    if src is None:
        image = ImageData(np.full(size, SYNTHETIC_VALUE, np.uint8), "L", 8, source="synthetic")
    else:
        image = load_image(src, max_pixels=max_pixels)
    axes = size_math(image.size, k.shape[-2:], params.stride, params.padding, params.output_padding, params.dilation)
    ty, tx = params.trim_end
    h, w = axes[0].n_out - ty, axes[1].n_out - tx
    results = {}
    for edge in ("zero", "replicate", "renormalize"):
        try:
            out = upsample(
                image.array, k, params.stride, params.padding, params.output_padding, params.dilation,
                alpha_channel=image.alpha_channel if alpha == "premultiply" else None,
                alpha_max=image.alpha_max, edge=edge, dtype="float64",
            )  # fmt: skip
        except DeconvError as e:
            raise DeconvError(f"{src or 'synthetic image'} with kernel {kernel}: {e}", usage=e.usage) from None
        results[edge] = out[:h, :w]
    cov = coverage(image.size, k, params.stride, params.padding, params.output_padding, params.dilation)
    cov = Coverage(cov.taps[:h, :w], cov.full_taps[:h, :w], cov.weight[:h, :w], cov.full_weight[:h, :w])
    t, b, l, r = auto_crop(axes, k)
    box = (t, max(b - ty, 0), l, max(r - tx, 0))
    return Inspection(None if src is None else str(src), image, str(kernel), k, params, axes, results, cov, box)
