"""The cost model's constants: nanoseconds per use of each primitive, per output element.

A method's :meth:`~.methods.base.Method.features` says how many of each it spends per
output element; the planner picks the method with the smallest sum. Only the ratios
matter. Fitted by ``bench/fit_costs.py`` (measurements in ``bench/data/costs.csv``);
run it to refit on another machine, and paste what it prints here.

Fitted 2026-11-29 on the project's machine: AMD EPYC, 2 cores (KVM, shared with other
jobs), Python 3.11.7, numpy 2.4.6 with scipy-openblas (OpenBLAS 0.3.31, DYNAMIC_ARCH),
one thread: 610 measurements of the 4 methods on 176 problems (1 and 3 channels, kernels
2x2 to 16x16, strides 1 to 4), non-negative least squares weighted by 1/sqrt(measured).
On those problems the model picks the measured fastest method 135 times in 176 (77 %;
74 % with the constants before), with a worst slowdown of 1.52x over the fastest (2.61x
before) and a geometric mean of 1.051 (1.080 before).
"""

#: strided copy; copy of contiguous windows; elementwise op over contiguous rows; one
#: multiply-add inside BLAS; the fixed cost of the products per output element; one tap of
#: ``taps`` when its innermost loop runs over a pixel's channels (column stride above 1).
COSTS = {
    "copy": 0.134,
    "window": 1.47,
    "ew": 0.158,
    "mac": 0.0234,
    "gemm_base": 0.677,
    "tap_strided": 1.34,
}
