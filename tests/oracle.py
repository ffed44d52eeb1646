"""The independent, obviously-correct references the tests compare against."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def reference(x, k, stride, padding, output_padding, dilation):
    """The definition, one pixel at a time: x[i, j] * K placed at (i*s, j*s), taps d apart,
    overlaps summed; then `padding` cut from every side and `output_padding` added bottom/right."""
    (sy, sx), (py, px), (ay, ax), (dy, dx) = stride, padding, output_padding, dilation
    h, w = x.shape
    kh, kw = k.shape
    full = np.zeros(((h - 1) * sy + dy * (kh - 1) + 1 + ay, (w - 1) * sx + dx * (kw - 1) + 1 + ax))
    for i in range(h):
        for j in range(w):
            for u in range(kh):
                for v in range(kw):
                    full[i * sy + u * dy, j * sx + v * dx] += x[i, j] * k[u, v]
    return full[py : full.shape[0] - py, px : full.shape[1] - px]


def per_channel_reference(x, k, geometry):
    """Channels-last image, (kh, kw) or (C, kh, kw) kernel, through the scalar loop, channel by
    channel; ``geometry`` is (stride, padding, output_padding, dilation), each a pair."""
    x3 = x if x.ndim == 3 else x[:, :, None]
    planes = [
        reference(x3[:, :, c].astype(np.float64), k if k.ndim == 2 else k[c], *geometry) for c in range(x3.shape[2])
    ]
    out = np.stack(planes, -1)
    return out if x.ndim == 3 else out[:, :, 0]


def layer_reference(x, w, b, groups, geometry, pair=None):
    """PyTorch's grouped transpose convolution spelled out: every (input channel, output channel)
    pair of a group through ``pair(x_i, w_ij, *geometry)`` (default: the literal loop,
    :func:`reference`), summed, plus the bias. ``geometry`` is (stride, padding, output_padding,
    dilation), each a pair."""
    pair = pair or reference
    c_in, cog = w.shape[:2]
    cig = c_in // groups
    outs = []
    for o in range(cog * groups):
        g, j = divmod(o, cog)
        acc = sum(pair(x[..., i], w[i, j], *geometry) for i in range(g * cig, (g + 1) * cig))
        outs.append(acc + (0.0 if b is None else b[o]))
    return np.stack(outs, -1)


#: deconv's extension edge modes, by numpy.pad's name for them.
NUMPY_MODE = {"replicate": "edge", "reflect": "reflect", "symmetric": "symmetric", "wrap": "wrap"}


def pad_axes(x: np.ndarray, margin: int, mode: str) -> np.ndarray:
    """numpy's padding of both axes of a 2-D ``x``, each on its own: an axis of length 1 cannot be
    reflected about its one pixel, so that axis (only) repeats it."""
    for axis in (0, 1):
        width = [(0, 0), (0, 0)]
        width[axis] = (margin, margin)
        m = NUMPY_MODE[mode]
        x = np.pad(x, width, mode="edge" if m == "reflect" and x.shape[axis] == 1 else m)
    return x


def extended_reference(x, k, stride, padding, output_padding, dilation, mode):
    """The operation on an input extended far beyond what any kept pixel can reach
    (numpy's own padding), read back on the original output window."""
    margin = max(d * (kk - 1) // s + 2 for s, d, kk in zip(stride, dilation, k.shape, strict=True))
    big = pad_axes(x, margin, mode)
    full = reference(big, k, stride, (0, 0), (0, 0), dilation)
    # N_out = (N_in - 1)*s - 2p + d*(k - 1) + a + 1 on each axis
    n_rows, n_cols = (
        (n - 1) * s - 2 * p + d * (kk - 1) + a + 1
        for n, kk, s, p, a, d in zip(x.shape, k.shape, stride, padding, output_padding, dilation, strict=True)
    )
    out = np.zeros((n_rows, n_cols))
    r0, c0 = padding[0] + margin * stride[0], padding[1] + margin * stride[1]
    part = full[r0 : r0 + n_rows, c0 : c0 + n_cols]
    out[: part.shape[0], : part.shape[1]] = part  # beyond the full grid no tap lands: zeros
    return out


@st.composite
def cases(draw, min_size=1):
    """Random legal geometry: sizes, kernel, stride, padding (N_out >= 1), output_padding, dilation, seed."""
    h, w = draw(st.integers(min_size, 7)), draw(st.integers(min_size, 7))
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True))
    padding = []
    for n, k, s, d, a in zip((h, w), (kh, kw), stride, dilation, output_padding, strict=True):
        padding.append(draw(st.integers(0, ((n - 1) * s + d * (k - 1) + a) // 2)))
    return (h, w), (kh, kw), stride, tuple(padding), output_padding, dilation, draw(st.integers(0, 2**32 - 1))


@st.composite
def images(draw, min_size=1):
    """A random case for the engine: :func:`cases` geometry, channels (0: a 2-D image), a kernel kind
    (random, per-channel, separable, integer) and an image dtype (float64, float32, uint8)."""
    case = draw(cases(min_size))
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    channels = draw(st.sampled_from([0, 1, 3, 4]))  # 0: a 2-D image
    kind = draw(st.sampled_from(["random", "per-channel", "separable", "integer"]))
    dtype = draw(st.sampled_from(["float64", "float32", "uint8"]))
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 0 else (h, w, channels)
    x = rng.integers(0, 256, shape).astype(np.uint8) if dtype == "uint8" else rng.standard_normal(shape).astype(dtype)
    if kind == "per-channel" and channels:
        k = rng.standard_normal((channels, kh, kw))
    elif kind == "separable":
        k = np.outer(rng.standard_normal(kh), rng.standard_normal(kw))
    elif kind == "integer":
        k = rng.integers(-3, 4, (kh, kw)).astype(np.float64)
    else:
        k = rng.standard_normal((kh, kw))
    return x, k, (stride, padding, output_padding, dilation)


def half_pixel_bilinear(x: np.ndarray, scale: int | tuple[int, int]) -> np.ndarray:
    """First principles: output pixel o sits at input coordinate (o + 0.5)/scale - 0.5, clamped
    to the image, and takes the linear blend of its two neighbours (per axis; ``scale`` an int or
    a (rows, cols) pair)."""
    sy, sx = (scale, scale) if isinstance(scale, int) else scale

    def axis_weights(n, scale):
        pos = np.clip((np.arange(n * scale) + 0.5) / scale - 0.5, 0, n - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        m = np.zeros((n * scale, n))
        np.add.at(m, (np.arange(n * scale), lo), 1 - (pos - lo))
        np.add.at(m, (np.arange(n * scale), hi), pos - lo)
        return m

    return axis_weights(x.shape[0], sy) @ x @ axis_weights(x.shape[1], sx).T


@st.composite
def layer_cases(draw):
    """A legal geometry (:func:`cases`), groups, input channels (a multiple of the groups),
    output channels per group, and whether there is a bias."""
    geometry = draw(cases())
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    cog = draw(st.integers(1, 3))
    return geometry, groups, c_in, cog, draw(st.booleans())
