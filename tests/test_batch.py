"""Batches: many inputs, naming, sharding, resuming, hostile files, signals, Dask.

The signal tests run the real command in a subprocess and interrupt it."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_cli.batch import expand_inputs, output_name, parse_shard, plan
from deconv_cli.errors import DeconvError
from deconv_cli.pipeline import Settings

from conftest import DECONV, PILLOW, PILLOW_BOMBS, PILLOW_BROKEN, PNGSUITE_CORRUPT, SAMPLES, run

#: Files of the Pillow corpus that must be refused (broken, crash, bomb).
PILLOW_BAD = sorted([*PILLOW_BROKEN, *PILLOW_BOMBS, "decompression_bomb.ico"])


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def small_photos(folder: Path, n: int, size: int = 48) -> list[Path]:
    """n different small RGB photos (crops of the astronaut)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = np.asarray(Image.open(SAMPLES / "astronaut.png"))
    out = []
    for i in range(n):
        p = folder / f"photo{i:02d}.png"
        y, x = (i * 37) % (512 - size), (i * 53) % (512 - size)
        Image.fromarray(src[y : y + size, x : x + size]).save(p)
        out.append(p)
    return out


def hostile(folder: Path) -> list[Path]:
    """Every kind of bad input: corrupt PngSuite files, the Pillow corpus' broken and bomb files,
    and made-up ones (empty, text, truncated PNG and JPEG)."""
    folder.mkdir(parents=True, exist_ok=True)
    bad = []
    for p in PNGSUITE_CORRUPT:
        bad.append(Path(shutil.copy(p, folder)))
    for name in PILLOW_BAD:
        bad.append(Path(shutil.copy(PILLOW / name, folder)))
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image at all\n")
    png = (SAMPLES / "camera.png").read_bytes()
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    buf = io.BytesIO()
    Image.open(SAMPLES / "astronaut.png").save(buf, "JPEG")
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    bad += [folder / n for n in ("empty.png", "text.png", "truncated.png", "truncated.jpg")]
    return bad


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# ---------------------------------------------------------------- planning (pure)


def test_shard_parsing():
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "1/0", "a/b", "3", "-1/4"):
        with pytest.raises(DeconvError, match="--shard"):
            parse_shard(bad)


def test_name_template_fields():
    assert (
        output_name("a/b/cat.JPG", "{parent}-{stem}-{stride}-{kernel}{ext}", stride="3", kernel="bilinear")
        == "b-cat-3-bilinear.jpg"
    )
    assert output_name("x.gif", "{stem}{ext}", stride="2", kernel="k.npz:w") == "x.png"  # GIF would quantise
    with pytest.raises(DeconvError, match="--name"):
        output_name("x.png", "{nope}", stride="2", kernel="bilinear")


SETTINGS = Settings.of("bilinear", stride=2)


