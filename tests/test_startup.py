"""Start-up stays cheap: what each way of starting deconv imports (not how long it takes).

`deconv --version` is answered before Typer is imported; `--help` loads neither numpy nor
Pillow; an upsample whose report is not shown on a terminal does not load rich; a PNG is opened
without loading every Pillow plugin; an upsample does not load numpy.ma. Each check runs in a
fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deconv_cli import __version__

from conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow  # every test starts a fresh interpreter


def modules_after(code: str, after: str = "") -> dict:
    """Run ``code`` (then ``after``) in a fresh interpreter; return their stdout and the
    top-level modules loaded by ``code`` (the entry point's :func:`~deconv_cli.leave.leave`
    made a plain ``sys.exit``, so that the probe goes on after it)."""
    probe = f"""
import sys, io, json, contextlib
import deconv_cli.leave
deconv_cli.leave.leave = sys.exit  # the entry point ends the process; here it must come back
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
{chr(10).join("        " + line for line in code.strip().splitlines())}
    except SystemExit:
        pass
    modules = sorted({{m.split('.')[0] for m in sys.modules}})
{chr(10).join("    " + line for line in after.strip().splitlines())}
print(json.dumps({{"stdout": out.getvalue(), "modules": modules}}))
"""
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def main_with(*argv: str) -> str:
    """Code that runs the entry point, ``deconv_cli.main``, as ``deconv ARGV``."""
    return f"import deconv_cli\nsys.argv = {['deconv', *argv]!r}\ndeconv_cli.main()"


def test_version_is_answered_without_typer():
    got = modules_after(main_with("--version"))
    assert got["stdout"].strip() == f"deconv {__version__}"
    assert not {"typer", "numpy", "PIL", "rich", "pydantic"} & set(got["modules"])


def test_a_spawned_worker_importing_the_main_module_loads_nothing():
    """A batch's spawned workers import the parent's main module as ``__mp_main__``: under
    ``python -m deconv_cli`` that must not load Typer, the commands or numpy again."""
    got = modules_after("import runpy\nrunpy.run_module('deconv_cli.__main__', run_name='__mp_main__')")
    assert not {"typer", "numpy", "PIL", "rich", "pydantic"} & set(got["modules"])


def test_entry_point_hands_everything_else_to_typer():
    got = modules_after(main_with("size", "--input-size", "3", "--kernel-size", "3", "--stride", "1"))
    assert "output: 5x5 (width x height)" in got["stdout"]
    assert "typer" in got["modules"]


def test_help_loads_no_numpy_pillow_or_rich():
    got = modules_after(main_with("--help"))
    assert "upsample" in got["stdout"]
    assert not {"numpy", "PIL", "rich"} & set(got["modules"])


@pytest.mark.parametrize("flag", ["-q", "--json"])
def test_upsample_without_a_terminal_loads_no_rich_and_only_the_png_plugin(tmp_path, flag):
    src = SAMPLES / "camera.png"
    dst = tmp_path / "out.png"
    got = modules_after(
        main_with("upsample", str(src), "-o", str(dst), flag), "import PIL.Image\nprint(sorted(PIL.Image.OPEN))"
    )
    assert dst.exists()
    assert "rich" not in got["modules"]
    assert got["stdout"].strip().splitlines()[-1] == "['PNG']"  # no other Pillow plugin was loaded


def test_upsample_does_not_load_numpy_ma(tmp_path):
    """numpy.ma costs ~9 ms of start-up and the upsample does not need it (np.unique without
    indices loads it)."""
    dst = tmp_path / "out.png"
    got = modules_after(
        main_with("upsample", str(SAMPLES / "camera.png"), "-s", "2", "-p", "1", "--edge", "replicate", "-o", str(dst)),
        "print('numpy.ma' in sys.modules)",
    )
    assert dst.exists()
    assert got["stdout"].strip().splitlines()[-1] == "False"


def test_commands_annotations_are_evaluated_when_defined():
    """String annotations (``from __future__ import annotations``) make Typer evaluate every
    command's parameters twice at each start: 15-20 ms (deconv_cli/cli/__init__.py)."""
    from deconv_cli.cli import app, kernel_app

    callbacks = [c.callback for a in (app, kernel_app) for c in a.registered_commands]
    assert len(callbacks) >= 7
    for fn in callbacks:
        strings = [name for name, a in fn.__annotations__.items() if isinstance(a, str)]
        assert not strings, f"{fn.__module__}.{fn.__name__}: {strings}"
