"""What upsample tells a person about a legal but surprising result (a deficient border, a
checkerboard, a gain, clipping), and the one-option cures: --normalize, --scale, -p same with
--edge replicate, --crop auto. Each case is the one a new user meets; each cure is checked by
what it promises (size, taps, gain, clipping, the phase sums), not by its wording alone."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from deconv_cli import conv_transpose2d, make_kernel, phase_sums
from deconv_cli.core.advice import Advice, KernelTraits, batch_hint, batch_warning, border_deficit
from deconv_cli.core.geometry import size_math
from deconv_cli.core.normalize import normalize_kernel
from deconv_cli.errors import DeconvError
from deconv_cli.modes import Edge

from conftest import KERNELS, PIL_FILTERS, SAMPLES, run
from oracle import half_pixel_bilinear, reference

BOX = "3x3:1,1,1,1,1,1,1,1,1"  # a 3x3 box at stride 2: border deficit, checkerboard, gain 4 and clipping at once
K16 = "1 3 3 1\n3 9 9 3\n3 9 9 3\n1 3 3 1\n"  # bilinear's shape, 16 times too strong at stride 2


def lines(text: str, kind: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"deconv: {kind}:")]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 226x150 RGB photo, the size the issue's user had."""
    d = tmp_path_factory.mktemp("photo")
    with Image.open(SAMPLES / "astronaut.png") as im:
        im.convert("RGB").resize((226, 150), Image.Resampling.LANCZOS).save(d / "shot.png")
    return d / "shot.png"


@pytest.fixture(scope="module")
def shots(tmp_path_factory, photo):
    """A directory of 3 photos of two sizes."""
    d = tmp_path_factory.mktemp("shots")
    with Image.open(photo) as im:
        im.save(d / "a.png")
        im.transpose(Image.Transpose.ROTATE_90).save(d / "b.png")
        im.crop((0, 0, 100, 80)).save(d / "c.png")
    return d


@pytest.fixture(scope="module")
def k16(tmp_path_factory):
    path = tmp_path_factory.mktemp("k16") / "k16.txt"
    path.write_text(K16)
    return path


def upsample_json(*args) -> tuple[dict, object]:
    r = run("upsample", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), r


# ---------------------------------------------------------------- the four cases, as a new user meets them


def test_box_at_stride_2_says_border_checkerboard_gain_and_clipping_in_one_hint_and_one_warning(photo, tmp_path):
    out = tmp_path / "box.png"
    r = run("upsample", photo, "-k", BOX, "-s", 2, "-o", out)
    assert r.exit_code == 0, r.output
    assert r.stdout == ""  # advice is for people: stderr
    (hint,) = lines(r.stderr, "hint")
    (warning,) = lines(r.stderr, "warning")
    assert "1 row top and bottom and 1 column left and right" in hint
    assert "--crop auto cuts it (451x299 left)" in hint
    assert "-p same --edge replicate gives exactly 2x the input (452x300)" in hint
    assert "stride phases sum unevenly (1 to 4, max/min 4), so it draws a checkerboard" in warning
    with Image.open(out) as im:
        y = np.asarray(im)
    clipped = int((conv_transpose2d(np.asarray(Image.open(photo), np.float64), np.ones((3, 3)), 2, 0) > 255.5).sum())
    assert clipped > 0.3 * y.size
    assert f"{clipped} of {y.size} values" in warning
    assert "by its brightest phase's gain of 4" in warning and warning.endswith(
        "--normalize phase makes every phase sum to 1"
    )


def test_quiet_silences_the_hint_and_the_warning_and_json_carries_them(photo, tmp_path):
    r = run("upsample", photo, "-k", BOX, "-s", 2, "-o", tmp_path / "q.png", "-q")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    d, r = upsample_json(photo, "-k", BOX, "-s", 2, "-o", tmp_path / "j.png", "-q")
    assert r.stderr == ""
    a = d["advice"]
    assert a["deficient_border"] == {"top": 1, "bottom": 1, "left": 1, "right": 1}
    assert a["checkerboard"] is True and a["phase_sums"] == {"min": 1.0, "max": 4.0} and a["gain"] is None
    assert a["hint"].startswith("the border gets fewer kernel taps") and "checkerboard" in a["warning"]
    assert a["cure"] == "--normalize phase makes every phase sum to 1"
    assert a["clipped_fraction"] == pytest.approx(d["clipped"]["total"] / (453 * 301 * 3))


