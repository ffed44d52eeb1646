"""Planning: from the image, the kernel and two axes to a :class:`~.runner.Plan` with a method
chosen by the cost model, a strip height and a thread count."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..cpus import default_threads
from .axis import Axis
from .costs import COSTS
from .methods import METHODS, SETUP_BYTES, Problem
from .methods.base import STRIP_ELEMENTS
from .runner import Finish, Plan, Prepare

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

#: Below this many output elements everything runs in one strip on the calling thread.
SERIAL_BELOW = 1 << 18

#: Strips are whole stride periods (or a method's whole tiles) up to this many times
#: :data:`STRIP_ELEMENTS`; beyond, a huge stride would make one strip of the whole output.
LARGEST_STEP = 16


def cost(method: str, problem: Problem) -> float:
    """The cost model's estimate for one method, in ns per output element (inf: not applicable)."""
    if problem.kernel.ndim == 4 and not METHODS[method].mixes:
        return math.inf
    features = METHODS[method].features(problem)
    if features is None:
        return math.inf
    return sum(n * COSTS.get(name, math.inf) if n else 0.0 for name, n in features.items())


def choose(problem: Problem) -> str:
    """The method the cost model expects to be fastest per output element, among those whose
    set-up stays within ``problem.setup_bytes``."""
    costs = {name: cost(name, problem) for name in METHODS}
    return min(costs, key=costs.__getitem__)


def plan(
    x: np.ndarray,
    kernel: np.ndarray,
    rows: Axis,
    cols: Axis,
    dtype: DTypeLike,
    *,
    prepare: Prepare | None = None,
    finish: Finish | None = None,
    method: str | None = None,
    strip_rows: int | None = None,
    threads: int | None = None,
    setup_bytes: int | None = None,
    squeeze: bool = False,
) -> Plan:
    """Plan the strips of one transpose convolution.

    Parameters
    ----------
    x : (H, W, C) ndarray
        The image in any real dtype; it is read, never copied whole.
    kernel : (P, kh, kw) or (C, C_out, kh, kw) array_like
        ``P = 1`` (one kernel for every channel) or ``P = C``; or a linear map from the C
        channels to C_out (see :class:`~.methods.Problem`), for a method that mixes.
    rows, cols : Axis
    dtype : float32 or float64
        Computation and result dtype.

    Other parameters
    ----------------
    prepare, finish : callable, optional
        Steps on each gathered input block and each computed strip (the caller's
        semantics: alpha, renormalization); see :mod:`.runner`.
    method : str, optional
        A name in :data:`~.methods.METHODS`; None lets the cost model choose.
    strip_rows : int, optional
        Output rows per strip (default: about :data:`STRIP_ELEMENTS` elements, a
        multiple of the row stride or of the method's ``row_tile`` unless that is huge
        (:data:`LARGEST_STEP`), at least 4 strips per thread).
    threads : int, optional
        Default :func:`~deconv_cli.cpus.default_threads` (1 for small outputs).
    setup_bytes : int, optional
        Largest set-up a method may build (default :data:`~.methods.SETUP_BYTES`).
    squeeze : bool
        The image was (H, W): :meth:`Plan.compute_image` drops the channel axis.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 3 and k.shape[0] > 1 and np.all(k == k[:1]):
        k = k[:1]  # the same kernel for every channel: shared, so it may split
    problem = Problem(rows, cols, k, x.shape[2], np.dtype(dtype), setup_bytes or SETUP_BYTES)
    name = method or choose(problem)
    if name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {name!r}")
    if k.ndim == 4 and not METHODS[name].mixes:
        raise ValueError(f"method {name} does not compute a linear map between channels")
    unit = METHODS[name](problem)
    if threads is None:
        threads = 1 if rows.n_out * problem.row_len < SERIAL_BELOW else default_threads()
    threads = max(1, int(threads))
    if strip_rows is None:
        target = max(1, min(unit.strip_elements // max(1, problem.row_len), -(-rows.n_out // (4 * threads))))
        step = unit.row_tile if unit.row_tile > 1 else rows.stride
        if step * problem.row_len <= LARGEST_STEP * STRIP_ELEMENTS:  # whole tiles, or whole stride periods
            strip_rows = max(step, target // step * step)
        else:  # a huge stride or tile: strips that cut it (all the same to the result) stay bounded
            strip_rows = target
    return Plan(
        x,
        problem,
        unit,
        strip_rows=max(1, int(strip_rows)),
        threads=threads,
        prepare=prepare,
        finish=finish,
        squeeze=squeeze,
    )
