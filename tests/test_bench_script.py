"""bench/run.py is not part of the suite, but what it says about itself must be true: the photo
cases refuse to run on another image, and --help names how peak RSS is measured as bench/README does."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

RUN = ROOT / "bench" / "run.py"


def _bench(*args: str, photo: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DECONV_BENCH_PHOTO": photo, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, str(RUN), *args], capture_output=True, text=True, env=env, timeout=120)


def test_the_photo_cases_refuse_to_measure_a_stand_in(tmp_path):
    r = _bench("--cases", "e2e", "--quick", photo=str(tmp_path / "missing.jpg"))
    assert r.returncode == 1
    assert "need retina.jpg (1411x1411), not found at" in r.stderr and "DECONV_BENCH_PHOTO" in r.stderr


def test_help_says_how_peak_rss_is_measured_as_the_readme_does(tmp_path):
    r = _bench("--help", photo=str(tmp_path / "missing.jpg"))
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "peak RSS from GNU time's %M" in text
    assert "GNU time's `%M`" in (ROOT / "bench" / "README.md").read_text()
