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

The ``fft`` constants were added later (2026-11-29, same machine, numpy's pocketfft, one
thread): fitted on 76 problems of the ``fft`` method alone (kernels 8x8 to 256x256, 1000x1
and 1x1000, strides 1 to 4, 1 and 3 channels, outputs of 60 to 700 pixels a side), the
same weighting, measured/model between 0.61 and 2.29 (geometric mean 1.05); the machine
was under load then (the other methods measured 1.2x their constants' figures against
1.0x in the fit above), so the fitted values were divided by 1.2. Measuring every method
on those problems (random full-rank kernels), ``fft`` is the fastest from 8x8 kernels at
stride 1 and from 32x32 to 64x64 at stride 4; with these constants the model picks the
fastest method in 63 of the 78, with a worst slowdown of 2.09x (``terms`` for ``planes`` on
8x8 at stride 4, as before) and a geometric mean of 1.06.

The ``fused`` constants (2026-11-30, same machine, one thread) are set, not fitted: its own
least-squares fit in measured ns (0.054-0.079 an operation, 0.74-0.81 an output element,
within 10 % on 8 problems: 3x3 to 16x16 kernels, strides 1 to 4, 1 to 4 channels) is on
another day's scale than the constants above (``terms`` measured 1.1-2.1x its model that
day, ``planes`` 0.6-0.9x), so they are placed where the model picks the measured fastest of
``terms``, ``fused``, ``planes`` and ``gemm`` on all 8: ``fused`` for few terms or small
strides (bilinear, 3x3 to 8x8), ``planes`` for 12x12 at stride 3 and 16x16 at stride 4.
"""

#: strided copy; copy of contiguous windows; elementwise op over contiguous rows; one
#: multiply-add inside BLAS; the fixed cost of the products per output element; one tap of
#: ``taps`` when its innermost loop runs over a pixel's channels (column stride above 1);
#: for ``fft``, one point of a transform per log2 of its points, one point of a tile per pair
#: of phases and channel (the spectra's product, the sub-kernel, the copies), one numpy call;
#: for ``fused``, one of ``terms``' elementwise operations done on rows in the cache, and the
#: writing of an output element.
COSTS = {
    "copy": 0.134,
    "window": 1.47,
    "ew": 0.158,
    "mac": 0.0234,
    "gemm_base": 0.677,
    "tap_strided": 1.34,
    "fft": 0.108,
    "fft_mul": 3.2,
    "fft_call": 1280.0,
    "fused": 0.075,
    "fused_out": 0.3,
}
