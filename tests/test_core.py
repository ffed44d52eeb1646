"""The operation against the literal scalar-times-kernel loop, hand-worked numbers and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconv_cli import DeconvError, conv_transpose2d, output_size, phase_sums, upsample
from deconv_cli.core import AxisSize, as_pair, same_padding, size_math

from oracle import cases, reference


def test_seed_example_3x3_kernel_3x3_stride_1_gives_5x5():
    x = np.arange(1, 10, dtype=np.float64).reshape(3, 3)
    k = np.ones((3, 3))
    out = conv_transpose2d(x, k, stride=1)
    assert out.shape == (5, 5)
    # Hand-worked: the corner gets only x[0,0]; the centre gets every pixel.
    assert out[0, 0] == 1
    assert out[2, 2] == 45
    assert out[0, 2] == 1 + 2 + 3
    assert out[4, 4] == 9


def test_scalar_times_kernel_placed_stride_apart():
    # One pixel of value 3 at (1, 0), stride 2: the kernel times 3 starts at row 2, col 0.
    x = np.zeros((2, 2))
    x[1, 0] = 3
    k = np.array([[1.0, 2.0], [4.0, 8.0]])
    out = conv_transpose2d(x, k, stride=2)
    expected = np.zeros((4, 4))
    expected[2:4, 0:2] = 3 * k
    np.testing.assert_array_equal(out, expected)


def test_padding_crops_and_output_padding_adds_bottom_right():
    x = np.ones((2, 2))
    k = np.ones((3, 3))
    full = conv_transpose2d(x, k, stride=2)  # 5x5
    cropped = conv_transpose2d(x, k, stride=2, padding=1)  # 3x3
    np.testing.assert_array_equal(cropped, full[1:-1, 1:-1])
    grown = conv_transpose2d(x, k, stride=2, padding=1, output_padding=1)  # 4x4
    assert grown.shape == (4, 4)
    np.testing.assert_array_equal(grown[:3, :3], cropped)
    np.testing.assert_array_equal(grown[3, :3], full[4, 1:4])  # the row padding had cut comes back


@pytest.mark.parametrize(
    "n, k, s, p, a, d, expected",
    [
        (3, 3, 1, 0, 0, 1, 5),
        (4, 4, 2, 1, 0, 1, 8),
        (512, 4, 2, 1, 0, 1, 1024),
        (5, 5, 3, 1, 0, 1, 15),
        (4, 3, 2, 1, 1, 2, 10),
        (1, 1, 1, 0, 0, 1, 1),
        (7, 2, 4, 0, 3, 1, 29),
    ],
)
def test_size_formula_hand_worked(n, k, s, p, a, d, expected):
    assert AxisSize.compute("rows", n, k, s, p, a, d).n_out == expected
    assert conv_transpose2d(np.ones((n, 2)), np.ones((k, 1)), (s, 1), (p, 0), (a, 0), (d, 1)).shape[0] == expected


def test_formula_text():
    assert AxisSize.compute("rows", 3, 3, 1).formula() == "N_out = (3 - 1) x 1 - 2x0 + 3 = 5"
    assert AxisSize.compute("", 4, 3, 2, 1, 1, 2).formula() == "N_out = (4 - 1) x 2 - 2x1 + 2x(3 - 1) + 1 + 1 = 10"


@settings(max_examples=400, deadline=None)
@given(cases())
def test_equals_reference_loop(case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((h, w))
    k = rng.standard_normal((kh, kw))
    expected = reference(x, k, stride, padding, output_padding, dilation)
    out64 = conv_transpose2d(x, k, stride, padding, output_padding, dilation)
    assert out64.dtype == np.float64
    assert out64.shape == expected.shape == output_size((h, w), (kh, kw), stride, padding, output_padding, dilation)
    np.testing.assert_allclose(out64, expected, rtol=0, atol=1e-12 * max(1, np.abs(expected).max()))
    out32 = conv_transpose2d(x.astype(np.float32), k, stride, padding, output_padding, dilation)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, expected, rtol=0, atol=1e-5 * max(1, np.abs(expected).max()))


@settings(max_examples=60, deadline=None)
@given(cases(), st.integers(1, 4))
def test_channels_are_independent_and_per_channel_kernels_apply(case, channels):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((h, w, channels))
    k3 = rng.standard_normal((channels, kh, kw))
    geometry = (stride, padding, output_padding, dilation)
    out = conv_transpose2d(x, k3, *geometry)
    for c in range(channels):
        np.testing.assert_allclose(out[..., c], reference(x[..., c], k3[c], *geometry), atol=1e-10)
    shared = conv_transpose2d(x, k3[0], *geometry)
    for c in range(channels):
        np.testing.assert_allclose(shared[..., c], reference(x[..., c], k3[0], *geometry), atol=1e-10)


@settings(max_examples=100, deadline=None)
@given(cases())
def test_linear_in_the_image(case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x, y, k = rng.standard_normal((h, w)), rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    args = (stride, padding, output_padding, dilation)
    np.testing.assert_allclose(
        conv_transpose2d(2 * x - 3 * y, k, *args),
        2 * conv_transpose2d(x, k, *args) - 3 * conv_transpose2d(y, k, *args),
        atol=1e-10,
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, bool])
def test_integer_and_bool_images_compute_in_float32(dtype):
    x = (np.arange(12) % 2).reshape(3, 4).astype(dtype)
    out = conv_transpose2d(x, np.ones((2, 2)), 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, reference(x.astype(float), np.ones((2, 2)), (2, 2), (0, 0), (0, 0), (1, 1)))


def test_dtype_override_and_no_hidden_normalisation():
    x = np.full((2, 2), 200, np.uint8)
    k = np.full((2, 2), 3.0)
    out = conv_transpose2d(x, k, 2, dtype="float64")
    assert out.dtype == np.float64
    assert np.all(out == 600)  # values stay in the image's units, kernel as given


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(stride=0), "stride (rows) must be >= 1, got 0"),
        (dict(dilation=(1, 0)), "dilation (cols) must be >= 1, got 0"),
        (dict(padding=-1), "padding (rows) must be >= 0"),
        (
            dict(stride=1, output_padding=1),
            "output_padding (rows) must be smaller than the stride or the dilation, "
            "got output_padding=1, stride=1, dilation=1",
        ),
        (dict(stride=2, output_padding=2), "output_padding=2, stride=2"),
        (dict(stride=1, padding=3), "padding=3 (rows) is too large: N_out = 5 - 2x3 = -1 <= 0"),
        (dict(stride=1, padding=(0, 3)), "padding=3 (cols) is too large"),
        (dict(stride="2,3,4"), "not 3 numbers"),
        (dict(stride="two"), "stride 'two' is not an integer"),
    ],
)
def test_bad_parameters_are_usage_errors_that_name_the_numbers(kwargs, words):
    with pytest.raises(DeconvError) as e:
        conv_transpose2d(np.ones((3, 3)), np.ones((3, 3)), **kwargs)
    assert e.value.usage
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_output_padding_allowed_when_smaller_than_dilation():
    # PyTorch accepts output_padding >= stride when it is below the dilation.
    out = conv_transpose2d(np.ones((3, 3)), np.ones((3, 3)), stride=1, output_padding=1, dilation=2)
    assert out.shape == (8, 8)


@pytest.mark.parametrize(
    "x, k, words",
    [
        (np.ones((3, 3, 2)), np.ones((3, 2, 2)), "3 per-channel kernels"),
        (np.ones((3,)), np.ones((2, 2)), "image must be (H, W) or (H, W, C)"),
        (np.ones((3, 3)), np.ones((2,)), "kernel must be (kh, kw) or (C, kh, kw)"),
        (np.ones((3, 3)), np.array([[np.nan]]), "NaN"),
        (np.ones((0, 3)), np.ones((2, 2)), "image is empty"),
        (np.array([["a"]]), np.ones((2, 2)), "real numbers"),
    ],
)
def test_bad_arrays(x, k, words):
    with pytest.raises(DeconvError, match=None) as e:
        conv_transpose2d(x, k)
    assert words in str(e.value)


def test_as_pair_forms():
    assert as_pair(3, "s") == (3, 3)
    assert as_pair("2,3", "s") == (2, 3)
    for wxh in ("2x3", "2 X 3", "2×3"):  # the image-size form reads as the opposite order: refused, saying which
        with pytest.raises(DeconvError, match=r"is ROWS,COLS with a comma \(2,3 is 2 for the rows and 3 for the col"):
            as_pair(wxh, "s")
    assert as_pair((4, 1), "s") == (4, 1)
    assert as_pair(np.int64(2), "s") == (2, 2)
    with pytest.raises(DeconvError):
        as_pair(True, "s")
    with pytest.raises(DeconvError):
        as_pair((1.5, 2), "s")


def test_size_math_per_axis():
    rows, cols = size_math((3, 10), (3, 4), stride=(1, 2), padding=(0, 1))
    assert (rows.n_out, cols.n_out) == (5, 20)
    assert cols.as_dict()["terms"] == {"(N_in - 1)*s": 18, "-2p": -2, "d*(k - 1)": 3, "a": 0, "+1": 1}


# ---------------------------------------------------------------- phases


def test_phase_sums_hand_worked():
    # 3x3 ones at stride 2: taps 0 and 2 land on phase 0, tap 1 on phase 1 -> 2 and 1 per axis.
    ph = phase_sums(np.ones((3, 3)), 2)
    np.testing.assert_array_equal(ph.sums, [[4, 2], [2, 1]])
    assert not ph.flat
    assert ph.amplitude == 4.0


def test_phase_sums_predict_the_interior_of_a_constant_image():
    rng = np.random.default_rng(1)
    for _ in range(30):
        s = tuple(rng.integers(1, 5, 2))
        d = tuple(rng.integers(1, 3, 2))
        k = rng.random(tuple(rng.integers(1, 7, 2)))
        out = conv_transpose2d(np.ones((12, 12)), k, s, 0, 0, d)
        sums = phase_sums(k, s, d).sums
        kh, kw = k.shape
        # interior: rows/cols reached by every tap
        r0, c0 = d[0] * (kh - 1), d[1] * (kw - 1)
        for r in range(r0, 11 * s[0] + 1):
            for c in range(c0, 11 * s[1] + 1):
                assert out[r, c] == pytest.approx(sums[r % s[0], c % s[1]])


def test_flat_kernel_flat_output():
    k = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    assert phase_sums(k, 2).flat
    out = conv_transpose2d(np.full((6, 6), 7.0), k, 2, 1)
    np.testing.assert_allclose(out[2:-2, 2:-2], 7.0)


# ---------------------------------------------------------------- alpha


def test_transparent_neighbour_does_not_darken():
    x = np.zeros((1, 2, 4))
    x[0, 0] = [255, 128, 0, 255]  # opaque orange; its neighbour is transparent black
    k = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    out = upsample(x, k, 2, 1, alpha_channel=3, alpha_max=255)
    visible = out[..., 3] >= 0.5
    # Every visible pixel keeps the opaque pixel's colour exactly; only alpha fades.
    np.testing.assert_allclose(out[visible][:, :3], np.broadcast_to([255, 128, 0], (visible.sum(), 3)), atol=1e-3)
    plain = conv_transpose2d(x, k, 2, 1)
    assert plain[0, 2, 0] < 255 * 0.8  # without premultiplication the edge is darkened


def test_opaque_image_premultiplied_equals_plain():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (5, 6, 4)).astype(np.float64)
    x[..., 3] = 255
    k = rng.random((3, 3))
    k /= k.sum() / 2
    plain = conv_transpose2d(x, k, 2, 1)
    pre = upsample(x, k, 2, 1, alpha_channel=3, alpha_max=255)
    inner = plain[..., 3] >= 255  # where alpha is full, premultiplying changes nothing
    np.testing.assert_allclose(pre[inner], plain[inner], atol=1e-9)
    np.testing.assert_allclose(pre[..., 3], plain[..., 3])


def test_premultiplied_matches_hand_computation():
    x = np.array([[[100.0, 255.0], [200.0, 51.0]]])  # LA: two pixels, alpha 1 and 0.2
    k = np.array([[0.5, 0.5]])
    out = upsample(x, k, (1, 1), alpha_channel=1, alpha_max=255)
    # middle output pixel: premultiplied colour 0.5*100*1 + 0.5*200*0.2 = 70, alpha 0.5*255 + 0.5*51 = 153
    assert out[0, 1, 1] == pytest.approx(153)
    assert out[0, 1, 0] == pytest.approx(70 / (153 / 255))


@pytest.mark.parametrize("mode", ["same", "same-lower"])
@pytest.mark.parametrize("k, s, d", [(4, 1, 1), (3, 2, 1), (5, 3, 2), (2, 4, 1), (6, 1, 1), (4, 2, 3)])
def test_same_padding_through_the_python_api_gives_stride_times_the_input(k, s, d, mode):
    """``padding="same"`` and ``"same-lower"`` resolve per kernel size as same_padding says,
    including the trims of the first or the last row and column where no PyTorch call cuts them."""
    x = np.random.default_rng(k).random((7, 9))
    kern = np.random.default_rng(s).random((k, k))
    out = conv_transpose2d(x, kern, s, mode, dilation=d)
    assert out.shape == (7 * s, 9 * s)
    p, a, trim_start, trim_end = same_padding(k, s, d, mode)
    full = conv_transpose2d(x, kern, s, p, a, d)
    kept = full[trim_start : full.shape[0] - trim_end, trim_start : full.shape[1] - trim_end]
    np.testing.assert_array_equal(out, kept)
