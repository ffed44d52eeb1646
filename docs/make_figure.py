"""Rebuild docs/before_after.png: a crop of the astronaut, 4x by deconv with three settings.

Run from the repository root: python docs/make_figure.py
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from deconv_cli import conv_transpose2d, make_kernel

ROOT = Path(__file__).resolve().parent.parent
with Image.open(ROOT / "sample_images" / "astronaut.png") as im:
    crop = np.asarray(im.convert("RGB"))[20:84, 170:234].astype(np.float32)  # 64x64, the helmet's edge

panels = [
    ("input 64x64 (shown 4x, nearest)", np.kron(crop, np.ones((4, 4, 1)))),
    ("bilinear s=4, padding 2", conv_transpose2d(crop, make_kernel("bilinear", 4), 4, 2)),
    ("bilinear s=4, padding 0: dark edges", conv_transpose2d(crop, make_kernel("bilinear", 4), 4, 0)),
    (
        "3x3 ones s=2: checkerboard",
        np.kron(conv_transpose2d(crop, np.ones((3, 3)) / 2.25, 2, 1), np.ones((2, 2, 1)))[:256, :256],
    ),
]
label_h, gap = 18, 6
canvas = Image.new("RGB", (len(panels) * (256 + gap) - gap, 256 + label_h), "white")
draw = ImageDraw.Draw(canvas)
for i, (label, arr) in enumerate(panels):
    tile = Image.fromarray(np.clip(np.floor(arr[:256, :256] + 0.5), 0, 255).astype(np.uint8))
    canvas.paste(tile, (i * (256 + gap), label_h))
    draw.text((i * (256 + gap) + 2, 3), label, fill="black")
canvas.save(ROOT / "docs" / "before_after.png", optimize=True)
print("wrote docs/before_after.png", canvas.size)