def test_the_box_cures_each_remove_what_they_promise(photo, tmp_path):
    # -p same --edge replicate: exactly 2x, no deficient border
    d, _ = upsample_json(photo, "-k", BOX, "-s", 2, "-p", "same", "--edge", "replicate", "-o", tmp_path / "a.png")
    assert (d["output"]["width"], d["output"]["height"]) == (452, 300)
    assert d["advice"]["hint"] is None and not any(d["advice"]["deficient_border"].values())
    # --crop auto: the size math's 453x301 less the deficient border
    d, _ = upsample_json(photo, "-k", BOX, "-s", 2, "--crop", "auto", "-o", tmp_path / "b.png")
    assert (d["output"]["width"], d["output"]["height"]) == (451, 299) and d["advice"]["hint"] is None
    # --normalize phase: gain 1 (every phase sums to 1), nothing clipped, no warning
    d, _ = upsample_json(photo, "-k", BOX, "-s", 2, "-p", "same", "--edge", "replicate", "--normalize", "phase",
                         "-o", tmp_path / "c.png")  # fmt: skip
    assert d["kernel"]["factors"] == [[[0.25, 0.5], [0.5, 1.0]]]
    assert d["advice"]["warning"] is None and d["advice"]["checkerboard"] is False and d["advice"]["gain"] == 1.0
    assert d["clipped"]["total"] == 0
    # and kernel show agrees: no checkerboard once normalized
    r = run("kernel", "show", BOX, "-s", 2, "--normalize", "phase")
    assert r.exit_code == 0 and "flat, gain 1:" in r.stdout and "checkerboard" not in r.stdout


def test_a_16x_kernel_says_how_bright_and_why_it_clips(photo, k16, tmp_path):
    r = run("upsample", photo, "-k", k16, "-p", "same", "-o", tmp_path / "o.png")
    assert r.exit_code == 0, r.output
    (hint,) = lines(r.stderr, "hint")
    (warning,) = lines(r.stderr, "warning")
    assert "--edge replicate keeps the size and gives them every tap" in hint  # -p same given already
    assert "the kernel's stride phases all sum to 16, so the result is 16 times as bright as the input" in warning
    assert "by the kernel's gain of 16" in warning and "--normalize phase" in warning
    # kernel show no longer calls it neutral
    r = run("kernel", "show", k16, "-s", 2)
    assert (
        "flat, gain 16: every stride phase sums to 16" in r.stdout and "--normalize phase makes the gain 1" in r.stdout
    )
    # the cure: the same kernel at gain 1 is bilinear itself, so the result equals bilinear's
    d, _ = upsample_json(photo, "-k", k16, "-p", "same", "--edge", "replicate", "--normalize", "phase",
                         "-o", tmp_path / "n.png", "-q")  # fmt: skip
    assert d["kernel"]["factors"] == [[[1 / 16, 1 / 16], [1 / 16, 1 / 16]]] and d["clipped"]["total"] == 0
    assert d["advice"]["warning"] is None and d["advice"]["hint"] is None
    run("upsample", photo, "-p", "same", "--edge", "replicate", "-o", tmp_path / "bl.png", "-q")
    with Image.open(tmp_path / "n.png") as a, Image.open(tmp_path / "bl.png") as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_batch_says_its_hint_and_warning_once_in_the_summary(shots, tmp_path):
    r = run("upsample", shots, "--out-dir", tmp_path / "out", "-k", "lanczos3", "-s", 3)
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    (hint,) = lines(r.stderr, "hint")
    (warning,) = lines(r.stderr, "warning")
    assert hint.startswith("deconv: hint: 3 of 3 files have a deficient border (14 rows and 14 columns per side")
    assert "-p same --edge replicate gives exactly 3x each input" in hint
    assert warning.startswith("deconv: warning: 3 of 3 files clipped more than 0.1% of their values (up to ")
    assert "by ringing" in warning
    assert r.stderr.splitlines()[-1].startswith("deconv: 3 done")
    assert run("upsample", shots, "--out-dir", tmp_path / "q", "-k", "lanczos3", "-s", 3, "-q").stderr == ""
    # the cure: exactly 3x each input, no border hint left
    r = run("upsample", shots, "--out-dir", tmp_path / "cure", "-k", "lanczos3", "-s", 3, "-p", "same",
            "--edge", "replicate")  # fmt: skip
    assert r.exit_code == 0 and lines(r.stderr, "hint") == []
    for name in ("a.png", "b.png", "c.png"):
        with Image.open(shots / name) as src, Image.open(tmp_path / "cure" / name) as out:
            assert out.size == (src.width * 3, src.height * 3)


