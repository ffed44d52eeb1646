"""The transpose convolution's public functions: per channel, with alpha, as a learned
layer, and Pillow's two-pass variant.

Each validates its own arguments (this is a boundary of the library) and
computes through :func:`.planning.plan`; nothing here is below another boundary.
Everything raises :class:`~deconv_cli.errors.DeconvError` (with
``usage=True`` for bad parameters) and nothing else for bad input.

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

from typing import TYPE_CHECKING

import numpy as np

from ..errors import DeconvError
from ..modes import Edge
from .geometry import AxisSize, Geometry, Pair
from .planning import check_array, plan, plan_layer, plan_two_pass

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

Axes = tuple[AxisSize, AxisSize]


def conv_transpose2d(
    x,
    kernel,
    stride: int | Pair | str = 1,
    padding: int | Pair | str = 0,
    output_padding: int | Pair | str = 0,
    dilation: int | Pair | str = 1,
    *,
    edge: str = "zero",
    dtype: DTypeLike | None = None,
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
    edge : {'zero', 'replicate', 'reflect', 'symmetric', 'wrap', 'renormalize'}
        What lies beyond the image. ``zero``: nothing (PyTorch's operation).
        ``replicate``, ``reflect`` (mirror about the edge pixel: numpy's and
        PyTorch's ``reflect``, OpenCV's ``BORDER_REFLECT_101``), ``symmetric``
        (mirror including it: numpy's ``symmetric``, OpenCV's ``BORDER_REFLECT``),
        ``wrap``: the input is extended by
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
    geometry = Geometry.of(stride, padding, output_padding, dilation)
    return plan(x, kernel, geometry, edge=Edge.of(edge, "edge"), dtype=dtype).compute_image()


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
    dtype: DTypeLike | None = None,
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
    geometry = Geometry.of(stride, padding, output_padding, dilation)
    return plan(x, kernel, geometry, edge=Edge.of(edge, "edge"), dtype=dtype, alpha=alpha).compute_image()


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
    dtype: DTypeLike | None = None,
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
    edge : {'zero', 'replicate', 'reflect', 'symmetric', 'wrap'}
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
    check_array(x, "image")
    check_array(w, "weight")
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
    mode = Edge.of(edge, "edge")
    check_layer_edge(mode, f"a layer's weight {w.shape}")
    geometry = Geometry.of(stride, padding, output_padding, dilation)
    c_out = cog * groups
    b = None
    if bias is not None:
        b = np.asarray(bias)
        check_array(b, "bias")
        if b.shape != (c_out,):
            raise DeconvError(
                f"bias must have shape ({c_out},), one value per output channel, got {b.shape}", usage=True
            )
        if not np.all(np.isfinite(b)):
            raise DeconvError("bias holds NaN or infinite values", usage=True)
    return apply_layer(x, w, b, geometry.axes(x.shape[:2], w.shape[-2:]), groups, edge=mode, dtype=dtype)


def apply_layer(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    axes: Axes,
    groups: int,
    *,
    edge: Edge,
    dtype: DTypeLike | None,
) -> np.ndarray:
    """:func:`conv_transpose2d_layer` on checked arguments: an (H, W, C_in) image, the layer's
    weight and bias, and the size math of both axes; computed strip by strip
    (:func:`~.planning.plan_layer`), one input channel at a time against its ``C_out/groups`` kernels."""
    return plan_layer(x, weight, bias, axes, groups, edge=edge, dtype=dtype).compute()


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
    dtype: DTypeLike | None = None,
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
    >>> conv_transpose2d(x, k, padding=1)[1].tolist()
    [-95.625, 573.75, -95.625]
    >>> np.round(conv_transpose2d_two_pass(x, k, padding=1)[1], 6).tolist()
    [0.0, 382.5, 0.0]
    """
    f = separable_factors(kernel)
    if f is None:
        raise DeconvError(
            f"the two-pass (Pillow-style) computation needs a separable kernel; "
            f"this {np.shape(kernel)} one is not rank 1",
            usage=True,
        )
    geometry = Geometry.of(stride, padding, output_padding, dilation)
    x = np.asarray(x)
    return apply_two_pass(
        x, f, geometry.axes(x.shape[:2], np.shape(kernel)), edge=Edge.of(edge, "edge"), clip=clip, dtype=dtype
    )


def apply_two_pass(
    x: np.ndarray,
    factors: tuple[np.ndarray, np.ndarray],
    axes: Axes,
    *,
    edge: Edge,
    clip: tuple[float, float],
    dtype: DTypeLike | None,
) -> np.ndarray:
    """:func:`conv_transpose2d_two_pass` on checked arguments: the kernel's (column, row)
    factors (:func:`separable_factors`) and the size math of both axes; computed strip by
    strip (:func:`~.planning.plan_two_pass`), the row pass for the rows each strip needs."""
    return plan_two_pass(x, factors, axes, edge=edge, clip=clip, dtype=dtype).compute_image()


def check_layer_edge(edge: Edge, what: str) -> None:
    """Refuse ``renormalize`` for a learned layer: the weight that arrived means nothing once channels mix."""
    if edge is Edge.renormalize:
        others = [e.value for e in Edge if e is not Edge.renormalize]
        raise DeconvError(
            f"edge renormalize divides by the kernel weight that arrived, which has no meaning for a layer that "
            f"mixes channels ({what}); use {', '.join(others[:-1])} or {others[-1]}",
            usage=True,
        )
