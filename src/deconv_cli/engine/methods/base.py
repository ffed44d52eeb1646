"""What every method shares: the problem it computes and the interface of a method unit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..axis import Axis

#: Largest set-up (weight rows, product matrices) a method may build; beyond it, another
#: method (at worst ``taps``, which builds nothing) is used.
SETUP_BYTES = 64 << 20

#: ``scratch(name, shape)``: a per-thread buffer of the problem's dtype, reused across strips.
Scratch = Callable[[str, tuple[int, ...]], np.ndarray]


@dataclass(eq=False)
class Problem:
    """One transpose convolution as the methods see it.

    ``kernel`` is (P, kh, kw) float64 with ``P = 1`` (one kernel shared by every
    channel) or ``P = channels``; ``dtype`` is the computation dtype;
    ``setup_bytes`` bounds what a method may build (:data:`SETUP_BYTES`).
    ``memo`` keeps what a method works out for its cost and reuses in its set-up.
    """

    rows: Axis
    cols: Axis
    kernel: np.ndarray
    channels: int
    dtype: np.dtype
    setup_bytes: int = SETUP_BYTES
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def row_len(self) -> int:
        """Elements of one output row, all channels."""
        return self.cols.n_out * self.channels

    def remember(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]


class Method:
    """One way to fill a strip of output rows: a unit holding its set-up and its strip code.

    A method subclasses this, sets :attr:`name`, and provides

    - :meth:`features`: how many of each costed primitive (:data:`~..costs.COSTS`) it
      spends per output element, for the planner's cost model; None when it cannot
      run this problem within ``problem.setup_bytes`` (or is only used when forced);
    - ``__init__(problem)``: its set-up. It may set :attr:`repeat` (every block pixel
      repeated that many times, as ``terms`` wants) and :attr:`j_lo`/:attr:`nj`, the
      input columns a block spans (by default those the output columns reach);
    - :meth:`strip`: fill ``dst`` (rows ``o0..o1`` of the output, (rows, cols, C)) from
      ``blk``, the block of input rows from ``q0 - rows.reach`` gathered in the
      computation dtype (and extended for the edge modes).

    It is registered with :func:`deconv_cli.engine.methods.register`.
    """

    name: ClassVar[str] = ""
    repeat: int = 1

    def __init__(self, problem: Problem):
        self.problem = problem
        c = problem.cols
        self.j_lo = c.q(0) - c.reach
        self.nj = c.q(c.n_out - 1) - self.j_lo + 1

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float] | None:
        return None

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        raise NotImplementedError


def phase_rows(rows: Axis, o0: int, o1: int) -> Iterator[tuple[int, int, int, int]]:
    """Per row phase in output rows ``[o0, o1)``: (phase, first row offset in the strip, row count,
    q of the first row)."""
    for k in range(min(rows.stride, o1 - o0)):
        o = o0 + k
        yield rows.phase(o), k, len(range(k, o1 - o0, rows.stride)), rows.q(o)


def taps_per_phase(kernel: int, stride: int) -> int:
    """Taps of one stride phase, at most: ``ceil(k / s)``."""
    return max(1, -(-kernel // stride))
