"""Learned layers: 4-D ConvTranspose2d weights with groups and bias, against the literal reference
loop (always) and PyTorch (when installed), and through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from PIL import Image
from safetensors.numpy import save_file

from deconv_cli import DeconvError, conv_transpose2d
from deconv_cli.core import conv_transpose2d_layer

from conftest import KERNELS, SAMPLES, run, sample_crop
from oracle import layer_cases, layer_reference


def reference_layer(x, w, b, groups, s, p, a, d):
    """The grouped operation through the literal scalar-times-kernel loop, plus the bias."""
    return layer_reference(x, w, b, groups, (s, p, a, d))


@settings(max_examples=120, deadline=None)
@given(layer_cases())
def test_layer_equals_the_reference_loop(layer):
    ((h, w), (kh, kw), s, p, a, d, seed), groups, c_in, cog, with_bias = layer
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((h, w, c_in))
    weight = rng.standard_normal((c_in, cog, kh, kw))
    bias = rng.standard_normal(cog * groups) if with_bias else None
    got = conv_transpose2d_layer(x, weight, bias, s, p, a, d, groups)
    want = reference_layer(x, weight, bias, groups, s, p, a, d)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups", ["one", "per-channel"])
def test_groups_1_and_groups_c_with_bias_by_hand(groups):
    # 3 channels, stride 2, a 2x2 kernel per pair: small enough to check against the definition
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, (2, 3, 3)).astype(float)
    g = 1 if groups == "one" else 3
    w = rng.integers(-2, 3, (3, 3 // g, 2, 2)).astype(float)
    b = np.array([0.5, -1.0, 2.0])
    got = conv_transpose2d_layer(x, w, b, stride=2, groups=g)
    want = np.zeros((4, 6, 3))
    for o in range(3):
        ins = range(3) if g == 1 else [o]
        for i in ins:
            j = o if g == 1 else 0
            for r in range(2):
                for c in range(3):
                    want[2 * r : 2 * r + 2, 2 * c : 2 * c + 2, o] += x[r, c, i] * w[i, j]
        want[..., o] += b[o]
    np.testing.assert_array_equal(got, want)
    if g == 3:  # groups = C with one kernel per channel is exactly the per-channel (3-D kernel) operation
        np.testing.assert_array_equal(got - b, conv_transpose2d(x, w[:, 0], stride=2))


def test_layer_replicate_edges_extend_each_channel():
    rng = np.random.default_rng(9)
    x, w = rng.random((5, 4, 2)), rng.random((2, 3, 4, 4))
    got = conv_transpose2d_layer(x, w, None, 2, 1, groups=1, edge="replicate")
    want = sum(
        np.stack([conv_transpose2d(x[..., i], w[i, j], 2, 1, edge="replicate") for j in range(3)], -1) for i in range(2)
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (
            {"x": np.ones((4, 4, 3)), "weight": np.ones((4, 1, 2, 2))},
            "the image has 3 channel(s) but the layer's weight (4, 1, 2, 2) takes C_in = 4",
        ),
        (
            {"x": np.ones((4, 4, 4)), "weight": np.ones((4, 1, 2, 2)), "groups": 3},
            "groups must be a positive divisor of C_in = 4, got 3",
        ),
        ({"x": np.ones((4, 4, 2)), "weight": np.ones((2, 2, 2, 2)), "bias": np.ones(3)}, "bias must have shape (2,)"),
        ({"x": np.ones((4, 4, 2)), "weight": np.ones((2, 2, 2))}, "must be 4-D"),
        ({"x": np.ones((4, 4, 2)), "weight": np.ones((2, 2, 2, 2)), "edge": "renormalize"}, "no meaning for a layer"),
    ],
)
def test_layer_errors(kwargs, words):
    with pytest.raises(DeconvError) as e:
        conv_transpose2d_layer(**kwargs)
    assert words in str(e.value)
    assert e.value.usage


@pytest.mark.parametrize("seed", range(12))
def test_layer_matches_pytorch(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(500 + seed)
    checked = 0
    while checked < 10:
        groups = int(rng.choice([1, 2, 3]))
        c_in = groups * int(rng.integers(1, 3))
        cog = int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        a = tuple(int(rng.integers(0, max(si, di))) for si, di in zip(s, d, strict=True))
        p = tuple(int(v) for v in rng.integers(0, 4, 2))
        x = rng.standard_normal((h, w, c_in)).astype(np.float32)
        weight = rng.standard_normal((c_in, cog, kh, kw)).astype(np.float32)
        bias = rng.standard_normal(cog * groups).astype(np.float32)
        try:
            ours = conv_transpose2d_layer(x, weight, bias, s, p, a, d, groups)
        except DeconvError:
            continue  # N_out <= 0: refused by design
        xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 0)))[None]
        wt, bt = torch.from_numpy(weight), torch.from_numpy(bias)
        ref = torch.nn.functional.conv_transpose2d(
            xt, wt, bt, stride=s, padding=p, output_padding=a, groups=groups, dilation=d
        )[0].numpy()
        ref = np.moveaxis(ref, 0, -1)
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() <= 1e-5 * max(1.0, float(np.abs(ref).max()))
        checked += 1


# ---------------------------------------------------------------- through the command line


@pytest.fixture
def rgb(tmp_path):
    return sample_crop("astronaut.png", (200, 100, 232, 124), tmp_path / "rgb.png")


def test_cli_applies_a_mixing_layer_with_bias_in_unit_range(tmp_path, rgb):
    rng = np.random.default_rng(3)
    w = rng.random((3, 3, 4, 4)).astype(np.float32) / 12
    b = np.array([0.1, -0.2, 0.05], np.float32)
    layer = tmp_path / "layer.safetensors"
    save_file({"weight": w, "bias": b}, str(layer))
    out = tmp_path / "out.npy"
    learned = ["-k", f"{layer}:weight", "--bias", f"{layer}:bias"]
    r = run("upsample", rgb, *learned, "-s", "2", "-p", "1", "-o", out, "-q", "--json")
    assert r.exit_code == 0, r.output
    with Image.open(rgb) as im:
        x = np.asarray(im, np.float64)
    want = reference_layer(x, w.astype(np.float64), b.astype(np.float64) * 255, 1, (2, 2), (1, 1), (0, 0), (1, 1))
    np.testing.assert_allclose(np.load(out), want, rtol=1e-5, atol=1e-3)
    d = json.loads(r.stdout)
    assert d["kernel"]["groups"] == 1 and d["output"]["channels"] == "RGB"
    assert d["params"]["alpha"].startswith("none")


def test_cli_default_groups_is_c_in_for_a_depthwise_weight(tmp_path, rgb):
    k = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    np.save(tmp_path / "dw.npy", np.stack([k, 2 * k, 0 * k])[:, None])  # (3, 1, 4, 4)
    out = tmp_path / "out.npy"
    r = run("upsample", rgb, "-k", tmp_path / "dw.npy", "-s", "2", "-p", "1", "-o", out, "-q", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kernel"]["groups"] == 3
    with Image.open(rgb) as im:
        x = np.asarray(im, np.float32)
    np.testing.assert_allclose(np.load(out), conv_transpose2d(x, np.stack([k, 2 * k, 0 * k]), 2, 1), rtol=1e-6)


@pytest.mark.parametrize("depth, value", [(8, 128), (16, 32768)])
def test_cli_bias_is_scaled_to_the_image_units(tmp_path, depth, value):
    src = tmp_path / "g.png"
    if depth == 8:
        Image.fromarray(np.full((3, 3), 7, np.uint8)).save(src)
    else:
        Image.fromarray(np.full((3, 3), 7, np.uint16)).save(src)
    np.save(tmp_path / "zero.npy", np.zeros((1, 1, 2, 2)))
    out = tmp_path / "o.png"
    r = run("upsample", src, "-k", tmp_path / "zero.npy", "--bias", "0.5", "-s", "2", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    with Image.open(out) as im:
        assert np.asarray(im).ravel().tolist() == [value] * 36  # 0.5 of the range, rounded half up


def test_cli_other_channel_counts_only_as_npy(tmp_path, rgb):
    np.save(tmp_path / "to5.npy", np.ones((3, 5, 2, 2)) / 3)
    r = run("upsample", rgb, "-k", tmp_path / "to5.npy", "-o", tmp_path / "o.png")
    assert r.exit_code == 2
    assert "the layer outputs 5 channels; an image holds 1, 3 or 4, so write .npy" in r.stderr
    assert not (tmp_path / "o.png").exists()
    r = run("upsample", rgb, "-k", tmp_path / "to5.npy", "-o", tmp_path / "o.npy", "-q")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "o.npy").shape == (48, 64, 5)
    np.save(tmp_path / "to1.npy", np.ones((3, 1, 2, 2)) / 3)
    r = run("upsample", rgb, "-k", tmp_path / "to1.npy", "--groups", "1", "-o", tmp_path / "grey.png", "-q")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "grey.png") as im:
        assert im.mode == "L" and im.size == (64, 48)


@pytest.mark.parametrize(
    "kernel, extra, words",
    [
        ("c4.npy", [], "has RGB (3 channel(s)) but the layer"),
        ("c4.npy", [], "takes C_in = 4 (weight shape (4, 1, 2, 2))"),
        ("dw.npy", ["--groups", "2"], "--groups 2 must divide C_in = 3"),
        ("dw.npy", ["--bias", "1,2"], "holds shape (2,) but the layer has 3 output channel(s)"),
        ("k2.npy", ["--bias", "0.1"], "--bias applies to a learned layer, a 4-D weight"),
        ("k2.npy", ["--groups", "1"], "--groups applies to a learned layer"),
        ("dw.npy", ["--edge", "renormalize"], "no meaning for a layer that mixes channels"),
    ],
)
def test_cli_layer_mistakes_are_one_line_usage_errors(tmp_path, rgb, kernel, extra, words):
    np.save(tmp_path / "c4.npy", np.ones((4, 1, 2, 2)))
    np.save(tmp_path / "dw.npy", np.ones((3, 1, 2, 2)))
    np.save(tmp_path / "k2.npy", np.ones((2, 2)))
    r = run("upsample", rgb, "-k", tmp_path / kernel, *extra, "-o", tmp_path / "o.png")
    assert r.exit_code == 2, r.output
    assert r.stderr.count("\n") == 1 and words in r.stderr
    assert not (tmp_path / "o.png").exists()


def test_kernel_show_prints_each_pair_of_a_layer(tmp_path):
    np.save(tmp_path / "l.npy", np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2))
    r = run("kernel", "show", tmp_path / "l.npy", "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["channels"]) == 6
    r = run("kernel", "show", tmp_path / "l.npy")
    # the phase sums of each (input, output) pair, then each output channel's total (test_inspect_layers.py)
    assert "in 1 -> out 2: 20 21 | 22 23  (sum 86)" in r.stdout
    assert "out 2 (inputs 0,1): 28 30 | 32 34  checkerboard" in r.stdout


# ---------------------------------------------------------------- the shipped example layer

LEARNED = KERNELS / "learned_x2.safetensors"


def _fit_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_learned", KERNELS / "fit_learned.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_shipped_layer_is_what_the_script_fits():
    from safetensors.numpy import load_file

    weight, bias = _fit_script().fit()
    shipped = load_file(str(LEARNED))
    assert shipped["weight"].shape == (3, 3, 6, 6) and shipped["bias"].shape == (3,)
    np.testing.assert_allclose(shipped["weight"], weight, rtol=0, atol=1e-6)
    np.testing.assert_allclose(shipped["bias"], bias, rtol=0, atol=1e-6)


def test_shipped_layer_beats_bilinear_on_the_held_out_photo_through_the_cli(tmp_path):
    fit = _fit_script()
    original = (fit.read(SAMPLES / "astronaut.png") * 255).round()
    Image.fromarray(fit.to8(fit.box_down(original))).save(tmp_path / "small.png")
    scores = {}
    for name, args in {
        "bilinear": ["-k", "bilinear", "-p", "same", "--edge", "replicate"],
        "learned": ["-k", f"{LEARNED}:weight", "--bias", f"{LEARNED}:bias", "-p", "2", "--edge", "replicate"],
    }.items():
        out = tmp_path / f"{name}.png"
        r = run("upsample", tmp_path / "small.png", "-s", "2", *args, "-o", out, "-q")
        assert r.exit_code == 0, r.output
        with Image.open(out) as im:
            scores[name] = fit.psnr(np.asarray(im), original)
    # the figures the README quotes come from the script; the command line gives the same
    from safetensors.numpy import load_file

    shipped = load_file(str(LEARNED))
    table = {
        row[0]: row[2] for row in fit.evaluate(shipped["weight"].astype(np.float64), shipped["bias"].astype(np.float64))
    }
    assert abs(scores["bilinear"] - table["bilinear"]) < 0.01
    assert abs(scores["learned"] - table["learned 6x6"]) < 0.01
    assert scores["learned"] > scores["bilinear"] + 1.0
