"""How the command line fails: every usage error is one ``deconv: error:`` line (exit 2), file
names are printed escaped on one line, and stdout that is closed, full or a pipe closed early is
one clear line (exit 1) or a quiet stop (exit 141), never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from deconv_cli.modes import Alpha, Depth, DType, Edge

from conftest import DECONV, SAMPLES, run, sample_crop

# ---------------------------------------------------------------- usage errors: one line each


@pytest.mark.parametrize(
    "args, words",
    [
        (["upsample", "x.png", "--jobs", "0"], ["--jobs must be an integer >= 1, got '0'"]),
        (["upsample", "x.png", "-j0"], ["--jobs must be an integer >= 1, got '0'"]),
        (["upsample", "x.png", "--jobs", "many"], ["--jobs must be an integer >= 1, got 'many'"]),
        (["upsample", "x.png", "--compress", "10"], ["--compress must be an integer from 0 to 9, got '10'"]),
        (["upsample", "x.png", "--groups", "0"], ["--groups must be an integer >= 1"]),
        (["upsample", "x.png", "--max-pixels", "-1"], ["--max-pixels must be an integer >= 0, got '-1'"]),
        (["upsample", "x.png", "--scheduler-timeout", "0"], ["--scheduler-timeout must be a number >= 0.1"]),
        (["upsample", "x.png", "--edge", "mirror"], ["--edge must be one of " + ", ".join(Edge.values()), "'mirror'"]),
        (["upsample", "x.png", "--alpha=fancy"], ["--alpha must be one of " + ", ".join(Alpha.values()), "'fancy'"]),
        (["upsample", "x.png", "--dtype", "float16"], ["--dtype must be one of " + ", ".join(DType.values())]),
        (["upsample", "x.png", "--depth", "12"], ["--depth must be one of " + ", ".join(Depth.values()), "'12'"]),
        (["upsample", "x.png", "--bogus"], ["no such option --bogus"]),
        (["upsample", "x.png", "-o"], ["option '-o' requires an argument", "deconv upsample --help"]),
        (["nosuch"], ["no such command 'nosuch'", "deconv --help"]),
        (["kernel", "make"], ["missing argument NAME", "deconv kernel make --help"]),
        (["size", "--stride"], ["option '--stride' requires an argument", "deconv size --help"]),
        (["inspect", "--alpha", "none"], ["--alpha must be one of premultiply, separate"]),
    ],
)
def test_every_usage_error_is_one_line_naming_the_option_and_the_choices(args, words):
    r = run(*args)
    assert r.exit_code == 2, r.stderr
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("deconv: error: "), r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    assert "Usage:" not in r.stderr and "Try '" not in r.stderr and "Value error" not in r.stderr


def test_help_version_and_bare_commands_are_as_before():
    r = run("--help")
    assert r.exit_code == 0 and "Usage:" in r.stdout and "upsample" in r.stdout
    r = run("upsample", "--help")
    assert r.exit_code == 0 and "--edge" in r.stdout
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.startswith("deconv ")
    for bare in ([], ["kernel"]):  # no_args_is_help: the help, on stderr, exit 2
        r = run(*bare)
        assert r.exit_code == 2 and "Usage:" in r.stderr and "Commands:" in r.stderr


@pytest.mark.slow
def test_usage_errors_of_the_real_command_are_one_line():
    r = subprocess.run(DECONV + ["upsample", "x.png", "--edge", "mirror"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr == (
        "deconv: error: --edge must be one of zero, replicate, reflect, symmetric, wrap, renormalize, got 'mirror' "
        "(did you mean 'reflect' (scipy's mirror) or 'symmetric' (which repeats the edge pixel)?); "
        "see 'deconv upsample --help'\n"
    )


# ---------------------------------------------------------------- names with newlines and escapes

EVIL = "evil\nname\x1b[2J\x1b]0;pwned\x07"
CONTROL = [chr(c) for c in range(32)] + ["\x7f"]


def no_control_characters(text: str) -> bool:
    return not any(c in text for c in CONTROL if c != "\n")


def test_file_names_with_newlines_and_ansi_escapes_are_printed_escaped(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    sample_crop("astronaut.png", (0, 0, 40, 30), src / f"{EVIL}.png")
    (src / f"bad\r{EVIL}.png").write_text("not an image")
    frames = [Image.new("RGB", (20, 10), (i, 0, 0)) for i in range(3)]
    frames[0].save(src / f"anim{EVIL}.gif", save_all=True, append_images=frames[1:])
    r = run("upsample", src, "--out-dir", tmp_path / "out", "-j", "1", "--json")
    assert r.exit_code == 1
    assert no_control_characters(r.stderr), repr(r.stderr)
    lines = r.stderr.splitlines()
    assert all(line.startswith("deconv: ") for line in lines), lines
    assert len([x for x in lines if x.startswith("deconv: error:")]) == 1  # the bad file, on one line
    assert len([x for x in lines if x.startswith("deconv: warning:")]) == 1  # the GIF's frames
    assert "evil\\nname\\x1b[2J\\x1b]0;pwned\\x07" in r.stderr and "bad\\revil" in r.stderr
    records = [json.loads(x) for x in r.stdout.splitlines()]  # the JSON keeps the real names
    assert {Path(d["input"]["path"]).name for d in records} == {f"{EVIL}.png", f"bad\r{EVIL}.png", f"anim{EVIL}.gif"}


def test_the_report_of_one_file_and_its_errors_escape_the_name(tmp_path):
    good = sample_crop("astronaut.png", (0, 0, 40, 30), tmp_path / f"{EVIL}.png")
    r = run("upsample", good, "-o", tmp_path / f"out{EVIL}.png")
    assert r.exit_code == 0, r.stderr
    assert no_control_characters(r.stderr) and "evil\\nname" in r.stderr
    assert not any(line.startswith("name") for line in r.stderr.splitlines())  # no line was injected
    r = run("upsample", good, "-o", tmp_path / f"out{EVIL}.png")  # exists: refused
    assert r.exit_code == 1 and no_control_characters(r.stderr) and len(r.stderr.splitlines()) == 1
    r = run("upsample", good, "--edge", "a\nb\x1b[31m")
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1 and no_control_characters(r.stderr)
    r = run("size", tmp_path / f"missing{EVIL}.png")
    assert r.exit_code != 0 and len(r.stderr.splitlines()) == 1 and no_control_characters(r.stderr)


# ---------------------------------------------------------------- stdout: closed pipe, closed, full


@pytest.fixture
def photo(tmp_path) -> Path:
    return Path(shutil.copy(SAMPLES / "astronaut.png", tmp_path / "photo.png"))


@pytest.mark.slow
def test_an_image_to_stdout_into_a_pipe_closed_early_stops_quietly(tmp_path, photo):
    """`deconv upsample x -o - | head -c 100` used to end in `internal error: BrokenPipeError`."""
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen(
        DECONV + ["upsample", str(photo), "-o", "-", "-p", "1", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert len(proc.stdout.read(100)) == 100
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141, err  # as a shell reports a tool killed by SIGPIPE
    assert err == ""
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.slow
def test_json_lines_into_a_pipe_closed_early_stop_quietly(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(80):
        sample_crop("astronaut.png", (i, i, i + 16, i + 16), src / f"p{i:02d}.png")
    proc = subprocess.Popen(
        DECONV + ["upsample", str(src), "--out-dir", str(tmp_path / "out"), "-j", "1", "--json", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".part")]


STDOUT_COMMANDS = [
    ["upsample", "{photo}", "-o", "-", "-q"],
    ["upsample", "{photo}", "-o", "{tmp}/o.png", "--json", "-q"],
    ["size", "--input-size", "3", "--kernel-size", "3"],
    ["size", "--input-size", "3", "--kernel-size", "3", "--json"],
    ["kernel", "make", "bilinear"],
    ["kernel", "convert", "bilinear", "-"],
    ["kernel", "show", "bilinear", "--json"],
    ["inspect", "--size", "8", "--json"],
]


def _command(args, photo, tmp_path):
    return DECONV + [a.format(photo=photo, tmp=tmp_path) for a in args]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", STDOUT_COMMANDS, ids=lambda a: " ".join(a[:3]))
def test_stdout_on_a_full_device_is_one_clear_error(tmp_path, photo, args):
    with open("/dev/full", "wb") as full:
        r = subprocess.run(_command(args, photo, tmp_path), stdout=full, stderr=subprocess.PIPE, timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert err.startswith("deconv: error: cannot write to stdout (No space left on device)"), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.slow
@pytest.mark.parametrize("args", STDOUT_COMMANDS, ids=lambda a: " ".join(a[:3]))
def test_a_closed_stdout_is_one_clear_error(tmp_path, photo, args):
    r = subprocess.run(
        _command(args, photo, tmp_path), stderr=subprocess.PIPE, timeout=120, preexec_fn=lambda: os.close(1)
    )
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert err.startswith("deconv: error: ") and "stdout is closed" in err, err
    assert len(err.splitlines()) == 1


@pytest.mark.slow
def test_a_closed_stdout_does_not_matter_when_nothing_goes_there(tmp_path, photo):
    r = subprocess.run(
        DECONV + ["upsample", str(photo), "-o", str(tmp_path / "o.png"), "-q"],
        stderr=subprocess.PIPE,
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.png").exists()


def test_an_output_that_is_a_directory_says_so(tmp_path):
    """`-o .` used to say it could not tell the format from 'a missing extension'."""
    shutil.copy(SAMPLES / "camera.png", tmp_path / "camera.png")
    for target in (tmp_path, tmp_path / "sub.png"):
        target.mkdir(exist_ok=True)
        r = run("upsample", tmp_path / "camera.png", "-o", target)
        assert r.exit_code == 2 and r.stdout == ""
        want = f"{target}: is a directory; give a file name to write (or --out-dir {target} for a batch)"
        assert r.stderr == f"deconv: error: {want}\n"
