"""Fit the example learned layer kernels/learned_x2.safetensors by linear least squares (numpy only).

The task: undo a 2x box downsampling (each output pixel the mean of a 2x2 block, what
Pillow's reduce(2) and area resampling do). The model is one ConvTranspose2d layer, 3 -> 3
channels with channel mixing, stride 2, a 6x6 kernel per channel pair, padding 2 (exactly 2x)
and a bias: 3*3*36 + 3 = 327 numbers. A transpose convolution is linear in its weights, so
column (i, u, v) of the design matrix is simply the layer's output for input channel i with a
single 1 at tap (u, v); least squares over every interior pixel of the training photos
(kernels/training/, never the held-out one) gives the weights. Images are in [0, 1], so the
bias is in [0, 1] units, as deconv expects.

It then compares, on the held-out photo sample_images/astronaut.png, the PSNR of the layer with
that of the built-in kernels (8-bit results, whole image). Run from the repository root:

    python kernels/fit_learned.py                 # fits, writes kernels/learned_x2.safetensors, prints the table
    python kernels/fit_learned.py --check         # refits and fails if the shipped file differs
    python kernels/fit_learned.py --size 10 -o /tmp/l10.safetensors   # a larger kernel (padding (size - 2)/2)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import load_file, save_file

from deconv_cli import conv_transpose2d, make_kernel
from deconv_cli.core import conv_transpose2d_layer
from deconv_cli.kernels import intended_padding

ROOT = Path(__file__).resolve().parent.parent
TRAIN = [ROOT / "kernels" / "training" / "coffee.png", ROOT / "kernels" / "training" / "chelsea.png"]
HELD_OUT = ROOT / "sample_images" / "astronaut.png"
OUT = ROOT / "kernels" / "learned_x2.safetensors"
STRIDE, SIZE = 2, 6  # padding (size - 2)/2: (N - 1)*2 - (size - 2) + size = 2N


def padding(size: int) -> int:
    return (size - 2) // 2


def margin(size: int) -> int:
    """Output pixels at each border left out of the fit: zero edges give them fewer taps."""
    return max(6, size)


def read(path: Path) -> np.ndarray:
    """An RGB photo in [0, 1], cropped to even sides."""
    with Image.open(path) as im:
        x = np.asarray(im.convert("RGB"), np.float64) / 255
    return x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]


def box_down(x: np.ndarray) -> np.ndarray:
    """2x box downsampling: the mean of each 2x2 block."""
    return (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) / 4


def features(low: np.ndarray, size: int) -> np.ndarray:
    """(H_out * W_out, C_in * SIZE * SIZE + 1): the layer's output for each single weight, and a 1 for the bias."""
    cols = []
    for i in range(low.shape[2]):
        for u in range(size):
            for v in range(size):
                unit = np.zeros((size, size))
                unit[u, v] = 1
                cols.append(conv_transpose2d(low[..., i], unit, STRIDE, padding(size), dtype=np.float64))
    cols.append(np.ones_like(cols[0]))
    m = margin(size)
    a = np.stack(cols, -1)[m:-m, m:-m]
    return a.reshape(-1, a.shape[-1])


def fit(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Least squares over the training photos: the normal equations, accumulated photo by photo."""
    n = 3 * size * size + 1
    m = margin(size)
    gram, rhs = np.zeros((n, n)), np.zeros((n, 3))
    for path in TRAIN:
        x = read(path)
        a = features(box_down(x), size)
        target = x[m:-m, m:-m].reshape(-1, 3)
        gram += a.T @ a
        rhs += a.T @ target
    solution = np.linalg.lstsq(gram, rhs, rcond=None)[0]  # (n, C_out)
    weight = solution[:-1].reshape(3, size, size, 3).transpose(0, 3, 1, 2)  # (C_in, C_out, kh, kw)
    return weight, solution[-1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def to8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def evaluate(weight: np.ndarray, bias: np.ndarray) -> list[tuple[str, str, float]]:
    """PSNR (dB) of each method on the held-out photo, 8-bit, whole image, in deconv's own units (0..255)."""
    original = (read(HELD_OUT) * 255).round()
    low = to8(box_down(original)).astype(np.float32)  # what a 2x box-downsampled 8-bit file holds
    rows = []
    for name, edge in [
        ("nearest", "replicate"),
        ("bilinear", "replicate"),
        ("bicubic", "renormalize"),
        ("lanczos3", "renormalize"),
    ]:
        out = conv_transpose2d(low, make_kernel(name, STRIDE), STRIDE, intended_padding(name, STRIDE), edge=edge)
        rows.append((f"{name}", f"-k {name} -p same --edge {edge}", psnr(to8(out), original)))
    size = weight.shape[-1]
    out = conv_transpose2d_layer(low, weight, bias * 255, STRIDE, padding(size), groups=1, edge="replicate")
    how = f"-k FILE:weight --bias FILE:bias -p {padding(size)} --edge replicate"
    rows.append((f"learned {size}x{size}", how, psnr(to8(out), original)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="refit and compare with the shipped file instead of writing it"
    )
    parser.add_argument("--size", type=int, default=SIZE, help="kernel size, even (default 6)")
    parser.add_argument(
        "-o", "--output", type=Path, default=OUT, help=f"file to write (default {OUT.relative_to(ROOT)})"
    )
    args = parser.parse_args()
    if args.size < 2 or args.size % 2:
        parser.error("--size must be even and >= 2 (so that padding (size - 2)/2 gives exactly 2x)")
    out_path = args.output.resolve()
    weight, bias = fit(args.size)
    # C order: safetensors 0.8's numpy writer stores other layouts' raw memory (safetensors issue #825)
    weight32, bias32 = np.ascontiguousarray(weight, np.float32), np.ascontiguousarray(bias, np.float32)
    if args.check:
        shipped = load_file(str(out_path))
        same = np.allclose(shipped["weight"], weight32, rtol=0, atol=1e-5) and np.allclose(
            shipped["bias"], bias32, rtol=0, atol=1e-5
        )
        print("shipped file matches the refit" if same else "shipped file DIFFERS from the refit")
        if not same:
            return 1
    else:
        save_file({"weight": weight32, "bias": bias32}, str(out_path))
        print(f"wrote {out_path}: weight {weight32.shape}, bias {bias32.shape}")
    sums = [[weight[:, o, r::2, c::2].sum() for r in range(2) for c in range(2)] for o in range(3)]
    print(f"per-phase sums of the weight, summed over input channels (1 = flat): {np.round(sums, 3).tolist()}")
    print(f"bias: {[float(f'{b:.3g}') for b in bias]}")
    print(
        f"held-out photo {HELD_OUT.relative_to(ROOT)}, 2x box-downsampled then upsampled 2x, PSNR against the original:"
    )
    for name, how, value in evaluate(weight32.astype(np.float64), bias32.astype(np.float64)):
        print(f"  {name:<13} {value:6.2f} dB   ({how})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
