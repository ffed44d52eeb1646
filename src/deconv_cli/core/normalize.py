"""``--normalize``: a kernel rescaled so that its stride phases sum to 1 (``phase``) or the whole
kernel to ``sy * sx`` (``sum``). Plain numpy; the work grows with the kernel's taps, never with a
(sy, sx) grid of a stride that may be huge."""

from __future__ import annotations

import numpy as np

from ..errors import DeconvError
from ..modes import Normalize
from .analysis import tap_phases
from .geometry import as_pair


def _planes(kernel) -> np.ndarray:
    k = np.asarray(kernel, np.float64)
    if k.ndim not in (2, 3):
        raise DeconvError(f"a (kh, kw) or (C, kh, kw) kernel is needed here, got shape {k.shape}", usage=True)
    return k[None] if k.ndim == 2 else k


def normalize_kernel(
    kernel, stride: object, dilation: object, mode: Normalize | str, source: str = "kernel"
) -> tuple[np.ndarray, np.ndarray]:
    """The kernel rescaled as ``--normalize`` asks, and the factor each tap was multiplied by.

    ``phase`` divides the taps of each stride phase by that phase's sum, so every phase sums to 1:
    a constant image comes out constant (no checkerboard from the kernel) and as bright as it went
    in. ``sum`` scales the whole kernel to total ``sy * sx``, the sum of a kernel whose phases all
    sum to 1: the average gain is 1, uneven phases stay uneven. ``none`` returns it unchanged.

    Parameters
    ----------
    kernel : (kh, kw) or (C, kh, kw) array_like
        Each channel's plane is normalized on its own.
    stride, dilation : int or (int, int)
    mode : Normalize or str

    Returns
    -------
    kernel : ndarray of float64, the shape given
    factors : (P, sy, sx) or (P, 1, 1) ndarray of float64
        The factor of each phase of each plane (``P`` = 1 for a 2-D kernel); with ``sum`` and
        ``none``, one factor per plane.

    Raises
    ------
    DeconvError
        When a phase (or, with ``sum``, the whole kernel) sums to 0 or less: no factor makes it 1
        without flipping or blowing up the image.

    Examples
    --------
    >>> k, f = normalize_kernel(np.ones((3, 3)), 2, 1, "phase")
    >>> f[0].tolist(), float(k.sum())
    ([[0.25, 0.5], [0.5, 1.0]], 4.0)
    >>> normalize_kernel(np.full((4, 4), 2.0), 2, 1, "sum")[1][0].tolist()
    [[0.125]]
    """
    mode = Normalize.of(mode, "normalize")
    if np.ndim(kernel) == 4 and mode is not Normalize.none:
        raise DeconvError(
            f"--normalize {mode}: {source} is a learned layer (weight shape {np.shape(kernel)}); its weights are "
            "the model, so deconv does not rescale them. Drop --normalize",
            usage=True,
        )
    planes = _planes(kernel)
    (sy, sx), (dy, dx) = as_pair(stride, "stride"), as_pair(dilation, "dilation")
    if mode is Normalize.phase and sy * sx > planes.shape[1] * planes.shape[2]:
        # more phases than taps: some phase gets none, whatever the kernel (and no grid is allocated)
        raise DeconvError(
            f"--normalize phase: stride {sy},{sx} has {sy * sx} phases but the kernel only "
            f"{planes.shape[1] * planes.shape[2]} taps, so some phase gets no tap at all (the kernel is shorter "
            "than the stride); use --normalize sum, or a longer kernel",
            usage=True,
        )
    phases = sy * sx
    if mode is not Normalize.phase:
        sy = sx = 1  # one factor per plane: no (sy, sx) grid for a stride that may be huge
    ry = tap_phases(planes.shape[1], sy, dy)
    rx = tap_phases(planes.shape[2], sx, dx)
    factors = np.ones((len(planes), sy, sx))
    out = planes.copy()
    for c, plane in enumerate(planes):
        sums = np.zeros((sy, sx))
        np.add.at(sums, (ry[:, None], rx[None, :]), plane)
        reached = np.zeros((sy, sx), bool)
        reached[ry[:, None], rx[None, :]] = True
        where = f" (channel {c})" if len(planes) > 1 else ""
        if mode is Normalize.phase:
            bad = [(int(r), int(q)) for r, q in np.argwhere(~reached | (sums <= 0))]
            if bad:
                r, q = bad[0]
                short = planes.shape[1] < sy or planes.shape[2] < sx
                why = "the kernel is shorter than the stride" if short else "stride and dilation share a factor"
                what = f"sums to {sums[r, q]:.4g}" if reached[r, q] else f"gets no tap at all ({why})"
                raise DeconvError(
                    f"--normalize phase: stride phase ({r}, {q}) of the kernel{where} {what}; only phases that "
                    f"sum to more than 0 can be scaled to 1 (use --normalize sum, or another kernel)",
                    usage=True,
                )
            factors[c] = 1.0 / sums
            out[c] = plane * factors[c][ry[:, None], rx[None, :]]
        elif mode is Normalize.sum:
            total = float(plane.sum())
            if total <= 0:
                raise DeconvError(
                    f"--normalize sum: the kernel{where} sums to {total:.4g}; only a kernel that sums to more "
                    "than 0 can be scaled",
                    usage=True,
                )
            factors[c] = phases / total
            out[c] = plane * factors[c, 0, 0]
    shaped = out[0] if np.ndim(kernel) == 2 else out
    return shaped, factors