def test_plan_refuses_clashes_before_anything_runs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files = [str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")]
    with pytest.raises(DeconvError, match="would both be written"):
        plan(files, out_dir=str(tmp_path / "out"), name=None, output=None, settings=SETTINGS)
    jobs = plan(files, out_dir=str(tmp_path / "out"), name="{parent}_{stem}{ext}", output=None, settings=SETTINGS)
    assert [Path(j.dst).name for j in jobs] == ["a_x.png", "b_x.png"]
    with pytest.raises(DeconvError, match="is one of the inputs"):
        plan(
            files,
            out_dir=str(tmp_path / "a"),
            name="{stem}{ext}",
            output=None,
            settings=SETTINGS,
            overwrite=True,
            shard=(1, 2),  # the clashing input is in another shard
        )


def test_rerun_over_a_folder_holding_earlier_outputs_destroys_nothing(tmp_path):
    src = tmp_path / "d"
    small_photos(src, 2)
    assert run("upsample", src, "-p", "1", "-j", "1", "-q").exit_code == 0  # photoNN_x2.png beside the inputs
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    assert sorted(before) == ["photo00.png", "photo00_x2.png", "photo01.png", "photo01_x2.png"]
    # the same command again: the earlier outputs are not inputs; the outputs exist, so each is refused
    r = run("upsample", src, "-p", "1", "-j", "1", "--json")
    assert r.exit_code == 1
    got = {Path(d["input"]["path"]).name: (d["status"], d.get("reason")) for d in lines(r.stdout)}
    assert got["photo00_x2.png"] == ("skipped", f"this run's own output (for {src / 'photo00.png'}), not an input")
    assert got["photo00.png"][0] == "failed" and "already exists; pass --overwrite" in r.stderr
    assert "0 done, 2 skipped (2 of them this run's own earlier outputs), 2 failed, of 4" in r.stderr
    r = run("upsample", src, "-p", "1", "-j", "1", "--skip-existing", "--json")
    assert r.exit_code == 0, r.stderr
    got = {Path(d["input"]["path"]).name: (d["status"], d.get("reason")) for d in lines(r.stdout)}
    assert got["photo00.png"] == ("skipped", "the output exists (--skip-existing)")
    assert got["photo01_x2.png"][0] == "skipped"
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # nothing new, nothing touched
    # --overwrite rewrites the outputs from the inputs and nothing else: no _x2_x2 files
    r = run("upsample", src, "-p", "1", "-j", "1", "--overwrite", "-q")
    assert r.exit_code == 0, r.stderr
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_expand_inputs_dirs_globs_recursive(tmp_path):
    small_photos(tmp_path / "d", 2)
    small_photos(tmp_path / "d" / "sub", 1)
    (tmp_path / "d" / "notes.txt").write_text("x")
    flat, problems = expand_inputs([str(tmp_path / "d")])
    assert [Path(f).name for f in flat] == ["photo00.png", "photo01.png"] and not problems
    deep, _ = expand_inputs([str(tmp_path / "d")], recursive=True)
    assert len(deep) == 3
    globbed, _ = expand_inputs([str(tmp_path / "d" / "**" / "*.png")])
    assert sorted(globbed) == sorted(deep)
    none, problems = expand_inputs(
        [str(tmp_path / "nothing*.png"), str(tmp_path / "d"), str(tmp_path / "d" / "photo00.png")]
    )
    assert problems == [(str(tmp_path / "nothing*.png"), "no file matches this pattern")]
    assert len(none) == 2  # the explicit repeat of photo00 is dropped


# ---------------------------------------------------------------- the whole story


@pytest.mark.slow
def test_mixed_folder_writes_every_good_output_reports_every_bad_file_and_resumes(tmp_path):
    src = tmp_path / "in"
    good = small_photos(src, 8)
    frames = [Image.new("RGB", (40, 30), (i % 255, 0, 0)) for i in range(300)]
    Image.new("RGB", (40, 30), (10, 200, 30)).save(src / "many_frames.gif", save_all=True, append_images=frames)
    good.append(src / "many_frames.gif")
    bad = hostile(src)
    out = tmp_path / "out"
    args = ["upsample", str(src), "--out-dir", str(out), "-p", "1", "--jobs", "2", "--json"]
    r = subprocess.run(DECONV + args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    results = {Path(d["input"]["path"]).name: d for d in lines(r.stdout)}
    dir_bad = [p for p in bad if p.suffix.lower() != ".ico"]  # .ico is not picked up from a directory
    assert len(results) == len(good) + len(dir_bad)
    for p in good:
        assert results[p.name]["status"] == "ok", results[p.name]
    expected = {p.stem + (".png" if p.suffix == ".gif" else p.suffix) for p in good}
    assert listing(out) == expected  # no temporary file, nothing for the bad ones
    for p in expected:
        with Image.open(out / p) as im:
            im.load()
            assert im.size in ((96, 96), (80, 60))
    err = r.stderr.splitlines()
    for p in dir_bad:
        assert results[p.name]["status"] == "failed" and results[p.name]["error"]
        assert sum(p.name in line for line in err if line.startswith("deconv: error: ")) == 1, p.name
    assert "Traceback" not in r.stderr
    assert f"{len(good)} done, 0 skipped, {len(dir_bad)} failed" in err[-1]
    assert "has 301 frames; only the first is used" in r.stderr

    # the rerun over the good files with --skip-existing rewrites nothing
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    args = ["upsample", *map(str, good), "--out-dir", str(out), "-p", "1", "--jobs", "2", "--skip-existing", "--json"]
    r2 = subprocess.run(DECONV + args, capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0, r2.stderr
    assert {d["status"] for d in lines(r2.stdout)} == {"skipped"}
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_bad_kernel_is_one_error_before_any_file(tmp_path):
    small_photos(tmp_path / "in", 3)
    np.save(tmp_path / "nan.npy", np.array([[np.nan, 1.0]]))
    r = run("upsample", tmp_path / "in", "--out-dir", tmp_path / "out", "-k", tmp_path / "nan.npy", "-j", "1")
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1 and "nan.npy" in r.stderr
    assert not (tmp_path / "out").exists() or listing(tmp_path / "out") == set()


def test_shards_split_the_list_with_no_overlap(tmp_path):
    small_photos(tmp_path / "in", 7)
    seen = []
    for i in range(3):
        r = run(
            "upsample", tmp_path / "in", "--out-dir", tmp_path / "out", "--shard", f"{i}/3", "-j", "1", "--json", "-q"
        )
        assert r.exit_code == 0, r.stderr
        seen.append({Path(d["input"]["path"]).name for d in lines(r.stdout)})
    assert [len(s) for s in seen] == [3, 2, 2]
    assert set.union(*seen) == listing(tmp_path / "in") and not (seen[0] & seen[1] or seen[1] & seen[2])
    assert listing(tmp_path / "out") == listing(tmp_path / "in")


def test_files_from_file_and_stdin_and_name_template(tmp_path):
    photos = small_photos(tmp_path / "in", 3)
    listfile = tmp_path / "list.txt"
    listfile.write_text("\n".join(map(str, photos[:2])) + "\n\n")
    template = "{stem}_x{stride}_{kernel}{ext}"
    r = run("upsample", "--files-from", listfile, "--out-dir", tmp_path / "o1", "--name", template, "-j", "1", "-q")
    assert r.exit_code == 0, r.stderr
    assert listing(tmp_path / "o1") == {"photo00_x2_bilinear.png", "photo01_x2_bilinear.png"}
    r = run("upsample", "--files-from", "-", "--out-dir", tmp_path / "o2", "-j", "1", "-q", input=str(photos[2]) + "\n")
    assert r.exit_code == 0, r.stderr
    assert listing(tmp_path / "o2") == {"photo02.png"}


@pytest.mark.slow
def test_stdin_to_file_and_file_to_stdout(tmp_path):
    photo = small_photos(tmp_path / "in", 1)[0]
    ref = tmp_path / "ref.png"
    assert run("upsample", photo, "-o", ref, "-p", "1", "-q").exit_code == 0
    args = ["upsample", "-", "-o", str(tmp_path / "from_stdin.png"), "-p", "1", "-q"]
    r = subprocess.run(DECONV + args, input=photo.read_bytes(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "from_stdin.png")), np.asarray(Image.open(ref)))
    r = subprocess.run(DECONV + ["upsample", str(photo), "-o", "-", "-p", "1", "-q"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(r.stdout))), np.asarray(Image.open(ref)))
    args = ["upsample", "-", "-o", "-", "--format", "tif", "-p", "1", "-q"]
    r = subprocess.run(DECONV + args, input=photo.read_bytes(), capture_output=True, timeout=60)
    assert r.returncode == 0 and Image.open(io.BytesIO(r.stdout)).format == "TIFF"
    assert listing(tmp_path) == {"in", "ref.png", "from_stdin.png"}


@pytest.mark.slow
def test_stdin_and_stdout_are_named_as_given_never_by_their_temporary_files(tmp_path):
    """The report, its advice, the JSON line and an error say -, stdin or stdout: the private
    temporary files they went through are gone once the command ends."""
    photo = small_photos(tmp_path / "in", 1)[0]
    r = subprocess.run(DECONV + ["upsample", "-", "-o", "-"], input=photo.read_bytes(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert "input: -" in err and "output: -" in err and "deconv: hint: stdout: the border" in err
    args = ["upsample", "-", "-o", str(tmp_path / "out.png"), "--json"]
    r = subprocess.run(DECONV + args, input=photo.read_bytes(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout)
    assert (line["input"]["path"], line["output"]["path"]) == ("-", str(tmp_path / "out.png"))
    r = subprocess.run(DECONV + ["upsample", "-", "-o", "-"], input=photo.read_bytes()[:3000], capture_output=True)
    assert r.returncode == 1
    assert r.stderr.decode().startswith("deconv: error: stdin: truncated PNG")
    for out in (err, json.dumps(line), r.stderr.decode()):
        assert "deconv-" not in out  # the private directory's prefix


@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "x.png"], "-o/--output names one file"),
        (["--skip-existing", "--overwrite"], "contradict"),
        (["--shard", "3/3"], "--shard"),
        (["--format", "png"], "--format applies to -o - only"),
        (["--name", "{bad}", "--out-dir", "o"], "--name"),
    ],
)
def test_batch_usage_errors(tmp_path, args, message):
    small_photos(tmp_path / "in", 2)
    r = run("upsample", tmp_path / "in", *args)
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_no_inputs_is_a_usage_error():
    r = run("upsample")
    assert r.exit_code == 2 and "no input images" in r.stderr


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    src = tmp_path / "in"
    (src).mkdir()
    (src / "a_bad.png").write_text("nope")
    small_photos(src, 3)
    r = run("upsample", src, "--out-dir", tmp_path / "out", "--fail-fast", "-j", "1", "--json")
    assert r.exit_code == 1
    assert [d["status"] for d in lines(r.stdout)] == ["failed"]


