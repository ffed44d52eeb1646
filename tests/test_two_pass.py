"""The Pillow-style two-pass computation: equal to Pillow's 8-bit resize within 1 level."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deconv_cli.core import conv_transpose2d, conv_transpose2d_two_pass, separable_factors
from deconv_cli.errors import DeconvError
from deconv_cli.kernels import make_kernel

from conftest import PIL_FILTERS, SAMPLES, pixels, read_png, rounded, run


@pytest.mark.parametrize("name", ["bicubic", "lanczos3", "bilinear"])
@pytest.mark.parametrize("s", [2, 3, 4, 5])
@pytest.mark.parametrize("photo", ["astronaut.png", "camera.png"])
def test_two_pass_renormalize_is_pillows_8bit_resize_within_one_level(name, s, photo):
    im = Image.open(SAMPLES / photo)
    x = np.asarray(im).astype(np.float64)[:160, :200]  # a crop keeps it quick; borders included
    k = make_kernel(name, s)
    p = (k.shape[0] - s) // 2
    ours = rounded(conv_transpose2d_two_pass(x, k, s, p, edge="renormalize", dtype=np.float64))
    ref = np.asarray(Image.fromarray(x.astype(np.uint8)).resize((200 * s, 160 * s), PIL_FILTERS[name])).astype(int)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1


def test_random_8bit_images_with_hard_edges():
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = (rng.random((23, 31)) > 0.5) * 255.0  # black/white: the worst overshoot
        for name in ("bicubic", "lanczos3"):
            k = make_kernel(name, 3)
            p = (k.shape[0] - 3) // 2
            ours = rounded(conv_transpose2d_two_pass(x, k, 3, p, edge="renormalize", dtype=np.float64))
            ref = np.asarray(Image.fromarray(x.astype(np.uint8)).resize((93, 69), PIL_FILTERS[name])).astype(int)
            assert np.abs(ours - ref).max() <= 1
            exact = rounded(conv_transpose2d(x, k, 3, p, edge="renormalize", dtype=np.float64))
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
#
# --two-pass computes in the CLI's default float32, as the library does for an integer image,
# so the written file is the library's result stored: equal, not merely within a level. Both
# photos overshoot somewhere (lanczos3 and bicubic ring past the range at hard edges), and
# there the exact operation stores values more than a level away: a --two-pass that was
# ignored would write those instead.


def test_cli_two_pass_on_a_16bit_photo_writes_the_library_two_pass_result(tmp_path):
    out = tmp_path / "o.png"
    args = ["-k", "lanczos3", "-s", "2", "-p", "same", "--edge", "renormalize"]
    r = run("upsample", SAMPLES / "coffee_16bit.png", *args, "--two-pass", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and r.stderr == ""
    got, info = read_png(out)
    assert info["bitdepth"] == 16 and got.shape == (400, 600, 3)  # 16 bits kept, exactly 2x
    x = read_png(SAMPLES / "coffee_16bit.png")[0]
    k = make_kernel("lanczos3", 2)
    p = (k.shape[0] - 2) // 2  # what -p same gives: 5
    two_pass = rounded(conv_transpose2d_two_pass(x, k, 2, p, edge="renormalize", clip=(0, 65535)), 65535)
    np.testing.assert_array_equal(got, two_pass)
    exact = rounded(conv_transpose2d(x, k, 2, p, edge="renormalize"), 65535)
    assert (np.abs(got.astype(np.int64) - exact) > 1).sum() > 100  # not what the exact operation writes


def test_cli_two_pass_refuses_premultiplied_alpha(tmp_path):
    src = SAMPLES / "horse.png"
    r = run("upsample", src, "-k", "bicubic", "-s", "2", "-p", "same", "--two-pass", "-o", tmp_path / "h.png")
    assert r.exit_code == 2
    assert r.stderr == (
        f"deconv: error: {src} with kernel bicubic: "
        "--two-pass treats every channel alike: add --alpha separate for an image with alpha\n"
    )
    assert r.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_cli_two_pass_with_separate_alpha_writes_the_library_two_pass_result(tmp_path):
    out = tmp_path / "h.png"
    args = ["-k", "bicubic", "-s", "2", "-p", "same", "--alpha", "separate"]
    r = run("upsample", SAMPLES / "horse.png", *args, "--two-pass", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and r.stderr == ""
    with Image.open(out) as im:
        assert im.mode == "RGBA"
    got = pixels(out)
    x = pixels(SAMPLES / "horse.png")
    assert got.shape == (2 * x.shape[0], 2 * x.shape[1], 4)
    k = make_kernel("bicubic", 2)
    p = (k.shape[0] - 2) // 2  # what -p same gives: 3
    np.testing.assert_array_equal(got, rounded(conv_transpose2d_two_pass(x, k, 2, p)))  # alpha like any channel
    exact = rounded(conv_transpose2d(x, k, 2, p))
    assert (np.abs(got.astype(np.int64) - exact) > 1).sum() > 100  # not what the exact operation writes


def test_cli_two_pass_refuses_a_kernel_that_does_not_separate(tmp_path):
    np.save(tmp_path / "eye.npy", np.eye(3))
    r = run("upsample", SAMPLES / "camera.png", "-k", tmp_path / "eye.npy", "--two-pass", "-o", tmp_path / "e.png")
    assert r.exit_code == 2
    assert r.stderr == (
        "deconv: error: the two-pass (Pillow-style) computation needs a separable kernel; "
        "this (3, 3) one is not rank 1\n"
    )
    assert r.stdout == ""
    assert not (tmp_path / "e.png").exists()