def test_a_clean_result_says_nothing(photo, shots, tmp_path):
    r = run("upsample", photo, "-p", "same", "--edge", "replicate", "-o", tmp_path / "o.png")
    assert r.exit_code == 0 and lines(r.stderr, "hint") == lines(r.stderr, "warning") == []
    r = run("upsample", shots, "--out-dir", tmp_path / "d", "--scale", 2)
    assert r.exit_code == 0 and lines(r.stderr, "hint") == lines(r.stderr, "warning") == []


# ---------------------------------------------------------------- the numbers behind the advice


@pytest.mark.parametrize(
    ("n", "spec", "stride", "padding", "edge", "cut", "want"),
    [
        (10, "bilinear", 2, 0, Edge.zero, (0, 0, 0, 0), (2, 2, 2, 2)),
        (10, "bilinear", 2, 1, Edge.zero, (0, 0, 0, 0), (1, 1, 1, 1)),
        (10, "bilinear", 2, 1, Edge.replicate, (0, 0, 0, 0), (0, 0, 0, 0)),
        (10, "bilinear", 2, 1, Edge.renormalize, (0, 0, 0, 0), (0, 0, 0, 0)),
        (10, "bilinear", 2, 0, Edge.zero, (2, 1, 0, 5), (0, 1, 2, 0)),
        (10, "nearest", 2, 0, Edge.zero, (0, 0, 0, 0), (0, 0, 0, 0)),
    ],
)
def test_border_deficit_matches_the_taps_each_output_pixel_gets(n, spec, stride, padding, edge, cut, want):
    k = make_kernel(spec, stride)
    axes = size_math((n, n), k.shape, stride, padding)
    assert border_deficit(axes, k, edge, cut) == want
    if edge is Edge.zero and cut == (0, 0, 0, 0):  # first principles: taps under zero edges vs an extended input
        ones = np.ones((n, n))
        taps = reference(ones, (k != 0).astype(float), (stride,) * 2, (padding,) * 2, (0, 0), (1, 1))
        full = conv_transpose2d(ones, (k != 0).astype(float), stride, padding, edge="replicate")
        short = ~np.isclose(taps, full)
        mid_row, mid_col = short[short.shape[0] // 2], short[:, short.shape[1] // 2]
        top, left = int(np.argmax(~mid_col)), int(np.argmax(~mid_row))  # the leading rows/cols short of taps
        assert (top, left) == (want[0], want[2])


def test_kernel_traits_and_the_warning_texts():
    assert KernelTraits.of(make_kernel("bilinear", 2), 2, 1).text() is None
    assert KernelTraits.of(make_kernel("lanczos3", 3), 3, 1).negative
    t = KernelTraits.of(np.ones((3, 3)), 2, 1)
    assert (t.checkerboard, t.lo, t.hi, t.amplitude) == (True, 1.0, 4.0, 4.0)
    t = KernelTraits.of(np.array([[1.0, 0.0]]), (1, 2), 1)  # one phase gets nothing: an infinite checkerboard
    assert t.amplitude == float("inf") and "max/min inf" in t.text()
    holes = Advice((0, 0, 0, 0), (10, 10), (5, 5), (2, 2), True, KernelTraits.of(make_kernel("bilinear", 2), 2, 2))
    assert "max/min inf" in holes.warning() and holes.cure().startswith("--normalize cannot even out a phase")
    quiet = Advice((0, 0, 0, 0), (10, 10), (5, 5), (2, 2), False, KernelTraits.of(make_kernel("bilinear", 2), 2, 1))
    assert (quiet.hint(), quiet.warning(), quiet.cure()) == (None, None, None)
    # clipping at exactly 0.1% is not worth a line; just above is
    at = Advice((0, 0, 0, 0), (10, 10), (5, 5), (2, 2), False, None, clipped=1, values=1000)
    above = Advice((0, 0, 0, 0), (10, 10), (5, 5), (2, 2), False, None, clipped=2, values=1000)
    assert at.warning() is None and above.warning() == "2 of 1000 values (0.2%) clipped to the 8-bit range"


def test_a_border_that_is_the_whole_output_does_not_suggest_cutting_it():
    a = Advice((5, 5, 5, 5), (8, 8), (2, 2), (2, 2), False, None)
    assert a.hint().endswith(
        "which is all of it (--crop auto would leave nothing): -p same --edge replicate gives exactly 2x the input "
        "(4x4) with every tap"
    )


def test_batch_lines_count_files_and_take_the_worst():
    b = {"top": 2, "bottom": 2, "left": 1, "right": 1}
    assert batch_hint([b, b], 5, (2, 2), False) == (
        "2 of 5 files have a deficient border (2 rows and 1 column per side get fewer kernel taps than "
        "the interior): --crop auto cuts it, or -p same --edge replicate gives exactly 2x each input with every tap"
    )
    assert batch_hint([b, {**b, "top": 1}], 2, (2, 2), True).startswith(
        "2 of 2 files have a deficient border (up to 2 rows and 1 column per side"
    )
    assert batch_hint([], 5, (2, 2), False) is None
    a = {"kernel": None, "clipping": "x", "clipped_fraction": 0.01, "clip_reason": "", "cure": None}
    assert batch_warning([a, {**a, "clipped_fraction": 0.05}, {**a, "clipping": None}]) == (
        "2 of 3 files clipped more than 0.1% of their values (up to 5.0%)"
    )
    assert batch_warning([{**a, "clipping": None}]) is None


# ---------------------------------------------------------------- --normalize


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2**32 - 1),
)
def test_normalize_phase_makes_every_phase_sum_to_1_and_sum_makes_the_total_the_phase_count(kh, kw, sy, sx, d, seed):
    k = np.random.default_rng(seed).random((kh, kw)) + 0.05
    reached = phase_sums(np.ones((kh, kw)), (sy, sx), d).sums > 0
    if reached.all():
        got, factors = normalize_kernel(k, (sy, sx), d, "phase")
        np.testing.assert_allclose(phase_sums(got, (sy, sx), d).sums, 1.0, rtol=1e-12)
        # a constant image comes out constant (where every tap arrives) and as bright as it went in
        y = conv_transpose2d(np.full((6, 6), 7.0), got, (sy, sx), 0, dilation=d, edge="replicate")
        np.testing.assert_allclose(y, 7.0, rtol=1e-9)
        np.testing.assert_allclose(got / k, factors[0][_phase_grid(kh, kw, sy, sx, d)], rtol=1e-12)
    else:
        with pytest.raises(DeconvError, match="gets no tap at all"):
            normalize_kernel(k, (sy, sx), d, "phase")
    got, factors = normalize_kernel(k, (sy, sx), d, "sum")
    assert got.sum() == pytest.approx(sy * sx) and np.allclose(factors, sy * sx / k.sum())