# ---------------------------------------------------------------- limits and write failures


def test_max_pixels_refuses_inputs_and_predicted_outputs(tmp_path):
    photo = small_photos(tmp_path / "in", 1, size=40)[0]  # 1600 pixels in, 80x80 = 6400 out at stride 2
    r = run("upsample", photo, "-o", tmp_path / "a.png", "-p", "1", "--max-pixels", "1000")
    assert r.exit_code == 1 and "over the limit of 1000" in r.stderr and "40x40" in r.stderr
    r = run("upsample", photo, "-o", tmp_path / "b.png", "-p", "1", "--max-pixels", "5000")
    assert r.exit_code == 1 and "the output would be 80x80 = 6400 pixels" in r.stderr
    assert run("upsample", photo, "-o", tmp_path / "c.png", "-p", "1", "--max-pixels", "6400", "-q").exit_code == 0
    assert listing(tmp_path) == {"in", "c.png"}


def test_full_disk_is_a_clear_per_file_error(tmp_path, monkeypatch):
    photos = small_photos(tmp_path / "in", 2)

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    r = run("upsample", *photos, "--out-dir", tmp_path / "out", "-j", "1")
    assert r.exit_code == 1
    errs = [line for line in r.stderr.splitlines() if line.startswith("deconv: error:")]
    assert len(errs) == 2 and all("No space left on device" in e for e in errs)
    assert listing(tmp_path / "out") == set()


