"""Edge modes, auto crop and 'same' padding, against independent oracles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from deconv_cli import conv_transpose2d, make_kernel, phase_sums
from deconv_cli.core import AxisSize, auto_crop, deficient_border, same_padding, size_math
from deconv_cli.modes import SamePadding

from conftest import run, sample_crop
from oracle import NUMPY_MODE, cases, extended_reference, half_pixel_bilinear


@settings(max_examples=150, deadline=None)
@given(cases(), st.sampled_from(sorted(NUMPY_MODE)))
def test_extension_modes_equal_the_operation_on_a_far_extended_input(case, mode):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    got = conv_transpose2d(x, k, stride, padding, output_padding, dilation, edge=mode)
    want = extended_reference(x, k, stride, padding, output_padding, dilation, mode)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-9 * max(1, np.abs(want).max()))


@settings(max_examples=150, deadline=None)
@given(cases())
def test_renormalize_turns_a_constant_image_into_its_interior_pattern(case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    k = rng.random((kh, kw)) + 0.1  # positive weights: every reached pixel has weight
    out = conv_transpose2d(np.full((h, w), 3.0), k, stride, padding, output_padding, dilation, edge="renormalize")
    sums = phase_sums(k, stride, dilation).sums
    reached = conv_transpose2d(np.ones((h, w)), k, stride, padding, output_padding, dilation) > 0
    r = (np.arange(out.shape[0]) + padding[0]) % stride[0]
    c = (np.arange(out.shape[1]) + padding[1]) % stride[1]
    expected = np.where(reached, 3.0 * sums[r][:, c], 0.0)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_renormalize_leaves_fully_covered_pixels_alone():
    rng = np.random.default_rng(5)
    x, k = rng.random((9, 11)), rng.random((4, 4))
    plain = conv_transpose2d(x, k, 2, 0)
    renorm = conv_transpose2d(x, k, 2, 0, edge="renormalize")
    np.testing.assert_allclose(renorm[3:-3, 3:-3], plain[3:-3, 3:-3], rtol=1e-12)
    assert not np.allclose(renorm[0], plain[0])


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (2, 3), (7, 4), (16, 9)])
def test_bilinear_stride2_padding1_replicate_is_half_pixel_bilinear_interpolation(shape):
    x = np.random.default_rng(sum(shape)).random(shape) * 255
    got = conv_transpose2d(x, make_kernel("bilinear", 2), 2, 1, edge="replicate")
    np.testing.assert_allclose(got, half_pixel_bilinear(x, 2), atol=1e-10)


@pytest.mark.parametrize("edge", ["replicate", "renormalize"])
def test_bilinear_2x_equals_pillow_bilinear_resize_of_a_float_image(edge):
    x = (np.random.default_rng(11).random((23, 31)) * 1000).astype(np.float32)
    pil = np.asarray(Image.fromarray(x, mode="F").resize((62, 46), Image.Resampling.BILINEAR))
    got = conv_transpose2d(x, make_kernel("bilinear", 2), 2, 1, edge=edge)
    np.testing.assert_allclose(got, pil, rtol=1e-5, atol=1e-3)


# ---------------------------------------------------------------- auto crop


def short_positions(n, k1d, s, p, a, d):
    """Positions along one axis that receive less than under replicate edges (an N x 1 image)."""
    args = ((s, 1), (p, 0), (a, 0), (d, 1))
    plain = conv_transpose2d(np.ones((n, 1)), k1d[:, None], *args)[:, 0]
    full = conv_transpose2d(np.ones((n, 1)), k1d[:, None], *args, edge="replicate")[:, 0]
    return ~np.isclose(plain, full)


@settings(max_examples=200, deadline=None)
@given(cases(min_size=4))
def test_auto_crop_keeps_exactly_the_fully_covered_pixels(case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    k = np.random.default_rng(seed).random((kh, kw)) + 0.1
    axes = size_math((h, w), (kh, kw), stride, padding, output_padding, dilation)
    top, bottom, left, right = auto_crop(axes, k)
    for i, (before, after) in enumerate([(top, bottom), (left, right)]):
        k1d = k[:, 0] if i == 0 else k[0, :]
        short = short_positions((h, w)[i], k1d, stride[i], padding[i], output_padding[i], dilation[i])
        n = len(short)
        if before + after >= n:
            continue  # nothing fully covered to keep (tiny image, wide kernel)
        assert not short[before : n - after].any()
        # and no more than needed: the innermost cropped position on each side was short
        assert before == 0 or short[before - 1]
        assert after == 0 or short[n - after]


def test_deficient_border_hand_worked():
    # 4-tap kernel, stride 2, padding 0: rows 0 and 1 get 1 of their 2 taps.
    assert deficient_border(AxisSize.compute("", 10, 4, 2), [True] * 4) == (2, 2)
    # zero taps do not count: a 4-tap kernel whose outer taps are 0 behaves like 2 taps
    assert deficient_border(AxisSize.compute("", 10, 4, 2), [False, True, True, False]) == (1, 1)
    # dilation 3, stride 2, two taps: row 1 is short but row 0 is not, so the crop is 2
    assert deficient_border(AxisSize.compute("", 10, 2, 2, dilation=3), [True, True]) == (2, 2)


# ---------------------------------------------------------------- same


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 3), st.integers(1, 30), st.sampled_from(SamePadding))
def test_same_padding_gives_exactly_stride_times_the_input(k, s, d, n, mode):
    p, a, trim_start, trim_end = same_padding(k, s, d, mode)
    assert a < s or a < d or a == 0  # PyTorch accepts the output_padding
    assert trim_start in (0, 1) and trim_end in (0, 1) and not (trim_start and trim_end)
    t = d * (k - 1) + 1 - s
    # a trim only where PyTorch's padding cannot cut the extra row: at the end under same (odd t),
    # at the start under same-lower only when no output padding may give a row back (s = d = 1)
    assert trim_end == (mode is SamePadding.same_upper and t > 0 and t % 2 == 1)
    assert trim_start == (mode is SamePadding.same_lower and t > 0 and t % 2 == 1 and s == 1 and d == 1)
    out = AxisSize.compute("", n, k, s, p, a, d)
    assert out.n_out - trim_start - trim_end == s * n


# ---------------------------------------------------------------- command line


@pytest.fixture
def grey(tmp_path):
    return sample_crop("camera.png", (200, 200, 240, 230), tmp_path / "g.png")


def test_cli_edge_replicate_and_json(grey, tmp_path):
    r = run("upsample", grey, "-p", "1", "--edge", "replicate", "-o", tmp_path / "o.npy", "--json", "-q")
    assert r.exit_code == 0, r.stderr
    with Image.open(grey) as im:
        x = np.asarray(im).astype(np.float64)
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), half_pixel_bilinear(x, 2), atol=1e-3)
    assert json.loads(r.stdout)["params"]["edge"] == "replicate"


def test_cli_crop_auto_reports_and_cuts(grey, tmp_path):
    r = run("upsample", grey, "--crop", "auto", "-o", tmp_path / "o.png", "--json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    reason = "border rows/cols that receive fewer kernel taps than the interior"
    assert d["crop"] == {"mode": "auto", "top": 2, "bottom": 2, "left": 2, "right": 2, "reason": reason}
    assert (d["output"]["height"], d["output"]["width"]) == (29 * 2 + 4 - 4, 39 * 2 + 4 - 4)
    assert "crop: top 2, bottom 2, left 2, right 2" in r.stderr


def test_cli_crop_explicit_and_too_large(grey, tmp_path):
    r = run("upsample", grey, "--crop", "1,2,3,4", "-o", tmp_path / "o.npy", "-q")
    assert r.exit_code == 0, r.stderr
    with Image.open(grey) as im:
        x = np.asarray(im)
    full = conv_transpose2d(x, make_kernel("bilinear", 2), 2)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), full[1:-2, 3:-4])
    r = run("upsample", grey, "--crop", "40", "-o", tmp_path / "p.png")
    assert r.exit_code == 2 and "leaves nothing" in r.stderr
    r = run("upsample", grey, "--crop", "1,2", "-o", tmp_path / "q.png")
    assert r.exit_code == 2 and "TOP,BOTTOM,LEFT,RIGHT" in r.stderr
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "q.png").exists()


@pytest.mark.parametrize(
    "kernel, stride", [("bilinear", "2"), ("bilinear", "3"), ("nearest", "4"), ("bilinear", "2,3")]
)
def test_cli_padding_same_is_exactly_stride_times(grey, tmp_path, kernel, stride):
    r = run("upsample", grey, "-k", kernel, "-s", stride, "-p", "same", "-o", tmp_path / "o.png", "--json", "-q")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    sy, sx = (int(v) for v in (stride.split(",") * 2)[:2])
    assert (d["output"]["height"], d["output"]["width"]) == (30 * sy, 40 * sx)
    assert d["params"]["same"] is True


def test_cli_padding_same_asymmetric_trim(grey, tmp_path):
    np.save(tmp_path / "k2.npy", np.ones((2, 2)) / 4)
    r = run(
        "upsample", grey, "-k", tmp_path / "k2.npy", "-s", "1", "-p", "same", "-o", tmp_path / "o.npy", "--json", "-q"
    )
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["output"]["height"], d["output"]["width"]) == (30, 40)
    assert (d["crop"]["bottom"], d["crop"]["right"]) == (1, 1)
    r = run("upsample", grey, "-p", "same", "--output-padding", "1", "-o", tmp_path / "p.png")
    assert r.exit_code == 2 and "drop --output-padding" in r.stderr


def test_every_extending_edge_mode_has_an_independent_oracle():
    from deconv_cli.modes import Edge

    assert set(NUMPY_MODE) == {e.value for e in Edge if e.pad_mode}


@pytest.mark.parametrize(
    "mode, padded",
    [  # the input 10 20 30 extended by two on each side, written out by hand
        ("reflect", [30, 20, 10, 20, 30, 20, 10]),  # numpy reflect, OpenCV BORDER_REFLECT_101
        ("symmetric", [20, 10, 10, 20, 30, 30, 20]),  # numpy symmetric, OpenCV BORDER_REFLECT
        ("replicate", [10, 10, 10, 20, 30, 30, 30]),
        ("wrap", [20, 30, 10, 20, 30, 10, 20]),
    ],
)
def test_extending_edges_mirror_as_written(mode, padded):
    """A 5-tap box at stride 1 and padding 2 over a 1x3 image: output o is the sum of the five
    pixels of the extended row around input o, so the border outputs show which pixels the mode
    puts beyond the edge."""
    x = np.array([[10.0, 20.0, 30.0]])
    got = conv_transpose2d(x, np.ones((1, 5)), 1, (0, 2), edge=mode)
    row = np.array(padded, dtype=float)
    want = np.array([row[o : o + 5].sum() for o in range(3)])
    np.testing.assert_array_equal(got[0], want)


@pytest.mark.parametrize("mode", ["reflect", "symmetric"])
def test_mirroring_a_one_row_image_mirrors_its_columns(mode):
    """`--edge reflect` on a 1-row image switched both axes to replicate: [[0, 1, 2, 3, 4]] with
    bilinear, stride 2, padding 1 gave 0, .25, ..., 3.75, 4.0 instead of numpy reflect's .25, .25,
    ..., 3.75, 3.75 (what a 2x5 image of the same rows gives). Only the axis of length 1 falls back."""
    k = make_kernel("bilinear", 2)
    one = conv_transpose2d(np.arange(5.0)[None, :], k, 2, 1, edge=mode)
    two = conv_transpose2d(np.tile(np.arange(5.0), (2, 1)), k, 2, 1, edge=mode)
    np.testing.assert_allclose(one[0], two[0], atol=1e-12)
    if mode == "reflect":  # mirrored about the edge pixel: the first two outputs blend 0 with 1
        np.testing.assert_allclose(one[0], [0.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 3.75])
    else:  # mirrored including it: the edge pixel repeats, as replicate does for bilinear
        np.testing.assert_allclose(one[0], [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.0])


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 9),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(0, 4),
    st.integers(0, 2**16 - 1),
    st.sampled_from(["num", "same", "same-lower"]),
)
def test_deficient_border_equals_its_definition_without_a_per_pixel_table(n, k, s, d, p, mask, mode):
    """The border from the taps alone (O(k)) equals the definition: the outermost outputs on each
    side, within each half, that some tap of their phase cannot reach (Reach over the whole axis)."""
    from deconv_cli.core import Geometry
    from deconv_cli.core.analysis import Reach

    support = np.array([(mask >> i) & 1 for i in range(k)], bool)
    support[mask % k] = True  # at least one tap
    geometry = Geometry.of(s, p if mode == "num" else mode, 0, d)
    try:
        (axis,) = geometry.axes((n, n), (k, k))[:1]
    except Exception:  # a padding too large for this size: nothing to compare
        return
    short = np.flatnonzero(~Reach.of(axis, axis.trim_start, axis.trim_end).complete(support))
    half = axis.kept / 2
    want = (
        int(short[short < half].max() + 1) if np.any(short < half) else 0,
        int(axis.kept - short[short >= half].min()) if np.any(short >= half) else 0,
    )
    assert deficient_border(axis, support) == want


def test_deficient_border_of_a_million_tap_kernel_is_cheap():
    axis = size_math(300_000, 300_000, 2)[0]  # a Reach of this axis would be 600k x 300k
    assert deficient_border(axis, np.ones(300_000, bool)) == (299_998, 299_998)  # k - s, as for any n