def _phase_grid(kh, kw, sy, sx, d):
    """(rows, cols) index arrays: the stride phase of each tap, from first principles: tap i lands
    i*d output rows after its input pixel's first one, so on phase (i*d) mod s."""
    r = (np.arange(kh) * d) % sy
    c = (np.arange(kw) * d) % sx
    return r[:, None], c[None, :]


def test_normalize_refusals(photo, tmp_path):
    r = run("upsample", photo, "-k", "1x2:1,-1", "-s", 1, "--normalize", "sum", "-o", tmp_path / "o.png")
    assert r.exit_code == 2 and "--normalize sum: the kernel sums to 0" in r.stderr
    r = run("upsample", photo, "-k", "1x2:1,-3", "-s", "2,1", "--normalize", "phase", "-o", tmp_path / "o.png")
    assert r.exit_code == 2 and "stride phase (1, 0) of the kernel sums to -3" in r.stderr
    r = run(
        "upsample",
        photo,
        "-k",
        f"{KERNELS / 'learned_x2.safetensors'}:weight",
        "--normalize",
        "phase",
        "-o",
        tmp_path / "o.png",
    )
    assert r.exit_code == 2 and "is a learned layer" in r.stderr and "Drop --normalize" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()


def test_normalize_per_channel_kernel_scales_each_plane():
    k = np.stack([np.ones((2, 2)), 3 * np.ones((2, 2))])
    got, factors = normalize_kernel(k, 2, 1, "phase")
    np.testing.assert_allclose(got, np.ones((2, 2, 2)))
    np.testing.assert_allclose(factors[:, 0, 0], [1.0, 1 / 3])


