"""Work is estimated before it starts and bounded (--max-work); inspect has a pixel limit of
its own; a long file shows its strips' progress on a terminal and nothing in a pipe."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deconv_cli import DeconvError
from deconv_cli.core import Geometry, plan, work_seconds
from deconv_cli.core.planning import plan_layer
from deconv_cli.modes import DEFAULT_MAX_WORK, INSPECT_MAX_PIXELS, Edge
from deconv_cli.pipeline import Settings, process

from conftest import run


@pytest.fixture
def photo(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(src)
    return src


def test_work_over_the_limit_is_refused_before_it_starts(tmp_path, photo):
    dst = tmp_path / "out.png"
    r = run("upsample", photo, "-o", dst, "-k", "bicubic", "-s", "2", "--max-work", "0.000000001")
    assert r.exit_code == 1 and r.stdout == "" and not dst.exists()
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"deconv: error: {photo}: the computation would take about ")
    assert "s of one CPU core by the cost model" in line and "over the --max-work limit of 1e-09 s" in line
    assert run("upsample", photo, "-o", dst, "-k", "bicubic", "-s", "2", "--max-work", "0", "-q").exit_code == 0


def test_a_layer_counts_the_work_of_every_input_channel(tmp_path, photo):
    """A learned layer's estimate is that of the plan it runs, from every input channel (one
    linear map, or one plan per channel summed): more than one channel's plan, and the limit
    refuses it just below that estimate and lets it run just above."""
    w = np.random.default_rng(1).random((3, 3, 4, 4))
    np.save(tmp_path / "layer.npy", w)
    one = work_seconds(plan(np.zeros((48, 40, 3)), w[0], Geometry((2, 2))))
    axes = Geometry((2, 2)).axes((48, 40), (4, 4))
    layer = work_seconds(plan_layer(np.zeros((48, 40, 3), np.uint8), w, None, axes, 1, edge=Edge.zero, dtype=None))
    assert layer > 1.5 * one
    for factor, code in ((0.9, 1), (1.1, 0)):
        limit = f"{factor * layer:.12f}"
        r = run("upsample", photo, "-o", tmp_path / "o.png", "-k", tmp_path / "layer.npy", "--max-work", limit, "-q")
        assert r.exit_code == code and ("--max-work" in r.stderr) == (code == 1), r.stderr


def test_estimates_grow_with_the_work():
    small = plan(np.zeros((100, 100, 3)), np.ones((4, 4)), Geometry((2, 2)))
    more_pixels = plan(np.zeros((400, 400, 3)), np.ones((4, 4)), Geometry((2, 2)))
    rng = np.random.default_rng(2)
    more_taps = plan(np.zeros((100, 100, 3)), rng.random((24, 24)), Geometry((2, 2)))
    assert 0 < work_seconds(small) < work_seconds(more_pixels)
    assert work_seconds(small) < work_seconds(more_taps)


def test_max_work_is_checked_when_settings_are_made():
    assert Settings.of("bilinear").max_work == DEFAULT_MAX_WORK
    with pytest.raises(DeconvError, match="max_work must be >= 0") as e:
        Settings.of("bilinear", max_work=-1)
    assert e.value.usage


def test_inspect_has_its_own_pixel_limit():
    r = run("inspect", "--size", "64x64", "-s", "2", "--max-pixels", "1000")
    assert r.exit_code == 1 and r.stdout == ""
    assert "64x64 = 4096 pixels, over the limit of 1000 for deconv inspect" in r.stderr
    assert run("inspect", "--size", "64x64", "-s", "2", "--max-pixels", "0", "--json").exit_code == 0
    assert INSPECT_MAX_PIXELS == 1 << 24


def test_progress_is_reported_strip_by_strip(tmp_path, photo):
    calls = []
    settings = Settings.of("bilinear", stride=2, padding=1)
    process(photo, tmp_path / "out.png", settings, progress=lambda done, total: calls.append((done, total)))
    assert calls and [d for d, _ in calls] == list(range(1, len(calls) + 1))
    assert all(total == len(calls) for _, total in calls)


def test_no_progress_bar_in_a_pipe(tmp_path, photo):
    r = run("upsample", photo, "-o", tmp_path / "o.png")
    assert r.exit_code == 0 and "computing strips" not in r.stderr
