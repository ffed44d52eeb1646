"""Cross-check against PyTorch itself where it happens to be installed (it is not a dependency).

The reference-loop tests in test_core.py are the contract; this file checks the same property
against the real conv_transpose2d on random cases, including 3-channel images and large kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

from deconv_cli import DeconvError, conv_transpose2d

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_per_channel(x, k, s, p, a, d):
    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 0)))[:, None]
    out = F.conv_transpose2d(t, torch.from_numpy(k)[None, None], stride=s, padding=p, output_padding=a, dilation=d)
    return np.moveaxis(out[:, 0].numpy(), 0, -1)


@pytest.mark.parametrize("seed", range(20))
def test_random_cases_match_pytorch(seed):
    rng = np.random.default_rng(1000 + seed)
    checked = 0
    while checked < 50:
        h, w = rng.integers(1, 24, 2)
        kh, kw = rng.integers(1, 10, 2)
        s, d = tuple(int(v) for v in rng.integers(1, 6, 2)), tuple(int(v) for v in rng.integers(1, 4, 2))
        a = tuple(int(rng.integers(0, max(si, di))) for si, di in zip(s, d, strict=True))
        p = tuple(int(v) for v in rng.integers(0, 6, 2))
        x = rng.standard_normal((h, w, 3)).astype(np.float32) * 100
        k = rng.standard_normal((kh, kw)).astype(np.float32)
        try:
            ours = conv_transpose2d(x, k, s, p, a, d)
        except DeconvError:
            continue  # N_out <= 0: refused by design (PyTorch returns an empty tensor for 0)
        ref = torch_per_channel(x, k, s, p, a, d)
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() <= 1e-5 * max(1.0, float(np.abs(ref).max()))
        checked += 1
