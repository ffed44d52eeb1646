"""One axis of the operation as the engine sees it: where each output lies on the full
grid, which taps reach each stride phase, and where its input comes from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Axis:
    """One axis: output ``o`` (``0 <= o < n_out``) lies at ``f = o + start``, input ``i`` reaches
    ``f = i*stride + u*dilation`` through tap ``u``. ``ext`` input pixels before/after the image
    repeat it as numpy's pad ``mode`` would (the edge modes); beyond them lies zero.

    >>> ax = Axis(n_in=4, kernel=4, stride=2, dilation=1, start=1, n_out=8)
    >>> ax.taps
    (((0, 0), (2, 1)), ((1, 0), (3, 1)))
    >>> ax.reach, ax.q(0), ax.q(7)
    (1, 0, 4)
    """

    n_in: int
    kernel: int
    stride: int
    dilation: int
    start: int
    n_out: int
    ext: tuple[int, int] = (0, 0)
    mode: str = "constant"

    @cached_property
    def taps(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Per phase, the ``(u, m)`` pairs: tap ``u`` brings input ``q - m`` to ``f = q*s + phase``.

        All ``stride`` phases at once (``O(stride + kernel)``): for small strides and for
        tests; the engine asks :meth:`phase_taps` of the :attr:`phases` that have taps."""
        return tuple(self.phase_taps(ph) for ph in range(self.stride))

    @cached_property
    def _progression(self) -> tuple[int, int, int, int]:
        """``(g, s/g, d/g, inverse of d/g modulo s/g)`` with ``g = gcd(s, d)``."""
        s, d = self.stride, self.dilation
        g = math.gcd(s, d)
        sg, dg = s // g, d // g
        return g, sg, dg, pow(dg, -1, sg) if sg > 1 else 0

    def tap_ranges(self, phase: int) -> tuple[range, range]:
        """The taps of one phase as two progressions, ``u`` and ``m`` (``O(1)``, whatever the
        kernel or the stride): ``u*d = phase (mod s)`` holds for ``u`` in one residue class
        modulo ``s/gcd(s, d)``, and ``m`` grows by ``d/gcd(s, d)`` from one to the next.

        >>> Axis(n_in=4, kernel=7, stride=3, dilation=2, start=0, n_out=9).tap_ranges(1)
        (range(2, 7, 3), range(1, 5, 2))
        """
        g, sg, dg, inv = self._progression
        if phase % g:
            return range(0), range(0)
        u0 = (phase // g) * inv % sg
        us = range(u0, self.kernel, sg)
        m0 = (u0 * self.dilation - phase) // self.stride
        return us, range(m0, m0 + len(us) * dg, dg)

    def reaches(self, phase: int) -> bool:
        """Whether some tap reaches ``phase`` (``O(1)``)."""
        return bool(self.tap_ranges(phase)[0])

    def phase_taps(self, phase: int) -> tuple[tuple[int, int], ...]:
        """The ``(u, m)`` pairs of one phase (as :attr:`taps` holds them), in ``O(taps)``."""
        us, ms = self.tap_ranges(phase)
        return tuple(zip(us, ms, strict=True))

    @cached_property
    def phases(self) -> tuple[int, ...]:
        """The phases that some tap reaches, in order: ``min(kernel, s/gcd(s, d))`` of them.

        >>> Axis(n_in=2, kernel=2, stride=6, dilation=2, start=0, n_out=9).phases
        (0, 2)
        """
        _, sg, _, _ = self._progression
        return tuple(sorted({u * self.dilation % self.stride for u in range(min(self.kernel, sg))}))

    @property
    def reach(self) -> int:
        """The largest ``m``: how many inputs before ``q`` can reach ``f = q*s + phase``."""
        return self.dilation * (self.kernel - 1) // self.stride

    def q(self, o: int) -> int:
        return (o + self.start) // self.stride

    def phase(self, o: Any) -> Any:
        """The stride phase of output ``o`` (an int, or an array of them)."""
        return (o + self.start) % self.stride

    def source(self, lo: int, hi: int) -> np.ndarray:
        """Which input index supplies each of the (extended) inputs ``lo..hi-1``; -1 for zero."""
        idx = np.arange(lo, hi)
        before, after = self.ext
        inside = (idx >= -before) & (idx < self.n_in + after)
        if before or after:
            # a numpy pad mode; one pixel cannot be reflected about itself, so it is repeated
            mode: Any = "edge" if self.mode == "reflect" and self.n_in == 1 else self.mode
            mapped = np.pad(np.arange(self.n_in), (before, after), mode=mode)
            return np.where(inside, mapped[np.clip(idx + before, 0, len(mapped) - 1)], -1)
        return np.where(inside, idx, -1)


def runs(src: np.ndarray) -> list[tuple[int, int, int]]:
    """Split a source-index map into ``(dst0, dst1, src0)`` runs of consecutive sources (src0 -1: zeros).

    >>> runs(np.array([-1, -1, 0, 1, 2, 2, 1]))
    [(0, 2, -1), (2, 5, 0), (5, 6, 2), (6, 7, 1)]
    """
    src = np.asarray(src)
    if len(src) == 0:
        return []
    step = np.diff(src)
    # a run continues while both are zeros (-1) or the source advances by one
    cont = ((src[1:] < 0) & (src[:-1] < 0)) | ((src[:-1] >= 0) & (step == 1))
    starts = np.concatenate(([0], np.flatnonzero(~cont) + 1))
    ends = np.concatenate((starts[1:], [len(src)]))
    return [(int(a), int(b), int(src[a])) for a, b in zip(starts, ends, strict=True)]
