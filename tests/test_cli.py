"""The command line through Typer's runner: exit codes, stdout vs stderr, written files."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
from importlib.metadata import version

import numpy as np
import pytest
from PIL import Image

from deconv_cli import conv_transpose2d, make_kernel, upsample
from deconv_cli.cli import app

from conftest import (
    DECONV,
    KERNELS,
    PILLOW,
    PNGSUITE,
    PNGSUITE_CORRUPT,
    PNGSUITE_VALID,
    ROOT,
    SAMPLES,
    pixels,
    read_png,
    rounded,
    run,
    sample_crop,
)

ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def astro(tmp_path):
    return sample_crop("astronaut.png", (100, 100, 164, 148), tmp_path / "astro.png")


# ---------------------------------------------------------------- top level


def test_version_from_metadata():
    r = run("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"deconv {version('deconv-cli')}"


def all_commands() -> list[list[str]]:
    """Every command the app has, read from the app itself so a new one cannot be missed."""
    out = [[c.name or c.callback.__name__.replace("_", "-")] for c in app.registered_commands]
    for g in app.registered_groups:
        out += [[g.name, c.name or c.callback.__name__.replace("_", "-")] for c in g.typer_instance.registered_commands]
    return out


def test_the_command_list_is_complete():
    assert ["upsample"] in all_commands() and ["inspect"] in all_commands() and ["kernel", "make"] in all_commands()


@pytest.mark.parametrize("cmd", all_commands())
def test_every_command_has_help_with_an_example(cmd):
    r = run(*cmd, "--help")
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert any(f"{label} deconv {' '.join(cmd)}" in text for label in ("Example:", "Examples:"))


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for cmd in ("deconv " + " ".join(c) for c in all_commands()):
        assert f"`{cmd}" in readme or f"\n{cmd}" in readme, cmd


# ---------------------------------------------------------------- size


def test_size_seed_example():
    r = run("size", "--input-size", "3", "--kernel-size", "3", "--stride", "1")
    assert r.exit_code == 0, r.stderr
    assert "rows: N_out = (3 - 1) x 1 - 2x0 + 3 = 5" in r.stdout
    assert "output: 5x5 (width x height)" in r.stdout
    assert r.stderr == ""
    assert not ANSI.search(r.stdout)


def test_size_from_image_and_kernel_file_json():
    r = run("size", SAMPLES / "astronaut.png", "--kernel", KERNELS / "bilinear.npy", "--stride", "2", "--json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["output"] == {"width": 1026, "height": 1026}  # (512 - 1) x 2 - 0 + 4
    assert d["axes"][0]["terms"] == {"(N_in - 1)*s": 1022, "-2p": 0, "d*(k - 1)": 3, "a": 0, "+1": 1}


def test_size_per_axis_parameters():
    per_axis = ["--kernel-size", "3,5", "--stride", "2,3", "--padding", "1,0", "--dilation", "1,2"]
    r = run("size", "-i", "10,20", *per_axis, "--json")
    d = json.loads(r.stdout)
    assert d["output"] == {"height": (10 - 1) * 2 - 2 + 3, "width": (20 - 1) * 3 + 2 * 4 + 1}


@pytest.mark.parametrize(
    "mode, cut, call",
    [
        ("same", [0, 1, 0, 1], "no single PyTorch call: padding=0, output_padding=0, then drop the last row"),
        ("same-lower", [1, 0, 1, 0], "padding=1, output_padding=1"),
    ],
)
def test_size_with_a_same_padding_gives_the_cut_and_the_pytorch_call(mode, cut, call):
    r = run("size", "-i", "10,20", "--kernel-size", "3", "--stride", "2", "--padding", mode, "--json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["output"] == {"width": 40, "height": 20}
    p = d["params"]
    assert p["same"] is True and p["same_mode"] == mode
    assert [p["cut"][side] for side in ("top", "bottom", "left", "right")] == cut
    assert p["pytorch"]["rows"] == call == d["axes"][0]["pytorch"]
    r = run("size", "-i", "10,20", "--kernel-size", "3", "--stride", "2", "--padding", mode)
    assert r.exit_code == 0, r.stderr
    assert "output: 40x20 (width x height)" in r.stdout
    assert f"same cut: from the full (N_in - 1)*s + d*(k - 1) + 1 output: top {cut[0]}, bottom {cut[1]}" in r.stdout
    assert f"pytorch: rows: {call}; cols: " in r.stdout


def test_size_default_kernel_is_bilinear_for_the_stride():
    r = run("size", "-i", "10", "--stride", "3", "--json")
    assert json.loads(r.stdout)["output"] == {"width": 9 * 3 + 5, "height": 9 * 3 + 5}


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["--input-size", "3", "--kernel-size", "3", "--stride", "1", "--padding", "3"],
            "padding=3 (rows) is too large",
        ),
        (["--input-size", "3", "--kernel-size", "3", "--output-padding", "2"], "output_padding (rows) must be smaller"),
        (["--input-size", "3", "--kernel-size", "3", "--stride", "0"], "stride (rows) must be >= 1"),
        (["--input-size", "3", "--kernel-size", "3", "--padding", "same-upper"], "nor one of same, same-lower"),
        (["--input-size", "3", "--padding", "same", "--output-padding", "1"], "drop --output-padding"),
        ([], "give either an IMAGE or --input-size"),
        (["--input-size", "3", "--kernel", "bilinear", "--kernel-size", "3"], "either --kernel or --kernel-size"),
    ],
)
def test_size_usage_errors_exit_2(args, words):
    r = run("size", *args)
    assert r.exit_code == 2
    assert words in r.stderr
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1


def test_size_of_rotated_image_uses_upright_dimensions():
    r = run("size", PILLOW / "hopper_orientation_6.jpg", "--kernel-size", "1", "--stride", "1", "--json")
    d = json.loads(r.stdout)
    with Image.open(PILLOW / "hopper_orientation_6.jpg") as im:
        w, h = im.size
    assert d["output"] == {"width": h, "height": w}  # rotated by 90 degrees


# ---------------------------------------------------------------- upsample


def test_upsample_writes_the_transpose_convolution(astro, tmp_path):
    out = tmp_path / "out.png"
    r = run("upsample", astro, "--stride", "2", "--kernel", KERNELS / "bilinear.npy", "--padding", "1", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    with Image.open(astro) as im:
        x = np.asarray(im)
    expected = rounded(conv_transpose2d(x, make_kernel("bilinear", 2), 2, 1))
    got = pixels(out)
    assert got.shape == (96, 128, 3)
    np.testing.assert_array_equal(got, expected)
    assert "N_out = (48 - 1) x 2 - 2x1 + 4 = 96" in r.stderr
    assert "N_out = (64 - 1) x 2 - 2x1 + 4 = 128" in r.stderr
    assert not ANSI.search(r.stderr)


def test_defaults_stride_2_bilinear_padding_0_and_default_name(astro):
    r = run("upsample", astro)
    assert r.exit_code == 0, r.stderr
    out = astro.with_name("astro_x2.png")
    got = pixels(out)
    assert got.shape == (47 * 2 + 4, 63 * 2 + 4, 3)
    expected = rounded(conv_transpose2d(pixels(astro), make_kernel("bilinear", 2), 2, 0))
    np.testing.assert_array_equal(got, expected)


def test_npy_output_is_raw_float(astro, tmp_path):
    out = tmp_path / "raw.npy"
    k = np.array([[1.5, -1.0], [2.0, 0.25]])
    np.save(tmp_path / "k.npy", k)
    r = run("upsample", astro, "-k", tmp_path / "k.npy", "-s", "3,2", "-o", out)
    assert r.exit_code == 0, r.stderr
    got = np.load(out)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, conv_transpose2d(pixels(astro), k, (3, 2)), rtol=1e-6)
    assert got.min() < 0 and got.max() > 255  # not clipped


def test_clipped_values_counted_in_json(astro, tmp_path):
    np.save(tmp_path / "k.npy", np.array([[2.0, -1.0]]))
    r = run("upsample", astro, "-k", tmp_path / "k.npy", "-s", "1,2", "-o", tmp_path / "o.png", "--json", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    d = json.loads(r.stdout)
    x = pixels(astro).astype(np.float64)
    raw = conv_transpose2d(x, [[2.0, -1.0]], (1, 2))
    r_ = np.floor(raw + 0.5)
    assert d["clipped"] == {
        "below": int((r_ < 0).sum()),
        "above": int((r_ > 255).sum()),
        "total": int((r_ < 0).sum() + (r_ > 255).sum()),
    }
    assert d["clipped"]["total"] > 0
    assert d["output"]["height"] == 48 and d["output"]["width"] == 128
    assert d["params"]["stride"] == [1, 2]
    assert set(d["seconds"]) == {"load", "compute", "save", "total"}


def test_refuses_to_overwrite_and_keeps_the_file(astro, tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"precious")
    r = run("upsample", astro, "-o", out)
    assert r.exit_code == 1
    assert "already exists; pass --overwrite" in r.stderr
    assert out.read_bytes() == b"precious"
    r = run("upsample", astro, "-o", out, "--overwrite")
    assert r.exit_code == 0
    with Image.open(out) as im:
        assert im.size == (130, 98)


def test_refuses_to_write_onto_its_input(astro):
    before = astro.read_bytes()
    r = run("upsample", astro, "-o", astro, "--overwrite")
    assert r.exit_code == 1
    assert "is one of the inputs" in r.stderr or "is the input file itself" in r.stderr
    assert astro.read_bytes() == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["--stride", "0"], "stride (rows) must be >= 1, got 0"),
        (
            ["--stride", "2", "--output-padding", "2"],
            "output_padding (rows) must be smaller than the stride or the dilation, "
            "got output_padding=2, stride=2, dilation=1",
        ),
        (["--stride", "1", "--padding", "0,80"], "padding=80 (cols) is too large"),
        (["--stride", "2,2,2"], "not 3 numbers"),
        (["--kernel", "nosuch"], "no such file, and not a built-in kernel"),
        (["--compress", "10"], "--compress"),
        (["--dtype", "float16"], "--dtype"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(astro, tmp_path, args, words):
    out = tmp_path / "o.png"
    r = run("upsample", astro, "-o", out, *args)
    assert r.exit_code == 2, r.stderr
    assert words in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astro.png"]


def test_per_channel_kernel_mismatch(astro, tmp_path):
    np.save(tmp_path / "k3.npy", np.ones((2, 2, 2)))
    r = run("upsample", astro, "-k", tmp_path / "k3.npy", "-o", tmp_path / "o.png")
    assert r.exit_code == 2
    assert "has 2 per-channel kernels but" in r.stderr and "3 channel(s)" in r.stderr


def test_per_channel_kernel_applies_per_channel(astro, tmp_path):
    blocky = make_kernel("nearest", 2)[None].repeat(2, 1).repeat(2, 2)[0] / 4
    k3 = np.stack([make_kernel("bilinear", 2), blocky, np.eye(4)])
    np.save(tmp_path / "k3.npy", k3)
    r = run("upsample", astro, "-k", tmp_path / "k3.npy", "-o", tmp_path / "o.npy")
    assert r.exit_code == 0, r.stderr
    x = pixels(astro).astype(np.float32)
    got = np.load(tmp_path / "o.npy")
    for c in range(3):
        np.testing.assert_allclose(got[..., c], conv_transpose2d(x[..., c], k3[c], 2), rtol=1e-6)


@pytest.mark.parametrize("bad", [p.name for p in PNGSUITE_CORRUPT])
def test_corrupt_input_exit_1_one_line_no_output(tmp_path, bad):
    out = tmp_path / "o.png"
    r = run("upsample", PNGSUITE / bad, "-o", out)
    assert r.exit_code == 1
    assert bad in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [p.name for p in PNGSUITE_VALID])
def test_every_valid_pngsuite_file_upsamples(tmp_path, name):
    out = tmp_path / "o.png"
    r = run("upsample", PNGSUITE / name, "-o", out, "--padding", "1", "--quiet")
    assert r.exit_code == 0, r.stderr
    with Image.open(PNGSUITE / name) as src, Image.open(out) as dst:
        assert dst.size == (src.size[0] * 2, src.size[1] * 2)


def test_16bit_in_16bit_out(tmp_path):
    src = SAMPLES / "coffee_16bit.png"
    out = tmp_path / "o.png"
    r = run("upsample", src, "-o", out, "-p", "1", "--json", "-q")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["output"]["depth"] == 16
    got, info = read_png(out)
    assert info["bitdepth"] == 16
    assert got.shape == (400, 600, 3)
    x = read_png(src)[0].astype(np.float64)
    expected = rounded(conv_transpose2d(x, make_kernel("bilinear", 2), 2, 1), 65535)
    assert np.abs(got.astype(np.int64) - expected).max() <= 1  # float32 computation, 16-bit units
    assert len(np.unique(got & 0xFF)) > 200  # the low byte carries information


def test_depth_8_from_16(tmp_path):
    r = run("upsample", SAMPLES / "coffee_16bit.png", "-o", tmp_path / "o.jpg", "--depth", "8", "-q")
    assert r.exit_code == 0, r.stderr
    with Image.open(tmp_path / "o.jpg") as im:
        assert im.mode == "RGB"
    r = run("upsample", SAMPLES / "coffee_16bit.png", "-o", tmp_path / "p.jpg", "-q")
    assert r.exit_code == 1
    assert "cannot store 16-bit" in r.stderr and "--depth" in r.stderr


def test_rgba_premultiplied_by_default_and_separate_on_request(tmp_path):
    src = SAMPLES / "horse.png"
    r = run("upsample", src, "-o", tmp_path / "pre.npy", "-p", "1", "-q")
    assert r.exit_code == 0, r.stderr
    r = run("upsample", src, "-o", tmp_path / "sep.npy", "-p", "1", "--alpha", "separate", "-q")
    assert r.exit_code == 0, r.stderr
    x = pixels(src).astype(np.float32)
    k = make_kernel("bilinear", 2)
    np.testing.assert_allclose(np.load(tmp_path / "sep.npy"), conv_transpose2d(x, k, 2, 1), rtol=1e-6)
    np.testing.assert_allclose(
        np.load(tmp_path / "pre.npy"), upsample(x, k, 2, 1, alpha_channel=3, alpha_max=255), rtol=1e-5, atol=1e-3
    )
    r = run("upsample", src, "-o", tmp_path / "o.png", "-p", "1", "-q")
    with Image.open(tmp_path / "o.png") as im:
        assert im.mode == "RGBA"


def test_warnings_go_to_stderr_and_quiet_silences_them(tmp_path):
    gif = tmp_path / "anim.gif"
    frames = [Image.new("L", (8, 8), v) for v in (0, 128, 255)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    r = run("upsample", gif)
    assert r.exit_code == 0, r.stderr
    assert "has 3 frames; only the first is used" in r.stderr
    assert (tmp_path / "anim_x2.png").exists()  # not re-quantised to GIF
    r = run("upsample", gif, "-o", tmp_path / "p.png", "-q", "-s", "3")
    assert r.stderr == ""


def test_missing_input_is_an_error_not_a_traceback(tmp_path):
    r = run("upsample", tmp_path / "nope.png", "-o", tmp_path / "o.png")
    assert r.exit_code == 1
    assert "nope.png: no such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_output_extension_is_usage_error(astro, tmp_path):
    r = run("upsample", astro, "-o", tmp_path / "o.xyz")
    assert r.exit_code == 2
    assert "cannot tell the output format from '.xyz'" in r.stderr


# ---------------------------------------------------------------- kernel show / make


def test_kernel_show_flat_bilinear():
    r = run("kernel", "show", KERNELS / "bilinear.npy", "--stride", "2")
    assert r.exit_code == 0, r.stderr
    assert "0.0625  0.1875  0.1875  0.0625" in r.stdout
    assert "sum 4" in r.stdout
    assert "flat, gain 1: every stride phase sums to 1" in r.stdout


def test_kernel_show_checkerboard_json(tmp_path):
    np.savetxt(tmp_path / "ones.txt", np.ones((3, 3)))
    r = run("kernel", "show", tmp_path / "ones.txt", "--stride", "2")
    assert "checkerboard: stride phase sums range 1 .. 4 (max/min = 4)" in r.stdout
    r = run("kernel", "show", tmp_path / "ones.txt", "--stride", "2", "--json")
    d = json.loads(r.stdout)
    assert d["channels"][0]["phase_sums"] == [[4.0, 2.0], [2.0, 1.0]]
    assert d["channels"][0]["flat"] is False
    assert d["sum"] == 9.0


def test_kernel_make_writes_and_refuses_overwrite(tmp_path):
    out = tmp_path / "b3.npy"
    r = run("kernel", "make", "bilinear", "--stride", "3", "-o", out)
    assert r.exit_code == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), make_kernel("bilinear", 3))
    assert "bilinear kernel 5x5 (width x height); --padding 1 gives exactly stride x the input" in r.stderr
    r = run("kernel", "make", "bilinear", "--stride", "4", "-o", out)
    assert r.exit_code == 1
    assert np.load(out).shape == (5, 5)


def test_kernel_make_to_stdout_and_unknown_name():
    r = run("kernel", "make", "nearest", "--stride", "2,3")
    assert r.stdout == "1.0 1.0 1.0\n1.0 1.0 1.0\n"
    hint = "nearest kernel 3x2 (width x height); --padding 0 gives exactly stride x the input\n"
    assert r.stderr == hint  # the padding hint, on stderr: stdout is the kernel
    dash = run("kernel", "make", "nearest", "--stride", "2,3", "-o", "-")  # - is stdout, as for upsample
    assert (dash.exit_code, dash.stdout, dash.stderr) == (0, r.stdout, hint)
    r = run("kernel", "make", "sinc")
    assert r.exit_code == 2
    assert "unknown built-in kernel 'sinc'" in r.stderr


def test_kernel_make_on_a_terminal_shows_rounded_values_and_a_pipe_gets_them_exactly():
    import pty

    master, slave = pty.openpty()
    proc = subprocess.run([*DECONV, "kernel", "make", "bilinear", "-s", "3"], stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    shown = os.read(master, 65536).decode()
    os.close(master)
    assert proc.returncode == 0
    assert shown.splitlines()[0].split() == ["0.111111", "0.222222", "0.333333", "0.222222", "0.111111"]
    assert b"values rounded; -o FILE or a pipe gets them exactly" in proc.stderr
    piped = run("kernel", "make", "bilinear", "-s", "3").stdout
    np.testing.assert_array_equal(np.loadtxt(io.StringIO(piped)), make_kernel("bilinear", 3))


def test_sample_images_copy_runs(tmp_path):
    # The README's main job, on a copy so the repository stays clean.
    shutil.copy(SAMPLES / "camera.png", tmp_path / "camera.png")
    r = run("upsample", tmp_path / "camera.png", "-k", KERNELS / "bilinear_s3.npy", "-s", "3", "-p", "1", "-q")
    assert r.exit_code == 0, r.stderr
    with Image.open(tmp_path / "camera_x3.png") as im:
        assert im.size == (1536, 1536)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-p", "400"], 2, "padding=400 (rows) is too large"),
        (["--crop", "1000"], 2, "leaves nothing of the"),
        (["-s", "100", "--max-pixels", "1000000"], 1, "--max-pixels"),  # a limit: a runtime refusal
    ],
)
def test_parameter_errors_come_before_the_existing_output_check(tmp_path, args, code, message):
    src = sample_crop("camera.png", (0, 0, 30, 20), tmp_path / "in.png")
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    r = run("upsample", src, *args, "-o", out)
    assert (r.exit_code, r.stdout) == (code, "") and message in r.stderr and "already exists" not in r.stderr
    assert out.read_bytes() == b"keep me"
    r = run("upsample", src, "-o", out)  # the parameters fit: now the output's existence is what stops it
    assert r.exit_code == 1 and "already exists; pass --overwrite" in r.stderr and out.read_bytes() == b"keep me"


@pytest.mark.parametrize("command", [[], ["upsample"], ["size"], ["inspect"], ["kernel"], ["kernel", "show"]])
def test_dash_h_is_help_everywhere(command):
    short, long = run(*command, "-h"), run(*command, "--help")
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout and "-h, --help" in short.stdout


def test_group_helps_show_examples():
    top = run("-h").stdout
    assert "Examples:\n    deconv upsample photo.png --scale 2" in top  # \b keeps each example on its own line
    kernel = run("kernel", "-h").stdout
    assert "deconv kernel show 3x3:1,1,1,1,1,1,1,1,1 --stride 2 --normalize phase\n" in kernel
    assert "Show, make and convert kernels (phase sums, built-ins, formats)." in top  # the summary says more


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--edge", "mirror"], "got 'mirror' (did you mean 'reflect' (scipy's mirror) or 'symmetric'"),
        (["--edge", "replicat"], "got 'replicat' (did you mean 'replicate'?)"),
        (["--edge", "clamp"], "(did you mean 'replicate'?)"),
        (["--dtype", "double"], "(did you mean 'float64'?)"),
        (["--normalize", "Phase"], "(did you mean 'phase'?)"),
        (["-p", "SAME_UPPER"], "nor one of same, same-lower (did you mean 'same'?)"),
    ],
)
def test_a_bad_choice_says_what_is_allowed_and_what_was_meant(tmp_path, args, said):
    r = run("upsample", tmp_path / "none.png", *args, "-o", tmp_path / "o.png")
    assert r.exit_code == 2 and said in r.stderr and len(r.stderr.splitlines()) == 1
    assert "Value error" not in r.stderr


def test_bash_completion_completes_commands_options_and_choices():
    env = {**os.environ, "_DECONV_COMPLETE": "complete_bash"}

    def complete(words: str) -> list[str]:
        cword = len(words.split()) - (0 if words.endswith(" ") else 1)
        r = subprocess.run(
            [*DECONV], env={**env, "COMP_WORDS": words, "COMP_CWORD": str(cword)}, capture_output=True, text=True
        )
        return r.stdout.split()

    assert complete("deconv ups") == ["upsample"]
    assert complete("deconv upsample --ed") == ["--edge"]
    assert complete("deconv upsample --edge ") == ["zero", "replicate", "reflect", "symmetric", "wrap", "renormalize"]
    # the script for a named shell, whatever shell (if any) runs this test
    script = subprocess.run([*DECONV], env={**env, "_DECONV_COMPLETE": "source_bash"}, capture_output=True, text=True)
    assert script.returncode == 0 and "complete -o default -F _deconv_completion deconv" in script.stdout
    # --show-completion takes the shell it runs in, from the parent processes: here, bash
    shown = subprocess.run(["bash", "-c", shlex.join([*DECONV, "--show-completion"])], capture_output=True, text=True)
    assert shown.returncode == 0 and "complete -o default -F _deconv_completion deconv" in shown.stdout
    zsh = subprocess.run([*DECONV], env={**env, "_DECONV_COMPLETE": "source_zsh"}, capture_output=True, text=True)
    assert zsh.returncode == 0 and "#compdef deconv" in zsh.stdout


@pytest.mark.parametrize(("ext", "fmt"), [(".jpg", "JPEG"), (".webp", "WEBP")])
def test_quality_is_the_encoders_quality(tmp_path, ext, fmt):
    src = sample_crop("astronaut.png", (0, 0, 64, 48), tmp_path / "in.png")
    assert run("upsample", src, "-p", 1, "-o", tmp_path / "ref.png", "-q").exit_code == 0
    sizes = {}
    for q in (20, 90):
        out = tmp_path / f"q{q}{ext}"
        r = run("upsample", src, "-p", 1, "--quality", q, "-o", out, "--json", "-q")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["params"]["quality"] == q
        with Image.open(tmp_path / "ref.png") as ref:  # the same pixels through Pillow at that quality
            want = tmp_path / f"want{q}{ext}"
            ref.save(want, format=fmt, quality=q, **({"lossless": False} if fmt == "WEBP" else {}))
        np.testing.assert_array_equal(pixels(out), pixels(want))
        sizes[q] = out.stat().st_size
    assert sizes[20] < sizes[90]


@pytest.mark.parametrize(
    ("out", "quality", "message"),
    [
        (
            "o.png",
            "50",
            "o.png: --quality is for JPEG and WebP outputs; PNG is lossless (--compress sets its deflate level)",
        ),
        ("o.npy", "50", "NPY is the raw float array"),
        ("o.jpg", "0", "--quality must be an integer from 1 to 100, got '0'"),
        ("o.jpg", "101", "--quality must be an integer from 1 to 100, got '101'"),
    ],
)
def test_quality_refusals(tmp_path, out, quality, message):
    src = sample_crop("astronaut.png", (0, 0, 16, 16), tmp_path / "in.png")
    r = run("upsample", src, "--quality", quality, "-o", tmp_path / out)
    assert (r.exit_code, r.stdout) == (2, "") and message in r.stderr and not (tmp_path / out).exists()


@pytest.mark.parametrize("cmd", all_commands())
def test_help_names_values_as_people_write_them(cmd):
    """Metavars are FILE, N|ROWS,COLS, IMAGE...: not Typer's <str>, <list[str]>, <int range>, <path> or {IN};
    and no example is wrapped in the middle of an option name."""
    r = subprocess.run([*DECONV, *cmd, "-h"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0
    typer_forms = re.findall(r"<(?:str|int|float|path|list)\b[^>]*>|\{[A-Z]+\}", r.stdout)
    assert typer_forms == [], typer_forms
    examples = r.stdout.split("Examples:")[1].split("\n\n")[0] if "Examples:" in r.stdout else ""
    assert examples, "every command lists its examples one per line"
    assert all(line.strip().startswith(("deconv ", "cat ")) for line in examples.strip().splitlines())
