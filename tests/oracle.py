"""The independent, obviously-correct reference the tests compare against."""

from __future__ import annotations

import numpy as np


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
