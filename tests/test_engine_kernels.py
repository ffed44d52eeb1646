"""Every computation method on the built-in kernels (many distinct tap weights, exact zero
taps, symmetric separable splits) against the literal reference loop."""

from __future__ import annotations

import numpy as np
import pytest

from deconv_cli.core import Geometry, plan
from deconv_cli.engine.methods import fused
from deconv_cli.kernels import make_kernel

from oracle import reference


@pytest.mark.parametrize("method", ["taps", "terms", *(["fused"] if fused.available() else []), "gemm", "planes"])
@pytest.mark.parametrize("name", ["nearest", "bilinear", "bicubic", "lanczos2", "lanczos3", "gaussian:sigma=1.3"])
@pytest.mark.parametrize("s", [1, 2, 3, 5])
def test_each_method_on_each_builtin_kernel(method, name, s):
    k = make_kernel(name, s)
    x = np.random.default_rng(s).random((9, 7))
    p = (k.shape[0] - s) // 2
    want = reference(x, k, (s, s), (p, p), (0, 0), (1, 1))
    got = plan(x, k, Geometry.of(s, p), dtype=np.float64, method=method).compute().reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
