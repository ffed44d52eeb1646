"""The operation in pure numpy: size math and geometry (:mod:`.geometry`), the public
functions (:mod:`.ops`) and the plan behind them (:mod:`.plan`), and what a kernel does
where (:mod:`.analysis`). No file access, no printing."""

from .analysis import (
    Coverage,
    PhaseReport,
    Reach,
    Renormalization,
    auto_crop,
    border_means,
    coverage,
    coverage_of,
    deficient_border,
    interior_weight,
    phase_sums,
    received_weight,
    renormalization,
)
from .geometry import (
    AXES,
    SIDES,
    AxisSize,
    Box,
    Crop,
    Geometry,
    Pair,
    as_pair,
    check_axis,
    edge_extension,
    output_size,
    same_padding,
    size_math,
)
from .ops import (
    check_layer_edge,
    conv_transpose2d,
    conv_transpose2d_layer,
    conv_transpose2d_two_pass,
    separable_factors,
    upsample,
)
from .plan import plan, result_dtype

__all__ = [
    "AXES", "SIDES", "AxisSize", "Box", "Coverage", "Crop", "Geometry", "Pair", "PhaseReport", "Reach",
    "Renormalization", "as_pair", "auto_crop", "border_means", "check_axis", "check_layer_edge", "conv_transpose2d",
    "conv_transpose2d_layer", "conv_transpose2d_two_pass", "coverage", "coverage_of", "deficient_border", "edge_extension",
    "interior_weight", "output_size", "phase_sums", "plan", "received_weight", "renormalization", "result_dtype",
    "same_padding", "separable_factors", "size_math", "upsample",
]  # fmt: skip
