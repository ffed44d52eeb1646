"""The methods the planner can choose from, one unit each (see :class:`.base.Method`).

Adding a method is one new unit and one line here (or one :func:`register` call).
"""

from __future__ import annotations

from .base import SETUP_BYTES, Method, Problem, Scratch, phase_rows, unreached
from .fft import FFT
from .fused import Fused
from .gemm import Gemm
from .planes import Planes
from .taps import Taps
from .terms import Terms, exact_terms

#: name -> method unit, in the order the cost model considers them.
METHODS: dict[str, type[Method]] = {}


def register(method: type[Method]) -> type[Method]:
    """Make a method available to the planner (and to ``method=`` by its name)."""
    METHODS[method.name] = method
    return method


for _unit in (Terms, Fused, Gemm, Planes, Taps, FFT):
    register(_unit)

__all__ = [
    "FFT",
    "METHODS",
    "Fused",
    "SETUP_BYTES",
    "Gemm",
    "Method",
    "Planes",
    "Problem",
    "Scratch",
    "Taps",
    "Terms",
    "exact_terms",
    "phase_rows",
    "register",
    "unreached",
]
