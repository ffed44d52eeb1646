"""What several test modules share: the repository's paths and corpora, the command line run
through Typer's runner or in a fresh interpreter, and small readers of the written images.

Test modules import these by name (``from conftest import SAMPLES, run``): pytest's default
``prepend`` import mode puts tests/ on ``sys.path`` and registers this file as ``conftest``.
The independent reference implementations live in oracle.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import png
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
KERNELS = ROOT / "kernels"
DATA = ROOT / "tests" / "data"
PNGSUITE = DATA / "pngsuite"
PILLOW = DATA / "pillow"

#: PngSuite: the valid files, and the corrupt ones (their names start with x).
PNGSUITE_VALID = sorted(f for f in PNGSUITE.glob("*.png") if not f.name.startswith("x"))
PNGSUITE_CORRUPT = sorted(PNGSUITE.glob("x*.png"))

#: Files of the Pillow corpus that every reader must refuse: broken or crashing ones, and
#: decompression bombs (decompression_bomb.ico aside: deconv does not read ICO at all).
PILLOW_BROKEN = [
    "broken.png",
    "broken_data_stream.png",
    "cross_scan_line_truncated.tga",
    "crash-2020-10-test.tif",
    "crash-86214e58da443d2b80820cff9677a38a33dcbbca.tif",
    "crash-f46f5b2f43c370fe65706c11449f567ecc345e74.tif",
    "crash-0da013a13571cc8eb457a39fee8db18f8a3c7127.tif",  # libtiff says so only on stderr
]
PILLOW_BOMBS = ["decompression_bomb.gif", "decompression_bomb_extents.gif", "reallybig.bmp"]

#: The command in a fresh interpreter, for what Typer's runner cannot show (stdin and stdout
#: as bytes, signals, worker processes).
DECONV = [sys.executable, "-m", "deconv_cli"]

#: Built-in kernel name -> the Pillow resampling filter that computes the same interpolation.
PIL_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos3": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.BOX,
}


def run(*args, input=None):
    """``deconv ARGS`` in this process through Typer's runner, every argument str()'d;
    ``input`` is what the command reads on stdin. The result has exit_code, stdout, stderr."""
    # imported here, not at the top: a module that does not run the command does not load the CLI
    from typer.testing import CliRunner

    from deconv_cli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def pixels(path) -> np.ndarray:
    """An image file's pixels as Pillow decodes them."""
    with Image.open(path) as im:
        return np.asarray(im)


def read_png(path) -> tuple[np.ndarray, dict]:
    """An independent decode (pypng's ``asDirect``) of a PNG: its samples as an (H, W, planes)
    uint16 array (all 16 bits of a 16-bit file), and pypng's info (bitdepth, planes, ...)."""
    with open(path, "rb") as f:
        w, h, rows, info = png.Reader(file=f).asDirect()
        a = np.array([np.asarray(row, dtype=np.uint16) for row in rows], dtype=np.uint16)
    return a.reshape(h, w, info["planes"]), info


def rounded(x, top: int = 255) -> np.ndarray:
    """What storing ``x`` in an integer image gives: rounded half up, clipped to 0..top (as int64)."""
    return np.clip(np.floor(x + 0.5), 0, top).astype(np.int64)


def sample_crop(name: str, box: tuple[int, int, int, int], dst: Path) -> Path:
    """Save the (left, upper, right, lower) crop of a sample image as ``dst``; returns ``dst``."""
    with Image.open(SAMPLES / name) as im:
        im.crop(box).save(dst)
    return dst
