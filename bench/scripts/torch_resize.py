"""The PyTorch script the benchmark compares with: bilinear upsampling of an image file.

    python torch_resize.py IN OUT FACTOR THREADS

Channels as the batch (PyTorch's fastest layout for a per-channel operation),
``interpolate(mode="bilinear", align_corners=False)`` (bilinear with the edge
pixel repeated: what ``deconv --edge replicate`` computes), rounded and saved
with Pillow's defaults.
"""

import sys

import numpy as np
import torch
from PIL import Image

src, dst, factor, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
with Image.open(src) as im:
    a = np.asarray(im.convert("RGB"))
x = torch.from_numpy(a).permute(2, 0, 1)[:, None].float()
y = torch.nn.functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
out = (y[:, 0] + 0.5).floor().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
Image.fromarray(out).save(dst)