# ---------------------------------------------------------------- --scale


def float_tif(path, shape, seed=0):
    x = (np.random.default_rng(seed).random(shape) * 255).astype(np.float32)
    Image.fromarray(x, mode="F").save(path)
    return x


@pytest.mark.parametrize("scale", [2, 3, 4, (2, 3)])
def test_scale_is_exactly_n_times_and_half_pixel_bilinear_to_the_border(tmp_path, scale):
    x = float_tif(tmp_path / "x.tif", (9, 13))
    spec = scale if isinstance(scale, int) else f"{scale[0]},{scale[1]}"
    d, r = upsample_json(tmp_path / "x.tif", "--scale", spec, "-o", tmp_path / "y.npy")
    sy, sx = (scale, scale) if isinstance(scale, int) else scale
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (9 * sy, 13 * sx)
    np.testing.assert_allclose(y, half_pixel_bilinear(x.astype(np.float64), (sy, sx)), atol=2e-4)
    stride = str(sy) if sy == sx else f"{sy},{sx}"
    assert d["params"]["scale"]["means"] == f"--stride {stride} --padding same --edge replicate --kernel bilinear"
    assert f"stands for --stride {stride} --padding same --edge replicate --kernel bilinear" in r.stderr
    assert d["advice"]["hint"] is None and d["advice"]["warning"] is None


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("spec", ["bicubic", "lanczos3"])
def test_scale_with_renormalize_equals_pillows_float_resize(tmp_path, spec, scale):
    x = float_tif(tmp_path / "x.tif", (11, 17), seed=scale)
    run("upsample", tmp_path / "x.tif", "--scale", scale, "-k", spec, "--edge", "renormalize", "-o", tmp_path / "y.npy")
    y = np.load(tmp_path / "y.npy")
    pil = np.asarray(Image.fromarray(x, mode="F").resize((17 * scale, 11 * scale), PIL_FILTERS[spec]))
    assert y.shape == pil.shape
    np.testing.assert_allclose(y, pil, atol=255 * 1e-5)


def test_scale_options_given_beside_it_win_and_bad_values_are_usage_errors(tmp_path):
    float_tif(tmp_path / "x.tif", (5, 6))
    d, _ = upsample_json(tmp_path / "x.tif", "--scale", 2, "--edge", "reflect", "-o", tmp_path / "y.npy", "-q")
    assert d["params"]["edge"] == "reflect" and d["params"]["scale"]["means"].endswith(
        "--edge reflect --kernel bilinear"
    )
    d, _ = upsample_json(tmp_path / "x.tif", "--scale", 2, "-p", 1, "-o", tmp_path / "z.npy", "-q")
    assert d["params"]["padding"] == [1, 1] and d["params"]["same"] is False
    for bad, msg in (("0", "scale must be >= 1"), ("2,3,4", "scale"), ("two", "scale")):
        r = run("upsample", tmp_path / "x.tif", "--scale", bad, "-o", tmp_path / "w.npy")
        assert r.exit_code == 2 and msg in r.stderr and not (tmp_path / "w.npy").exists()


