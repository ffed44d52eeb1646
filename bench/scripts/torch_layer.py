"""The PyTorch script the layers case compares with: a learned ConvTranspose2d layer on an image file.

    python torch_layer.py IN OUT LAYER.safetensors THREADS [SECONDS_FILE]

What ``deconv upsample IN -k LAYER:weight --bias LAYER:bias -s 2 -p 2 --edge replicate``
computes: the image as one (1, C, H, W) float32 batch in [0, 255], extended by one pixel
per side by repetition (the extension deconv's replicate edge needs for this 6x6 stride-2
layer), ``conv_transpose2d`` at padding 2 + 2 (each extension pixel moves the output by the
stride), the bias (in [0, 1] units) times 255, rounded half up, clipped and saved with
Pillow's defaults. SECONDS_FILE, if given, gets a line: the seconds of the convolution alone.
"""

import sys
import time

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import load_file

src, dst, layer, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
tensors = load_file(layer)
weight = torch.from_numpy(tensors["weight"].astype(np.float32))
bias = torch.from_numpy(tensors["bias"].astype(np.float32) * 255)
with Image.open(src) as im:
    a = np.asarray(im.convert("RGB"))
x = torch.from_numpy(a).permute(2, 0, 1)[None].float()
t = time.perf_counter()
x = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
y = torch.nn.functional.conv_transpose2d(x, weight, bias, stride=2, padding=4)
seconds = time.perf_counter() - t
out = (y[0] + 0.5).floor().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
Image.fromarray(out).save(dst)
if len(sys.argv) > 5:
    with open(sys.argv[5], "a") as f:  # one line per run
        f.write(f"{seconds}\n")
