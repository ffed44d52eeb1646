"""`deconv inspect`: coverage against the reference loop, border numbers worked by hand,
the report files, and a real browser rendering index.html when one is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from PIL import Image

from deconv_cli.core import auto_crop, border_means, coverage, size_math
from deconv_cli.pipeline import inspect_image

from conftest import SAMPLES, run
from oracle import cases, reference

# ---------------------------------------------------------------- coverage vs the definition


@settings(max_examples=150, deadline=None)
@given(cases())
def test_coverage_equals_the_reference_loop_on_an_image_of_ones(case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    k = rng.normal(size=(kh, kw)) * (rng.random((kh, kw)) < 0.8)  # some taps exactly zero
    cov = coverage((h, w), k, stride, padding, output_padding, dilation)
    ones = np.ones((h, w))
    np.testing.assert_allclose(cov.weight, reference(ones, k, stride, padding, output_padding, dilation), atol=1e-9)
    np.testing.assert_array_equal(
        cov.taps, reference(ones, (k != 0).astype(float), stride, padding, output_padding, dilation)
    )
    # what an interior pixel of each phase gets: the same kernel on an image so large every tap lands
    big = (h + 2 * kh * dilation[0] + 4, w + 2 * kw * dilation[1] + 4)
    far = coverage(big, k, stride, padding, output_padding, dilation)
    r0, c0 = far.taps.shape[0] // 2 - stride[0] // 2, far.taps.shape[1] // 2 - stride[1] // 2
    for dr in range(stride[0]):
        for dc in range(stride[1]):
            r, c = r0 + dr, c0 + dc
            phase = ((r + padding[0]) % stride[0], (c + padding[1]) % stride[1])
            assert far.taps[r, c] == far.full_taps[r, c]
            mask = [
                (rr, cc)
                for rr in range(cov.taps.shape[0])
                for cc in range(cov.taps.shape[1])
                if ((rr + padding[0]) % stride[0], (cc + padding[1]) % stride[1]) == phase
            ]
            for rr, cc in mask:
                assert cov.full_taps[rr, cc] == far.taps[r, c]
                assert cov.full_weight[rr, cc] == pytest.approx(far.weight[r, c], abs=1e-9)
    assert (cov.taps <= cov.full_taps).all()


@settings(max_examples=150, deadline=None)
@given(cases(min_size=3))
def test_auto_crop_box_holds_only_complete_pixels_and_is_minimal(case):
    (h, w), (kh, kw), stride, padding, output_padding, dilation, seed = case
    k = np.random.default_rng(seed).random((kh, kw)) + 0.1
    cov = coverage((h, w), k, stride, padding, output_padding, dilation)
    t, b, l, r = auto_crop(size_math((h, w), (kh, kw), stride, padding, output_padding, dilation), k)
    H, W = cov.taps.shape
    if t + b >= H or l + r >= W:
        return  # nothing complete to keep
    assert cov.complete[t : H - b, l : W - r].all()
    kept = cov.full_taps[t : H - b, l : W - r] > 0
    if not (kept.any(0).all() and kept.any(1).all()):
        return  # a kept row or column no tap can ever reach (taps all on one stride phase): minimality is moot
    # one pixel less on any side would take in an incomplete one
    if t:
        assert not cov.complete[t - 1, l : W - r].all()
    if b:
        assert not cov.complete[H - b, l : W - r].all()
    if l:
        assert not cov.complete[t : H - b, l - 1].all()
    if r:
        assert not cov.complete[t : H - b, W - r].all()


def test_coverage_hand_worked_bilinear_stride2():
    k = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    cov = coverage((3, 3), k, 2, 0)  # output 8x8
    assert cov.taps[0].tolist() == [1, 1, 2, 2, 2, 2, 1, 1]
    assert cov.weight[0].tolist() == pytest.approx([0.0625, 0.1875, 0.25, 0.25, 0.25, 0.25, 0.1875, 0.0625])
    assert cov.full_taps.min() == cov.full_taps.max() == 4
    assert cov.ratio[3, 3] == 1.0 and cov.complete[2:6, 2:6].all() and not cov.complete[1].any()


def test_border_means_by_hand():
    out = np.arange(36, dtype=float).reshape(6, 6)
    interior, bands = border_means(out, (1, 2, 1, 0))
    assert interior == out[1:4, 1:].mean()
    assert bands == {"top": out[0, 1:].mean(), "bottom": out[4:, 1:].mean(), "left": out[1:4, 0].mean(), "right": None}
    assert border_means(out, (3, 3, 0, 0))[0] is None  # nothing left inside


# ---------------------------------------------------------------- the numbers, worked by hand


def test_synthetic_bilinear_stride2_numbers():
    d = inspect_image(None, size=(16, 16), kernel="bilinear", stride="2", padding="0").as_dict()
    assert d["output"] == {"height": 34, "width": 34}
    assert d["phases"][0]["sums"] == [[1.0, 1.0], [1.0, 1.0]] and not d["checkerboard"]
    pts = {p["where"]: p for p in d["coverage"]["points"]}
    assert (pts["top-left corner"]["taps"], pts["top-left corner"]["full_taps"]) == (1, 4)
    assert pts["top-left corner"]["ratio"] == pytest.approx(0.0625)
    assert pts["top edge"]["ratio"] == pytest.approx(0.25) and pts["interior"]["ratio"] == 1.0
    assert [d["crop_auto"][s] for s in ("top", "bottom", "left", "right")] == [2] * 4
    # a 2-row band gets weights 0.25 and 0.75 of the constant 128: mean 64, half the interior
    assert d["bands"]["interior_mean"] == pytest.approx(128)
    for side in d["bands"]["sides"]:
        got = (side["width"], side["mean"], side["ratio"], side["replicate_mean"])
        assert got == (2, pytest.approx(64), pytest.approx(0.5), pytest.approx(128))
    assert d["difference"]["max_abs"] == pytest.approx(128 - 8)  # the corner: 128 * 0.0625 = 8
    assert d["difference"]["interior_max_abs"] == pytest.approx(0, abs=1e-9)


def test_checkerboard_amplitude_and_full_coverage_with_padding():
    box = np.ones((3, 3))  # phases sum 4, 2, 2, 1; with padding 1 every pixel gets all its taps
    d = inspect_image_with(box, (8, 8), "2", "1")
    assert d["checkerboard"] and d["phases"][0]["amplitude"] == 4.0
    assert d["coverage"]["complete_pixels"] == d["coverage"]["pixels"] == 15 * 15
    assert [d["crop_auto"][s] for s in ("top", "bottom", "left", "right")] == [0, 0, 0, 0]
    assert all(s["mean"] is None and s["ratio"] is None for s in d["bands"]["sides"])


def inspect_image_with(kernel: np.ndarray, size, stride, padding) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        path = Path(td) / "k.npy"
        np.save(path, kernel)
        return inspect_image(None, size=size, kernel=str(path), stride=stride, padding=padding).as_dict()


def test_alpha_border_counts_as_darker_as_it_looks():
    d = inspect_image(SAMPLES / "horse.png", kernel="bilinear", stride="2", padding="1").as_dict()
    assert d["input"]["channels"] == "RGBA"
    # premultiplied colour keeps its value at the border, alpha fades: the visible intensity drops
    assert all(s["ratio_vs_replicate"] == pytest.approx(0.75) for s in d["bands"]["sides"])


# ---------------------------------------------------------------- the command


def test_cli_json_on_stdout_table_numbers(tmp_path):
    r = run("inspect", SAMPLES / "camera.png", "-k", "bilinear", "-s", "2", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["input"]["path"].endswith("camera.png") and d["size_math"][0]["output"] == 2 * d["input"]["height"] + 2
    assert r.stderr == ""


def test_cli_plain_table_when_piped():
    r = run("inspect", "--size", "20x10", "-k", "bilinear", "-s", "3", "-p", "same")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("# deconv inspect\n") and "\x1b[" not in out
    assert "output    60x30 (width x height)" in out
    assert (
        "same      same (TF/Keras 'same', ONNX SAME_UPPER), exactly stride x the input: padding 1,1, "
        "output_padding 0,0, trim at start 0,0, trim at end 0,0"
    ) in out
    assert "same cut  from the full (N_in - 1)*s + d*(k - 1) + 1 output: top 1, bottom 1, left 1, right 1" in out
    assert "pytorch   rows: padding=1, output_padding=0; cols: padding=1, output_padding=0" in out
    assert "# border bands" in out and "# --crop auto" in out


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--size", "8", SAMPLES / "camera.png"], 2, "either an IMAGE or --size"),
        ([], 2, "either an IMAGE or --size"),
        (["--size", "8x0"], 2, "WIDTHxHEIGHT"),
        (["--size", "axb"], 2, "WIDTHxHEIGHT"),
        (["--size", "8", "-s", "0"], 2, "stride"),
        (["--size", "8", "-k", "nope.npy"], 2, "nope.npy"),
        (["missing.png"], 1, "missing.png"),
    ],
)
def test_cli_bad_input_one_line(args, code, message):
    r = run("inspect", *args)
    assert r.exit_code == code
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deconv: error: ") and message in lines[0]


@pytest.mark.slow
def test_report_files_and_json_match(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "rep"
    r = run("inspect", SAMPLES / "camera.png", "-k", "bilinear", "-s", "2", "--report", out, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert "wrote report" in r.stderr
    names = {"result.png", "coverage.png", "difference.png", "profiles.png", "report.json", "index.html"}
    assert {p.name for p in out.iterdir()} == names  # and no temporary files left
    saved = json.loads((out / "report.json").read_text())
    assert saved["bands"] == d["bands"] and saved["coverage"] == d["coverage"] and saved["crop_auto"] == d["crop_auto"]
    with Image.open(out / "result.png") as im:
        assert im.size == (d["output"]["width"], d["output"]["height"]) and im.mode == "L"
    for name in ("coverage.png", "difference.png", "profiles.png"):
        with Image.open(out / name) as im:
            a = np.asarray(im.convert("RGB")).astype(int)
            assert im.width > 800 and a.std() > 20  # a real picture, not a blank canvas
    page = (out / "index.html").read_text()
    for name in names - {"index.html"}:
        assert f'"{name}"' in page
    assert page.count("<figcaption>") == 4
    # refuses to replace without --overwrite, and changes nothing
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r2 = run("inspect", SAMPLES / "camera.png", "--report", out)
    assert r2.exit_code == 1 and "--overwrite" in r2.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert run("inspect", SAMPLES / "camera.png", "--report", out, "--overwrite").exit_code == 0


@pytest.mark.slow
def test_report_result_is_the_upsample_output(tmp_path):
    pytest.importorskip("matplotlib")
    assert run("inspect", SAMPLES / "horse.png", "-s", "2", "-p", "1", "--report", tmp_path / "r").exit_code == 0
    assert run("upsample", SAMPLES / "horse.png", "-s", "2", "-p", "1", "-o", tmp_path / "u.png", "-q").exit_code == 0
    a = np.asarray(Image.open(tmp_path / "r" / "result.png"))
    b = np.asarray(Image.open(tmp_path / "u.png"))
    assert a.shape == b.shape and np.abs(a.astype(int) - b).max() <= 1  # float64 vs float32 rounding


def test_report_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    r = run("inspect", "--size", "8", "--report", tmp_path / "rep")
    assert r.exit_code == 1 and "deconv-cli[report]" in r.stderr and r.stdout == ""
    assert not (tmp_path / "rep").exists()


def test_report_dir_that_is_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    r = run("inspect", "--size", "8", "--report", f)
    assert r.exit_code == 2 and "not a directory" in r.stderr


def test_border_table_puts_the_edge_effect_first_and_explains_both_ratios():
    r = run("inspect", "--size", "16", "-k", "bilinear", "-s", "2")
    lines = r.stdout.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("# border bands"))
    assert lines[i + 1].split("  ") == [
        "side",
        "",
        "width",
        "zero mean",
        "replicate mean",
        "zero/replicate",
        "interior",
        "zero/interior",
    ]
    # the constant 128: the band keeps half (0.5 of replicate's 128), the same half of the interior
    assert lines[i + 2].split() == ["top", "2", "64.00", "128.00", "0.5", "128.00", "0.5"]
    assert lines[i + 6].startswith("zero/replicate: the edge effect") and "whatever the picture" in lines[i + 6]
    assert lines[i + 7].startswith("zero/interior: ") and "depends on the picture" in lines[i + 7]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH for the headless-browser check")
def test_index_html_renders_in_a_headless_browser(tmp_path):
    pytest.importorskip("matplotlib")
    rep = tmp_path / "rep"
    assert run("inspect", "--size", "24x16", "-k", "bilinear", "-s", "2", "--report", rep).exit_code == 0
    shot = tmp_path / "shot.png"
    quiet = ["--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", *quiet]
    cmd += [f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2600", f"--screenshot={shot}"]
    cmd += [(rep / "index.html").as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists()
    px = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    # the pictures loaded: viridis' yellow (the fully covered weight) and the red outline are on the page
    yellow = (np.abs(px - [253, 231, 37]).sum(1) < 30).sum()
    red = ((px[:, 0] > 200) & (px[:, 1] < 60) & (px[:, 2] < 60)).sum()
    assert yellow > 1000 and red > 50
