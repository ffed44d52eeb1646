"""The Pillow-style two-pass computation: equal to Pillow's 8-bit resize within 1 level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_cli.core import conv_transpose2d, conv_transpose2d_two_pass, separable_factors
from deconv_cli.errors import DeconvError
from deconv_cli.kernels import make_kernel

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
FILTERS = {"bicubic": Image.BICUBIC, "lanczos3": Image.LANCZOS, "bilinear": Image.BILINEAR}


def stored(a):
    return np.clip(np.floor(a + 0.5), 0, 255).astype(int)


@pytest.mark.parametrize("name", ["bicubic", "lanczos3", "bilinear"])
@pytest.mark.parametrize("s", [2, 3, 4, 5])
@pytest.mark.parametrize("photo", ["astronaut.png", "camera.png"])
def test_two_pass_renormalize_is_pillows_8bit_resize_within_one_level(name, s, photo):
    im = Image.open(SAMPLES / photo)
    x = np.asarray(im).astype(np.float64)[:160, :200]  # a crop keeps it quick; borders included
    k = make_kernel(name, s)
    p = (k.shape[0] - s) // 2
    ours = stored(conv_transpose2d_two_pass(x, k, s, p, edge="renormalize", dtype=np.float64))
    ref = np.asarray(Image.fromarray(x.astype(np.uint8)).resize((200 * s, 160 * s), FILTERS[name])).astype(int)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1


def test_random_8bit_images_with_hard_edges():
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = (rng.random((23, 31)) > 0.5) * 255.0  # black/white: the worst overshoot
        for name in ("bicubic", "lanczos3"):
            k = make_kernel(name, 3)
            ours = stored(conv_transpose2d_two_pass(x, k, 3, (k.shape[0] - 3) // 2, edge="renormalize", dtype=np.float64))
            ref = np.asarray(Image.fromarray(x.astype(np.uint8)).resize((93, 69), FILTERS[name])).astype(int)
            assert np.abs(ours - ref).max() <= 1
            exact = stored(conv_transpose2d(x, k, 3, (k.shape[0] - 3) // 2, edge="renormalize", dtype=np.float64))
            assert np.abs(exact - ref).max() > 1  # the exact operation differs there: the test has teeth


def test_without_overshoot_two_pass_is_the_exact_operation_up_to_rounding():
    rng = np.random.default_rng(3)
    x = rng.random((9, 11)) * 200
    k = make_kernel("bilinear", 2)  # no negative lobes, output stays in range
    a = conv_transpose2d_two_pass(x, k, 2, 1, edge="replicate", dtype=np.float64)
    b = conv_transpose2d(x, k, 2, 1, edge="replicate", dtype=np.float64)
    assert np.abs(a - b).max() <= 0.5 + 1e-9  # only the intermediate's rounding, at most half a level


def test_separable_factors_and_refusal():
    u, v = separable_factors(np.outer([1.0, -2.0, 1.0], [0.5, 0.5]))
    assert np.allclose(np.outer(u, v), np.outer([1.0, -2.0, 1.0], [0.5, 0.5]))
    assert separable_factors(np.array([[1.0, 0.0], [0.0, 1.0]])) is None
    with pytest.raises(DeconvError, match="separable"):
        conv_transpose2d_two_pass(np.ones((3, 3)), np.eye(3))


# ---------------------------------------------------------------- through the command line


def cli(*args):
    from typer.testing import CliRunner

    from deconv_cli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_two_pass_16bit_and_refusals(tmp_path):
    out = tmp_path / "o.png"
    r = cli("upsample", SAMPLES / "coffee_16bit.png", "-k", "lanczos3", "-s", "2", "-p", "same", "--edge", "renormalize", "--two-pass", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    r = cli("upsample", SAMPLES / "horse.png", "-k", "bicubic", "-s", "2", "-p", "same", "--two-pass", "-o", tmp_path / "h.png")
    assert r.exit_code == 2 and "--alpha separate" in r.stderr
    assert cli("upsample", SAMPLES / "horse.png", "-k", "bicubic", "-s", "2", "-p", "same", "--two-pass", "--alpha", "separate",
               "-o", tmp_path / "h.png", "-q").exit_code == 0  # fmt: skip
    np.save(tmp_path / "eye.npy", np.eye(3))
    r = cli("upsample", SAMPLES / "camera.png", "-k", tmp_path / "eye.npy", "--two-pass", "-o", tmp_path / "e.png")
    assert r.exit_code == 2 and "separable" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "e.png").exists()
