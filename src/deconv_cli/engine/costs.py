"""The cost model's constants: nanoseconds per use of each primitive, per output element.

A method's :meth:`~.methods.base.Method.features` says how many of each it spends per
output element; the planner picks the method with the smallest sum. Only the ratios
matter. Fitted by ``bench/fit_costs.py`` (measurements in ``bench/data/costs.csv``);
run it to refit on another machine, and paste what it prints here.
"""

#: strided copy; copy of contiguous windows; elementwise op over contiguous rows; one
#: multiply-add inside BLAS; the fixed cost of the products per output element; one tap of
#: ``taps`` when its innermost loop runs over a pixel's channels (column stride above 1).
COSTS = {
    "copy": 0.6,
    "window": 0.3,
    "ew": 0.2,
    "mac": 0.04,
    "gemm_base": 0.7,
    "tap_strided": 5.0,
}
