"""An input image whose rows are made when the strips ask for them, never all at once."""

from __future__ import annotations

import math

import numpy as np


class Rows:
    """An (H, W, C) image read by row ranges: ``rows[a:b]`` is an (b - a, W, C) array, made when
    asked and valid until the next call on the same thread. The strips' input blocks read their
    rows so (:meth:`~.runner.Plan._block`), so the image need never exist as one array: the
    intermediate of a two-pass computation, or a decoder's own image.

    Subclasses set :attr:`shape` and :attr:`dtype` and define :meth:`rows`. ``np.asarray(rows)``
    reads every row into one array, for the consumers that need the whole image.
    """

    shape: tuple[int, int, int]
    dtype: np.dtype
    ndim = 3

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def rows(self, a: int, b: int) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError(f"{type(self).__name__} is read by ranges of rows, [a:b], not {rows!r}")
        a, b, _ = rows.indices(self.shape[0])
        return self.rows(a, max(a, b))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        step = max(1, (4 << 20) // max(1, out[0].nbytes))
        for a in range(0, self.shape[0], step):
            b = min(a + step, self.shape[0])
            out[a:b] = self.rows(a, b)
        return out if dtype is None else out.astype(dtype, copy=False)
