"""The settings of a run: how every input becomes its output, in one typed, checked value."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..core import Crop, Geometry, check_layer_edge, separable_factors
from ..errors import DeconvError
from ..kernels import Kernel, open_run_kernel
from ..modes import DEFAULT_KERNEL, DEFAULT_MAX_PIXELS, DEFAULT_MAX_WORK, Alpha, Depth, DType, Edge


@dataclass(frozen=True)
class Settings:
    """Everything about turning an image into its output except the two paths.

    Made once per run (by the command line, or by :meth:`of` from the Python API)
    and checked when made, so a Settings that exists is valid; it then travels
    unchanged through batch planning and to every worker (it pickles, kernel
    array included: workers never read the kernel file again).

    Attributes
    ----------
    kernel : Kernel
        The resolved kernel (array, ``.mat`` offset, learned-layer groups and bias).
    geometry : Geometry
        Stride, padding (or *same*), output padding and dilation.
    edge, alpha, crop, dtype, depth
        See ``deconv upsample --help``.
    compress : int or None
        PNG zlib level 0..9 (None: zlib's run-length strategy).
    two_pass : bool
        Pillow's row-then-column computation (a separable 2-D kernel only).
    max_pixels : int
        Inputs, and outputs by the size formula, with more pixels are refused (0: no limit).
    max_work : float
        Files whose computation the cost model estimates at more seconds of one CPU core are
        refused before it starts (0: no limit).
    overwrite : bool
        Replace existing outputs.
    """

    kernel: Kernel
    geometry: Geometry = field(default_factory=lambda: Geometry(stride=(2, 2)))
    edge: Edge = Edge.zero
    alpha: Alpha = Alpha.premultiply
    crop: Crop = field(default_factory=Crop)
    dtype: DType = DType.float32
    depth: Depth = Depth.auto
    compress: int | None = None
    two_pass: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    overwrite: bool = False
    max_work: float = DEFAULT_MAX_WORK

    def __post_init__(self) -> None:
        k = self.kernel.weight
        if self.kernel.layer is not None:
            check_layer_edge(self.edge, f"kernel {self.kernel.source} has shape {k.shape}")
        if self.two_pass:
            if k.ndim != 2:
                raise DeconvError(f"--two-pass needs one separable 2-D kernel, got shape {k.shape}", usage=True)
            if separable_factors(k) is None:
                raise DeconvError(
                    f"the two-pass (Pillow-style) computation needs a separable kernel; "
                    f"this {k.shape} one is not rank 1",
                    usage=True,
                )
        if self.compress is not None and not 0 <= self.compress <= 9:
            raise DeconvError(f"compress must be 0..9, got {self.compress}", usage=True)
        if self.max_pixels < 0:
            raise DeconvError(f"max_pixels must be >= 0 (0: no limit), got {self.max_pixels}", usage=True)
        if not self.max_work >= 0:
            raise DeconvError(f"max_work must be >= 0 seconds (0: no limit), got {self.max_work}", usage=True)

    @classmethod
    def of(
        cls,
        kernel: str | os.PathLike = DEFAULT_KERNEL,
        *,
        stride: object = 2,
        padding: object = 0,
        output_padding: object = 0,
        dilation: object = 1,
        groups: int | None = None,
        bias: str | None = None,
        edge: Edge | str = Edge.zero,
        alpha: Alpha | str = Alpha.premultiply,
        crop: Crop | str | None = None,
        dtype: DType | str = DType.float32,
        depth: Depth | int | str | None = None,
        compress: int | None = None,
        two_pass: bool = False,
        max_pixels: int | None = None,
        overwrite: bool = False,
        max_work: float | None = None,
    ) -> Settings:
        """The settings from the values a person writes: ints, pairs or strings (``"2,3"``,
        ``"same"``, ``"auto"``), mode names, a kernel spec (file, built-in name or inline).

        Parameters are checked first, then the kernel is opened (a built-in one is made
        for the stride), its layer set up (``groups``, ``bias`` for a 4-D weight).

        >>> s = Settings.of("bilinear", stride=2, padding="same", edge="replicate")
        >>> s.kernel.weight.shape, s.geometry.same, s.edge
        ((4, 4), True, <Edge.replicate: 'replicate'>)
        """
        geometry = Geometry.of(stride, padding, output_padding, dilation)
        edge_, alpha_, crop_ = Edge.of(edge, "edge"), Alpha.of(alpha, "alpha"), Crop.parse(crop)
        dtype_ = DType.of(dtype, "dtype")
        depth_ = Depth.auto if depth is None else Depth.of(str(depth), "depth")
        kern = open_run_kernel(kernel, geometry.stride, groups=groups, bias=bias)
        return cls(
            kern,
            geometry,
            edge_,
            alpha_,
            crop_,
            dtype_,
            depth_,
            compress,
            two_pass,
            DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels,
            overwrite,
            DEFAULT_MAX_WORK if max_work is None else float(max_work),
        )
