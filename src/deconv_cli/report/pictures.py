"""The pictures of ``deconv inspect --report DIR``: PNGs, report.json and an index.html.

Plots are drawn with matplotlib (the optional extra ``deconv-cli[report]``),
through its object-oriented API (no pyplot, no global backend state).
"""

from __future__ import annotations

import html
import io
import json
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import DeconvError

#: The files a report consists of, in the order index.html shows them.
FILES = {
    "result": "result.png",
    "coverage": "coverage.png",
    "difference": "difference.png",
    "profiles": "profiles.png",
    "json": "report.json",
    "html": "index.html",
}

CAPTIONS = {
    "result": "The upsampled result with zero edges: the plain transpose convolution (PyTorch's "
    "conv_transpose2d), as deconv upsample writes it by default.",
    "coverage": "Kernel weight and number of taps reaching each output pixel from an image of ones. "
    "From the left: the whole output grid (or its top-left 64x64 corner when the grid is large, where "
    "a few border pixels would not show), the top-left corner pixel by pixel (weight, then taps), and the "
    "bottom-right corner. The dashed line encloses the pixels that receive every tap (what --crop auto keeps); "
    "outside it the border gets fewer overlapping kernel copies.",
    "difference": "Zero-edge result minus replicate-edge result (mean of the colour channels). The "
    "colour scale is stretched to the largest difference so small ones show; zero inside the dashed line "
    "means the edge mode changes only the border.",
    "profiles": "Intensity along the middle row across the left border and along the middle column "
    "across the top border, for zero edges (PyTorch), replicate and renormalize. The dotted line is "
    "where --crop auto cuts.",
}


def _matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DeconvError(
            "deconv inspect --report draws its plots with matplotlib, which is not installed; "
            "install it with: pip install 'deconv-cli[report]'"
        ) from None
    return Figure


def _zoom_size(ins) -> int:
    """Side of the corner close-ups: the cropped border three times over, at least 12, at most 40 pixels."""
    t, _, l, _ = ins.box
    h, w = ins.coverage.taps.shape
    return int(min(h, w, max(12, 3 * max(t, l) + 4), 40))


def _outline(ax, ins, zoom: int | None = None, corner: str = "top-left") -> None:
    """Dashed rectangle around the fully covered pixels (what --crop auto keeps); zoom into a corner."""
    from matplotlib.patches import Rectangle

    t, b, l, r = ins.box
    h, w = ins.coverage.taps.shape
    if h - t - b >= 1 and w - l - r >= 1:
        ax.add_patch(Rectangle((l - 0.5, t - 0.5), w - l - r, h - t - b, fill=False, ls="--", lw=1.5, ec="red"))
    if zoom and corner == "top-left":
        ax.set_xlim(-0.5, zoom - 0.5)
        ax.set_ylim(zoom - 0.5, -0.5)
    elif zoom:
        ax.set_xlim(w - zoom - 0.5, w - 0.5)
        ax.set_ylim(h - 0.5, h - zoom - 0.5)


def _views(ins) -> list[tuple[int | None, str, str]]:
    """(zoom, corner, title) of the panels: the whole grid (or a 64x64 corner of a large one,
    where a few border pixels would vanish), then both corners pixel by pixel."""
    h, w = ins.coverage.taps.shape
    z = _zoom_size(ins)
    first = (64, "top-left", "top-left 64x64") if max(h, w) > 256 else (None, "", f"whole output {w}x{h}")
    return [first, (z, "top-left", f"top-left {z}x{z}"), (z, "bottom-right", f"bottom-right {z}x{z}")]


def _annotate(ax, ins, values: np.ndarray, zoom: int, corner: str, fmt: str, lo: float, hi: float) -> None:
    """Write each value of a close-up into its cell (up to 16x16), dark on the bright end of the colour map."""
    if zoom > 16:
        return
    h, w = values.shape
    r0, c0 = (0, 0) if corner == "top-left" else (h - zoom, w - zoom)
    span = (hi - lo) or 1.0
    for (r, c), v in np.ndenumerate(values[r0 : r0 + zoom, c0 : c0 + zoom]):
        colour = "black" if (v - lo) / span > 0.6 else "white"
        ax.text(c0 + c, r0 + r, fmt.format(v), ha="center", va="center", fontsize=6, color=colour)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def coverage_png(ins) -> bytes:
    Figure = _matplotlib()
    cov = ins.coverage
    (z0, c0, t0), (z, _, t1), (_, _, t2) = _views(ins)
    fig = Figure(figsize=(19, 4.8), layout="constrained")
    axes = fig.subplots(1, 4)
    panels = [
        (axes[0], cov.weight, f"kernel weight, {t0}", z0, c0, "viridis"),
        (axes[1], cov.weight, f"kernel weight, {t1}", z, "top-left", "viridis"),
        (axes[2], cov.taps, f"taps, {t1}", z, "top-left", "magma"),
        (axes[3], cov.weight, f"kernel weight, {t2}", z, "bottom-right", "viridis"),
    ]
    for ax, data, title, zoom, corner, cmap in panels:
        lo, hi = min(0.0, float(data.min())), float(data.max())
        im = ax.imshow(data, cmap=cmap, interpolation="nearest", vmin=lo, vmax=hi)
        _outline(ax, ins, zoom, corner)
        ax.set_title(title)
        ax.set_xlabel("output column")
        ax.set_ylabel("output row")
        fig.colorbar(im, ax=ax, shrink=0.85, label="sum of kernel taps" if data is cov.weight else "number of taps")
        if zoom:
            _annotate(ax, ins, data, zoom, corner, "{:.2g}" if data is cov.weight else "{:.0f}", lo, hi)
    fig.suptitle(
        "Coverage: what reaches each output pixel from an image of ones (zero edges); dashed = every tap arrives"
    )
    return _png(fig)


