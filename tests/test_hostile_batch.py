"""Batches under attack: overlapping runs, dead and orphaned workers, signals during stdin and
stdout runs, escaping --name templates, endless --files-from lists and stdin images.

Every hostile file is made here, in tmp_path. The process tests find the pool's workers through
/proc (Linux): they are the command's children that run ``spawn_main`` (beside them runs
multiprocessing's resource tracker)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_cli.batch import FileResult, Job, output_name, plan, run_job, run_local
from deconv_cli.batch import planning as batch_plan
from deconv_cli.errors import DeconvError
from deconv_cli.pipeline import Settings

from conftest import DECONV, SAMPLES, run

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def photos(folder: Path, n: int, size: int = 48, start: int = 0) -> list[Path]:
    """n different RGB crops of the astronaut, size x size."""
    folder.mkdir(parents=True, exist_ok=True)
    src = np.asarray(Image.open(SAMPLES / "astronaut.png"))
    out = []
    for i in range(start, start + n):
        p = folder / f"photo{i:02d}.png"
        y, x = (i * 37) % (512 - size), (i * 53) % (512 - size)
        Image.fromarray(src[y : y + size, x : x + size]).save(p)
        out.append(p)
    return out


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def whole(path: Path, size: tuple[int, int]) -> bool:
    with Image.open(path) as im:
        im.load()
        return im.size == size


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


# ---------------------------------------------------------------- /proc


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # [state, ppid, ...]


def children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st is not None and int(st[1]) == pid:
                out.append(int(d))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def workers_of(pid: int) -> list[int]:
    """The pool's workers: the command's children that run multiprocessing's ``spawn_main``."""
    return [c for c in children(pid) if "spawn_main" in cmdline(c)]


def helpers_of(pid: int) -> list[int]:
    """The command's other children (multiprocessing's resource tracker)."""
    return [c for c in children(pid) if "spawn_main" not in cmdline(c)]


