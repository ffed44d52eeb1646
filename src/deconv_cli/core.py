"""The transpose convolution itself, its size math and its phase analysis.

Pure numpy: no file access, no printing. Everything here raises
:class:`~deconv_cli.errors.DeconvError` (with ``usage=True`` for bad
parameters) and nothing else for bad input.

Conventions
-----------
Images are channels-last, ``(H, W)`` or ``(H, W, C)``. Every geometric
parameter is an int (both axes) or a ``(rows, cols)`` pair. The semantics are
PyTorch's ``conv_transpose2d`` applied to each channel on its own::

    out[i*s - p + u*d] += x[i] * K[u]        (per axis, for every i, u)

kept where ``0 <= i*s - p + u*d < N_out`` with
``N_out = (N_in - 1)*s - 2p + d*(k - 1) + a + 1``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import DeconvError

AXES = ("rows", "cols")

Pair = tuple[int, int]


def as_pair(value: int | str | tuple[int, int] | list[int], name: str) -> Pair:
    """Read one int, a ``(rows, cols)`` pair, or a string ``"2"``/``"2,3"``/``"2x3"``.

    >>> as_pair(2, "stride"), as_pair("2,3", "stride"), as_pair((1, 4), "padding")
    ((2, 2), (2, 3), (1, 4))
    """
    if isinstance(value, str):
        parts = [p.strip() for p in re.split(r"[,x]", value.strip())]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise DeconvError(
                f"{name} {value!r} is not an integer or a rows,cols pair of integers (e.g. 2 or 2,3)",
                usage=True,
            ) from None
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        nums = [int(value)]
    else:
        try:
            nums = [int(v) for v in value]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise DeconvError(f"{name} {value!r} is not an int or a (rows, cols) pair", usage=True) from None
        if any(int(v) != v for v in value):  # type: ignore[union-attr]
            raise DeconvError(f"{name} {value!r} must hold integers", usage=True)
    if len(nums) == 1:
        return (nums[0], nums[0])
    if len(nums) == 2:
        return (nums[0], nums[1])
    raise DeconvError(f"{name} {value!r} must be one integer or a rows,cols pair, not {len(nums)} numbers", usage=True)


def check_axis(axis: str, stride: int, padding: int, output_padding: int, dilation: int) -> None:
    """PyTorch's rules for the parameters of one axis, whatever the sizes."""
    where = f" ({axis})" if axis else ""
    for name, val, low in (("stride", stride, 1), ("dilation", dilation, 1), ("padding", padding, 0), ("output_padding", output_padding, 0)):
        if val < low:
            raise DeconvError(f"{name}{where} must be >= {low}, got {val}", usage=True)
    if output_padding >= stride and output_padding >= dilation:
        raise DeconvError(
            f"output_padding{where} must be smaller than the stride or the dilation, "
            f"got output_padding={output_padding}, stride={stride}, dilation={dilation}",
            usage=True,
        )


