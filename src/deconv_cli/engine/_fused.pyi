# The compiled loop of deconv_cli.engine.methods.fused (_fused.c): buffers are C-contiguous
# numpy arrays of the computation's dtype, int64 for the offsets, starts, rows and tags.
import numpy as np

def strip(
    shape: tuple[int, int, int, int, int, int, int, int, int, int, int, int, int],
    double: bool,
    dst: np.ndarray,
    blk: np.ndarray,
    weights: np.ndarray,
    offsets: np.ndarray,
    starts: np.ndarray,
    rows: np.ndarray,
    row_weights: np.ndarray,
    rep: np.ndarray,
    ring: np.ndarray,
    tags: np.ndarray,
) -> None: ...