def difference_png(ins) -> bytes:
    Figure = _matplotlib()
    diff = ins.intensity("zero") - ins.intensity("replicate")
    lim = float(np.abs(diff).max()) or 1.0
    fig = Figure(figsize=(16, 4.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, (zoom, corner, title) in zip(axes, _views(ins), strict=True):
        im = ax.imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        _outline(ax, ins, zoom, corner)
        ax.set_title(title)
        ax.set_xlabel("output column")
        ax.set_ylabel("output row")
        fig.colorbar(im, ax=ax, shrink=0.85, label="zero - replicate (image units)")
    fig.suptitle(
        "Edge effect: zero edges minus replicate edges; blue = darker at the border; "
        f"colour scale stretched to ±{lim:.3g}"
    )
    return _png(fig)


def profiles_png(ins) -> bytes:
    Figure = _matplotlib()
    h, w = ins.coverage.taps.shape
    t, _, l, _ = ins.box
    n_cols = int(min(w, max(24, 4 * l + 8)))
    n_rows = int(min(h, max(24, 4 * t + 8)))
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    styles = {
        "zero": ("zero edges (PyTorch)", "o-"),
        "replicate": ("replicate", "s--"),
        "renormalize": ("renormalize", "^:"),
    }
    for edge, (label, style) in styles.items():
        img = ins.intensity(edge)
        axes[0].plot(np.arange(n_cols), img[h // 2, :n_cols], style, ms=3, label=label)
        axes[1].plot(np.arange(n_rows), img[:n_rows, w // 2], style, ms=3, label=label)
    for ax, cut, what, line in (
        (axes[0], l, "output column", f"row {h // 2}"),
        (axes[1], t, "output row", f"column {w // 2}"),
    ):
        if cut:
            ax.axvline(cut - 0.5, color="grey", ls=":", label=f"--crop auto cuts {cut}")
        ax.set_xlabel(what)
        ax.set_ylabel("intensity (mean of colour channels)")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(f"{line}, across the {'left' if ax is axes[0] else 'top'} border")
    fig.suptitle("Border profiles: zero edges vs replicate and renormalize")
    return _png(fig)


def result_png(ins) -> bytes:
    """The zero-edge result as an 8-bit PNG (16-bit and float inputs scaled to 0..255)."""
    from PIL import Image

    from ..imageio import depth_max, to_storage

    out = ins.results["zero"]
    depth = ins.image.depth
    scale = 255.0 / (depth_max(depth) if depth in (8, 16) else max(float(np.abs(ins.image.array).max()), 1e-12))
    data, _, _ = to_storage(out * scale, 8)
    mode = {"L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA"}[ins.image.channels]
    buf = io.BytesIO()
    Image.fromarray(data, mode).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def index_html(ins, d: dict, lines: list[str]) -> bytes:
    i = d["input"]
    name = f"synthetic constant image {i['width']}x{i['height']}" if i["synthetic"] else i["path"]
    stride = ",".join(map(str, d["params"]["stride"]))
    figures = []
    for key in ("result", "coverage", "difference", "profiles"):
        figures.append(
            f'<figure id="{key}"><a href="{FILES[key]}"><img src="{FILES[key]}" alt="{html.escape(CAPTIONS[key])}"></a>'
            f"<figcaption>{html.escape(CAPTIONS[key])}</figcaption></figure>"
        )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>deconv inspect: {html.escape(name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px; padding: 0 1em; color: #222; }}
figure {{ margin: 1.5em 0; }}
figure img {{ max-width: 100%; border: 1px solid #ccc; }}
#result img {{ max-width: 512px; image-rendering: pixelated; }}
figcaption {{ font-size: 0.95em; color: #444; max-width: 60em; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }}
</style>
</head>
<body>
<h1>deconv inspect</h1>
<p>{html.escape(name)} with kernel <code>{html.escape(d["kernel"]["spec"])}</code>
({"x".join(map(str, d["kernel"]["shape"]))}) at stride {stride}.
Every number below is also in <a href="{FILES["json"]}">{FILES["json"]}</a>.</p>
<pre>{html.escape(chr(10).join(lines))}</pre>
{chr(10).join(figures)}
</body>
</html>
"""
    return page.encode()


def _write_bytes(f: IO[bytes], data: bytes) -> None:
    f.write(data)


def write_report(directory: str | Path, ins, *, overwrite: bool = False) -> dict[str, str]:
    """Write every report file into ``directory`` (created if missing).

    Nothing is written if any file already exists and ``overwrite`` is
    False; each file is written atomically. Returns ``{key: path}``.
    """
    from ..imageio import atomic_write
    from . import inspect_lines

    _matplotlib()  # fail before anything is written
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise DeconvError(f"{root}: exists and is not a directory; choose another --report DIR", usage=True)
    paths = {key: root / name for key, name in FILES.items()}
    if not overwrite:
        existing = [str(p) for p in paths.values() if p.exists()]
        if existing:
            raise DeconvError(f"{existing[0]}: already exists; pass --overwrite to replace the report in {root}")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DeconvError(f"{root}: cannot create the report directory ({e.strerror or e})") from None
    d = ins.as_dict()
    d["files"] = {key: name for key, name in FILES.items()}
    blobs = {
        "result": result_png(ins),
        "coverage": coverage_png(ins),
        "difference": difference_png(ins),
        "profiles": profiles_png(ins),
        "json": (json.dumps(d, indent=2) + "\n").encode(),
        "html": index_html(ins, d, inspect_lines(d)),
    }
    for key, data in blobs.items():
        atomic_write(paths[key], partial(_write_bytes, data=data), overwrite=overwrite)
    return {key: str(p) for key, p in paths.items()}
