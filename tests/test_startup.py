"""Start-up stays cheap: what each way of starting deconv imports (not how long it takes).

`deconv --version` is answered before Typer is imported; `--help` loads neither numpy nor
Pillow; an upsample whose report is not shown on a terminal does not load rich; a PNG is opened
without loading every Pillow plugin. Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deconv_cli import __version__

ROOT = Path(__file__).resolve().parent.parent


def modules_after(code: str, after: str = "") -> dict:
    """Run ``code`` (then ``after``) in a fresh interpreter; return their stdout and the
    top-level modules loaded by ``code``."""
    probe = f"""
import sys, io, json, contextlib
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
{chr(10).join('        ' + line for line in code.strip().splitlines())}
    except SystemExit:
        pass
    modules = sorted({{m.split('.')[0] for m in sys.modules}})
{chr(10).join('    ' + line for line in after.strip().splitlines())}
print(json.dumps({{"stdout": out.getvalue(), "modules": modules}}))
"""
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_version_is_answered_without_typer():
    got = modules_after("import deconv_cli\nsys.argv = ['deconv', '--version']\ndeconv_cli.main()")
    assert got["stdout"].strip() == f"deconv {__version__}"
    assert not {"typer", "numpy", "PIL", "rich", "pydantic"} & set(got["modules"])


def test_entry_point_hands_everything_else_to_typer():
    got = modules_after("import deconv_cli\nsys.argv = ['deconv', 'size', '--input-size', '3', '--kernel-size', '3', '--stride', '1']\ndeconv_cli.main()")
    assert "output: 5 x 5" in got["stdout"]
    assert "typer" in got["modules"]


def test_help_loads_no_numpy_pillow_or_rich():
    got = modules_after("import deconv_cli\nsys.argv = ['deconv', '--help']\ndeconv_cli.main()")
    assert "upsample" in got["stdout"]
    assert not {"numpy", "PIL", "rich"} & set(got["modules"])


@pytest.mark.parametrize("flag", ["-q", "--json"])
def test_upsample_without_a_terminal_loads_no_rich_and_only_the_png_plugin(tmp_path, flag):
    src = ROOT / "sample_images" / "camera.png"
    dst = tmp_path / "out.png"
    got = modules_after(
        f"import deconv_cli\nsys.argv = ['deconv', 'upsample', {str(src)!r}, '-o', {str(dst)!r}, {flag!r}]\ndeconv_cli.main()",
        "import PIL.Image\nprint(sorted(PIL.Image.OPEN))",
    )
    assert dst.exists()
    assert "rich" not in got["modules"]
    assert got["stdout"].strip().splitlines()[-1] == "['PNG']"  # no other Pillow plugin was loaded
