"""What every method shares: the problem it computes and the interface of a method unit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..axis import Axis

#: Largest set-up (weight rows, product matrices, kept spectra) a method may build, whatever
#: the image's size; beyond it, another method (``taps`` or ``fft``, which need none) is used.
#: Per-strip buffers are not set-up: they grow with the strip.
SETUP_BYTES = 64 << 20

#: Elements of the output per strip the planner's strip height aims at (4 MB of float32): fewer,
#: longer numpy calls per strip (the threads contend for the GIL between calls) against cache reuse.
STRIP_ELEMENTS = 1 << 20

#: ``scratch(name, shape)``: a per-thread buffer of the problem's dtype, reused across strips.
Scratch = Callable[[str, tuple[int, ...]], np.ndarray]


@dataclass(eq=False)
class Problem:
    """One transpose convolution as the methods see it.

    ``kernel`` is (P, kh, kw) float64 with ``P = 1`` (one kernel shared by every
    channel) or ``P = channels``, or (channels, C_out, kh, kw): a linear map from the
    input's channels to C_out output channels (output ``o`` sums input ``i`` through kernel
    ``[i, o]``), which only a method that :attr:`~Method.mixes` computes; ``dtype`` is the computation dtype;
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
    def out_channels(self) -> int:
        """Channels of the output: C_out for a linear map, else those of the input."""
        return self.kernel.shape[1] if self.kernel.ndim == 4 else self.channels

    @property
    def row_len(self) -> int:
        """Elements of one output row, all channels."""
        return self.cols.n_out * self.out_channels

    def remember(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]


class Method:
    """One way to fill a strip of output rows: a unit holding its set-up and its strip code.

    A method subclasses this, sets :attr:`name`, and provides

    - :meth:`features`: how many of each costed primitive (:data:`~..costs.COSTS`) it
      spends per output element, for the planner's cost model; None when it cannot
      run this problem within ``problem.setup_bytes`` (or is only used when forced).
      The planner asks every method about every problem: it must take ``O(taps)`` time
      and memory at most (counting, not building), and never a step per stride phase;
    - ``__init__(problem)``: its set-up. It may set :attr:`repeat` (every block pixel
      repeated that many times, as ``terms`` wants) and :attr:`j_lo`/:attr:`nj`, the
      input columns a block spans (by default those the output columns reach);
    - :meth:`strip`: fill ``dst`` (rows ``o0..o1`` of the output, (rows, cols, C)) from
      ``blk``, the block of input rows from ``q0 - rows.reach`` gathered in the
      computation dtype (and extended for the edge modes);
    - optionally :attr:`row_tile` and :meth:`block_rows`: a method that computes whole tiles of
      output rows (``fft``) asks for strips of whole tiles, and for blocks that hold the input of
      the whole tiles a strip touches (``q0`` is then that of the tile's first row).

    It is registered with :func:`deconv_cli.engine.methods.register`.
    """

    name: ClassVar[str] = ""
    #: It computes a linear map between channels (a 4-D ``problem.kernel``); the others never see one.
    mixes: ClassVar[bool] = False
    repeat: int = 1
    #: Output rows a strip should be a multiple of (the planner's default strips are).
    row_tile: int = 1
    #: Output elements per strip the planner's default strip height aims at.
    strip_elements: ClassVar[int] = STRIP_ELEMENTS
    #: The block holds only the input rows that are not zero (beyond the image and its edge
    #: extension): for a method that reads only those (``fft``); its row 0 is ``q0 - reach``.
    trim: bool = False

    def __init__(self, problem: Problem):
        self.problem = problem
        c = problem.cols
        self.j_lo = c.q(0) - c.reach
        self.nj = c.q(c.n_out - 1) - self.j_lo + 1

    @classmethod
    def features(cls, problem: Problem) -> dict[str, float] | None:
        return None

    def block_rows(self, o0: int, o1: int) -> tuple[int, int]:
        """The output rows whose input the block for strip ``[o0, o1)`` must hold (those rows)."""
        return o0, o1

    def strip(self, o0: int, o1: int, blk: np.ndarray, q0: int, dst: np.ndarray, scratch: Scratch) -> None:
        raise NotImplementedError


def phase_rows(rows: Axis, o0: int, o1: int, *, reached: bool = False) -> Iterator[tuple[int, int, int, int]]:
    """Per row phase in output rows ``[o0, o1)``: (phase, first row offset in the strip, row count,
    q of the first row).

    With ``reached``, only the phases some tap reaches, in ``O(min(rows, taps))`` steps however
    large the stride: the caller zeroes the other rows (:func:`unreached` says if there are any).
    """
    n = o1 - o0
    if reached and len(rows.phases) < min(rows.stride, n):
        firsts = sorted((ph - o0 - rows.start) % rows.stride for ph in rows.phases)
        ks: Iterable[int] = (k for k in firsts if k < n)
    else:
        ks = range(min(rows.stride, n))
    for k in ks:
        o = o0 + k
        ph = rows.phase(o)
        if not reached or rows.reaches(ph):
            yield ph, k, len(range(k, n, rows.stride)), rows.q(o)


def unreached(rows: Axis, o0: int, o1: int) -> bool:
    """Whether some output row in ``[o0, o1)`` lies in a phase that no tap reaches."""
    n = min(rows.stride, o1 - o0)  # the phases present
    if len(rows.phases) == rows.stride:
        return False
    return sum(1 for _ in phase_rows(rows, o0, o0 + n, reached=True)) < n


def taps_per_phase(kernel: int, stride: int) -> int:
    """Taps of one stride phase, at most: ``ceil(k / s)``."""
    return max(1, -(-kernel // stride))
