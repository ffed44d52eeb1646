"""The end of a deconv process without the interpreter's teardown (deconv_cli.leave): the exit
status, what was printed and written, the atexit functions and the threads that are not daemons
all come out as Python's own exit would leave them. Each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from conftest import DECONV, ROOT, SAMPLES

pytestmark = pytest.mark.slow  # every test starts a fresh interpreter


#: Python as a pipe's writer usually meets it: stdout block-buffered (PYTHONUNBUFFERED unset).
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def script(body: str) -> subprocess.CompletedProcess:
    code = "import sys, atexit, threading, time\nfrom deconv_cli.leave import leave\n" + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, env=BUFFERED
    )


@pytest.mark.parametrize("code", [0, 1, 2, 141])
def test_the_status_and_the_buffered_output_come_out(code):
    # a pipe is block-buffered: without a flush, os._exit would drop both lines
    r = script(f"print('out', end='')\nprint('err', file=sys.stderr, end='')\nleave({code})")
    assert (r.returncode, r.stdout, r.stderr) == (code, "out", "err")


def test_atexit_functions_run_once(tmp_path):
    mark = tmp_path / "ran"
    r = script(f"atexit.register(lambda: open({str(mark)!r}, 'a').write('x'))\nleave(3)")
    assert r.returncode == 3, r.stderr
    assert mark.read_text() == "x"


def test_a_thread_that_is_not_a_daemon_is_waited_for(tmp_path):
    mark = tmp_path / "done"
    r = script(
        f"""
        def work():
            time.sleep(0.3)
            open({str(mark)!r}, "w").write("done")
        threading.Thread(target=work).start()
        leave(4)
        """
    )
    assert r.returncode == 4, r.stderr
    assert mark.read_text() == "done"


def test_a_daemon_thread_does_not_hold_the_end():
    r = script("threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\nleave(0)")
    assert r.returncode == 0, r.stderr


def _closed_stdout(code: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True, env=BUFFERED
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader goes away while the line is still in the writer's buffer
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_stdout_to_a_closed_pipe_is_left_to_pythons_exit():
    """A flush that fails is not hidden: Python's own exit reports it, with the status it gives
    without :func:`leave`."""
    plain = "import time\nprint('x' * 100)\ntime.sleep(1)"
    code, err = _closed_stdout(
        plain.replace("import time", "import time\nfrom deconv_cli.leave import leave") + "\nleave(0)"
    )
    expected, _ = _closed_stdout(plain)
    assert code == expected != 0
    assert "BrokenPipeError" in err


def test_the_command_ends_with_its_output_whole(tmp_path):
    """Through the entry point: the PNG is complete and equal to the library's result, the JSON
    line on a pipe is whole, and a failure keeps its status and its one line."""
    src, dst = SAMPLES / "camera.png", tmp_path / "out.png"
    r = subprocess.run(
        [*DECONV, "upsample", str(src), "-o", str(dst), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=BUFFERED,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["output"]["path"] == str(dst)
    from deconv_cli import upsample_file

    upsample_file(src, tmp_path / "lib.png")
    with Image.open(dst) as a, Image.open(tmp_path / "lib.png") as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    again = subprocess.run(
        [*DECONV, "upsample", str(src), "-o", str(dst)], capture_output=True, text=True, timeout=120, env=BUFFERED
    )
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "exists" in again.stderr
    usage = subprocess.run(
        [*DECONV, "upsample", str(src), "--edge", "x"], capture_output=True, text=True, timeout=120, env=BUFFERED
    )
    assert usage.returncode == 2