def test_unwritable_directory_is_a_clear_per_file_error(tmp_path, monkeypatch):
    photos = small_photos(tmp_path / "in", 2)
    real_open = os.open

    def read_only(path, flags, *a):
        if str(path).endswith(".part"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", read_only)
    r = run("upsample", *photos, "--out-dir", tmp_path / "out", "-j", "1")
    assert r.exit_code == 1 and r.stderr.count("permission denied") == 2


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_for_real(tmp_path):
    photos = small_photos(tmp_path / "in", 1)
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        r = run("upsample", *photos, "--out-dir", out, "-j", "1")
        assert r.exit_code == 1 and "permission denied" in r.stderr
    finally:
        out.chmod(0o755)


# ---------------------------------------------------------------- signals, for real


def _start_slow_batch(tmp_path, n=10):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(n):
        shutil.copy(SAMPLES / "astronaut.png", src / f"p{i:02d}.png")
    out = tmp_path / "out"
    # zlib level 9 on 1024x1024: each file takes a while, so the signal lands mid-write
    args = ["upsample", str(src), "--out-dir", str(out), "-p", "1", "--jobs", "2", "--compress", "9"]
    proc = subprocess.Popen(DECONV + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def an_output_is_complete():
        return out.exists() and any(p.suffix == ".png" and not p.name.startswith(".") for p in out.iterdir())

    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not an_output_is_complete():  # a crash: fail at once
        time.sleep(0.05)
    time.sleep(0.3)
    return proc, out


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_leaves_finished_outputs_and_nothing_partial(tmp_path, signum, code):
    proc, out = _start_slow_batch(tmp_path)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    names = listing(out)
    assert names and not [n for n in names if n.startswith(".") or n.endswith(".part")], names
    assert len(names) < 10  # it really was stopped midway
    for n in names:  # every output left is complete
        with Image.open(out / n) as im:
            im.load()
            assert im.size == (1024, 1024)


# ---------------------------------------------------------------- Dask


@pytest.mark.slow
def test_dask_local_cluster_runs_the_batch_with_per_file_failures(tmp_path):
    distributed = pytest.importorskip("distributed")
    photos = small_photos(tmp_path / "in", 4)
    (tmp_path / "in" / "bad.png").write_text("not a png")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        args = ["upsample", str(tmp_path / "in"), "--out-dir", str(tmp_path / "out"), "-p", "1"]
        args += ["--scheduler", cluster.scheduler_address, "--json"]
        r = subprocess.run(DECONV + args, capture_output=True, text=True, timeout=180)
    assert r.returncode == 1, r.stderr
    status = {Path(d["input"]["path"]).name: d["status"] for d in lines(r.stdout)}
    assert status == {**{p.name: "ok" for p in photos}, "bad.png": "failed"}
    assert listing(tmp_path / "out") == {p.name for p in photos}
    assert "bad.png" in r.stderr and "4 done, 0 skipped, 1 failed" in r.stderr
    ref = tmp_path / "ref.png"
    assert run("upsample", photos[0], "-o", ref, "-p", "1", "-q").exit_code == 0
    assert np.array_equal(np.asarray(Image.open(ref)), np.asarray(Image.open(tmp_path / "out" / photos[0].name)))


@pytest.mark.slow
def test_dask_bad_scheduler_address_is_one_error(tmp_path):
    pytest.importorskip("distributed")
    photos = small_photos(tmp_path / "in", 1)
    args = ["upsample", str(photos[0]), "--out-dir", str(tmp_path / "out")]
    args += ["--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1"]
    r = subprocess.run(DECONV + args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "cannot connect within 1 s" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and listing(tmp_path / "out") == set()  # one line; nothing written


def _on_a_terminal(args: list[str], stdout_path: Path, cwd: Path) -> tuple[int, str]:
    """Run ``deconv ARGS`` with stdin and stderr on a pseudo-terminal (so the progress bar shows)
    and stdout redirected to a file, as ``deconv ... --json > log`` typed in a terminal; returns
    the exit code and what the terminal showed."""
    import pty

    master, slave = pty.openpty()
    shown = bytearray()
    with open(stdout_path, "wb") as out:
        proc = subprocess.Popen([*DECONV, *args], stdin=slave, stdout=out, stderr=slave, cwd=cwd)
    os.close(slave)
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.wait(timeout=60), shown.decode("utf-8", "replace")


def test_batch_json_on_a_terminal_goes_to_stdout_not_above_the_progress_bar(tmp_path):
    small_photos(tmp_path / "in", 7)
    (tmp_path / "list.txt").write_text("".join(f"in/photo{i:02d}.png\n" for i in range(7)))
    code, shown = _on_a_terminal(
        ["upsample", "--files-from", "list.txt", "--out-dir", "big", "--jobs", "2", "--json"],
        tmp_path / "log.jsonl",
        tmp_path,
    )
    assert code == 0, shown
    assert "upsampling" in shown and "7/7" in shown  # the bar was shown...
    assert '"status"' not in shown  # ...and the records did not go through it
    records = lines((tmp_path / "log.jsonl").read_text())
    assert sorted(Path(d["input"]["path"]).name for d in records) == [f"photo{i:02d}.png" for i in range(7)]
    assert all(d["status"] == "ok" for d in records)
