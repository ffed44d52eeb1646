"""`deconv inspect`: coverage against the reference loop, border numbers worked by hand,
the report files, and a real browser rendering index.html when one is installed."""

from __future__ import annotations

import html
import io
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from PIL import Image

from deconv_cli.core import Geometry, auto_crop, border_means, coverage, size_math
from deconv_cli.core.cures import NOTHING_TO_CURE, cures
from deconv_cli.modes import Edge
from deconv_cli.pipeline import inspect_image
from deconv_cli.report.pictures import DISPLAY_WIDTH, MIN_TEXT_PX

from conftest import SAMPLES, pixels, run, sample_crop
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
    assert d["output"] == {"height": 34, "width": 34, "clipped": 0, "values": 34 * 34}
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
        "output_padding 0,0\n"
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
    names = {"result.png", "corner.png", "coverage.png", "difference.png", "profiles.png", "report.json", "index.html"}
    assert {p.name for p in out.iterdir()} == names  # and no temporary files left
    saved = json.loads((out / "report.json").read_text())
    assert saved["bands"] == d["bands"] and saved["coverage"] == d["coverage"] and saved["crop_auto"] == d["crop_auto"]
    with Image.open(out / "result.png") as im:
        assert im.size == (d["output"]["width"], d["output"]["height"]) and im.mode == "L"
    for name in ("coverage.png", "difference.png", "profiles.png"):
        with Image.open(out / name) as im:
            a = np.asarray(im.convert("RGB")).astype(int)
            assert im.width == DISPLAY_WIDTH and a.std() > 20  # a real picture, not a blank canvas, shown 1:1
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


# ---------------------------------------------------------------- the cures

BOX3 = "3x3:1,1,1,1,1,1,1,1,1"  # phases sum 4 2 | 2 1 at stride 2: a checkerboard, gain up to 4


def test_cures_of_a_box_kernel_at_stride_2_worked_by_hand():
    # 20 wide, 12 high: output (12 - 1)*2 + 3 = 25 rows, (20 - 1)*2 + 3 = 41 columns
    d = inspect_image(None, size=(12, 20), kernel=BOX3, stride=2).as_dict()
    assert (d["output"]["height"], d["output"]["width"]) == (25, 41)
    assert [f["what"] for f in d["findings"]] == ["border", "kernel", "clipping"]
    # 128 x (row weight) x (col weight): rows 2..22 even weigh 2 (taps 0 and 2), every other row 1;
    # columns 2..38 even likewise. >= 255.5 wherever either weighs 2: 11*41 + 25*19 - 11*19 values
    assert d["output"]["clipped"] == 717 and "717 of 1025 values (70.0%)" in d["findings"][2]["text"]
    got = [(c["cures"], c["options"], c["output"]["width"], c["output"]["height"]) for c in d["cures"]]
    assert got == [
        ("border", "--crop auto", 39, 23),
        ("border", "-p same --edge replicate", 40, 24),
        ("border", "--edge renormalize", 41, 25),
        ("checkerboard", "--normalize phase", 41, 25),
    ]
    crop, same, renorm, phase = (c["cost"] for c in d["cures"])
    assert "1 row and column per side: output 39x23 instead of 41x25" in crop and "nothing invented" in crop
    assert same.startswith("exactly 2x the input (40x24 instead of 41x25)") and "border values invented" in same
    assert renorm.startswith("keeps the size (41x25)") and "as Pillow does" in renorm
    assert "each stride phase multiplied by 0.25 0.5 | 0.5 1" in phase and "no checkerboard, gain 1" in phase
    assert "the clipping the gain caused goes too" in phase
    assert d["upsample"] == f"deconv upsample IMAGE -k {BOX3} -s 2"
    assert [c["command"] for c in d["cures"]] == [
        f"deconv upsample IMAGE -k {BOX3} -s 2 --crop auto",
        f"deconv upsample IMAGE -k {BOX3} -s 2 -p same --edge replicate",
        f"deconv upsample IMAGE -k {BOX3} -s 2 --edge renormalize",
        f"deconv upsample IMAGE -k {BOX3} -s 2 --normalize phase",
    ]


