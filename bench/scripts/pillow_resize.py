"""The Pillow script the benchmark compares with: open, bilinear resize by an integer factor, save.

    python pillow_resize.py IN OUT FACTOR [--compress LEVEL]

Without --compress Pillow's default PNG level (6) is used, as a script written
without thinking about it would.
"""

import sys

from PIL import Image

src, dst, factor = sys.argv[1], sys.argv[2], int(sys.argv[3])
opts = {"compress_level": int(sys.argv[5])} if len(sys.argv) > 5 and sys.argv[4] == "--compress" else {}
with Image.open(src) as im:
    im.resize((im.width * factor, im.height * factor), Image.Resampling.BILINEAR).save(dst, **opts)
