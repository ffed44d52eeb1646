"""The settings of a run: how every input becomes its output, in one typed, checked value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..core import Crop, Geometry, Pair, SidePadding, as_pair, check_layer_edge, separable_factors
from ..core.geometry import padding_of
from ..errors import DeconvError
from ..kernels import Kernel, is_model_file, open_run_kernel
from ..modes import (
    DEFAULT_KERNEL,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_WORK,
    DEFAULT_STRIDE,
    Alpha,
    Depth,
    DType,
    Edge,
    Normalize,
)


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
        PNG deflate level 0..9, zlib-ng's (None: the run-length strategy).
    two_pass : bool
        Pillow's row-then-column computation (a separable 2-D kernel only).
    max_pixels : int
        Inputs, and outputs by the size formula, with more pixels are refused (0: no limit).
    max_work : float
        Files whose computation the cost model estimates at more seconds of one CPU core are
        refused before it starts (0: no limit).
    overwrite : bool
        Replace existing outputs.
    quality : int 1..100 or None
        JPEG quality, or lossy WebP at this quality (None: JPEG 95, lossless WebP).
    scale : (int, int) or None
        The ``--scale`` the geometry, edge and kernel were chosen for (see :func:`scaled`), for
        the report; None when they were given one by one.
    geometry_from : mapping or None
        For a kernel from a model file (``.onnx``, a PyTorch checkpoint): where each of stride,
        padding, output_padding, dilation and groups came from, ``file``, ``command line`` or
        ``default`` (see :func:`merge_declared`); None for every other kernel.
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
    scale: Pair | None = None
    quality: int | None = None
    geometry_from: Mapping[str, str] | None = None

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
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise DeconvError(f"quality must be 1..100, got {self.quality}", usage=True)
        if self.max_pixels < 0:
            raise DeconvError(f"max_pixels must be >= 0 (0: no limit), got {self.max_pixels}", usage=True)
        if not self.max_work >= 0:
            raise DeconvError(f"max_work must be >= 0 seconds (0: no limit), got {self.max_work}", usage=True)

    @property
    def scale_means(self) -> str | None:
        """The options ``--scale`` stood for in this run, e.g. ``--stride 2 --padding same
        --edge replicate --kernel bilinear`` (those given beside it won), or None."""
        if self.scale is None:
            return None
        sy, sx = self.geometry.stride
        mode = self.geometry.same_mode
        pad = self.geometry.padding
        padding = (
            mode.value if mode is not None else pad.text if isinstance(pad, SidePadding) else ",".join(map(str, pad))
        )
        return (
            f"--stride {sy if sy == sx else f'{sy},{sx}'} --padding {padding} --edge {self.edge} "
            f"--kernel {self.kernel.source}"
        )

    @classmethod
    def of(
        cls,
        kernel: str | os.PathLike | None = None,
        *,
        scale: object = None,
        stride: object = None,
        padding: object = None,
        output_padding: object = None,
        dilation: object = None,
        groups: int | None = None,
        bias: str | None = None,
        edge: Edge | str | None = None,
        normalize: Normalize | str = Normalize.none,
        alpha: Alpha | str = Alpha.premultiply,
        crop: Crop | str | None = None,
        dtype: DType | str = DType.float32,
        depth: Depth | int | str | None = None,
        compress: int | None = None,
        quality: int | None = None,
        two_pass: bool = False,
        max_pixels: int | None = None,
        overwrite: bool = False,
        max_work: float | None = None,
    ) -> Settings:
        """The settings from the values a person writes: ints, pairs or strings (``"2,3"``,
        ``"same"``, ``"auto"``), mode names, a kernel spec (file, built-in name or inline).

        Parameters are checked first, then the kernel is opened (a built-in one is made
        for the stride), its layer set up (``groups``, ``bias`` for a 4-D weight) and
        rescaled as ``normalize`` asks. ``scale`` (an int or a pair) stands for the stride,
        same padding, replicate edges and the default kernel of :func:`scaled`; ``None``
        elsewhere means the default (stride 2, padding 0, zero edges, bilinear).

        >>> s = Settings.of("bilinear", stride=2, padding="same", edge="replicate")
        >>> s.kernel.weight.shape, s.geometry.same, s.edge
        ((4, 4), True, <Edge.replicate: 'replicate'>)
        >>> Settings.of(scale=3).scale_means
        '--stride 3 --padding same --edge replicate --kernel bilinear'
        """
        scale_ = parse_scale(scale)
        values = (("stride", stride), ("padding", padding), ("output_padding", output_padding))
        given = {name: value for name, value in (*values, ("dilation", dilation)) if value is not None}
        kernel, stride, padding, edge = scaled(scale_, kernel, stride, padding, edge)
        geometry = command_geometry(
            kernel,
            stride,
            padding,
            0 if output_padding is None else output_padding,
            1 if dilation is None else dilation,
        )
        edge_, alpha_, crop_ = Edge.of(edge, "edge"), Alpha.of(alpha, "alpha"), Crop.parse(crop)
        dtype_ = DType.of(dtype, "dtype")
        depth_ = Depth.auto if depth is None else Depth.of(str(depth), "depth")
        normalize_ = Normalize.of(normalize, "normalize")
        stride_, dilation_ = stride_dilation(geometry)
        kern = open_run_kernel(kernel, stride_, groups=groups, bias=bias, normalize=normalize_, dilation=dilation_)
        if groups is not None:
            given["groups"] = groups
        geometry_, origins = merge_declared(kern, geometry, given, scale_)
        return cls(
            kern,
            geometry_,
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
            scale_,
            quality,
            origins,
        )


#: The geometry values a model file may declare, as Geometry names them (and groups, kept by the Layer).
GEOMETRY_VALUES = ("stride", "padding", "output_padding", "dilation")


def _shown(name: str, value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value[0] != value[1] else str(value[0])
    if isinstance(value, SidePadding):
        return value.text
    return str(value)


def command_geometry(
    kernel: object, stride: object, padding: object, output_padding: object, dilation: object
) -> Geometry | DeconvError:
    """:meth:`Geometry.of` the command line's values (defaults filled in), checked before any file is
    read; or, where they are invalid together and ``kernel`` names a model file, whose node may
    declare the values that make them agree (``--output-padding 2`` beside a node of stride 3, with
    the default stride 2), the error, for :func:`merge_declared` to raise if the file declares no
    geometry. The form of each value is checked either way."""
    try:
        return Geometry.of(stride, padding, output_padding, dilation)
    except DeconvError as e:
        if kernel is None or not is_model_file(os.fspath(kernel)):  # type: ignore[call-overload]
            raise
        for name, value in (("stride", stride), ("output_padding", output_padding), ("dilation", dilation)):
            as_pair(value, name)
        padding_of(padding)
        return e


def stride_dilation(geometry: Geometry | DeconvError) -> tuple[Pair, Pair]:
    """The stride and dilation :func:`open_run_kernel` makes a built-in kernel for: a model file's
    layer (the only kernel whose geometry may still be an error) uses neither."""
    return (geometry.stride, geometry.dilation) if isinstance(geometry, Geometry) else ((1, 1), (1, 1))


def _parsed(name: str, value: object) -> object:
    return padding_of(value) if name == "padding" else as_pair(value, name)


def merge_declared(
    kernel: Kernel, geometry: Geometry | DeconvError, given: Mapping[str, object], scale: Pair | None = None
) -> tuple[Geometry, dict[str, str] | None]:
    """The geometry of a run whose kernel may come from a model file, and where each value came from.

    ``geometry`` is the command line's (defaults filled in; an error where they were invalid together,
    see :func:`command_geometry`), ``given`` the values among :data:`GEOMETRY_VALUES` and ``groups``
    given on it, as given. A file that declares its geometry (an ONNX
    node) gives every value: one given that differs is a usage error naming both, one that
    agrees is fine; ``scale`` (``--scale``, which chooses a stride and padding of its own) is
    refused beside it. A file that does not (a PyTorch state dict) takes the command line's,
    ``default`` where none was given (``--scale`` for what it chose). Any other kernel:
    ``geometry`` as it is, and None.
    """
    declared = kernel.declared
    if declared is None or declared.geometry is None:
        if isinstance(geometry, DeconvError):  # no node to make the command line's values valid
            raise geometry
        if declared is None:
            return geometry, None
        chosen = ("stride", "padding") if scale is not None else ()
        names = (*GEOMETRY_VALUES, "groups")
        return geometry, {n: "command line" if n in given else "--scale" if n in chosen else "default" for n in names}
    names = (*GEOMETRY_VALUES, "groups")
    if scale is not None:
        raise DeconvError(
            f"--scale chooses a stride and padding, but kernel {kernel.source} is a model layer that declares its "
            "own; drop --scale (add --edge replicate for a full border)",
            usage=True,
        )
    for name in GEOMETRY_VALUES:
        if name not in given:
            continue
        mine, theirs = _parsed(name, given[name]), getattr(declared.geometry, name)
        if mine != theirs:
            option = "--" + name.replace("_", "-")
            raise DeconvError(
                f"{option} {_shown(name, mine)} contradicts kernel {kernel.source}, whose node declares {name} "
                f"{_shown(name, theirs)}; drop {option} (the file gives it) or give the same value",
                usage=True,
            )
    return declared.geometry, {n: "file" for n in names}


def parse_scale(value: object) -> Pair | None:
    """``--scale``: None, or N or ROWS,COLS factors of at least 1.

    >>> parse_scale("3"), parse_scale((2, 4)), parse_scale(None)
    ((3, 3), (2, 4), None)
    """
    if value is None:
        return None
    pair = as_pair(value, "scale")
    if min(pair) < 1:
        raise DeconvError(f"scale must be >= 1 (the output is N times the input), got {value!r}", usage=True)
    return pair


def scaled(scale: Pair | None, kernel, stride, padding, edge) -> tuple:
    """``(kernel, stride, padding, edge)`` with what was not given (None) filled in: from ``scale``
    when there is one (its stride, ``same`` padding, ``replicate`` edges, the default kernel made
    for that stride: exactly ``scale x`` the input, no dark border), else the defaults.
    Whatever was given wins.

    >>> scaled((3, 3), None, None, None, None)
    ('bilinear', (3, 3), 'same', <Edge.replicate: 'replicate'>)
    >>> scaled(None, None, None, None, None)
    ('bilinear', '2', 0, <Edge.zero: 'zero'>)
    >>> scaled((2, 2), "lanczos3", None, None, "renormalize")[0::3]
    ('lanczos3', 'renormalize')
    """
    defaults: tuple[object, ...] = (
        (DEFAULT_KERNEL, scale, "same", Edge.replicate)
        if scale is not None
        else (DEFAULT_KERNEL, DEFAULT_STRIDE, 0, Edge.zero)
    )
    given = (kernel, stride, padding, edge)
    return tuple(d if g is None else g for g, d in zip(given, defaults, strict=True))