# ---------------------------------------------------------------- the cures, checked by inspect's own numbers


def test_inspect_with_the_cures_finds_nothing_left(photo):
    r = run("inspect", photo, "-k", BOX, "-s", 2, "--json")
    d = json.loads(r.stdout)
    assert d["coverage"]["deficient_border"] == {"top": 1, "bottom": 1, "left": 1, "right": 1}
    assert d["coverage"]["complete_pixels_under_edge"] < d["coverage"]["pixels"] and d["checkerboard"] is True
    assert {c["options"].split(" (")[0] for c in d["cures"]} >= {"-p same --edge replicate", "--normalize phase"}
    cured = run("inspect", photo, "-k", BOX, "-s", 2, "-p", "same", "--edge", "replicate", "--normalize", "phase",
                "--json")  # fmt: skip
    assert cured.exit_code == 0, cured.stderr
    d = json.loads(cured.stdout)
    assert (d["output"]["width"], d["output"]["height"]) == (2 * 226, 2 * 150)  # exactly 2x
    assert d["coverage"]["complete_pixels_under_edge"] == d["coverage"]["pixels"] == 452 * 300
    assert d["coverage"]["deficient_border"] == {"top": 0, "bottom": 0, "left": 0, "right": 0}
    assert d["checkerboard"] is False and all(ph["sums"] == [[1.0, 1.0], [1.0, 1.0]] for ph in d["phases"])
    assert d["output"]["clipped"] == 0 and d["findings"] == [] and d["cures"] == []
    assert d["kernel"]["factors"] == [[[0.25, 0.5], [0.5, 1.0]]] and d["edge"] == "replicate"
    assert d["upsample"].endswith("-p same --edge replicate --normalize phase")
    plain = run("inspect", photo, "-k", BOX, "-s", 2, "-p", "same", "--edge", "replicate", "--normalize", "phase")
    assert "nothing to cure" in plain.stdout and re.search(r"^edge +replicate \(the result", plain.stdout, re.M)


def test_inspect_normalize_refuses_a_layer():
    layer = f"{KERNELS / 'learned_x2.safetensors'}:weight"
    r = run("inspect", "--size", "8x8", "-k", layer, "--normalize", "phase")
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1


# ---------------------------------------------------------------- strides far longer than the kernel


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6), st.integers(1, 6), st.integers(1, 7), st.integers(1, 7), st.integers(1, 3), st.integers(0, 99)
)
def test_phase_range_is_the_grid_s_min_max_and_flatness_without_the_grid(kh, kw, sy, sx, d, seed):
    from deconv_cli.core import phase_range

    rng = np.random.default_rng(seed)
    k = rng.integers(-2, 4, (kh, kw)).astype(float) if seed % 2 else np.ones((kh, kw)) / (kh * kw)
    grid, sparse = phase_sums(k, (sy, sx), d), phase_range(k, (sy, sx), d)
    assert (sparse.lo, sparse.hi) == (pytest.approx(grid.lo, abs=1e-12), pytest.approx(grid.hi, abs=1e-12))
    assert sparse.flat == grid.flat and sparse.amplitude == pytest.approx(grid.amplitude, rel=1e-9)
    assert sparse.reached == int(phase_sums(np.ones((kh, kw)), (sy, sx), d).sums.astype(bool).sum())