@dataclass(frozen=True)
class AxisSize:
    """The size math of one axis, every term kept for reports.

    >>> AxisSize.compute("rows", 3, 3, stride=1).n_out
    5
    """

    axis: str
    n_in: int
    kernel: int
    stride: int
    padding: int
    output_padding: int
    dilation: int
    n_out: int

    @classmethod
    def compute(
        cls,
        axis: str,
        n_in: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        output_padding: int = 0,
        dilation: int = 1,
    ) -> AxisSize:
        """Validate one axis as PyTorch does and compute its output size."""
        where = f" ({axis})" if axis else ""
        for name, val in (("input size", n_in), ("kernel size", kernel)):
            if val < 1:
                raise DeconvError(f"{name}{where} must be >= 1, got {val}", usage=True)
        check_axis(axis, stride, padding, output_padding, dilation)
        spread = (n_in - 1) * stride + dilation * (kernel - 1) + output_padding + 1
        n_out = spread - 2 * padding
        if n_out <= 0:
            raise DeconvError(
                f"padding={padding}{where} is too large: N_out = {spread} - 2x{padding} = {n_out} <= 0; "
                f"the padding term -2p removes all {spread} pixels that (N_in - 1)*s + d*(k - 1) + a + 1 "
                f"spreads, so use padding <= {(spread - 1) // 2}",
                usage=True,
            )
        return cls(axis, n_in, kernel, stride, padding, output_padding, dilation, n_out)

    @property
    def full(self) -> int:
        """Size before padding is cut and output_padding added: ``(N_in - 1)*s + d*(k - 1) + 1``."""
        return (self.n_in - 1) * self.stride + self.dilation * (self.kernel - 1) + 1

    def formula(self) -> str:
        """The formula with this axis' numbers filled in.

        >>> AxisSize.compute("rows", 3, 3, stride=1).formula()
        'N_out = (3 - 1) x 1 - 2x0 + 3 = 5'
        >>> AxisSize.compute("rows", 4, 3, stride=2, padding=1, output_padding=1, dilation=2).formula()
        'N_out = (4 - 1) x 2 - 2x1 + 2x(3 - 1) + 1 + 1 = 10'
        """
        head = f"N_out = ({self.n_in} - 1) x {self.stride} - 2x{self.padding}"
        if self.dilation == 1 and self.output_padding == 0:
            return f"{head} + {self.kernel} = {self.n_out}"
        return f"{head} + {self.dilation}x({self.kernel} - 1) + {self.output_padding} + 1 = {self.n_out}"

    def as_dict(self) -> dict[str, int | str]:
        return {
            "axis": self.axis,
            "input": self.n_in,
            "kernel": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "dilation": self.dilation,
            "output": self.n_out,
            "terms": {
                "(N_in - 1)*s": (self.n_in - 1) * self.stride,
                "-2p": -2 * self.padding,
                "d*(k - 1)": self.dilation * (self.kernel - 1),
                "a": self.output_padding,
                "+1": 1,
            },
            "formula": self.formula(),
        }


def size_math(
    input_size: int | Pair,
    kernel_size: int | Pair,
    stride: int | Pair | str = 1,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
) -> tuple[AxisSize, AxisSize]:
    """Validate the parameters and return the size math of both axes.

    >>> rows, cols = size_math((3, 4), 3, stride=(1, 2))
    >>> rows.n_out, cols.n_out
    (5, 9)
    """
    args = [
        as_pair(input_size, "input size"),
        as_pair(kernel_size, "kernel size"),
        as_pair(stride, "stride"),
        as_pair(padding, "padding"),
        as_pair(output_padding, "output_padding"),
        as_pair(dilation, "dilation"),
    ]
    rows, cols = (AxisSize.compute(AXES[i], *(a[i] for a in args)) for i in range(2))
    return rows, cols


def output_size(
    input_size: int | Pair,
    kernel_size: int | Pair,
    stride: int | Pair | str = 1,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
) -> Pair:
    """Output ``(H_out, W_out)`` of a transpose convolution, per axis
    ``(N_in - 1)*s - 2p + d*(k - 1) + a + 1``.

    Parameters
    ----------
    input_size, kernel_size : int or (int, int)
        ``N_in`` and ``k`` per axis (rows, cols).
    stride, padding, output_padding, dilation : int or (int, int)
        As in PyTorch's ``conv_transpose2d``.

    Raises
    ------
    DeconvError
        (``usage=True``) for a parameter PyTorch would refuse or an output of
        size <= 0.

    Examples
    --------
    >>> output_size(3, 3, stride=1)
    (5, 5)
    >>> output_size((512, 384), 4, stride=2, padding=1)
    (1024, 768)
    """
    rows, cols = size_math(input_size, kernel_size, stride, padding, output_padding, dilation)
    return rows.n_out, cols.n_out


def _result_dtype(x: np.ndarray, dtype) -> np.dtype:
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise DeconvError(f"dtype must be float32 or float64, got {dt}", usage=True)
        return dt
    return np.dtype(np.float64 if x.dtype == np.float64 else np.float32)