def running(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def wait_for(condition, timeout: float, step: float = 0.05) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


# ---------------------------------------------------------------- 1. temporary files: only a run's own


@pytest.mark.slow  # worker processes
def test_a_run_removes_no_temporary_file_but_its_own(tmp_path):
    """The sweep after a run used to glob .NAME.*.part: another run's file in flight, and a user's
    own file of that shape, were deleted, on successful runs too."""
    src = photos(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    foreign = {
        ".photo00.png.1a2b3c4d.part": b"another run's file in flight (old naming)",
        ".photo00.png.0123abcd-a1b2c3.part": b"another run's file in flight",
        ".photo01.png.notes.part": b"the user's own file",
    }
    for n, data in foreign.items():
        (out / n).write_bytes(data)
    (tmp_path / "in" / "broken.png").write_text("not an image")
    r = run("upsample", *src, tmp_path / "in" / "broken.png", "--out-dir", out, "-p", "1", "-j", "1", "-q")
    assert r.exit_code == 1, r.stderr  # the broken file fails; the sweep runs all the same
    assert names(out) == {"photo00.png", "photo01.png", *foreign}
    assert all((out / n).read_bytes() == data for n, data in foreign.items())
    r = run("upsample", *src, "--out-dir", out, "-p", "1", "-j", "2", "-q", "--overwrite")
    assert r.exit_code == 0, r.stderr
    assert all((out / n).read_bytes() == data for n, data in foreign.items())


def _start(args, **kw) -> subprocess.Popen:
    return subprocess.Popen(DECONV + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _finish(procs, timeout=240) -> list[tuple[int, str]]:
    out = []
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        out.append((p.returncode, err.decode(errors="replace")))
    return out


@pytest.mark.slow
def test_overlapping_runs_into_one_directory_all_finish_with_whole_outputs(tmp_path):
    """Two full --overwrite runs over the same 16 files and a short run writing some of the same
    names, all at once: each finishes, every output is whole (the last complete writer wins)."""
    src = photos(tmp_path / "in", 16, size=160)
    out = tmp_path / "out"
    (out).mkdir()
    (out / ".photo03.png.mine.part").write_bytes(b"keep me")
    common = ["--out-dir", out, "-p", "1", "--compress", "9", "--overwrite", "-q"]
    for _ in range(2):
        procs = [
            _start(["upsample", *src, *common, "-j", "2"]),
            _start(["upsample", *src[:3], *common, "-j", "1"]),
            _start(["upsample", *reversed(src), *common, "-j", "2"]),
        ]
        for code, err in _finish(procs):
            assert code == 0, err
            assert "Traceback" not in err
        assert names(out) == {p.name for p in src} | {".photo03.png.mine.part"}
        assert all(whole(out / p.name, (320, 320)) for p in src)
    assert (out / ".photo03.png.mine.part").read_bytes() == b"keep me"


@pytest.mark.slow
def test_overlapping_shard_tasks_and_skip_existing_reruns(tmp_path):
    """Job-array tasks sharing a list and --skip-existing reruns of it, all running together: each
    finishes with exit 0, a file another run wrote meanwhile is a skip (not a failure), and every
    output is whole."""
    src = photos(tmp_path / "in", 12, size=160)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in src))
    out = tmp_path / "out"
    common = ["--files-from", listing, "--out-dir", out, "-p", "1", "--compress", "9", "--json", "-q"]
    # every run takes --skip-existing: without it a run that finds an output another run wrote
    # first must fail rather than replace it (nothing is overwritten without --overwrite)
    procs = [_start(["upsample", *common, "--skip-existing", "--shard", f"{i}/3", "-j", "1"]) for i in range(3)]
    procs += [_start(["upsample", *common, "--skip-existing", "-j", "2"]) for _ in range(2)]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        assert p.returncode == 0, stderr.decode()
        results.append({d["input"]["path"]: d["status"] for d in lines(stdout.decode())})
    assert names(out) == {p.name for p in src}
    assert all(whole(out / p.name, (320, 320)) for p in src)
    assert all(set(r.values()) <= {"ok", "skipped"} for r in results)
    for p in src:  # each file was written by at least one run
        assert any(r.get(str(p)) == "ok" for r in results)


# ---------------------------------------------------------------- 2. a worker that dies


def _copies(folder: Path, n: int, name: str = "camera.png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        out.append(Path(shutil.copy(SAMPLES / name, folder / f"c{i:02d}.png")))
    return out


@pytest.mark.slow
@linux_only
def test_a_killed_worker_costs_its_file_once_and_the_batch_finishes(tmp_path):
    """kill -9 of a pool worker used to leave the batch waiting forever for the lost file. Now
    the file is retried once on a fresh worker and the batch finishes."""
    src = _copies(tmp_path / "in", 60)
    out = tmp_path / "out"
    args = ["upsample", tmp_path / "in", "--out-dir", out, "-p", "1", "--jobs", "2", "--json"]
    proc = _start(args)
    try:
        assert wait_for(lambda: out.exists() and any(not n.startswith(".") for n in names(out)), 120)
        assert wait_for(lambda: len(workers_of(proc.pid)) == 2, 30)
        victim = workers_of(proc.pid)[0]
        time.sleep(0.1)
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = stderr.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "60 done, 0 skipped, 0 failed" in err
    assert names(out) == {p.name for p in src}  # and no temporary file
    assert all(whole(out / p.name, (1024, 1024)) for p in src)
    assert {d["status"] for d in lines(stdout.decode())} == {"ok"}
    assert "died (SIGKILL" in err and "processed again" in err


@pytest.mark.slow
@linux_only
def test_killing_any_child_of_a_batch_costs_at_most_one_retry(tmp_path):
    """Workers used to be the children of a forkserver: kill -9 of that server made every
    worker look dead while they ran on, and the batch ended in `internal error: EOFError` or in
    a false `already exists` for the file being retried. Now every worker is the command's own
    child, and killing the helpers (the resource tracker) and a worker costs one retry."""
    src = _copies(tmp_path / "in", 40)
    out = tmp_path / "out"
    proc = _start(["upsample", tmp_path / "in", "--out-dir", out, "-p", "1", "--jobs", "2", "--json"])
    try:
        assert wait_for(lambda: out.exists() and any(not n.startswith(".") for n in names(out)), 120)
        assert wait_for(lambda: len(workers_of(proc.pid)) == 2, 30)
        assert all(children(w) == [] for w in workers_of(proc.pid))  # no process between them and the command
        for helper in helpers_of(proc.pid):
            os.kill(helper, signal.SIGKILL)
        os.kill(workers_of(proc.pid)[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = stderr.decode()
    assert proc.returncode == 0, err
    assert "40 done, 0 skipped, 0 failed" in err and err.count("processed again") == 1
    assert all(line.startswith("deconv: ") for line in err.splitlines()), err  # nothing from multiprocessing
    assert names(out) == {p.name for p in src}
    assert all(whole(out / p.name, (1024, 1024)) for p in src)


def die_after_writing(job: Job, settings: Settings) -> FileResult:
    """A task whose worker dies the first time, just after its output is in place."""
    res = run_job(job, settings)
    marker = Path(job.dst + ".died-once")
    if not marker.exists():
        marker.write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    return res


@pytest.mark.slow
def test_a_worker_that_dies_after_writing_its_output_is_retried_in_place(tmp_path):
    """The retry found the dead worker's finished output and failed with `already exists`."""
    good = photos(tmp_path / "in", 3)
    settings = Settings.of("bilinear", stride=2, padding=1)
    jobs = plan(list(map(str, good)), out_dir=str(tmp_path / "out"), name=None, output=None, settings=settings)
    (tmp_path / "out").mkdir()
    results = list(run_local(jobs, settings, 2, task=die_after_writing))
    assert [r.status for r in results] == ["ok"] * 3, [r.error for r in results]
    assert all(any("died (SIGKILL" in w and "processed again" in w for w in r.warnings) for r in results)
    for p in good:
        assert whole(tmp_path / "out" / p.name, (96, 96))


def test_a_batch_that_cannot_start_a_worker_is_one_clear_error(tmp_path, monkeypatch):
    import multiprocessing.context

    def no_fork(self):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", no_fork)
    good = photos(tmp_path / "in", 3)
    settings = Settings.of("bilinear", stride=2, padding=1)
    jobs = plan(list(map(str, good)), out_dir=str(tmp_path / "out"), name=None, output=None, settings=settings)
    with pytest.raises(DeconvError, match=r"cannot start a worker process \(.*Resource temporarily unavailable\)"):
        list(run_local(jobs, settings, 2))
    assert not (tmp_path / "out").exists()


def die_on_bad(job: Job, settings: Settings) -> FileResult:
    """A task whose worker dies (as by the OOM killer) on any file named bad*."""
    if Path(job.src).name.startswith("bad"):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_job(job, settings)


@pytest.mark.slow
def test_a_file_whose_worker_always_dies_fails_after_one_retry(tmp_path):
    good = photos(tmp_path / "in", 4)
    bad = tmp_path / "in" / "bad.png"
    shutil.copy(good[0], bad)
    settings = Settings.of("bilinear", stride=2, padding=1)
    jobs = plan([*map(str, good), str(bad)], out_dir=str(tmp_path / "out"), name=None, output=None, settings=settings)
    (tmp_path / "out").mkdir()
    t0 = time.time()
    results = {Path(r.input).name: r for r in run_local(jobs, settings, 2, task=die_on_bad)}
    assert time.time() - t0 < 60
    assert {n: r.status for n, r in results.items()} == {**{p.name: "ok" for p in good}, "bad.png": "failed"}
    assert "died (SIGKILL" in (results["bad.png"].error or "") and "twice" in (results["bad.png"].error or "")
    assert names(tmp_path / "out") == {p.name for p in good}


# ---------------------------------------------------------------- 3. a parent that dies


@pytest.mark.slow
@linux_only
def test_workers_exit_at_once_and_quietly_when_the_parent_is_killed(tmp_path):
    """After a SIGKILL of the command its workers used to finish their files and print
    BrokenPipeError tracebacks. Now they notice at once, remove their temporary file and leave."""
    _copies(tmp_path / "in", 8, "astronaut.png")
    out = tmp_path / "out"
    log = tmp_path / "stderr.txt"
    args = ["upsample", tmp_path / "in", "--out-dir", out, "-p", "1", "--compress", "9", "--jobs", "2"]
    with open(log, "wb") as err:
        proc = subprocess.Popen(DECONV + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert wait_for(lambda: out.exists() and any(n.endswith(".part") for n in names(out)), 120)
        assert wait_for(lambda: len(workers_of(proc.pid)) == 2, 30)
        pool = workers_of(proc.pid)
        proc.kill()
        proc.wait()
        assert wait_for(lambda: not any(running(w) for w in pool), 5), "workers outlived their parent"
    finally:
        for w in workers_of(proc.pid):
            os.kill(w, signal.SIGKILL)
    time.sleep(0.3)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "BrokenPipeError" not in text, text
    assert not [n for n in names(out) if n.endswith(".part")]


# ---------------------------------------------------------------- 4. stdin and stdout


def test_an_image_on_stdin_beyond_the_limit_is_refused(tmp_path, monkeypatch):
    """A stdin image used to be copied to $TMPDIR until the disk was full."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    data = b"\0" * ((16 << 20) + 8000 + 1)  # one byte over the limit for --max-pixels 1000
    r = run("upsample", "-", "-o", tmp_path / "o.png", "--max-pixels", "1000", input=data)
    assert r.exit_code == 1, r.stderr
    assert "stdin: more than 16785216 bytes" in r.stderr and "--max-pixels" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert names(tmp) == set() and names(tmp_path) == {"tmp"}
    ok = run("upsample", "-", "-o", tmp_path / "o.png", "--max-pixels", "1000", "-q", input=data[: (16 << 20)])
    assert "more than" not in ok.stderr  # under the limit it is read (and refused as no image)


def test_an_image_on_stdin_into_an_out_dir_that_does_not_exist_yet(tmp_path):
    photo = photos(tmp_path / "in", 1)[0]
    r = run("upsample", "-", "--out-dir", tmp_path / "o" / "deeper", "-p", "1", "-q", input=photo.read_bytes())
    assert r.exit_code == 0, r.stderr
    assert names(tmp_path / "o" / "deeper") == {"stdin.png"}
    assert whole(tmp_path / "o" / "deeper" / "stdin.png", (96, 96))


#: Makes every strip slow, as a strip of a huge image in native code is: a minute on a strip
#: thread, where no signal can interrupt it. A sitecustomize module, so that worker processes
#: (fresh interpreters) are slowed too.
SLOW_STRIPS = """
import time
from deconv_cli.engine.methods import METHODS
for unit in list(METHODS.values()):
    def strip(self, *args, _strip=unit.strip, **kwargs):
        time.sleep(60)
        return _strip(self, *args, **kwargs)
    unit.strip = strip
"""


def slow_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    site = tmp_path / "slow_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SLOW_STRIPS)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "DECONV_THREADS": "2", **extra}


def _temporaries(*folders: Path) -> list[str]:
    return [str(p) for f in folders if f.exists() for p in f.rglob("*") if p.name.endswith(".part")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, signum, code",
    [
        ("stdin-to-file", signal.SIGTERM, 143),
        ("file-to-stdout", signal.SIGTERM, 143),
        ("stdin-to-stdout", signal.SIGINT, 130),
        ("file-to-file", signal.SIGINT, 130),
    ],
)
def test_a_signal_during_a_long_strip_is_honoured_at_once_and_leaves_nothing(tmp_path, mode, signum, code):
    """SIGTERM used to kill `deconv upsample - -o out.png` with -15, leaving .out.png.*.part and
    $TMPDIR/deconv-*/stdin (or a .stdout.png.*.part); Ctrl-C during long strips waited for them."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    env = slow_env(tmp_path, TMPDIR=str(tmp))
    photo = SAMPLES / "camera.png"
    args = ["upsample", "-" if mode.startswith("stdin") else photo, "-o"]
    args += ["-" if mode.endswith("stdout") else out / "out.png"]
    with open(photo, "rb") as image:
        proc = subprocess.Popen(
            DECONV + [str(a) for a in args],
            stdin=image if mode.startswith("stdin") else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    try:
        assert wait_for(lambda: bool(_temporaries(out, tmp)) or proc.poll() is not None, 60)
        time.sleep(0.5)  # the strips have started
        assert proc.poll() is None, proc.communicate()[1]
        t0 = time.time()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
        took = time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = stderr.decode()
    assert proc.returncode == code, err
    assert took < 3, took
    assert "interrupted" in err and "Traceback" not in err
    assert names(out) == set() and names(tmp) == set()
    assert stdout == b""


@pytest.mark.slow
@linux_only
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_long_strips_in_workers_stops_the_batch_at_once(tmp_path, signum, code):
    """The workers are stopped (SIGTERM, SIGKILL after a second), their temporary files swept."""
    _copies(tmp_path / "in", 4)
    out = tmp_path / "out"
    args = ["upsample", tmp_path / "in", "--out-dir", out, "--jobs", "2"]
    proc = subprocess.Popen(
        DECONV + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=slow_env(tmp_path)
    )
    try:
        assert wait_for(lambda: len(_temporaries(out)) == 2 or proc.poll() is not None, 60)
        pool = workers_of(proc.pid)
        time.sleep(0.3)
        t0 = time.time()
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
        took = time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr
    assert took < 3, took
    assert names(out) == set()
    assert pool and not any(running(w) for w in pool)
    assert b"Traceback" not in stderr


@pytest.mark.slow
@pytest.mark.parametrize("where", ["reading stdin", "writing stdout"])
def test_sigterm_while_stdin_or_stdout_blocks_exits_143_and_leaves_nothing(tmp_path, where):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    data = (SAMPLES / "astronaut.png").read_bytes()
    args = ["upsample", "-", "-o", "-" if where == "writing stdout" else tmp_path / "o.png", "-p", "1", "-q"]
    proc = _start(args, stdin=subprocess.PIPE, env=env)
    try:
        if where == "reading stdin":
            proc.stdin.write(data[: len(data) // 2])  # and the rest never comes
            proc.stdin.flush()
            assert wait_for(lambda: any(p.name == "stdin" for p in tmp.rglob("*")), 30)
        else:
            proc.stdin.write(data)
            proc.stdin.close()
            assert wait_for(lambda: any(p.name == "stdout.png" for p in tmp.rglob("*")), 60)  # blocked on stdout
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
    assert proc.returncode == 143
    assert names(tmp) == set() and not (tmp_path / "o.png").exists()


# ---------------------------------------------------------------- 5. --name


@pytest.mark.parametrize(
    "template",
    [
        "../../x_{stem}{ext}",
        "sub/../../x_{stem}{ext}",
        "ABSOLUTE/x_{stem}{ext}",
        "{stem.foo}{ext}",
        "{stem.__class__}{ext}",
        "{stem[0]}{ext}",
        "{stem!r}{ext}",
        "{stem:>400000000}{ext}",
        "{stem:{ext}}",
        "{0}{ext}",
        "{}{ext}",
        "{stem{ext}",
        "{stem:x}{ext}",
    ],
)
def test_name_templates_that_escape_or_reach_into_objects_are_refused(tmp_path, template):
    src = photos(tmp_path / "a" / "b" / "in", 2)
    out = tmp_path / "a" / "b" / "out"
    before = {p for p in tmp_path.rglob("*")}
    template = template.replace("ABSOLUTE", str(tmp_path))
    t0 = time.time()
    r = run("upsample", *src, "--out-dir", out, "--name", template, "-j", "1")
    assert r.exit_code == 2, r.stderr
    assert r.stderr.startswith("deconv: error: --name ") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and "AttributeError" not in r.stderr
    assert {p for p in tmp_path.rglob("*")} == before  # nothing written, not even --out-dir
    assert time.time() - t0 < 5


def test_name_template_fields_widths_and_subdirectories_stay_inside(tmp_path):
    src = photos(tmp_path / "in", 2)
    out = tmp_path / "out"
    r = run("upsample", *src, "--out-dir", out, "--name", "{parent}/{stem:_>10.7}_{kernel}{ext}", "-j", "1", "-q")
    assert r.exit_code == 0, r.stderr
    assert names(out / "in") == {"___photo00_bilinear.png", "___photo01_bilinear.png"}
    assert output_name("a/b.png", "{{{stem}}}{ext}", stride="2", kernel="bilinear") == "{b}.png"


def test_a_stem_of_dots_cannot_climb_out(tmp_path):
    dots = tmp_path / "in" / "...png"  # its stem is ".."
    photos(tmp_path / "in", 1)[0].rename(dots)
    r = run("upsample", dots, "--out-dir", tmp_path / "out", "--name", "{stem}/x{ext}")
    assert r.exit_code == 2 and "not a file inside the output directory" in r.stderr
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(DeconvError, match="inside the output directory"):
        output_name(str(dots), "{stem}/x{ext}", stride="2", kernel="bilinear")


# ---------------------------------------------------------------- 9. --files-from


@pytest.mark.slow
def test_files_from_dev_zero_is_refused_at_once():
    """/dev/zero used to be read to 22 GB, then MemoryError; here memory is capped at 4 GiB."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    r = subprocess.run(
        DECONV + ["upsample", "--files-from", "/dev/zero", "--out-dir", "never"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
    )
    assert r.returncode == 2, r.stderr
    assert "--files-from /dev/zero: holds a NUL byte (at byte 0)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not Path("never").exists()


def test_files_from_an_endless_pipe_stops_at_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_plan, "FILE_LIST_LIMIT", 10_000)
    fifo = tmp_path / "list.fifo"
    os.mkfifo(fifo)
    written = [0]

    def writer() -> None:
        fd = os.open(fifo, os.O_WRONLY)
        try:
            while written[0] < 50 << 20:
                written[0] += os.write(fd, b"nothing/here.png\n" * 1000)
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        r = run("upsample", "--files-from", fifo, "--out-dir", tmp_path / "out")
    finally:
        t.join(5)
        if t.is_alive():  # the command never opened the FIFO, or kept reading: let the writer go
            with open(fifo, "rb") as f:
                f.read()
            t.join(10)
    assert r.exit_code == 2, r.stderr
    assert f"--files-from {fifo}: longer than 10000 bytes" in r.stderr
    assert written[0] < 5 << 20  # it stopped reading at the limit
    assert not (tmp_path / "out").exists()


def test_files_from_a_list_with_paths_read_from_stdin(tmp_path):
    src = photos(tmp_path / "in", 2)
    listing = f"{src[0]}\n{src[1]}"  # no final newline
    r = run("upsample", "--files-from", "-", "--out-dir", tmp_path / "out", "-j", "1", "-q", input=listing)
    assert r.exit_code == 0, r.stderr
    assert names(tmp_path / "out") == {"photo00.png", "photo01.png"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for <(...)")
def test_files_from_process_substitution_and_a_fifo(tmp_path):
    src = photos(tmp_path / "in", 2)
    cmd = " ".join(DECONV) + f" upsample --files-from <(find {tmp_path / 'in'} -name '*.png') --out-dir out -j 1 -q"
    r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert names(tmp_path / "out") == {p.name for p in src}
    fifo = tmp_path / "list.fifo"
    os.mkfifo(fifo)
    proc = _start(["upsample", "--files-from", fifo, "--out-dir", tmp_path / "out2", "-j", "1", "-q"])
    with open(fifo, "w") as f:
        f.write(f"{src[1]}\n")
    assert _finish([proc])[0][0] == 0
    assert names(tmp_path / "out2") == {"photo01.png"}


# ---------------------------------------------------------------- the pool, in process


@pytest.mark.slow  # worker processes
def test_the_pool_runs_files_in_parallel_and_sweeps_only_its_own(tmp_path):
    src = photos(tmp_path / "in", 5)
    settings = Settings.of("bilinear", stride=2, padding=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".photo00.png.feedbeef-000000.part").write_bytes(b"not this run's")
    jobs = plan(list(map(str, src)), out_dir=str(out), name=None, output=None, settings=settings)
    got = sorted(Path(r.input).name for r in run_local(jobs, settings, 3) if r.status == "ok")
    assert got == sorted(p.name for p in src)
    assert names(out) == {p.name for p in src} | {".photo00.png.feedbeef-000000.part"}
    assert whole(out / "photo00.png", (96, 96))


# ---------------------------------------------------------------- workers started ahead


def test_workers_started_ahead_serve_the_batch_and_a_dead_one_is_replaced(tmp_path):
    """The command starts its workers before its own imports (batch.boot); the pool takes them.
    One killed before it is taken costs nothing: the pool starts another."""
    from deconv_cli.batch.boot import prestart

    good = photos(tmp_path / "in", 4)
    settings = Settings.of("bilinear", stride=2, padding=1)
    jobs = plan(list(map(str, good)), out_dir=str(tmp_path / "out"), name=None, output=None, settings=settings)
    (tmp_path / "out").mkdir()
    ahead = prestart(2)
    first = ahead.started[0][0]
    first.kill()
    first.join(10)
    results = list(run_local(jobs, settings, 2, prestarted=ahead))
    assert sorted(r.status for r in results) == ["ok"] * 4, [r.error for r in results]
    for p in good:
        assert whole(tmp_path / "out" / p.name, (96, 96))
    assert ahead.started == [] and ahead.lifeline_taken


def test_workers_started_ahead_and_not_needed_are_sent_away(tmp_path):
    """One job (run in this process), or fewer jobs than workers: the rest leave, exit status 0."""
    from deconv_cli.batch.boot import prestart

    settings = Settings.of("bilinear", stride=2, padding=1)
    good = photos(tmp_path / "in", 1)
    jobs = plan(list(map(str, good)), out_dir=str(tmp_path / "out"), name=None, output=None, settings=settings)
    (tmp_path / "out").mkdir()
    ahead = prestart(2)
    procs = [p for p, _ in ahead.started]
    assert [r.status for r in run_local(jobs, settings, 2, prestarted=ahead)] == ["ok"]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ahead = prestart(3)  # 2 jobs, 3 workers ahead: one is sent away at once
    procs = [p for p, _ in ahead.started]
    jobs = plan(
        list(map(str, photos(tmp_path / "in2", 2))),
        out_dir=str(tmp_path / "out2"),
        name=None,
        output=None,
        settings=settings,
    )
    (tmp_path / "out2").mkdir()
    assert sorted(r.status for r in run_local(jobs, settings, 3, prestarted=ahead)) == ["ok", "ok"]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


def test_a_usage_error_after_the_workers_started_ahead_leaves_nothing_running(tmp_path):
    """The workers are started before the options are checked: a usage error sends them away,
    quietly, and the command's one line and exit code are as before."""
    photos(tmp_path / "in", 3)
    args = ["upsample", tmp_path / "in", "--out-dir", tmp_path / "out", "--skip-existing", "--overwrite", "-j", "2"]
    proc = subprocess.Popen(DECONV + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: list[int] = []
    while proc.poll() is None:
        seen += [w for w in children(proc.pid) if w not in seen]
        time.sleep(0.01)
    out, err = proc.communicate()
    assert proc.returncode == 2 and out == b""
    assert seen, "no worker was started ahead"
    assert err.decode().strip().splitlines() == [
        "deconv: error: --skip-existing and --overwrite contradict each other; choose one"
    ]
    assert wait_for(lambda: not any(running(w) for w in seen), 10), "workers outlived the command"
    assert not (tmp_path / "out").exists()


def test_ctrl_c_while_the_command_and_its_workers_start_prints_no_traceback(tmp_path):
    """A Ctrl-C reaches the whole process group: during Typer's start, the command's imports or a
    worker's interpreter start it printed KeyboardInterrupt tracebacks (3 of 12 such runs)."""
    photos(tmp_path / "in", 6)
    for n, delay in enumerate((0.05, 0.12, 0.2, 0.28, 0.36, 0.45)):
        args = ["upsample", tmp_path / "in", "--out-dir", tmp_path / f"out{n}", "-j", "2"]
        proc = subprocess.Popen(
            DECONV + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        text = err.decode(errors="replace")
        # -2: the interpreter itself was still starting, before Python handles SIGINT: killed, silently
        assert proc.returncode in (0, 130, -signal.SIGINT), (delay, proc.returncode, text)
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, (delay, text)
        if proc.returncode == 130 and text.strip():  # (before the interpreter has started: nothing to say)
            assert text.strip().splitlines()[-1].startswith("deconv: interrupted"), text
        out = tmp_path / f"out{n}"
        assert not [p for p in (out.iterdir() if out.exists() else []) if p.name.endswith(".part")]
