"""The independent, obviously-correct reference the tests compare against."""

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


@st.composite
def cases(draw, min_size=1):
    """Random legal geometry: sizes, kernel, stride, padding (N_out >= 1), output_padding, dilation, seed."""
    h, w = draw(st.integers(min_size, 7)), draw(st.integers(min_size, 7))
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    padding = []
    for n, k, s, d, a in zip((h, w), (kh, kw), stride, dilation, output_padding):
        padding.append(draw(st.integers(0, ((n - 1) * s + d * (k - 1) + a) // 2)))
    return (h, w), (kh, kw), stride, tuple(padding), output_padding, dilation, draw(st.integers(0, 2**32 - 1))
