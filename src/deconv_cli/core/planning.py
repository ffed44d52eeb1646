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

from collections.abc import Callable
from typing import TYPE_CHECKING

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
    method: str | None = None,
    strip_rows: int | None = None,
    threads: int | None = None,
    setup_bytes: int | None = None,
) -> engine.Plan:
    """The :class:`~deconv_cli.engine.Plan` that computes ``conv_transpose2d(x, kernel, ...)``
    strip by strip, without converting or copying the image.

    Parameters
    ----------
    x : (H, W) or (H, W, C) array_like
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
    method, strip_rows, threads, setup_bytes
        Passed to :func:`deconv_cli.engine.plan` (the tests force each method).

    Examples
    --------
    >>> p = plan(np.ones((3, 4)), np.ones((2, 2)), Geometry(stride=(2, 2)))
    >>> p.shape, p.compute_image().shape
    ((6, 8, 1), (6, 8))
    """
    mode_of_edge = Edge.of(edge)
    xs, k = np.asarray(x), np.asarray(kernel)
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
    top, bottom, left, right = crop
    rows, cols = axes
    window = (top + rows.trim_start, bottom + rows.trim_end, left + cols.trim_start, right + cols.trim_end)
    mode = mode_of_edge.pad_mode  # an axis of length 1 falls back from reflect to edge on its own (Axis.source)
    eng_axes = []
    for ax, lo, hi in ((axes[0], window[0], window[1]), (axes[1], window[2], window[3])):
        n_out = ax.n_out - lo - hi
        if min(lo, hi) < 0 or n_out < 1:
            raise DeconvError(f"crop {crop} leaves nothing of the {rows.kept}x{cols.kept} output", usage=True)
        ext = edge_extension(ax) if mode else (0, 0)
        eng_axes.append(
            engine.Axis(ax.n_in, ax.kernel, ax.stride, ax.dilation, ax.padding + lo, n_out, ext, mode or "constant")
        )
    x3 = xs if xs.ndim == 3 else xs[:, :, None]
    k3 = (k if k.ndim == 3 else k[None]).astype(np.float64)  # (1, kh, kw): shared; (C, kh, kw) was checked against C
    finish: list[Callable[[int, int, np.ndarray], None]] = []
    if mode_of_edge is Edge.renormalize:
        finish.append(renormalization(axes, k3, window, dt).apply)
    if alpha is not None:
        finish.append(lambda o0, o1, dst: _unpremultiply(dst, *alpha))
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


def work_seconds(p: engine.Plan) -> float:
    """Seconds of one CPU core the cost model expects ``p`` to take, on the machine its
    constants were fitted on: the only ratio that matters is against other estimates."""
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
