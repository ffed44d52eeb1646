"""Built-in interpolation kernels against independent references: their continuous functions,
Pillow's resampling coefficients written out, Pillow itself (mode F and 8-bit), and PyTorch."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from PIL import Image

from deconv_cli import DeconvError, conv_transpose2d, load_kernel, make_kernel, phase_sums
from deconv_cli.core import same_padding
from deconv_cli.kernels import BUILTIN, intended_padding, kernel_1d

from conftest import PIL_FILTERS, SAMPLES, rounded, run

NAMES = ["nearest", "bilinear", "bicubic", "lanczos2", "lanczos3", "gaussian", "gaussian:sigma=1.2", "bicubic:a=-0.75"]
STRIDES = [1, 2, 3, 4, 5, (2, 3), (5, 2), (1, 4)]


# ---------------------------------------------------------------- the continuous functions, written out


def keys(x, a=-0.5):
    x = abs(x)
    if x < 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def sinc(x):
    return 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)


def reference_function(spec):
    """(f, support) for a spec, from the textbook definitions."""
    name, _, params = spec.partition(":")
    p = dict((k, float(v)) for k, v in (kv.split("=") for kv in params.split(",") if kv))
    if name == "nearest":
        return (lambda x: 1.0 if abs(x) <= 0.5 else 0.0), 0.5
    if name == "bilinear":
        return (lambda x: max(0.0, 1 - abs(x))), 1.0
    if name == "bicubic":
        return (lambda x: keys(x, p.get("a", -0.5))), 2.0
    if name in ("lanczos2", "lanczos3"):
        a = int(name[-1])
        return (lambda x: sinc(x) * sinc(x / a) if abs(x) < a else 0.0), float(a)
    sigma = p.get("sigma", 0.5)
    support = max(3 * sigma, 0.5)
    return (lambda x: math.exp(-x * x / (2 * sigma * sigma)) if abs(x) < 3 * sigma or abs(x) < 0.5 else 0.0), support


def pillow_axis(n_in, s, f, support):
    """Pillow's precompute_coeffs (src/libImaging/Resample.c) for an upscale by s, in float64:
    output o is centred at (o + 0.5)/s, takes inputs x with f(x + 0.5 - centre) inside its window,
    clipped to the image, and the weights are divided by their sum."""
    m = np.zeros((n_in * s, n_in))
    for o in range(n_in * s):
        centre = (o + 0.5) / s
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n_in)
        w = np.array([f(x + 0.5 - centre) for x in range(lo, hi)])
        m[o, lo:hi] = w / w.sum()
    return m


def exact_pad(spec, stride):
    return intended_padding(spec, stride)


# ---------------------------------------------------------------- structure


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("spec", NAMES)
def test_every_phase_sums_to_one_and_the_padding_gives_exactly_stride_times(spec, stride):
    k = make_kernel(spec, stride)
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    ph = phase_sums(k, (sy, sx))
    np.testing.assert_allclose(ph.sums, 1.0, rtol=1e-12)  # no checkerboard
    assert ph.flat
    assert math.isclose(k.sum(), sy * sx, rel_tol=1e-12)
    np.testing.assert_array_equal(k, k[::-1, ::-1])  # symmetric about the centre
    py, px = intended_padding(spec, (sy, sx))
    # the tap count has the stride's parity, so the symmetric padding (k - s)/2 is exact: what --padding same picks
    for mode in ("same", "same-lower"):
        assert same_padding(k.shape[0], sy, 1, mode) == (py, 0, 0, 0)
        assert same_padding(k.shape[1], sx, 1, mode) == (px, 0, 0, 0)
    for n in (1, 2, 7):
        assert conv_transpose2d(np.ones((n, n + 1)), k, (sy, sx), (py, px)).shape == (n * sy, (n + 1) * sx)


@pytest.mark.parametrize("stride", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("spec", NAMES)
def test_taps_are_the_function_at_half_pixel_centres_normalised_per_phase(spec, stride):
    f, support = reference_function(spec)
    taps = kernel_1d(spec, stride)
    k = taps.size
    x = (np.arange(k) - (k - 1) / 2) / stride  # output pixel o sits at input (o + 0.5)/s - 0.5
    raw = np.array([f(v) for v in x])
    for r in range(stride):
        np.testing.assert_allclose(taps[r::stride], raw[r::stride] / raw[r::stride].sum(), rtol=1e-12, atol=1e-300)
    assert np.all(np.abs(x) < support)  # every tap inside the support ...
    assert (k + 1) / 2 / stride >= support - 1e-12  # ... and the next half-pixel position outside it


def test_bicubic_at_stride_2_by_hand():
    # Keys a = -0.5 at x = 1.75, 1.25, 0.75, 0.25: each phase already sums to 1 (partition of unity)
    half = [-0.0234375, -0.0703125, 0.2265625, 0.8671875]
    assert kernel_1d("bicubic", 2).tolist() == half + half[::-1]


def test_sizes_follow_2Rs_minus_s_mod_2():
    for s in range(1, 8):
        assert load_kernel("bicubic", s).shape == (4 * s - s % 2,) * 2
        assert load_kernel("lanczos3", s).shape == (6 * s - s % 2,) * 2
        assert load_kernel("lanczos2", s).shape == (4 * s - s % 2,) * 2
        assert load_kernel("nearest", s).shape == (s, s)
    assert load_kernel("gaussian:sigma=1", 2).shape == (12, 12)  # support 3 sigma = 3 input px = 6 output px each side


def test_a_very_narrow_gaussian_is_nearest_and_never_underflows():
    for s in (1, 2, 3, 4, 5):
        np.testing.assert_allclose(make_kernel("gaussian:sigma=0.001", s), make_kernel("nearest", s), atol=1e-12)


# ---------------------------------------------------------------- Pillow's convention, without Pillow


@pytest.mark.parametrize("stride", [1, 2, 3, 4, 5, (2, 3), (4, 1)])
@pytest.mark.parametrize("spec", NAMES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (2, 3), (6, 5), (13, 9)])
def test_renormalize_equals_pillow_coefficients_written_out(spec, stride, shape):
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    f, support = reference_function(spec)
    x = np.random.default_rng(sum(shape) * 7 + sy).random(shape) * 255
    want = pillow_axis(shape[0], sy, f, support) @ x @ pillow_axis(shape[1], sx, f, support).T
    got = conv_transpose2d(x, make_kernel(spec, (sy, sx)), (sy, sx), exact_pad(spec, (sy, sx)), edge="renormalize")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


# ---------------------------------------------------------------- Pillow itself, mode F


def pillow_f(x, stride, resample):
    """Pillow's resize of each channel as a mode-F (float32) image."""
    sy, sx = stride
    planes = x[..., None] if x.ndim == 2 else x
    size = (x.shape[1] * sx, x.shape[0] * sy)
    out = [
        np.asarray(Image.fromarray(np.ascontiguousarray(planes[..., c], np.float32), mode="F").resize(size, resample))
        for c in range(planes.shape[2])
    ]
    return np.stack(out, -1) if x.ndim == 3 else out[0]


