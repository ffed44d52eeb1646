"""The transpose convolution computed in row strips: polyphase, threaded, no full-size temporaries.

This is the machinery behind :func:`deconv_cli.core.plan`; it holds no deconv semantics
beyond the operation itself (edges arrive as an input extension, alpha and border
renormalization as steps the caller hands in).

How it works
------------
Per axis, output position ``o`` lies at ``f = o + start`` on the full grid, where input
``i`` lands through tap ``u`` at ``f = i*s + u*d``. Writing ``f = q*s + phase``, the taps
that reach phase ``phase`` are those with ``u*d % s == phase``, and tap ``u`` brings input
``i = q - m`` with ``m = (u*d - phase) // s`` (:meth:`Axis.tap_ranges`: two arithmetic
progressions, so a phase's taps cost nothing to find, and only the :attr:`Axis.phases` that
some tap reaches are ever visited, however large the stride). So every output phase is a
small correlation over the contiguous input: no scatter, no zero-stuffing.

The output is produced in strips of whole rows (:mod:`.runner`). For each strip, the
input rows it needs (sliced from an array, or read from a :class:`Rows`: a decoder's own
image, a two-pass intermediate, never whole) are gathered once into a small float block (converting the input's
dtype, extending it for the edge modes, then the caller's ``prepare`` step), and one
method unit (:mod:`.methods`: ``terms``, ``gemm``, ``planes``, ``taps``, ``fft``) fills the
strip; ``fft`` computes every pair of phases as an FFT convolution over fixed tiles, at a
cost that does not grow with the kernel's taps.
The planner (:mod:`.planner`) picks the method with a cost model (:mod:`.costs`); strips
run on a thread pool (numpy and BLAS release the GIL), and each finished strip goes to an
optional sink (the file writer converts and compresses it) while the next ones are computed.

Channels: one kernel for all, one per channel, or a linear map between them (a 4-D kernel
``(C, C_out, kh, kw)``, which ``gemm`` computes in its one product per row phase); and
:class:`Sum` adds other plans' strips into ranges of its channels, strip by strip.
"""

from .axis import Axis, runs
from .methods import METHODS, SETUP_BYTES, Method, Problem, exact_terms, register
from .planner import choose, cost, plan
from .rows import Rows
from .runner import Plan, Strips, Sum

__all__ = [
    "METHODS",
    "SETUP_BYTES",
    "Axis",
    "Method",
    "Plan",
    "Problem",
    "Rows",
    "Strips",
    "Sum",
    "choose",
    "cost",
    "exact_terms",
    "plan",
    "register",
    "runs",
]