def _check_array(a: np.ndarray, what: str) -> None:
    if a.dtype.kind not in "biuf":
        raise DeconvError(f"{what} must hold real numbers, got dtype {a.dtype}", usage=True)
    if a.size == 0:
        raise DeconvError(f"{what} is empty (shape {a.shape})", usage=True)


def _prepare(x, kernel, stride, padding, output_padding, dilation, dtype, *, cast: bool = True):
    """Validate; return the image and kernel in the computation dtype and the size math.

    With ``cast=False`` the image is returned as it is (the engine converts it strip by strip)."""
    x = np.asarray(x)
    k = np.asarray(kernel)
    _check_array(x, "image")
    _check_array(k, "kernel")
    if x.ndim not in (2, 3):
        raise DeconvError(f"image must be (H, W) or (H, W, C), got shape {x.shape}", usage=True)
    if k.ndim == 3:
        channels = x.shape[2] if x.ndim == 3 else 1
        if k.shape[0] != channels:
            raise DeconvError(
                f"kernel has {k.shape[0]} per-channel kernels but the image has {channels} channel(s) "
                f"(kernel shape {k.shape}); give a 2-D kernel or one kernel per channel",
                usage=True,
            )
    elif k.ndim != 2:
        raise DeconvError(f"kernel must be (kh, kw) or (C, kh, kw), got shape {k.shape}", usage=True)
    if not np.all(np.isfinite(k)):
        raise DeconvError("kernel holds NaN or infinite values", usage=True)
    dt = _result_dtype(x, dtype)
    rows, cols = size_math(x.shape[:2], k.shape[-2:], stride, padding, output_padding, dilation)
    return (x.astype(dt, copy=False) if cast else x), k.astype(dt, copy=False), rows, cols


EDGE_MODES = ("zero", "replicate", "reflect", "wrap", "renormalize")