def test_nothing_to_cure_when_every_pixel_gets_every_tap():
    g = Geometry.of(2, "same")
    bilinear = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    axes = g.axes((9, 13), (4, 4))
    assert cures(axes, bilinear, g, edge=Edge.replicate) == []  # bilinear -p same --edge replicate
    assert cures(axes, bilinear, g, edge=Edge.renormalize) == []
    # the same with zero edges: a 1-pixel border to cure, and under a same padding replicate alone does it
    zero = cures(axes, bilinear, g)
    assert [(c.options, c.size) for c in zero] == [
        ("--crop auto", (16, 24)),
        ("--edge replicate", (18, 26)),
        ("--edge renormalize", (18, 26)),
    ]
    # a gain of 4, flat: --normalize phase divides by it
    (gain,) = cures(size_math((5, 5), 2, 2), np.full((2, 2), 4.0), Geometry.of(2, 0))  # one tap a phase
    assert (gain.cures, gain.options, gain.size) == ("gain", "--normalize phase", (10, 10))
    assert "divided by its gain of 4" in gain.cost
    # the command line: nearest at stride 2 is clean under zero edges
    r = run("inspect", "--size", "16x12", "-k", "nearest", "-s", "2")
    assert r.exit_code == 0, r.output
    tail = r.stdout.splitlines()[-5:]
    assert tail[0].startswith("# what inspect found") and tail[1] == "-  nothing surprising"
    assert tail[2] == "# cures: options to add to deconv upsample IMAGE -k nearest -s 2"
    head, _, rest = NOTHING_TO_CURE.partition(": ")
    assert tail[3].split() == ["options", "output", "(w", "x", "h)", "cost"]
    assert tail[4].split() == [*head.split(), "32x24", *rest.split()]
    d = json.loads(run("inspect", "--size", "16x12", "-k", "nearest", "-s", "2", "--json").stdout)
    assert d["cures"] == [] and d["findings"] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "kernel, args",
    [
        (BOX3, ["-s", "2"]),
        (BOX3, ["-s", "2", "-p", "1", "--output-padding", "1"]),
        ("lanczos3", ["-s", "3"]),
        ("bicubic", ["-s", "2", "-p", "same"]),
        ("bilinear", ["-s", "2,3"]),
    ],
)
def test_each_cure_command_gives_the_size_it_states_and_cures(tmp_path, kernel, args):
    src = sample_crop("astronaut.png", (200, 180, 237, 203), tmp_path / "in.png")  # 37x23, RGB
    r = run("inspect", src, "-k", kernel, *args, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["cures"], "each case has something to cure"
    for n, cure in enumerate(d["cures"]):
        words = shlex.split(cure["command"])
        assert words[:3] == ["deconv", "upsample", str(src)]
        if "-o" in words:  # the raw float array
            out = tmp_path / f"cure{n}.npy"
            words[words.index("-o") + 1] = str(out)
        else:
            out = tmp_path / f"cure{n}.png"
            words += ["-o", str(out)]
        u = run(*words[1:], "--json")
        assert u.exit_code == 0, (cure["command"], u.output)
        shape = np.load(out).shape if out.suffix == ".npy" else pixels(out).shape
        assert shape[:2] == (cure["output"]["height"], cure["output"]["width"]), cure["command"]
        advice = json.loads(u.stdout)["advice"]
        if cure["cures"] == "border":
            assert advice["hint"] is None and not any(advice["deficient_border"].values()), cure["command"]
        if cure["cures"] == "checkerboard":
            assert advice["checkerboard"] is False and advice["gain"] == pytest.approx(1)


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


@pytest.mark.parametrize("padding", ["same-lower", "same", "1"])
def test_upsample_names_the_deficient_border_inspect_measures(tmp_path, padding):
    # 4x4 at stride 1: the full output has 3 short rows at each end. same-lower cuts padding 1 and
    # trims the first row: 1 short row left at the top, 2 at the bottom (the trim is not cut twice)
    four = "4x4:" + ",".join(["1"] * 16)
    src = sample_crop("camera.png", (0, 0, 30, 20), tmp_path / "in.png")
    d = json.loads(run("inspect", src, "-k", four, "-s", "1", "-p", padding, "--json").stdout)
    r = run("upsample", src, "-k", four, "-s", "1", "-p", padding, "-o", tmp_path / "o.png", "--json")
    assert r.exit_code == 0, r.output
    border = json.loads(r.stdout)["advice"]["deficient_border"]
    assert border == {side: d["crop_auto"][side] for side in ("top", "bottom", "left", "right")}
    if padding == "same-lower":
        assert border == {"top": 1, "bottom": 2, "left": 1, "right": 2}


# ---------------------------------------------------------------- the figures


def _coverage(kernel, size=(12, 20), stride=2):
    pytest.importorskip("matplotlib")
    from deconv_cli.report.pictures import coverage_figure, coverage_png

    ins = inspect_image(None, size=size, kernel=kernel, stride=stride)
    return ins, coverage_figure(ins), coverage_png(ins)


def test_coverage_numbers_are_legible_at_the_width_the_page_shows():
    from deconv_cli.report.pictures import cell_fontsize, text_px

    ins, fig, png = _coverage(BOX3)
    with Image.open(io.BytesIO(png)) as im:
        width = im.width
    assert width <= DISPLAY_WIDTH  # so the page shows it 1:1
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    written = 0
    for ax in fig.axes:
        for t in ax.texts:
            written += 1
            assert text_px(t.get_fontsize(), width) >= MIN_TEXT_PX, t.get_text()
            cell = ax.get_window_extent(renderer).width / 12  # the 12x12 close-ups
            assert t.get_window_extent(renderer).width < cell, t.get_text()
    assert written == 3 * 144  # taps and weight of the top-left corner, weight of the bottom-right one
    # the rule: the old figure's 6 pt at 110 dpi in a 2090-pixel PNG showed 5 pixels high
    assert text_px(6 * 110 / 100, 2090) == pytest.approx(6 * 110 / 72 * DISPLAY_WIDTH / 2090)
    assert text_px(6 * 110 / 100, 2090) < 6
    assert cell_fontsize(12, 4, 1200) is None  # a 34x34 close-up's 12-pixel cells: no numbers
    assert cell_fontsize(20, 1, 1200) == pytest.approx(0.6 * 20 * 72 / 100)  # 60% of the cell's height
    assert cell_fontsize(40, 1, 1200) == pytest.approx(16 * 72 / 100)  # at most 16 pixels


def test_taps_colour_bar_has_whole_number_ticks():
    from deconv_cli.report.pictures import integer_ticks

    for kernel, top in ((BOX3, 4), ("lanczos3", 36)):
        _, fig, _ = _coverage(kernel, size=(40, 40))
        bars = [im.colorbar for ax in fig.axes for im in ax.images if im.colorbar is not None]
        (taps,) = [cb for cb in bars if cb.ax.get_ylabel() == "number of taps"]
        ticks = list(taps.get_ticks())
        assert ticks == integer_ticks(top) and ticks[0] == 0 and ticks[-1] == top
        assert all(float(v).is_integer() for v in ticks)
    assert integer_ticks(36) == [0, 6, 12, 18, 24, 30, 36]


def test_profiles_are_drawn_over_the_image_range():
    pytest.importorskip("matplotlib")
    from deconv_cli.report.pictures import profiles_figure

    ins = inspect_image(None, size=(16, 16), kernel="bilinear", stride=2)  # values 8..128 of 0..255
    for ax in profiles_figure(ins).axes[:2]:
        lo, hi = ax.get_ylim()
        assert lo == pytest.approx(-0.03 * 255) and hi == pytest.approx(255 * 1.03)
        assert "8-bit 0..255" in ax.get_ylabel()
    # the box kernel's 512 goes beyond the range: drawn too, over a grey band
    ins = inspect_image(None, size=(16, 16), kernel=BOX3, stride=2)
    ax = profiles_figure(ins).axes[0]
    assert ax.get_ylim()[1] == pytest.approx(512 + 0.03 * 512)
    assert [p.get_label() for p in ax.patches] == ["beyond the 8-bit range: clipped when saved"]


@pytest.mark.slow
def test_report_html_ends_with_the_cures_and_shows_a_corner_pixel_for_pixel(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "rep"
    r = run("inspect", SAMPLES / "camera.png", "-k", BOX3, "-s", "2", "--report", out, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    page = (out / "index.html").read_text()
    cures_at = page.index('<section id="cures">')
    assert cures_at > page.index('id="profiles"') and cures_at > page.index('id="numbers"')
    for cure in d["cures"]:
        assert html.escape(cure["command"]) in page[cures_at:] and html.escape(cure["cost"]) in page[cures_at:]
    assert "one border cure combines with --normalize phase" in page
    # the numbers above leave the cures to the section at the end
    assert page.count(html.escape(d["cures"][0]["cost"])) == 1
    # the corner: the result's own pixels, shown 1:1 and 3x beside the shrunk whole
    corner, result = pixels(out / "corner.png"), pixels(out / "result.png")
    assert corner.shape == (128, 128) and (corner == result[:128, :128]).all()
    assert '<img src="corner.png" width="128" height="128"' in page
    assert '<img src="corner.png" width="384" height="384"' in page
    assert '<img src="result.png" width="512" height="512"' in page  # 1025 shrunk to 512
    assert "loss scales with the local brightness" in page and "1 of its 4 taps" in page
    # a clean case says so
    rep2 = tmp_path / "clean"
    assert run("inspect", "--size", "16x12", "-k", "nearest", "-s", "2", "--report", rep2).exit_code == 0
    clean = (rep2 / "index.html").read_text()
    assert "Nothing to cure: every output pixel gets all the kernel taps" in clean
    assert "Nothing surprising" in clean


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
