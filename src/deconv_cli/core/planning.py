"""From the operation's terms to the strip engine's: the one place where geometry, edge
modes, alpha and crops become engine axes and per-strip steps.

:func:`plan` is the public entry below the convenience functions of
:mod:`.ops`: it validates the arrays (the parameters arrive as a valid
:class:`~.geometry.Geometry`), works out each axis' output window and edge
extension, and hands the engine two steps that carry deconv's semantics, so
the engine need not know them: colour premultiplied by alpha as each input
block is gathered, and (after each strip) the border renormalized and the
colour divided by the alpha that arrived.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import engine
from ..errors import DeconvError
from ..modes import DType, Edge
from .analysis import renormalization
from .geometry import AxisSize, Box, Geometry, edge_extension

if TYPE_CHECKING:
    from numpy.typing import DTypeLike


def result_dtype(x: np.ndarray, dtype: DTypeLike | DType | None) -> np.dtype:
    """The computation and result dtype: ``dtype`` if given (float32 or float64), else
    float64 for a float64 image and float32 for everything else."""
    if dtype is not None:
        dt = np.dtype(dtype.value if isinstance(dtype, DType) else dtype)
        if dt.name not in DType.values():
            raise DeconvError(f"dtype must be one of {', '.join(DType.values())}, got {dt}", usage=True)
        return dt
    return np.dtype(np.float64 if x.dtype == np.float64 else np.float32)


def check_array(a: np.ndarray, what: str) -> None:
    if a.dtype.kind not in "biuf":
        raise DeconvError(f"{what} must hold real numbers, got dtype {a.dtype}", usage=True)
    if a.size == 0:
        raise DeconvError(f"{what} is empty (shape {a.shape})", usage=True)


def check_image_and_kernel(x: np.ndarray, k: np.ndarray) -> None:
    """An (H, W) or (H, W, C) image of real numbers and a finite (kh, kw) or (C, kh, kw) kernel."""
    check_array(x, "image")
    check_array(k, "kernel")
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


def plan(
    x,
    kernel,
    geometry: Geometry | tuple[AxisSize, AxisSize],
    *,
    edge: Edge | str = Edge.zero,
    alpha: tuple[int, float] | None = None,
    crop: Box = (0, 0, 0, 0),
    dtype: DTypeLike | DType | None = None,
    offset: float = 0.0,
    method: str | None = None,
    strip_rows: int | None = None,
    threads: int | None = None,
    setup_bytes: int | None = None,
) -> engine.Plan:
    """The :class:`~deconv_cli.engine.Plan` that computes ``conv_transpose2d(x, kernel, ...)``
    strip by strip, without converting or copying the image.

    Parameters
    ----------
    x : (H, W) or (H, W, C) array_like, or :class:`~deconv_cli.engine.Rows`
        Rows are read a range at a time by the strips, never whole.
    kernel : (kh, kw) or (C, kh, kw) array_like
    geometry : Geometry or (AxisSize, AxisSize)
        The parameters, or their size math for this image and kernel
        (from :meth:`Geometry.axes`) when the caller has it already.

    Other parameters
    ----------------
    edge : Edge or str
        See :func:`~deconv_cli.core.conv_transpose2d`.
    alpha : (int, float), optional
        ``(channel, alpha_max)``: colour premultiplied by alpha (see
        :func:`~deconv_cli.core.upsample`).
    crop : (top, bottom, left, right)
        Compute only the window left after cutting these; a ``same``
        geometry's trims (``trim_start``, ``trim_end``) are cut on top of them.
    dtype : {None, float32, float64}
    offset : float
        Added to every channel but alpha after the convolution (a ``.mat`` kernel's offset).
    method, strip_rows, threads, setup_bytes
        Passed to :func:`deconv_cli.engine.plan` (the tests force each method).

    Examples
    --------
    >>> p = plan(np.ones((3, 4)), np.ones((2, 2)), Geometry(stride=(2, 2)))
    >>> p.shape, p.compute_image().shape
    ((6, 8, 1), (6, 8))
    """
    mode_of_edge = Edge.of(edge)
    xs: Any = x if isinstance(x, engine.Rows) else np.asarray(x)  # Rows: read when sliced, never whole
    k = np.asarray(kernel)
    check_image_and_kernel(xs, k)
    dt = result_dtype(xs, dtype)
    if isinstance(geometry, Geometry):
        axes = geometry.axes(xs.shape[:2], k.shape[-2:])
    else:
        axes = geometry
        if (axes[0].n_in, axes[1].n_in, axes[0].kernel, axes[1].kernel) != (*xs.shape[:2], *k.shape[-2:]):
            raise DeconvError(
                f"size math for {axes[0].n_in}x{axes[1].n_in} and a {axes[0].kernel}x{axes[1].kernel} kernel "
                f"does not fit an image {xs.shape} and a kernel {k.shape}",
                usage=True,
            )
    window, eng_axes = _engine_axes(axes, crop, mode_of_edge)
    x3 = xs if xs.ndim == 3 else xs[:, :, None]
    k3 = (k if k.ndim == 3 else k[None]).astype(np.float64)  # (1, kh, kw): shared; (C, kh, kw) was checked against C
    finish: list[Callable[[int, int, np.ndarray], None]] = []
    if mode_of_edge is Edge.renormalize:
        finish.append(renormalization(axes, k3, window, dt).apply)
    if alpha is not None:
        finish.append(lambda o0, o1, dst: _unpremultiply(dst, *alpha))
    if offset:
        finish.append(_add_offset(offset, x3.shape[2], None if alpha is None else alpha[0]))
    return engine.plan(
        x3,
        k3,
        eng_axes[0],
        eng_axes[1],
        dt,
        prepare=_premultiply(*alpha) if alpha is not None else None,
        finish=_chain(finish),
        squeeze=xs.ndim == 2,
        method=method,
        strip_rows=strip_rows,
        threads=threads,
        setup_bytes=setup_bytes,
    )


def _engine_axes(axes: tuple[AxisSize, AxisSize], crop: Box, edge: Edge) -> tuple[Box, tuple[engine.Axis, engine.Axis]]:
    """The output window (the crop plus a same padding's trims) and the engine's two axes."""
    top, bottom, left, right = crop
    rows, cols = axes
    window = (top + rows.trim_start, bottom + rows.trim_end, left + cols.trim_start, right + cols.trim_end)
    mode = edge.pad_mode  # an axis of length 1 falls back from reflect to edge on its own (Axis.source)
    eng_axes = []
    for ax, lo, hi in ((axes[0], window[0], window[1]), (axes[1], window[2], window[3])):
        n_out = ax.n_out - lo - hi
        if min(lo, hi) < 0 or n_out < 1:
            raise DeconvError(f"crop {crop} leaves nothing of the {rows.kept}x{cols.kept} output", usage=True)
        ext = edge_extension(ax) if mode else (0, 0)
        eng_axes.append(
            engine.Axis(ax.n_in, ax.kernel, ax.stride, ax.dilation, ax.padding + lo, n_out, ext, mode or "constant")
        )
    return window, (eng_axes[0], eng_axes[1])


def plan_layer(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    axes: tuple[AxisSize, AxisSize],
    groups: int,
    *,
    edge: Edge,
    dtype: DTypeLike | DType | None,
    crop: Box = (0, 0, 0, 0),
    offset: float = 0.0,
    method: str | None = None,
    strip_rows: int | None = None,
    threads: int | None = None,
) -> engine.Strips:
    """The strips of a learned layer (:func:`~.ops.conv_transpose2d_layer` on checked arguments),
    then ``bias`` and ``offset`` added.

    Two ways, whichever the cost model expects to take less work: the layer as one linear map
    from the input's channels to the output's (its weights zero between groups), every output
    channel from one matrix product per row phase (``gemm``); or one plan per input channel
    against its ``C_out/groups`` kernels, summed strip by strip into its group's output
    channels (:class:`~deconv_cli.engine.Sum`: a depthwise layer, a kernel too large for
    ``gemm``'s matrices).

    Parameters
    ----------
    x : (H, W, C_in) ndarray
    weight : (C_in, C_out/groups, kh, kw) ndarray
    bias : (C_out,) ndarray or None
        In the image's units.
    axes : (AxisSize, AxisSize)
    groups : int

    Other parameters
    ----------------
    edge, dtype, crop, offset, strip_rows, threads
        As in :func:`plan` (``edge`` extends each input channel; not ``renormalize``).
    method : str, optional
        ``gemm``: the linear map whenever its matrices fit; another name: the sum of
        per-channel plans, each computed by that method (the tests force each path).
    """
    c_in, cog = weight.shape[0], weight.shape[1]
    cig, c_out = c_in // groups, cog * groups
    dt = result_dtype(x, dtype)
    finish: list[Callable[[int, int, np.ndarray], None]] = []
    if bias is not None:
        b = bias.astype(dt)

        def add_bias(o0: int, o1: int, dst: np.ndarray) -> None:
            dst += b

        finish.append(add_bias)
    if offset:
        finish.append(_add_offset(offset, c_out, None))
    step = _chain(finish)
    parts = []
    for i in range(c_in):
        g = i // cig
        plane = np.broadcast_to(x[:, :, i : i + 1], x.shape[:2] + (cog,))  # one channel, read cog times
        part = plan(plane, weight[i], axes, edge=edge, dtype=dt, crop=crop, method=method, strip_rows=strip_rows)
        parts.append((part, slice(g * cog, (g + 1) * cog)))
    summed = engine.Sum(parts, c_out, finish=step, strip_rows=strip_rows, threads=threads)
    if method not in (None, "gemm"):
        return summed
    _, (rows, cols) = _engine_axes(axes, crop, edge)
    linear = np.zeros((c_in, c_out) + weight.shape[2:])
    for i in range(c_in):
        g = i // cig
        linear[i, g * cog : (g + 1) * cog] = weight[i]
    mixed = engine.cost("gemm", engine.Problem(rows, cols, linear, c_in, dt)) * rows.n_out * cols.n_out * c_out * 1e-9
    if not math.isfinite(mixed) or (method is None and mixed >= work_seconds(summed)):
        return summed
    return engine.plan(x, linear, rows, cols, dt, finish=step, method="gemm", strip_rows=strip_rows, threads=threads)


class RowPass(engine.Rows):
    """The row pass of :func:`plan_two_pass` as the column pass's input image: the rows it is
    sliced for (``[a:b]``) are computed when asked, rounded half up and clipped to ``clip``,
    as Pillow stores its intermediate; never all at once."""

    def __init__(self, rows: engine.Plan, clip: tuple[float, float]):
        self.plan, self.clip = rows, clip
        self.shape = rows.shape
        self.dtype = rows.dtype

    def rows(self, o0: int, o1: int) -> np.ndarray:
        out = self.plan.scratch("passed", (o1 - o0,) + self.shape[1:])  # valid until the next slice
        self.plan._compute(o0, o1, out)
        np.add(out, 0.5, out=out)
        np.floor(out, out=out)
        np.clip(out, *self.clip, out=out)
        return out


def plan_two_pass(
    x: np.ndarray | engine.Rows,
    factors: tuple[np.ndarray, np.ndarray],
    axes: tuple[AxisSize, AxisSize],
    *,
    edge: Edge,
    clip: tuple[float, float],
    dtype: DTypeLike | DType | None,
    crop: Box = (0, 0, 0, 0),
    offset: float = 0.0,
    strip_rows: int | None = None,
    threads: int | None = None,
) -> engine.Plan:
    """The strips of :func:`~.ops.conv_transpose2d_two_pass` on checked arguments: the column
    pass, whose input rows are the row pass's (:class:`RowPass`) for just the rows each strip
    needs, so no full-size intermediate exists.

    Parameters
    ----------
    x : (H, W) or (H, W, C) ndarray
    factors : (column factor, row factor)
        :func:`~.ops.separable_factors` of the kernel.
    axes : (AxisSize, AxisSize)

    Other parameters
    ----------------
    edge : Edge
        Applied per pass.
    clip : (float, float)
        The intermediate's range.
    dtype, crop, offset, strip_rows, threads
        As in :func:`plan`. Each pass uses the method it would use without the crop, so a
        crop cuts the result without changing a value of it.
    """
    u, v = factors
    rows_ax, cols_ax = axes
    if abs(v.sum()) > 1e-12 * np.abs(v).max():
        c = v.sum() / cols_ax.stride  # the row pass gets Pillow's scale: each of its stride phases averages 1
        u, v = u * c, v / c
    top, bottom, left, right = crop
    across = (identity_axis("rows", rows_ax.n_in), cols_ax)
    method = plan(x, v[None, :], across, edge=edge, dtype=dtype).method if crop != (0, 0, 0, 0) else None
    passed = RowPass(plan(x, v[None, :], across, edge=edge, dtype=dtype, crop=(0, 0, left, right), method=method), clip)
    down = (rows_ax, identity_axis("cols", passed.shape[1]))
    if crop != (0, 0, 0, 0):
        whole = (rows_ax, identity_axis("cols", cols_ax.kept))
        stand_in = np.broadcast_to(np.zeros((), passed.dtype), (rows_ax.n_in, cols_ax.kept, passed.shape[2]))
        method = plan(  # planned only, for its method: a view of one zero stands in for the intermediate
            stand_in,
            u[:, None],
            whole,
            edge=edge,
            dtype=dtype,
        ).method
    squeeze = np.ndim(x) == 2
    p = plan(
        passed,
        u[:, None],
        down,
        edge=edge,
        dtype=dtype,
        crop=(top, bottom, 0, 0),
        offset=offset,
        method=method,
        strip_rows=strip_rows,
        threads=threads,
    )
    p.squeeze = squeeze
    return p


def identity_axis(axis: str, n: int) -> AxisSize:
    """The size math of an axis a pass leaves alone: a 1-tap kernel at stride 1."""
    return AxisSize(axis, n, 1, 1, 0, 0, 1, n)


def work_seconds(p: engine.Strips) -> float:
    """Seconds of one CPU core the cost model expects ``p`` to take, on the machine its
    constants were fitted on: the only ratio that matters is against other estimates.
    A sum's is its parts'; a two-pass plan's, its column pass's."""
    if isinstance(p, engine.Sum):
        return sum(work_seconds(part) for part, _ in p.parts)
    assert isinstance(p, engine.Plan)
    rows, cols, channels = p.shape
    return engine.cost(p.method, p.problem) * rows * cols * channels * 1e-9


def _chain(steps: list[Callable[[int, int, np.ndarray], None]]) -> Callable[[int, int, np.ndarray], None] | None:
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def run(o0: int, o1: int, dst: np.ndarray) -> None:
        for step in steps:
            step(o0, o1, dst)

    return run


def _add_offset(offset: float, channels: int, alpha: int | None) -> Callable[[int, int, np.ndarray], None]:
    """The step that adds ``offset`` to every channel of a strip but ``alpha``'s."""
    keep = [ch for ch in range(channels) if ch != alpha]
    whole = len(keep) == channels

    def add(o0: int, o1: int, dst: np.ndarray) -> None:
        if whole:
            dst += offset
        else:
            for ch in keep:
                dst[:, :, ch] += offset

    return add


def _premultiply(ach: int, amax: float) -> Callable[[np.ndarray], None]:
    """The step that multiplies colour by ``alpha / alpha_max`` in a gathered (rows, cols, C) block."""

    def prepare(blk: np.ndarray) -> None:
        cover = blk[:, :, ach] / blk.dtype.type(amax)
        for ch in range(blk.shape[2]):
            if ch != ach:
                np.multiply(blk[:, :, ch], cover, out=blk[:, :, ch])

    return prepare


def _unpremultiply(dst: np.ndarray, ach: int, amax: float) -> None:
    """Divide colour by the coverage the alpha channel reached (0 where it is below half a level)."""
    alpha = dst[..., ach]
    visible = alpha >= 0.5
    cover = np.clip(alpha / dst.dtype.type(amax), 0, 1)
    cover[~visible] = 1
    for ch in range(dst.shape[2]):
        if ch != ach:
            col = dst[..., ch]
            np.divide(col, cover, out=col)
            col[~visible] = 0
