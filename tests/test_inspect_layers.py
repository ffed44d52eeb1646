"""deconv inspect and kernel show on learned layers that mix channels: each output channel's stride-phase
pattern under a constant input, measured against the literal reference loop run on a large constant image."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from deconv_cli.core import auto_crop, conv_transpose2d_layer, phase_sums
from deconv_cli.pipeline import inspect_image

from conftest import KERNELS, run
from oracle import reference

LEARNED = f"{KERNELS / 'learned_x2.safetensors'}:weight"
LEARNED_BIAS = f"{KERNELS / 'learned_x2.safetensors'}:bias"


def brute_phases(w, b, groups, constant, stride, padding=0, n=12):
    """(C_out, sy, sx): the literal loop per (input, output) kernel on an n x n image whose channel i is
    constant[i], plus the bias; each stride phase read off the interior, where every value of a phase must
    be the same (asserted)."""
    c_in, cog = w.shape[:2]
    cig = c_in // groups
    sy, sx = stride
    kh, kw = w.shape[-2:]
    out = []
    for o in range(cog * groups):
        g, j = divmod(o, cog)
        acc = sum(
            reference(np.full((n, n), constant[i]), w[i, j], stride, (padding, padding), (0, 0), (1, 1))
            for i in range(g * cig, (g + 1) * cig)
        )
        acc = acc + (0.0 if b is None else b[o])
        grid = np.empty((sy, sx))
        for r in range(sy):
            for c in range(sx):
                # output row y lies at full-grid row y + padding; its phase is that mod the stride
                r0 = next(y for y in range(kh + sy, kh + 2 * sy) if (y + padding) % sy == r)
                c0 = next(x for x in range(kw + sx, kw + 2 * sx) if (x + padding) % sx == c)
                vals = acc[r0 : acc.shape[0] - kh - sy : sy, c0 : acc.shape[1] - kw - sx : sx]
                assert vals.size and np.ptp(vals) < 1e-9, "not constant within a phase: the image is too small"
                grid[r, c] = vals.flat[0]
        out.append(grid)
    return np.stack(out)


def flat_layer():
    """3 -> 2 channels mixed by a matrix, each (input, output) kernel that entry times the bilinear 4x4
    kernel, whose every stride-2 phase sums to 1: any constant input comes out flat in every channel."""
    bilinear = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    mix = np.array([[0.6, -0.2], [0.3, 0.9], [0.1, 0.3]])
    return mix[:, :, None, None] * bilinear, np.array([0.05, -0.1])


def checker_layer():
    """3 -> 2 channels, random 4x4 kernels at stride 2: uneven phases in both channels."""
    rng = np.random.default_rng(7)
    return rng.uniform(0.0, 0.5, (3, 2, 4, 4)), np.array([0.1, 0.0])


@pytest.fixture
def layers(tmp_path):
    paths = {}
    for name, (w, b) in (("flat", flat_layer()), ("checker", checker_layer())):
        p = tmp_path / f"{name}.safetensors"
        save_file({"weight": w, "bias": b}, str(p))  # float64 kept exactly
        paths[name] = (f"{p}:weight", f"{p}:bias", w, b)
    return paths


@pytest.mark.parametrize("name, flagged", [("flat", False), ("checker", True)])
def test_synthetic_phase_means_equal_the_brute_force_and_the_flag(layers, name, flagged):
    spec, bias, w, b = layers[name]
    d = inspect_image(None, size=(16, 16), kernel=spec, bias=bias, stride=2).as_dict()
    want = brute_phases(w, b, 1, np.ones(3), (2, 2))
    got = np.array([ph["sums"] for ph in d["phases"]])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert d["layer"]["constant"]["values"] == [1.0, 1.0, 1.0]
    assert "each input channel at 1" in d["layer"]["constant"]["what"]
    assert d["checkerboard"] is flagged and d["layer"]["checkerboard"] is flagged
    assert [ph["flat"] for ph in d["phases"]] == [not flagged] * 2
    for o, ph in enumerate(d["phases"]):
        lo, hi = want[o].min(), want[o].max()
        assert ph["min"] == pytest.approx(lo) and ph["max"] == pytest.approx(hi)
        assert ph["peak_to_peak"] == pytest.approx(hi - lo, abs=1e-12)
        assert ph["amplitude"] == (1.0 if not flagged else pytest.approx(hi / lo))
        assert ph["peak_to_peak_levels"] == pytest.approx((hi - lo) * 255, abs=1e-9)
    kinds = [f["what"] for f in d["findings"]]
    assert ("kernel" in kinds) is flagged
    amps = [want[o].max() / want[o].min() for o in range(2)]
    assert d["layer"]["worst"] == (sorted(range(2), key=lambda o: -amps[o]) if flagged else [])
    options = [c["options"] for c in d["cures"]]
    assert not any("--normalize" in o or "renormalize" in o for o in options)
    assert ("another kernel" in options) is flagged
    assert "--crop auto" in options


def test_image_mean_is_the_constant_and_groups_split_the_inputs(tmp_path):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (10, 12, 4)).astype(np.uint8)
    png = tmp_path / "rgba.png"
    Image.fromarray(pixels, "RGBA").save(png)
    w = rng.uniform(-0.3, 0.6, (4, 3, 3, 3))  # groups 2: outputs 0-2 see inputs 0,1; outputs 3-5 inputs 2,3
    np.save(tmp_path / "g2.npy", w)
    b = "0.1,0.2,0.3,-0.1,0,0.5"
    d = inspect_image(png, kernel=str(tmp_path / "g2.npy"), groups=2, bias=b, stride=2).as_dict()
    means = pixels.reshape(-1, 4).mean(axis=0) / 255
    np.testing.assert_allclose(d["layer"]["constant"]["values"], means, rtol=1e-12)
    want = brute_phases(w, np.array([0.1, 0.2, 0.3, -0.1, 0, 0.5]), 2, means, (2, 2))
    np.testing.assert_allclose([ph["sums"] for ph in d["phases"]], want, rtol=1e-10, atol=1e-12)
    assert [ph["inputs"] for ph in d["phases"]] == [[0, 1]] * 3 + [[2, 3]] * 3
    assert d["layer"]["c_out"] == 6 and d["layer"]["groups"] == 2
    # a layer's output channels are data: the result is the layer itself, bias in the image's units
    ref = conv_transpose2d_layer(pixels.astype(float), w, np.array([0.1, 0.2, 0.3, -0.1, 0, 0.5]) * 255, 2, groups=2)
    np.testing.assert_allclose(inspect_image(png, kernel=str(tmp_path / "g2.npy"), groups=2, bias=b).result, ref)


def test_border_and_crop_come_from_the_union_of_the_kernels(tmp_path):
    # only one (input, output) kernel reaches the 5th row and column: the union decides the border
    w = np.zeros((2, 2, 5, 5))
    w[:, :, :4, :4] = 0.25
    w[1, 0, 4, 4] = 0.5
    np.save(tmp_path / "u.npy", w)
    ins = inspect_image(None, size=(12, 12), kernel=str(tmp_path / "u.npy"), stride=2, padding=1)
    d = ins.as_dict()
    box = (d["crop_auto"]["top"], d["crop_auto"]["bottom"], d["crop_auto"]["left"], d["crop_auto"]["right"])
    assert box == auto_crop(ins.axes, w[1, 0]) != auto_crop(ins.axes, w[0, 0])
    # brute force: the rows and columns outside the box, and only those, differ from the extended image's
    zero, rep = ins.results["zero"], ins.results["replicate"]
    t, b, l, r = box
    h, wd = zero.shape[:2]
    assert np.allclose(zero[t : h - b, l : wd - r], rep[t : h - b, l : wd - r])
    assert not np.allclose(zero[t - 1], rep[t - 1]) and not np.allclose(zero[h - b], rep[h - b])
    assert not np.allclose(zero[:, l - 1], rep[:, l - 1]) and not np.allclose(zero[:, wd - r], rep[:, wd - r])


def test_learned_x2_draws_a_faint_checkerboard_and_says_how_faint():
    from safetensors.numpy import load_file

    t = load_file(str(KERNELS / "learned_x2.safetensors"))
    w, b = t["weight"].astype(np.float64), t["bias"].astype(np.float64)
    d = inspect_image(None, size=(16, 16), kernel=LEARNED, bias=LEARNED_BIAS, stride=2, padding=2).as_dict()
    want = brute_phases(w, b, 1, np.ones(3), (2, 2), padding=2)
    np.testing.assert_allclose([ph["sums"] for ph in d["phases"]], want, rtol=1e-9, atol=1e-12)
    amps = want.max(axis=(1, 2)) / want.min(axis=(1, 2))
    assert d["checkerboard"] and d["layer"]["worst"] == sorted(range(3), key=lambda o: -amps[o]) == [2, 0, 1]
    assert all(1.002 < a < 1.005 for a in amps)  # faint: under half a percent
    found = next(f["text"] for f in d["findings"] if f["what"] == "kernel")
    assert "output channels 2, 0, 1 (worst first)" in found and "8-bit levels" in found


@pytest.mark.parametrize("name", ["flat", "checker"])
def test_kernel_show_4d_numbers(layers, name):
    spec, _, w, _ = layers[name]
    r = run("kernel", "show", spec, "-s", 2, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert len(d["pairs"]) == 6 and d["groups"] == 1
    for p in d["pairs"]:
        np.testing.assert_allclose(p["phase_sums"], phase_sums(w[p["input"], p["output"]], 2).sums, rtol=1e-12)
    for o, out in enumerate(d["outputs"]):
        total = sum(phase_sums(w[i, o], 2).sums for i in range(3))
        np.testing.assert_allclose(out["phase_sums"], total, rtol=1e-12)
        assert out["flat"] is (name == "flat") and out["verdict"].startswith("flat" if name == "flat" else "checker")
    assert d["checkerboard"] is (name == "checker")
    text = run("kernel", "show", spec, "-s", 2).stdout
    assert "in 2 -> out 1:" in text and "out 1 (inputs 0,1,2):" in text
    assert ("worst output channels by max/min" in text) is (name == "checker")


def test_inspect_layer_cli_json_and_table(layers):
    spec, bias, _, _ = layers["checker"]
    r = run("inspect", "--size", "16", "-k", spec, "--bias", bias, "-s", 2, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["layer"]["bias"] == [0.1, 0.0] and d["checkerboard"] is True
    assert "--bias" in d["upsample"] and all(c["command"] is None or "--bias" in c["command"] for c in d["cures"])
    out = run("inspect", "--size", "16", "-k", spec, "--bias", bias, "-s", 2).stdout
    assert "# output channels: stride-phase means under the constant input" in out
    assert "constant  each input channel at 1, white in [0, 1] units, plus the bias: 1, 1, 1" in out


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--edge", "renormalize"], "no meaning for a layer that mixes channels"),
        (["--normalize", "phase"], "learned layer"),
        (["--bias", "0.1,0.2,0.3"], "holds shape (3,) but the layer has 2 output channel(s)"),
        (["--groups", "2"], "--groups 2 must divide C_in = 3"),
        (["-s", "300"], "stride 300,300 has 90000 phases, more than the 65536 whose sums deconv computes for each"),
    ],
)
def test_inspect_layer_mistakes_are_one_line_usage_errors(layers, extra, words):
    r = run("inspect", "--size", "8", "-k", layers["checker"][0], "-s", 2, *extra)
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deconv: error: ") and words in lines[0], r.stderr


def test_inspect_layer_needs_its_channels(tmp_path, layers):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(grey)
    r = run("inspect", grey, "-k", layers["checker"][0], "-s", 2)
    assert r.exit_code == 2 and "takes C_in = 3" in r.stderr
    np.save(tmp_path / "c5.npy", np.ones((5, 1, 2, 2)))
    r = run("inspect", "--size", "4", "-k", tmp_path / "c5.npy", "-s", 2)
    assert r.exit_code == 2 and "C_in = 5" in r.stderr


def test_report_has_the_channels_section_for_a_layer_only(tmp_path, layers):
    from deconv_cli.report.pictures import write_report

    spec, bias, w, b = layers["checker"]
    ins = inspect_image(None, size=(10, 10), kernel=spec, bias=bias, stride=2)
    files = write_report(tmp_path / "layer", ins)
    with Image.open(files["channels"]) as im:
        assert im.width == 1200
    page = (tmp_path / "layer" / "index.html").read_text()
    assert '<section id="channels"><h2>Output channels</h2>' in page and 'src="channels.png"' in page
    want = brute_phases(w, b, 1, np.ones(3), (2, 2))
    worst = int(np.argmax(want.max(axis=(1, 2)) / want.min(axis=(1, 2))))
    row = page.index(f"<tr><td>{worst}</td><td>0,1,2</td>")
    assert row < page.index(f"<tr><td>{1 - worst}</td><td>0,1,2</td>")  # the worst first
    assert "renormalize has no meaning for a layer" in page
    assert json.loads((tmp_path / "layer" / "report.json").read_text())["files"]["channels"] == "channels.png"
    plain = write_report(tmp_path / "plain", inspect_image(None, size=(10, 10), kernel="bilinear", stride=2))
    assert "channels" not in plain and not (tmp_path / "plain" / "channels.png").exists()
    assert 'id="channels"' not in (tmp_path / "plain" / "index.html").read_text()