def assert_float_rounding(got, want, dtype):
    scale = float(np.abs(want).max())
    # Pillow sums in double and stores float32; our float32 path accumulates in float32
    tol = (1e-5 if dtype == "float32" else 1e-6) * scale
    assert np.abs(got - want).max() <= tol, (np.abs(got - want).max(), tol)


@pytest.fixture(scope="module")
def photos():
    with Image.open(SAMPLES / "camera.png") as cam, Image.open(SAMPLES / "astronaut.png") as astro:
        return {"camera": np.asarray(cam, np.float32), "astronaut": np.asarray(astro, np.float32)}


@pytest.mark.parametrize("stride", [2, 3, 4, 5])
@pytest.mark.parametrize("spec", ["bicubic", "lanczos3"])
def test_equals_pillow_float_resize_on_the_sample_photos(photos, spec, stride):
    # the whole grey photo; the colour one whole at 2x and 3x, its top-left quarter (two borders) beyond
    for name, x in photos.items():
        if name == "astronaut" and stride > 3:
            x = x[:128, :160]
        s = (stride, stride)
        got = conv_transpose2d(x, make_kernel(spec, s), s, exact_pad(spec, s), edge="renormalize")
        assert got.shape[:2] == (x.shape[0] * stride, x.shape[1] * stride)
        assert_float_rounding(got, pillow_f(x, s, PIL_FILTERS[spec]), "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("stride", [2, 3, 4, 5, (2, 3), (3, 2), (1, 2)])
@pytest.mark.parametrize("spec", ["bicubic", "lanczos3", "bilinear", "nearest"])
def test_equals_pillow_float_resize_on_random_float_images(spec, stride, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{spec} {stride}".encode()))  # the same images every run
    s = (stride, stride) if isinstance(stride, int) else stride
    for shape in [(1, 1), (1, 6), (3, 2), (17, 23), (40, 31)]:
        x = ((rng.random(shape) - 0.3) * 10 ** rng.uniform(-2, 4)).astype(np.float32)
        got = conv_transpose2d(x, make_kernel(spec, s), s, exact_pad(spec, s), edge="renormalize", dtype=dtype)
        assert_float_rounding(got, pillow_f(x, s, PIL_FILTERS[spec]), dtype)


def test_nearest_equals_pillow_nearest_resize():
    x = (np.random.default_rng(2).random((7, 9)) * 100).astype(np.float32)
    for s in [(2, 2), (3, 3), (2, 5)]:
        got = conv_transpose2d(x, make_kernel("nearest", s), s, exact_pad("nearest", s))
        np.testing.assert_array_equal(got, pillow_f(x, s, Image.Resampling.NEAREST))


# ---------------------------------------------------------------- Pillow itself, 8 bits, through the command line


def pillow_8bit_intermediate_clipped(x, s, spec):
    """Where Pillow's 8-bit two-pass resize clips: it resizes rows first and stores that pass as
    8-bit (rounded, clipped to 0..255) before the vertical pass. Returns a mask of the output
    pixels whose vertical window contains a clipped intermediate sample."""
    f, support = reference_function(spec)
    planes = x[..., None] if x.ndim == 2 else x
    mc, mr = pillow_axis(x.shape[1], s, f, support), pillow_axis(x.shape[0], s, f, support)
    h, w, c = planes.shape
    horizontal = mc @ planes.astype(np.float64).transpose(1, 0, 2).reshape(w, h * c)  # (W_out, H_in * C)
    clipped = ((horizontal < -0.5) | (horizontal >= 255.5)).reshape(-1, h, c).transpose(1, 0, 2)  # (H_in, W_out, C)
    reach = (mr != 0).astype(np.float64)  # (H_out, H_in)
    mask = (reach @ clipped.reshape(h, -1).astype(np.float64) > 0).reshape(-1, clipped.shape[1], c)
    return mask if x.ndim == 3 else mask[..., 0]


@pytest.mark.parametrize("stride", [2, 3, 4, 5])
@pytest.mark.parametrize("spec", ["bicubic", "lanczos3"])
@pytest.mark.parametrize("photo", ["camera.png", "astronaut.png"])
def test_8bit_cli_output_is_within_one_level_of_pillow(tmp_path, photo, spec, stride):
    src = tmp_path / photo
    with Image.open(SAMPLES / photo) as im:
        im = im if stride == 2 else im.crop((0, 0, 160, 120))
        im.save(src)
        pil8 = np.asarray(im.resize((im.width * stride, im.height * stride), PIL_FILTERS[spec])).astype(int)
        pil_f = pillow_f(np.asarray(im, np.float32), (stride, stride), PIL_FILTERS[spec])
        x = np.asarray(im)
    out = tmp_path / "out.png"
    args = ["-k", spec, "-s", stride, "-p", "same", "--edge", "renormalize"]
    r = run("upsample", src, *args, "-o", out, "-q")
    assert r.exit_code == 0, r.output
    with Image.open(out) as im:
        ours = np.asarray(im).astype(int)
    assert ours.shape == pil8.shape
    # Everywhere: our 8-bit output is Pillow's own float resize, rounded.
    assert np.abs(ours - rounded(pil_f)).max() <= 1
    # Pillow's 8-bit resize agrees within 1 level wherever its 8-bit intermediate row pass did not clip an
    # overshoot (bicubic and lanczos ring past 0 and 255 at hard edges); there it loses the overshoot
    # and can differ by more. Those pixels are few.
    clipped = pillow_8bit_intermediate_clipped(x, stride, spec)
    assert np.abs(ours - pil8)[~clipped].max() <= 1
    assert clipped.mean() < 0.03
    # With --two-pass deconv stores that intermediate the same way: within 1 level everywhere.
    two = tmp_path / "two.png"
    r = run("upsample", src, *args, "--two-pass", "-o", two, "-q")
    assert r.exit_code == 0, r.output
    with Image.open(two) as im:
        assert np.abs(np.asarray(im).astype(int) - pil8).max() <= 1


# ---------------------------------------------------------------- PyTorch's bicubic (a = -0.75, clamped borders)


@pytest.mark.parametrize("stride", [2, 3, 4, 5])
def test_bicubic_a075_with_replicate_edges_equals_pytorch_interpolate(stride):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(stride)
    for shape in [(1, 1), (2, 5), (9, 13)]:
        x = rng.random(shape)
        want = torch.nn.functional.interpolate(
            torch.from_numpy(x)[None, None], scale_factor=stride, mode="bicubic", align_corners=False
        )[0, 0].numpy()
        got = conv_transpose2d(
            x, make_kernel("bicubic:a=-0.75", stride), stride, exact_pad("bicubic", stride), edge="replicate"
        )
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- names and parameters


def test_every_builtin_loads_by_name_with_and_without_parameters():
    assert set(BUILTIN) == {"nearest", "bilinear", "bicubic", "lanczos2", "lanczos3", "gaussian"}
    np.testing.assert_array_equal(load_kernel("gaussian:sigma=1.2", 3), make_kernel("gaussian", 3, sigma=1.2))
    np.testing.assert_array_equal(load_kernel("Bicubic:a=-0.75", 2), make_kernel("bicubic", 2, a=-0.75))
    assert not np.allclose(load_kernel("bicubic:a=-0.75", 2), load_kernel("bicubic", 2))
    assert load_kernel(" LANCZOS3 ", (2, 3)).shape == (12, 17)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("gaussian:sigma=0", "sigma must be > 0"),
        ("gaussian:sigma=-1", "sigma must be > 0"),
        ("gaussian:sigma=nan", "must be a finite number"),
        ("gaussian:width=2", "unknown parameter 'width'; gaussian takes sigma"),
        ("bilinear:a=1", "bilinear takes no parameters"),
        ("gaussian:sigma", "written name:key=value"),
        ("gaussian:sigma=big", "written name:key=value"),
        ("gaussian:sigma=100", "more than the 1048576 allowed"),
    ],
)
def test_bad_parameters_are_usage_errors(spec, words):
    with pytest.raises(DeconvError) as e:
        load_kernel(spec, 4)
    assert words in str(e.value)
    assert e.value.usage
    r = run("kernel", "show", spec, "-s", "4")
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and words in r.stderr


def test_kernel_make_gives_a_per_axis_padding_as_rows_cols(tmp_path):
    r = run("kernel", "make", "bilinear", "-s", "2,3", "-o", tmp_path / "k.npy")
    assert r.exit_code == 0 and "bilinear kernel 5x4 (width x height); --padding 1 gives" in r.stderr
    r = run("kernel", "make", "bilinear", "-s", "2,4", "-o", tmp_path / "k2.npy")
    assert r.exit_code == 0 and "--padding 1,2 gives exactly stride x the input" in r.stderr


def test_kernel_make_writes_every_builtin_with_its_padding(tmp_path):
    for spec in ["bicubic", "lanczos2", "lanczos3", "gaussian:sigma=0.8"]:
        out = tmp_path / "k.npy"
        r = run("kernel", "make", spec, "-s", "3", "-o", out, "--overwrite")
        assert r.exit_code == 0, r.output
        np.testing.assert_array_equal(np.load(out), make_kernel(spec, 3))
        py, px = intended_padding(spec, 3)
        assert py == px and f"--padding {py} gives exactly stride x the input" in r.stderr