def edge_extension(axis: AxisSize) -> tuple[int, int]:
    """Input pixels to add before and after one axis so that every kept output pixel
    receives all the taps an interior pixel of its stride phase receives.

    >>> edge_extension(AxisSize.compute("rows", 10, 4, stride=2, padding=1))
    (1, 1)
    >>> edge_extension(AxisSize.compute("rows", 10, 4, stride=2, padding=3))
    (0, 0)
    """
    reach = axis.dilation * (axis.kernel - 1)
    before = max(0, -((axis.padding - reach) // axis.stride))  # ceil((reach - p) / s)
    after = max(0, (reach + axis.output_padding - axis.padding) // axis.stride)
    return before, after


def conv_transpose2d(
    x,
    kernel,
    stride: int | Pair | str = 1,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
    *,
    edge: str = "zero",
    dtype=None,
) -> np.ndarray:
    """Transpose convolution of every channel: each input pixel scales the
    whole kernel, the scaled kernels are placed ``stride`` apart and summed.

    With ``edge="zero"`` (the default) this equals PyTorch's
    ``conv_transpose2d(x[c][None, None], K[None, None], stride, padding,
    output_padding, dilation=dilation)`` for each channel c.

    Parameters
    ----------
    x : (H, W) or (H, W, C) array_like
        The image, channels last, in any real dtype (its own units).
    kernel : (kh, kw) or (C, kh, kw) array_like
        One kernel for every channel, or one per channel.
    stride, padding, output_padding, dilation : int or (int, int)
        Per axis (rows, cols), with PyTorch's constraints.

    Other parameters
    ----------------
    edge : {'zero', 'replicate', 'reflect', 'wrap', 'renormalize'}
        What lies beyond the image. ``zero``: nothing (PyTorch's operation).
        ``replicate``, ``reflect`` (mirror without repeating the edge pixel,
        numpy's and PyTorch's ``reflect``), ``wrap``: the input is extended by
        :func:`edge_extension` pixels per side, so every kept output pixel
        receives a full set of kernel taps, and the output keeps the size the
        formula gives. ``renormalize``: each output pixel is multiplied by
        (the kernel weight an interior pixel of its stride phase receives) /
        (the weight that reached it), Pillow's convention at borders.
    dtype : {None, float32, float64}
        Computation and result dtype (see Notes).

    Returns
    -------
    out : (H_out, W_out) or (H_out, W_out, C) ndarray
        ``N_out = (N_in - 1)*s - 2p + d*(k - 1) + a + 1`` per axis.

    Notes
    -----
    The result is float64 when ``x`` is float64 and float32 otherwise (integer
    images included), unless ``dtype`` says so; the kernel is cast to that
    dtype. Nothing is normalised: the kernel is applied as given. Under
    ``renormalize`` a pixel that no tap reaches, or whose received weight is
    zero, is 0.

    Examples
    --------
    >>> conv_transpose2d(np.ones((3, 3)), np.ones((3, 3))).shape
    (5, 5)
    >>> conv_transpose2d(np.ones((3, 3)), np.ones((3, 3)))[0]
    array([1., 2., 3., 2., 1.])
    >>> conv_transpose2d(np.zeros((4, 6, 3), np.uint8), np.ones((4, 4)), stride=2, padding=1).shape
    (8, 12, 3)
    >>> k = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    >>> conv_transpose2d(np.full((3, 3), 8.0), k, 2, 1)[:2, :3].tolist()
    [[4.5, 6.0, 6.0], [6.0, 8.0, 8.0]]
    >>> conv_transpose2d(np.full((3, 3), 8.0), k, 2, 1, edge="replicate")[:2, :3].tolist()
    [[8.0, 8.0, 8.0], [8.0, 8.0, 8.0]]
    """
    return _plan(x, kernel, stride, padding, output_padding, dilation, edge=edge, dtype=dtype).compute_image()


def _plan(
    x,
    kernel,
    stride: int | Pair | str = 1,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
    *,
    edge: str = "zero",
    dtype=None,
    alpha: tuple[int, float] | None = None,
    crop: tuple[int, int, int, int] = (0, 0, 0, 0),
    **options,
):
    """Validate everything and return the :class:`~deconv_cli.engine.Plan` that computes the
    result (of the window left after cutting ``crop`` = top, bottom, left, right), without
    converting or copying the image. ``options`` go to the Plan (method, strip_rows, threads)."""
    from . import engine

    if edge not in EDGE_MODES:
        raise DeconvError(f"edge must be one of {', '.join(EDGE_MODES)}, got {edge!r}", usage=True)
    xs, kt, rows, cols = _prepare(x, kernel, stride, padding, output_padding, dilation, dtype, cast=False)
    dt = _result_dtype(xs, dtype)
    top, bottom, left, right = crop
    mode = {"replicate": "edge", "reflect": "reflect", "wrap": "wrap"}.get(edge, "constant")
    if mode == "reflect" and min(xs.shape[:2]) == 1:
        mode = "edge"  # a single row or column mirrors onto itself
    extend = mode != "constant"
    axes = []
    for ax, lo, hi in ((rows, top, bottom), (cols, left, right)):
        n_out = ax.n_out - lo - hi
        if min(lo, hi) < 0 or n_out < 1:
            raise DeconvError(f"crop {crop} leaves nothing of the {rows.n_out}x{cols.n_out} output", usage=True)
        ext = edge_extension(ax) if extend else (0, 0)
        axes.append(engine.Axis(ax.n_in, ax.kernel, ax.stride, ax.dilation, ax.padding + lo, n_out, ext, mode))
    x3 = xs if xs.ndim == 3 else xs[:, :, None]
    k3 = kt if kt.ndim == 3 else kt[None]  # (1, kh, kw): shared; (C, kh, kw) was checked against C
    return engine.Plan(x3, k3, *axes, dt, alpha=alpha, renormalize=edge == "renormalize", squeeze=xs.ndim == 2, **options)


def deficient_border(axis: AxisSize, support) -> tuple[int, int]:
    """Output rows (or columns) at the start and at the end of one axis that receive
    fewer kernel taps than an interior pixel of their stride phase, under zero edges.

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
    from .engine import complete_positions

    complete = complete_positions(axis.n_in, axis.n_out, axis.padding, axis.stride, axis.dilation, support)
    short = np.flatnonzero(~complete)
    half = axis.n_out / 2
    before = int(short[short < half].max() + 1) if np.any(short < half) else 0
    after = int(axis.n_out - short[short >= half].min()) if np.any(short >= half) else 0
    return before, after


def auto_crop(axes: tuple[AxisSize, AxisSize], kernel) -> tuple[int, int, int, int]:
    """(top, bottom, left, right): the border rows and columns that receive fewer
    kernel taps than the interior under zero edges (see :func:`deficient_border`).

    >>> auto_crop(size_math(10, 4, 2, 1), np.ones((4, 4)))
    (1, 1, 1, 1)
    """
    nz = np.asarray(kernel) != 0
    rows_support = nz.any(axis=tuple(a for a in range(nz.ndim) if a != nz.ndim - 2))
    cols_support = nz.any(axis=tuple(range(nz.ndim - 1)))
    top, bottom = deficient_border(axes[0], rows_support)
    left, right = deficient_border(axes[1], cols_support)
    return top, bottom, left, right


def same_padding(kernel_size: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """(padding, output_padding, extra trim at the end) giving exactly ``stride x`` the input.

    The trim needed is ``t = d*(k - 1) + 1 - s``: an even t is cut evenly
    (``p = t/2``); an odd t as ``p = (t + 1)/2`` with one row given back by
    ``output_padding = 1``, which PyTorch allows when ``s > 1`` or ``d > 1``;
    with ``s = d = 1`` (so no output_padding) as ``p = (t - 1)/2`` plus one row
    trimmed at the end: the only case that is not symmetric. A negative t
    (kernel shorter than the stride) is filled by ``output_padding = -t``.

    >>> same_padding(4, 2), same_padding(3, 2), same_padding(1, 4), same_padding(2, 1)
    ((1, 0, 0), (1, 1, 0), (0, 3, 0), (0, 0, 1))
    """
    t = dilation * (kernel_size - 1) + 1 - stride
    if t < 0:
        return 0, -t, 0
    if t % 2 == 0:
        return t // 2, 0, 0
    if stride > 1 or dilation > 1:
        return (t + 1) // 2, 1, 0
    return (t - 1) // 2, 0, 1


def upsample(
    x,
    kernel,
    stride: int | Pair | str = 2,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
    *,
    alpha_channel: int | None = None,
    alpha_max: float = 1.0,
    edge: str = "zero",
    dtype=None,
) -> np.ndarray:
    """:func:`conv_transpose2d` with colour premultiplied by alpha.

    Parameters
    ----------
    x : (H, W, C) array_like
        Image holding an alpha channel at index ``alpha_channel``.
    kernel : (kh, kw) or (C, kh, kw) array_like
    stride, padding, output_padding, dilation : int or (int, int)

    Other parameters
    ----------------
    alpha_channel : int or None
        Index of the alpha channel; None processes every channel alike.
    alpha_max : float
        Alpha of an opaque pixel (255 for 8-bit, 65535 for 16-bit).
    edge : str
        See :func:`conv_transpose2d`.
    dtype : {None, float32, float64}

    Returns
    -------
    out : (H_out, W_out, C) ndarray

    Notes
    -----
    Colour channels are multiplied by ``alpha / alpha_max``, everything is
    transpose-convolved, and colour is divided by the resulting alpha clipped
    to ``[0, 1]`` (Pillow's resize does the same through its premultiplied
    ``RGBa`` mode). A transparent neighbour therefore adds no dark fringe, and
    an opaque image gives exactly what processing without alpha gives. Where
    the resulting alpha is below half a level (``< 0.5``) the pixel is
    invisible and its colour is set to 0. The alpha channel itself is the
    plain transpose convolution of the input alpha.

    Examples
    --------
    >>> rgba = np.zeros((1, 2, 4)); rgba[0, 0] = [200, 100, 50, 255]
    >>> out = upsample(rgba, [[0.5, 1.0, 0.5]], alpha_channel=3, alpha_max=255)
    >>> out.shape, out[0, 2].tolist()   # half covered by the transparent pixel: alpha halves, colour stays
    ((1, 5, 4), [200.0, 100.0, 50.0, 127.5])
    """
    if alpha_channel is None:
        return conv_transpose2d(x, kernel, stride, padding, output_padding, dilation, edge=edge, dtype=dtype)
    x = np.asarray(x)
    if x.ndim != 3 or not -x.shape[2] <= alpha_channel < x.shape[2]:
        raise DeconvError(f"alpha channel {alpha_channel} does not exist in an image of shape {x.shape}", usage=True)
    alpha = (alpha_channel % x.shape[2], float(alpha_max))
    return _plan(x, kernel, stride, padding, output_padding, dilation, edge=edge, dtype=dtype, alpha=alpha).compute_image()


@dataclass(frozen=True)
class PhaseReport:
    """Per-phase kernel sums: what a constant image of value 1 becomes in the interior."""

    sums: np.ndarray  # (sy, sx)

    @property
    def flat(self) -> bool:
        """True when every phase sums alike, so a constant image comes out flat."""
        s = self.sums
        return bool(np.ptp(s) <= 1e-6 * max(1.0, float(np.max(np.abs(s)))))

    @property
    def amplitude(self) -> float:
        """max/min of the phase sums (inf when the smallest is <= 0 and they differ)."""
        lo, hi = float(self.sums.min()), float(self.sums.max())
        if self.flat:
            return 1.0
        return hi / lo if lo > 0 else math.inf


def phase_sums(kernel, stride: int | Pair | str = 2, dilation: int | Pair | str = 1) -> PhaseReport:
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
    sums = np.zeros((sy, sx))
    rows = (np.arange(k.shape[0]) * dy) % sy
    cols = (np.arange(k.shape[1]) * dx) % sx
    np.add.at(sums, (rows[:, None], cols[None, :]), k)
    return PhaseReport(sums)


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
    n_in: int | Pair | str,
    kernel,
    stride: int | Pair | str = 1,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
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
    planes = [k] if k.ndim == 2 else list(k)
    mean = np.mean(planes, axis=0)
    support = np.any([p != 0 for p in planes], axis=0).astype(np.float64)
    ny, nx = as_pair(n_in, "input size")
    ones = np.ones((ny, nx))
    taps = conv_transpose2d(ones, support, stride, padding, output_padding, dilation, dtype=np.float64)
    weight = conv_transpose2d(ones, mean, stride, padding, output_padding, dilation, dtype=np.float64)
    (sy, sx), (py, px), (dy, dx) = as_pair(stride, "stride"), as_pair(padding, "padding"), as_pair(dilation, "dilation")
    r = (np.arange(taps.shape[0]) + py) % sy
    c = (np.arange(taps.shape[1]) + px) % sx
    full_taps = phase_sums(support, (sy, sx), (dy, dx)).sums[r][:, c]
    full_weight = phase_sums(mean, (sy, sx), (dy, dx)).sums[r][:, c]
    return Coverage(np.rint(taps), full_taps, weight, full_weight)


SIDES = ("top", "bottom", "left", "right")


def border_means(out, box: tuple[int, int, int, int]) -> tuple[float | None, dict[str, float | None]]:
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
    regions = {"top": a[:t, cols], "bottom": a[h - b :, cols] if b else a[:0], "left": a[rows, :l], "right": a[rows, w - r :] if r else a[:, :0]}
    return interior, {side: (float(v.mean()) if v.size else None) for side, v in regions.items()}


def conv_transpose2d_layer(
    x,
    weight,
    bias=None,
    stride: int | Pair | str = 1,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
    groups: int = 1,
    *,
    edge: str = "zero",
    dtype=None,
) -> np.ndarray:
    """A trained transposed-convolution layer that mixes channels, channels last.

    Equals ``torch.nn.functional.conv_transpose2d(x, weight, bias, stride,
    padding, output_padding, groups, dilation)`` with ``x`` moved to and from
    PyTorch's channels-first layout. With ``cig = C_in / groups`` and
    ``cog = C_out / groups``, output channel ``o`` of group ``g = o // cog``
    is::

        out[..., o] = sum(conv_transpose2d(x[..., i], weight[i, o % cog])
                          for i in range(g * cig, (g + 1) * cig)) + bias[o]

    computed with the public :func:`conv_transpose2d`, one input channel at
    a time against its ``cog`` kernels.

    Parameters
    ----------
    x : (H, W, C_in) or (H, W) array_like
        Channels last; a 2-D image is one channel.
    weight : (C_in, C_out/groups, kh, kw) array_like
        PyTorch's ``ConvTranspose2d.weight`` layout.
    bias : (C_out,) array_like, optional
        Added to each output channel, in the units of ``x``.
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int
        Must divide ``C_in``; ``C_out = weight.shape[1] * groups``.

    Other parameters
    ----------------
    edge : {'zero', 'replicate', 'reflect', 'wrap'}
        As in :func:`conv_transpose2d`; each input channel is extended on its
        own. ``renormalize`` is refused: dividing by the weight that arrived
        has no meaning once channels are mixed.
    dtype : {None, float32, float64}
        As in :func:`conv_transpose2d`.

    Returns
    -------
    out : (H_out, W_out, C_out) ndarray

    Examples
    --------
    >>> w = np.zeros((2, 1, 1, 1)); w[0, 0] = 1; w[1, 0] = 10    # C_in 2 -> C_out 1: x0 + 10 x1
    >>> x = np.stack([np.ones((2, 2)), np.full((2, 2), 2.0)], -1)
    >>> conv_transpose2d_layer(x, w, bias=[0.5])[..., 0].tolist()
    [[21.5, 21.5], [21.5, 21.5]]
    >>> conv_transpose2d_layer(np.ones((3, 4, 3)), np.ones((3, 1, 4, 4)), stride=2, padding=1, groups=3).shape
    (6, 8, 3)
    """
    x = np.asarray(x)
    w = np.asarray(weight)
    _check_array(x, "image")
    _check_array(w, "weight")
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise DeconvError(f"image must be (H, W) or (H, W, C), got shape {x.shape}", usage=True)
    if w.ndim != 4:
        raise DeconvError(f"a layer's weight must be 4-D (C_in, C_out/groups, kh, kw), got shape {w.shape}", usage=True)
    c_in, cog = w.shape[0], w.shape[1]
    if x.shape[2] != c_in:
        raise DeconvError(
            f"the image has {x.shape[2]} channel(s) but the layer's weight {w.shape} takes C_in = {c_in}", usage=True
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 or c_in % groups:
        raise DeconvError(f"groups must be a positive divisor of C_in = {c_in}, got {groups}", usage=True)
    if edge == "renormalize":
        raise DeconvError(
            "edge renormalize divides by the kernel weight that arrived, which has no meaning for a layer that "
            "mixes channels; use zero, replicate, reflect or wrap",
            usage=True,
        )
    c_out, cig = cog * groups, c_in // groups
    b = None
    if bias is not None:
        b = np.asarray(bias)
        _check_array(b, "bias")
        if b.shape != (c_out,):
            raise DeconvError(f"bias must have shape ({c_out},), one value per output channel, got {b.shape}", usage=True)
        if not np.all(np.isfinite(b)):
            raise DeconvError("bias holds NaN or infinite values", usage=True)
    out = None
    for i in range(c_in):
        g = i // cig
        plane = np.repeat(x[:, :, i : i + 1], cog, axis=2)
        part = conv_transpose2d(plane, w[i], stride, padding, output_padding, dilation, edge=edge, dtype=dtype)
        if out is None:
            out = np.zeros(part.shape[:2] + (c_out,), part.dtype)
        out[:, :, g * cog : (g + 1) * cog] += part
    assert out is not None
    if b is not None:
        out += b.astype(out.dtype)
    return out


def separable_factors(kernel, rtol: float = 1e-9) -> tuple[np.ndarray, np.ndarray] | None:
    """(column factor, row factor) with ``outer(u, v) == kernel``, or None if the kernel is not rank 1.

    >>> u, v = separable_factors(np.outer([1.0, 2.0], [3.0, 1.0, 1.0]))
    >>> np.allclose(np.outer(u, v), [[3, 1, 1], [6, 2, 2]])
    True
    >>> separable_factors(np.eye(2)) is None
    True
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2:
        return None
    big = float(np.abs(k).max()) if k.size else 0.0
    if big == 0:
        return None
    i, j = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    u, v = k[:, j].copy(), k[i, :] / k[i, j]  # the pivot's column and row: exact for a true outer product
    if np.abs(np.outer(u, v) - k).max() > rtol * big:
        return None
    if u.sum() < 0:
        u, v = -u, -v
    return u, v


def conv_transpose2d_two_pass(
    x,
    kernel,
    stride: int | Pair | str = 1,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
    *,
    edge: str = "zero",
    clip: tuple[float, float] = (0.0, 255.0),
    dtype=None,
) -> np.ndarray:
    """A separable kernel as a horizontal pass then a vertical one, the intermediate
    rounded half up and clipped to ``clip``, the way Pillow's resize works on 8-bit
    (and 16-bit) images.

    The exact operation (:func:`conv_transpose2d`) keeps full precision between the
    axes; this one reproduces what Pillow stores between its passes, so that with
    ``edge="renormalize"`` and a built-in interpolation kernel the result matches
    Pillow's 8-bit resize to within its fixed-point rounding (1 level), also where a
    kernel's negative lobes overshoot the range near hard edges.

    Parameters
    ----------
    x : (H, W) or (H, W, C) array_like
    kernel : (kh, kw) array_like
        Must be separable (rank 1).
    stride, padding, output_padding, dilation : int or (int, int)

    Other parameters
    ----------------
    edge : str
        As in :func:`conv_transpose2d`, applied per pass.
    clip : (float, float)
        Range of the stored intermediate (the image's integer range).
    dtype : {None, float32, float64}

    Returns
    -------
    out : (H_out, W_out) or (H_out, W_out, C) ndarray
        Not rounded: the caller stores it like any result.

    Examples
    --------
    >>> k = np.outer([-0.25, 1.5, -0.25], [-0.25, 1.5, -0.25])
    >>> x = np.zeros((3, 3)); x[1, 1] = 255.0     # the row pass overshoots to 382.5 and is clipped to 255
    >>> conv_transpose2d(x, k, padding=1)[1].tolist(), np.round(conv_transpose2d_two_pass(x, k, padding=1)[1], 6).tolist()
    ([-95.625, 573.75, -95.625], [0.0, 382.5, 0.0])
    """
    f = separable_factors(kernel)
    if f is None:
        raise DeconvError(f"the two-pass (Pillow-style) computation needs a separable kernel; this {np.shape(kernel)} one is not rank 1", usage=True)
    u, v = f
    (sy, sx), (py, px) = as_pair(stride, "stride"), as_pair(padding, "padding")
    if abs(v.sum()) > 1e-12 * np.abs(v).max():
        c = v.sum() / sx  # the row pass gets Pillow's scale: each of its stride phases averages 1
        u, v = u * c, v / c
    (ay, ax), (dy, dx) = as_pair(output_padding, "output_padding"), as_pair(dilation, "dilation")
    rows = conv_transpose2d(x, v[None, :], (1, sx), (0, px), (0, ax), (1, dx), edge=edge, dtype=dtype)
    rows = np.clip(np.floor(rows + 0.5), *clip).astype(rows.dtype)
    return conv_transpose2d(rows, u[:, None], (sy, 1), (py, 0), (ay, 0), (dy, 1), edge=edge, dtype=dtype)
