"""One file in, one file out: load the kernel and image, check, compute, save."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .core import AXES, EDGE_MODES, AxisSize, _plan, as_pair, auto_crop, check_axis, same_padding, size_math
from .errors import DeconvError
from .imageio import WRITE_FORMATS, ImageData, SaveReport, check_writable, load_image, save_strips
from .kernels import load_kernel


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
                "channels": im.channels,
                "depth": self.out_depth,
            },
            "kernel": {"spec": self.kernel_spec, "shape": list(self.kernel_shape), "sum": self.kernel_sum},
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


def default_output(src: str | os.PathLike, params: Params) -> Path:
    """``photo.jpg`` -> ``photo_x2.jpg`` beside it.

    The input's format is kept, except GIF (which would quantise the result to
    256 colours) and extensions deconv does not write, which become PNG.
    """
    p = Path(src)
    suffix = p.suffix.lower()
    if WRITE_FORMATS.get(suffix) in (None, "GIF", "NPY"):
        suffix = ".png"
    return p.with_name(f"{p.stem}_x{params.label()}{suffix}")


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
) -> Outcome:
    """Upsample one image file into another.

    ``depth`` None keeps the input's depth; ``alpha`` is ``premultiply`` or
    ``separate``; ``edge`` one of :data:`~deconv_cli.core.EDGE_MODES`; ``crop``
    ``none``, ``auto``, ``N`` or ``T,B,L,R`` (see :func:`parse_crop`).
    Everything is checked (parameters, kernel, output path and format) before
    the pixels are decoded, and the output is written atomically: on any
    error nothing is left behind.
    """
    t0 = time.perf_counter()
    params = params or Params()
    if alpha not in ("premultiply", "separate"):
        raise DeconvError(f"alpha must be premultiply or separate, got {alpha!r}", usage=True)
    if edge not in EDGE_MODES:
        raise DeconvError(f"edge must be one of {', '.join(EDGE_MODES)}, got {edge!r}", usage=True)
    crop_spec = parse_crop(crop)
    k = load_kernel(kernel, params.stride)
    params.resolve_same(k.shape)
    dst = Path(dst) if dst is not None else default_output(src, params)
    if Path(src).exists() and dst.exists() and os.path.samefile(src, dst):
        raise DeconvError(f"{dst}: is the input file itself; choose another output")
    check_writable(dst, overwrite=overwrite)
    image = load_image(src, max_pixels=max_pixels)
    axes = size_math(image.size, k.shape[-2:], params.stride, params.padding, params.output_padding, params.dilation)
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
    check_writable(dst, overwrite=overwrite, depth=out_depth, channels=image.channels)
    t1 = time.perf_counter()
    try:  # checked and planned here; the pixels are computed strip by strip while saving
        plan = _plan(
            image.array,
            k,
            params.stride,
            params.padding,
            params.output_padding,
            params.dilation,
            edge=edge,
            dtype=dtype,
            alpha=(image.alpha_channel, image.alpha_max) if alpha == "premultiply" and image.alpha_channel is not None else None,
            crop=crop_box,
        )
    except DeconvError as e:  # e.g. a per-channel kernel that does not fit: say which files
        raise DeconvError(f"{src} with kernel {kernel}: {e}", usage=e.usage) from None
    t2 = time.perf_counter()
    saved = save_strips(
        dst,
        plan,
        channels=image.channels,
        depth=out_depth,
        like=image,
        compress=compress,
        overwrite=overwrite,
        scale=_depth_scale(image.depth, out_depth),
    )
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
        out_shape=plan.shape if plan.shape[2] > 1 else plan.shape[:2],
        out_depth=saved.depth,
        saved=saved,
        alpha=alpha,
        dtype=str(dtype),
        edge=edge,
        crop=crop_box,
        crop_mode="auto" if crop_spec == "auto" else ("explicit" if any(crop_spec) else "none"),
        # strips are computed, converted and (PNG) compressed together: "compute" is that loop
        seconds={"load": t1 - t0, "compute": t2 - t1 + saved.strip_seconds, "save": t3 - t2 - saved.strip_seconds, "total": t3 - t0},
    )


def _depth_scale(src, dst) -> float:
    """Factor that carries values from one integer depth's units to another's (8 -> 16: 257)."""
    if src == dst or "float" in (src, dst) or 32 in (src, dst):
        return 1.0
    return {(8, 16): 257.0, (16, 8): 1 / 257.0}[(src, dst)]