def test_a_stride_with_billions_of_phases_is_computed_reported_and_never_allocated(tmp_path):
    src = tmp_path / "one.png"
    Image.fromarray(np.array([[10, 200]], np.uint8)).save(src)
    out = tmp_path / "o.npy"
    r = run("upsample", src, "-k", "1x1:1", "-s", "65536,65536", "-o", out, "--json")
    assert r.exit_code == 0, r.stderr
    y = np.load(out)
    assert y.shape == (1, 65537) and (y[0, 0], y[0, -1]) == (10, 200) and np.count_nonzero(y) == 2
    a = json.loads(r.stdout)["advice"]
    assert a["checkerboard"] is True and a["phase_sums"] == {"min": 0.0, "max": 1.0}
    r = run("kernel", "show", "1x1:1", "-s", 65536, "--json")
    assert r.exit_code == 0, r.stderr
    ch = json.loads(r.stdout)["channels"][0]
    assert ch["phase_sums"] is None and (ch["min"], ch["max"], ch["flat"]) == (0.0, 1.0, False)
    assert "4294967296 phases, too many to list; 1 gets taps" in run("kernel", "show", "1x1:1", "-s", 65536).stdout
    r = run("upsample", src, "-k", "1x1:1", "-s", "65536,65536", "--normalize", "phase", "-o", tmp_path / "p.npy")
    assert r.exit_code == 2 and "4294967296 phases but the kernel only 1 taps" in r.stderr
    r = run("upsample", src, "-k", "1x1:1", "-s", "65536,65536", "--normalize", "sum", "-o", tmp_path / "s.npy", "-q")
    assert r.exit_code == 0 and np.load(tmp_path / "s.npy").max() == 200 * 65536.0**2


# ---------------------------------------------------------------- learned layers


def _layer_file(tmp_path, weight) -> str:
    from safetensors.numpy import save_file

    save_file({"weight": np.ascontiguousarray(weight, np.float32)}, str(tmp_path / "layer.safetensors"))
    return f"{tmp_path / 'layer.safetensors'}:weight"


def test_upsample_warns_of_a_layer_s_checkerboard_and_never_suggests_what_layers_refuse(photo, tmp_path):
    checker = np.random.default_rng(3).random((3, 3, 4, 4)) * 0.2  # phases far from alike
    r = run("upsample", photo, "-k", _layer_file(tmp_path, checker), "-s", 2, "-p", 1, "-o", tmp_path / "c.png")
    assert r.exit_code == 0, r.stderr
    (warning,) = lines(r.stderr, "warning")
    assert "of the layer draw a checkerboard on a constant input (each input channel at the image's mean)" in warning
    assert "--normalize" not in r.stderr and "renormalize" not in r.stderr
    # the same layer's pattern as the literal loop shows it on a constant image at the photo's means
    x = np.asarray(Image.open(photo), np.float64) / 255
    flat = np.broadcast_to(x.reshape(-1, 3).mean(axis=0), (12, 12, 3))
    from deconv_cli.core import conv_transpose2d_layer

    y = conv_transpose2d_layer(flat, checker, None, 2, 1)[6:14, 6:14]  # the interior
    worst = max(range(3), key=lambda o: y[..., o].max() / y[..., o].min())
    assert f"channel {worst}'s stride phases come out {y[..., worst].min():.4g} to {y[..., worst].max():.4g}" in warning


def test_upsample_says_nothing_of_a_layer_pattern_under_half_a_level(photo, tmp_path):
    bilinear = make_kernel("bilinear", 2)
    mix = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]])  # rows and columns sum to 1: convex
    weight = mix[:, :, None, None] * bilinear[None, None]
    weight[0, 0, 0, 0] += 1e-4  # a pattern of about 0.03 of an 8-bit level
    r = run("upsample", photo, "-k", _layer_file(tmp_path, weight), "-s", 2, "-p", 1, "--edge", "replicate",
            "-o", tmp_path / "f.png")  # fmt: skip
    assert r.exit_code == 0 and lines(r.stderr, "warning") == [] and lines(r.stderr, "hint") == []


def test_a_layer_s_constant_input_is_measured_without_a_float_copy_of_the_image():
    """The layer advice's channel means read the image in place: a float64 copy of a 4000x4000 RGB
    image took the layer's upsample from 213 MB to 511 MB peak (found by the layers benchmark)."""
    import tracemalloc

    from deconv_cli.core import channel_means

    x = np.random.default_rng(1).integers(0, 256, (1000, 1200, 3), dtype=np.uint8)
    tracemalloc.start()
    got = channel_means(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(got, x.reshape(-1, 3).astype(np.float64).mean(axis=0), rtol=1e-12)
    assert peak < 1 << 20, peak  # a few rows of float64 sums, not a float64 copy (28.8 MB)
