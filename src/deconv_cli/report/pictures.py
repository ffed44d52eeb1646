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
    "corner": "corner.png",
    "coverage": "coverage.png",
    "difference": "difference.png",
    "profiles": "profiles.png",
    "channels": "channels.png",  # a learned layer's only: its output channels' stride-phase patterns
    "json": "report.json",
    "html": "index.html",
}

#: Resolution of the figures, and the widest index.html shows them: every figure is drawn this
#: many pixels wide, so that on a page at least this wide a point of text is DPI/72 pixels.
DPI = 100
DISPLAY_WIDTH = 1200
#: The smallest text, in pixels as displayed, that the figures write (the numbers in the cells).
MIN_TEXT_PX = 11.0
#: Side of the corner of the result shown pixel for pixel, and how much the second copy enlarges it.
CORNER = 128
CORNER_ZOOM = 3

CAPTIONS = {
    "result": "The upsampled result with zero edges: the plain transpose convolution (PyTorch's "
    "conv_transpose2d), as deconv upsample writes it by default. Left: the whole picture, shrunk to fit the "
    "page (shrinking averages a thin frame away). Middle: its top-left {c}x{c} pixels as they are in the file, "
    "one screen pixel each. Right: the same corner, each pixel drawn as a {z}x{z} block.",
    "coverage": "How many kernel taps (top left) and how much kernel weight (the others) reach each output "
    "pixel: the upsampled image of a picture of ones. A transpose convolution adds one copy of the kernel per "
    "input pixel; inside the picture the copies overlap from all sides, at the border only from the inside, "
    "so the border gets fewer taps. Top: the top-left corner pixel by pixel. Bottom: the whole output grid "
    "(or its top-left 64x64 corner when the grid is large) and the bottom-right corner. The dashed line "
    "encloses the pixels that receive every tap (what --crop auto keeps). The repeating pattern inside is the "
    "stride phases: pixels at different places within a stride step get different taps; when their weights "
    "differ, a flat picture comes out as a checkerboard.",
    "difference": "Zero-edge result minus replicate-edge result (mean of the colour channels): what the missing "
    "taps took. Each missing tap takes its share of the kernel times the pixel it would have read, so the "
    "loss scales with the local brightness: a dark stretch of border shows little difference though it is "
    "just as short of taps (the coverage figure shows that part, whatever the picture). The colour scale is "
    "stretched to the largest difference so small ones show; zero inside the dashed line means the edge mode "
    "changes only the border.",
    "channels": "What a constant input ({what}) becomes in each output channel of the layer, away from the "
    "borders: one cell per stride phase (rows: the phase within a {sy}-row step, columns: within a {sx}-column "
    "step), coloured and labelled by how far that phase lies from the channel's mean, in {depth} levels (the "
    "image's units). A channel whose cells are all white comes out flat; any colour is a {sy}x{sx} pattern "
    "repeated over the whole picture, a checkerboard. {shown}",
    "profiles": "Intensity along the middle row across the left border and along the middle column across the "
    "top border, for zero edges (PyTorch), replicate and renormalize, drawn over the image's whole range of "
    "values (grey beyond it: clipped when saved). The dotted line is where --crop auto cuts.",
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
    """Side of the corner close-ups: the cropped border three times over, at least 12, at most 40
    pixels; at most 16 (cells large enough to write the taps in) while that still shows the
    border and 3 pixels of the interior."""
    t, _, l, _ = ins.box
    h, w = ins.coverage.taps.shape
    side = max(12, 3 * max(t, l) + 4)
    if max(t, l) + 3 <= 16:
        side = min(side, 16)
    return int(min(h, w, side, 40))


def text_px(fontsize: float, png_width: float) -> float:
    """How many pixels high text of ``fontsize`` points shows in index.html, for a figure
    ``png_width`` pixels wide: its height in the PNG, shrunk as the page shrinks a figure
    wider than :data:`DISPLAY_WIDTH`.

    >>> round(text_px(8, 1200), 2), round(text_px(8, 2400), 2)
    (11.11, 5.56)
    """
    return fontsize * DPI / 72 * min(1.0, DISPLAY_WIDTH / png_width)


def cell_fontsize(cell: float, chars: int, png_width: float) -> float | None:
    """Font size in points for ``chars`` characters written in a cell ``cell`` pixels wide (in the
    PNG), or None when the largest that fits would show smaller than :data:`MIN_TEXT_PX`.

    A digit of DejaVu Sans is 0.64 of the font size wide; the text takes at most 85% of the
    cell's width and 60% of its height, and at most 16 pixels.

    >>> round(cell_fontsize(40, 4, 1200), 2), cell_fontsize(20, 4, 1200)
    (9.56, None)
    """
    px = min(0.85 * cell / (0.64 * max(chars, 1)), 0.6 * cell, 16.0)
    pt = px * 72 / DPI
    return pt if text_px(pt, png_width) >= MIN_TEXT_PX else None


def integer_ticks(hi: float) -> list[int]:
    """Whole-number colour-bar ticks from 0 to ``hi`` (a count of taps), at most 8 of them.

    >>> integer_ticks(4), integer_ticks(36)
    ([0, 1, 2, 3, 4], [0, 6, 12, 18, 24, 30, 36])
    """
    from matplotlib.ticker import MaxNLocator

    top = max(int(round(hi)), 1)
    return [int(v) for v in MaxNLocator(nbins=7, integer=True).tick_values(0, top) if 0 <= v <= top]


def _outline(ax, ins, zoom: int | None = None, corner: str = "top-left") -> None:
    """Dashed rectangle around the fully covered pixels (what --crop auto keeps); zoom into a corner;
    rows and columns numbered by whole numbers."""
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 5, 10]))

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


def _annotate(ax, values: np.ndarray, zoom: int, corner: str, fmt: str, lo: float, hi: float, width: float) -> int:
    """Write each value of a close-up into its cell, dark on the bright end of the colour map, in
    the largest font that fits the cell (figure ``width`` pixels wide); nothing when that would
    show smaller than :data:`MIN_TEXT_PX`. Returns the number of values written."""
    h, w = values.shape
    r0, c0 = (0, 0) if corner == "top-left" else (h - zoom, w - zoom)
    cells = values[r0 : r0 + zoom, c0 : c0 + zoom]
    chars = max(len(fmt.format(v)) for v in cells.flat)
    cell = ax.get_window_extent().width / zoom
    size = cell_fontsize(cell, chars, width)
    if size is None:
        return 0
    span = (hi - lo) or 1.0
    for (r, c), v in np.ndenumerate(cells):
        colour = "black" if (v - lo) / span > 0.6 else "white"
        ax.text(c0 + c, r0 + r, fmt.format(v), ha="center", va="center", fontsize=size, color=colour)
    return cells.size


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _figure(height: float, rows: int = 1, cols: int = 1):
    """A figure :data:`DISPLAY_WIDTH` pixels wide and ``height`` inches high, and its axes."""
    Figure = _matplotlib()
    fig = Figure(figsize=(DISPLAY_WIDTH / DPI, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(rows, cols)


def coverage_figure(ins):
    """The coverage figure: taps and weight of the top-left corner pixel by pixel, then the
    whole grid (or its top-left 64x64) and the bottom-right corner; taps on whole-number ticks."""
    from matplotlib.colors import BoundaryNorm

    cov = ins.coverage
    (z0, c0, t0), (z, _, t1), (_, _, t2) = _views(ins)
    fig, axes = _figure(10.5, 2, 2)
    n = int(cov.full_taps.max())
    taps_cmap = _colormap("magma").resampled(n + 1)
    panels = [
        (axes[0, 0], cov.taps, f"taps, {t1}", z, "top-left", taps_cmap),
        (axes[0, 1], cov.weight, f"kernel weight, {t1}", z, "top-left", "viridis"),
        (axes[1, 0], cov.weight, f"kernel weight, {t0}", z0, c0, "viridis"),
        (axes[1, 1], cov.weight, f"kernel weight, {t2}", z, "bottom-right", "viridis"),
    ]
    fig.get_layout_engine().set(h_pad=0.1, w_pad=0.1)
    drawn = []
    for ax, data, title, zoom, corner, cmap in panels:
        if data is cov.taps:
            lo, hi = 0.0, float(n)
            norm = BoundaryNorm(np.arange(-0.5, n + 1.5), n + 1)
            im = ax.imshow(data, cmap=cmap, norm=norm, interpolation="nearest")
            fig.colorbar(im, ax=ax, shrink=0.9, label="number of taps", ticks=integer_ticks(n))
        else:
            lo, hi = min(0.0, float(data.min())), float(data.max())
            im = ax.imshow(data, cmap=cmap, interpolation="nearest", vmin=lo, vmax=hi)
            fig.colorbar(im, ax=ax, shrink=0.9, label="sum of kernel taps")
        _outline(ax, ins, zoom, corner)
        ax.set_title(title)
        ax.set_xlabel("output column")
        ax.set_ylabel("output row")
        drawn.append((ax, data, zoom, corner, lo, hi))
    fig.suptitle(
        "Coverage: what reaches each output pixel from an image of ones (zero edges); dashed = every tap arrives"
    )
    fig.draw_without_rendering()  # the layout, so the cells' size is known
    width = fig.get_figwidth() * DPI
    for ax, data, zoom, corner, lo, hi in drawn:
        if zoom:
            fmt = "{:.0f}" if data is cov.taps else "{:.2g}"
            _annotate(ax, data, zoom, corner, fmt, lo, hi, width)
    return fig


def _colormap(name: str):
    from matplotlib import colormaps

    return colormaps[name]


def coverage_png(ins) -> bytes:
    return _png(coverage_figure(ins))


def difference_png(ins) -> bytes:
    diff = ins.intensity("zero") - ins.intensity("replicate")
    lim = float(np.abs(diff).max()) or 1.0
    fig, axes = _figure(4.6, 1, 3)
    for ax, (zoom, corner, title) in zip(axes, _views(ins), strict=True):
        im = ax.imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        _outline(ax, ins, zoom, corner)
        ax.set_title(title)
        ax.set_xlabel("output column")
        ax.set_ylabel("output row")
        fig.colorbar(im, ax=ax, shrink=0.85, label="zero - replicate (image units)")
    fig.suptitle(
        f"Edge effect: zero edges minus replicate edges; blue = darker at the border; scale stretched to ±{lim:.3g}\n"
        "the loss is the missing taps' share times the local brightness: a dark border loses little"
    )
    return _png(fig)


def value_range(ins) -> tuple[float, float, str]:
    """(lo, hi, name) of the image's values: 0..255 for 8-bit, 0..65535 for 16-bit, 0..1 for float."""
    from ..imageio import depth_max

    depth = ins.image.depth
    name = "float" if depth == "float" else f"{depth}-bit"
    return 0.0, depth_max(depth), name


def profiles_png(ins) -> bytes:
    return _png(profiles_figure(ins))


def profiles_figure(ins):
    """Intensity across the left and the top border under each edge mode, drawn over the whole
    range of the image's values (:func:`value_range`) and beyond it where the results go."""
    h, w = ins.coverage.taps.shape
    t, _, l, _ = ins.box
    n_cols = int(min(w, max(24, 4 * l + 8)))
    n_rows = int(min(h, max(24, 4 * t + 8)))
    fig, axes = _figure(5.0, 1, 2)
    styles = {
        "zero": ("zero edges (PyTorch)", "o-"),
        "replicate": ("replicate", "s--"),
        "renormalize": ("renormalize", "^:"),
    }
    lo, hi, name = value_range(ins)
    seen = [lo, hi]
    for edge, (label, style) in styles.items():
        if edge not in ins.results:  # a learned layer: no renormalize
            continue
        img = ins.intensity(edge)
        row, col = img[h // 2, :n_cols], img[:n_rows, w // 2]
        seen += [float(row.min()), float(row.max()), float(col.min()), float(col.max())]
        axes[0].plot(np.arange(n_cols), row, style, ms=3, label=label)
        axes[1].plot(np.arange(n_rows), col, style, ms=3, label=label)
    bottom, top = min(seen), max(seen)
    pad = 0.03 * (top - bottom)
    for ax, cut, what, line, n in (
        (axes[0], l, "output column", f"row {h // 2}", n_cols),
        (axes[1], t, "output row", f"column {w // 2}", n_rows),
    ):
        if cut:
            ax.axvline(cut - 0.5, color="grey", ls=":", label="where --crop auto cuts")
        ax.set_ylim(bottom - pad, top + pad)
        ax.set_xlim(-0.5, n - 0.5)
        beyond = f"beyond the {name} range: clipped when saved"
        if top > hi:
            ax.axhspan(hi, top + pad, color="0.85", zorder=0, label=beyond)
        if bottom < lo:
            ax.axhspan(bottom - pad, lo, color="0.85", zorder=0, label=beyond)
        ax.set_xlabel(what)
        ax.set_ylabel(f"intensity (mean of colour channels, {name} {lo:g}..{hi:g})")
        ax.grid(alpha=0.3)
        ax.set_title(f"{line}, across the {'left' if ax is axes[0] else 'top'} border")
    labelled: dict = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            labelled.setdefault(label, handle)
    fig.legend(list(labelled.values()), list(labelled), loc="outside lower center", ncols=len(labelled))
    fig.suptitle(
        "Border profiles: zero edges vs replicate"
        + (" and renormalize" if "renormalize" in ins.results else " (renormalize has no meaning for a layer)")
    )
    return fig


#: The most output channels the channels figure draws (the worst first); the table lists them all.
MAX_CHANNEL_PANELS = 8


def channels_shown(d: dict) -> list[int]:
    """The output channels the channels figure draws: all of a layer of at most :data:`MAX_CHANNEL_PANELS`,
    else the worst that many (flat ones after the worst, when fewer are not flat)."""
    from .inspect import layer_channel_order

    return layer_channel_order(d)[:MAX_CHANNEL_PANELS]


def channels_figure(ins, d: dict):
    """A layer's output channels, one small heat map each: the stride phases' means under the constant
    input, as the deviation from the channel's mean in the image's levels, on one diverging colour scale."""
    from ..imageio import depth_max

    lp = ins.phases_of_layer
    shown = channels_shown(d)
    unit = depth_max(ins.image.depth)
    devs = [(lp.channels[o].sums - lp.channels[o].mean) * unit for o in shown]
    lim = max(float(np.abs(v).max()) for v in devs)
    lim = lim if lim > 0 else 1.0
    cols = min(len(shown), 4)
    rows = -(-len(shown) // cols)
    fig, axes = _figure(3.0 * rows + 0.8, rows, cols)
    axes = np.atleast_1d(axes).ravel()
    sy, sx = ins.geometry.stride
    im = None
    fig.draw_without_rendering()
    for ax, o, dev in zip(axes, shown, devs, strict=False):
        ch = lp.channels[o]
        im = ax.imshow(dev, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        amp = "inf" if ch.amplitude == float("inf") else f"{ch.amplitude:.4g}"
        verdict = "flat" if ch.flat else f"max/min {amp}, swing {ch.peak_to_peak * unit:.3g}"
        rank = f"worst #{d['layer']['worst'].index(o) + 1}" if o in d["layer"]["worst"] else "flat"
        ax.set_title(f"output channel {o} ({rank})\nmean {ch.mean * unit:.4g} levels\n{verdict}", fontsize=10)
        ax.set_xticks(range(sx) if sx <= 8 else [])
        ax.set_yticks(range(sy) if sy <= 8 else [])
        ax.set_xlabel("column phase")
        ax.set_ylabel("row phase")
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    fig.colorbar(im, ax=list(axes[: len(shown)]), shrink=0.9, label="phase mean - channel mean (levels)")
    fig.suptitle(
        f"Output channels, worst first: each stride phase under a constant input minus the channel's mean\n"
        f"({lp.what}); white = flat, scale ±{lim:.3g} levels"
    )
    fig.draw_without_rendering()
    width = fig.get_figwidth() * DPI
    for ax, dev in zip(axes, devs, strict=False):
        if dev.size > 64:
            continue
        cell = ax.get_window_extent().width / dev.shape[1]
        size = cell_fontsize(cell, 6, width)
        if size is None:
            continue
        for (r, c), v in np.ndenumerate(dev):
            colour = "white" if abs(v) > 0.6 * lim else "black"
            ax.text(c, r, f"{v:+.2f}", ha="center", va="center", fontsize=min(size, 12), color=colour)
    return fig


def channels_png(ins, d: dict) -> bytes:
    return _png(channels_figure(ins, d))


def _layer_caption(key: str) -> str:
    """A figure's caption for a learned layer: its kernels are every (input, output) pair, its output
    channels all data, and it has no renormalize."""
    text = CAPTIONS[key]
    if key == "coverage":
        return text + (
            " For a layer: a tap counts where any of its (input, output) kernels has one, and the kernel weight "
            "is what an image of ones gives, the mean over the output channels of the sum of each one's kernels."
        )
    if key == "difference":
        return text.replace("(mean of the colour channels)", "(mean of the layer's output channels)")
    return text.replace(
        "for zero edges (PyTorch), replicate and renormalize",
        "for zero edges (PyTorch) and "
        "replicate (renormalize has no meaning for a layer), the mean of the layer's output channels",
    )


def _channels_html(ins, d: dict, sizes: dict[str, tuple[int, int]]) -> str:
    """A layer's section: what it is, the channels figure, and every output channel in a table, worst first."""
    from ..imageio import depth_max
    from . import bits
    from .inspect import layer_channel_rows, layer_verdict

    layer = d["layer"]
    lp = ins.phases_of_layer
    shown = channels_shown(d)
    sy, sx = d["params"]["stride"]
    rest = len(d["phases"]) - len(shown)
    caption = CAPTIONS["channels"].format(
        what=lp.what,
        sy=sy,
        sx=sx,
        depth=bits(d["input"]["depth"]),
        shown=(
            f"The {len(shown)} worst of the {len(d['phases'])} channels are drawn; the table below has every one."
            if rest
            else "Every output channel is drawn, the worst first."
        ),
    )
    head = ["ch", "inputs", "phase means (rows of the grid split by |)", "min", "max", "max/min", "swing", "levels"]
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in layer_channel_rows(d)
    )
    bias = "no bias" if layer["bias"] is None else "bias " + ", ".join(f"{v:.4g}" for v in layer["bias"])
    values = ", ".join(f"{v:.4g}" for v in layer["constant"]["values"])
    return (
        '<section id="channels"><h2>Output channels</h2>'
        f"<p>A learned layer, {layer['c_in']} input channels to {layer['c_out']} output channels, groups "
        f"{layer['groups']}, {html.escape(bias)}. The constant input: {html.escape(lp.what)} ({values}). "
        f"{html.escape(layer_verdict(d)[:1].upper() + layer_verdict(d)[1:])}.</p>"
        f"<figure>{_img('channels', sizes, 1.0, 'stride-phase pattern of each output channel')}"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        "<table class=channels><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + body
        + "</table>"
        + f"<p class=note>Phase means, min, max and swing in [0, 1] units (the bias's); levels: the swing in the "
        f"image's units ({html.escape(bits(d['input']['depth']))}, full scale {depth_max(ins.image.depth):g}); "
        "max/min: the larger magnitude over the smaller, inf when the phases straddle 0.</p></section>"
    )


def _result_image(ins):
    """The result (under the inspected edge mode) as an 8-bit Pillow image (16-bit and float inputs
    scaled to 0..255)."""
    from PIL import Image

    from ..imageio import depth_max, to_storage

    out = ins.result
    depth = ins.image.depth
    scale = 255.0 / (depth_max(depth) if depth in (8, 16) else max(float(np.abs(ins.image.array).max()), 1e-12))
    if ins.phases_of_layer is not None:  # the layer's output channels: grey, RGB, RGBA, or their mean
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(out.shape[2], "L")
        if mode == "L":
            out = out.mean(axis=2)
    else:
        mode = {"L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA"}[ins.image.channels]
    data, _, _ = to_storage(out * scale, 8)
    if data.ndim == 3 and mode == "L":
        data = data[:, :, 0]
    return Image.fromarray(data, mode)


def _save_png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def result_png(ins) -> bytes:
    """The result as an 8-bit PNG (16-bit and float inputs scaled to 0..255)."""
    return _save_png(_result_image(ins))


def corner_png(ins) -> bytes:
    """The top-left :data:`CORNER` x :data:`CORNER` pixels of :func:`result_png`, unresampled."""
    image = _result_image(ins)
    return _save_png(image.crop((0, 0, min(CORNER, image.width), min(CORNER, image.height))))


def _sentence(text: str) -> str:
    return html.escape(text[:1].upper() + text[1:] + ("" if text.endswith(".") else "."))


def _explain(d: dict) -> list[str]:
    """Paragraphs (HTML) saying what inspect found and why, in plain words with this image's numbers."""
    from ..core.advice import border_words

    out = []
    found = {f["what"]: f["text"] for f in d["findings"]}
    points = {p["where"]: p for p in d["coverage"]["points"]}
    corner, edge = points["top-left corner"], points["left edge"]
    sy, sx = d["params"]["stride"]
    crop = d["crop_auto"]
    if "border" in found:
        box = (crop["top"], crop["bottom"], crop["left"], crop["right"])
        look = "darker" if found["border"].endswith("darker") else "darker or brighter (the kernel has negative taps)"
        out.append(
            "<b>A darker border (the edge effect).</b> A transpose convolution spreads every input pixel over the "
            "output as a scaled copy of the kernel; each value of the kernel is a <i>tap</i>. An output pixel inside "
            "the picture sums the copies of the input pixels all around it; one at the border has input pixels on "
            "one side only, and with zero edges (PyTorch's) the taps that fall off the picture add nothing. So the "
            f"border receives less and comes out {look}. Here {html.escape(border_words(box))} get fewer taps than "
            f"the interior: the top-left corner pixel gets {corner['taps']} of its {corner['full_taps']} taps, a "
            f"pixel in the middle of the left edge {edge['taps']} of {edge['full_taps']}."
        )
    if "kernel" in found and d["checkerboard"] and d.get("layer") is not None:
        worst = d["layer"]["worst"]
        out.append(
            f"<b>A checkerboard.</b> At stride {sy}x{sx} the output pixels fall into {sy * sx} <i>stride phases</i> "
            f"(their place within a {sy}x{sx} step). Each output channel of a layer sums every input channel of its "
            "group through its own kernel, and each phase receives its own share of those kernels' taps. "
            f"{_sentence(found['kernel'])} The figure under <i>Output channels</i> shows each channel's pattern; "
            f"{len(worst)} of {d['layer']['c_out']} channels are not flat."
        )
    elif "kernel" in found and d["checkerboard"]:
        ph = d["phases"][0]
        sums = (
            " | ".join(" ".join(f"{v:.4g}" for v in row) for row in ph["sums"])
            if ph["sums"] is not None
            else f"{ph['min']:.4g} to {ph['max']:.4g}"
        )
        out.append(
            f"<b>A checkerboard.</b> At stride {sy}x{sx} the output pixels fall into {sy * sx} <i>stride phases</i> "
            f"(their place within a {sy}x{sx} step), and each phase receives its own share of the kernel's taps. "
            f"Here their weights sum to {sums} (rows of the {sy}x{sx} grid), not all alike, so even a flat grey "
            f"picture comes out as a repeating {sy}x{sx} pattern, some pixels brighter than others."
        )
    elif "kernel" in found:
        out.append(f"<b>A change of brightness.</b> {_sentence(found['kernel'])}")
    if "clipping" in found:
        lo, hi = 0, d["input"]["depth"]
        out.append(
            f"<b>Clipping.</b> {_sentence(found['clipping'])} A {hi}-bit picture holds values "
            f"{lo}..{2**hi - 1}; what falls outside is cut to the nearest end when the result is saved."
            if isinstance(hi, int)
            else f"<b>Clipping.</b> {_sentence(found['clipping'])}"
        )
    if not out and d.get("layer") is not None:
        out.append(
            "Nothing surprising: every output pixel receives all the kernel taps of its stride phase, and every "
            "output channel of the layer comes out flat from a constant input."
        )
    if not out:
        out.append(
            "Nothing surprising: every output pixel receives all the kernel taps of its stride phase, and every "
            "stride phase sums to 1, so a flat picture comes out flat and as bright as it went in."
        )
    return [f"<p>{p}</p>" for p in out]


def _cures_html(d: dict) -> str:
    """The cures as an HTML section: the options, what they give, what they cost, the whole command."""
    from ..core.cures import NOTHING_TO_CURE
    from .inspect import cure_note

    if not d["cures"]:
        return f'<section id="cures"><h2>Cures</h2><p>{html.escape(NOTHING_TO_CURE.capitalize())}.</p></section>'
    rows = []
    for c in d["cures"]:
        o = c["output"]
        rows.append(
            f"<tr><td><code>{html.escape(c['options'])}</code></td><td>{html.escape(c['cures'])}</td>"
            f"<td>{o['width']}x{o['height']}</td><td>{html.escape(c['cost'])}"
            + (f'<br><code class="cmd">{html.escape(c["command"])}</code>' if c["command"] else "")
            + "</td></tr>"
        )
    return (
        '<section id="cures"><h2>Cures</h2>'
        f"<p>Each cure is options to add to <code>{html.escape(d['upsample'])}</code>, with what it costs "
        f"(sizes are width x height); {html.escape(cure_note(d['cures'], html=True))}.</p>"
        "<table><tr><th>add</th><th>cures</th><th>output</th><th>what it costs, and the whole command</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )


def _img(key: str, sizes: dict[str, tuple[int, int]], scale: float = 1.0, alt: str = "") -> str:
    w, h = sizes[key]
    return (
        f'<a href="{FILES[key]}"><img src="{FILES[key]}" width="{round(w * scale)}" height="{round(h * scale)}" '
        f'alt="{html.escape(alt)}"></a>'
    )


def index_html(ins, d: dict, lines: list[str], sizes: dict[str, tuple[int, int]]) -> bytes:
    """The report page; ``sizes`` are the (width, height) of each picture, shown at that size
    (the figures at most :data:`DISPLAY_WIDTH` wide, the corner of the result pixel for pixel)."""
    i = d["input"]
    name = f"synthetic constant image {i['width']}x{i['height']}" if i["synthetic"] else i["path"]
    stride = ",".join(map(str, d["params"]["stride"]))
    cw = sizes["corner"][0]
    result_caption = CAPTIONS["result"].format(c=cw, z=CORNER_ZOOM)
    if ins.edge.value != "zero":
        result_caption = result_caption.replace(
            "with zero edges: the plain transpose convolution (PyTorch's conv_transpose2d), as deconv upsample "
            "writes it by default",
            f"with --edge {ins.edge.value}, as deconv upsample writes it with that option",
        )
    whole = 512 / max(sizes["result"])
    ow, oh = sizes["result"]
    panels = [
        (f"the whole result, {ow}x{oh}, shrunk", _img("result", sizes, min(1.0, whole), "the whole result")),
        (f"top-left {cw}x{cw}, 1:1", _img("corner", sizes, 1.0, f"top-left {cw} pixels, 1:1")),
        (
            f"the same, each pixel {CORNER_ZOOM}x{CORNER_ZOOM}",
            _img("corner", sizes, CORNER_ZOOM, f"top-left {cw} pixels, each a {CORNER_ZOOM}x{CORNER_ZOOM} block"),
        ),
    ]
    figures = [
        '<figure id="result"><div class="row">'
        + "".join(f"<div><div class=label>{html.escape(label)}</div>{img}</div>" for label, img in panels)
        + f"</div><figcaption>{html.escape(result_caption)}</figcaption></figure>"
    ]
    channels = _channels_html(ins, d, sizes) if d.get("layer") is not None else ""
    for key in ("coverage", "difference", "profiles"):
        caption = CAPTIONS[key] if d.get("layer") is None else _layer_caption(key)
        figures.append(
            f'<figure id="{key}">{_img(key, sizes, 1.0, caption)}'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    what = "learned layer" if d.get("layer") else "kernel"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>deconv inspect: {html.escape(name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: {DISPLAY_WIDTH + 2}px; padding: 0 1em;
  color: #222; line-height: 1.4; }}
figure {{ margin: 1.5em 0; }}
figure img {{ max-width: 100%; height: auto; border: 1px solid #ccc; }}
#result .row {{ display: flex; gap: 1em; align-items: flex-start; flex-wrap: wrap; }}
#result img {{ image-rendering: pixelated; }}
.label {{ font-size: 0.9em; color: #444; margin-bottom: 0.2em; }}
figcaption, #found p, #cures p {{ max-width: 60em; }}
figcaption {{ font-size: 0.95em; color: #444; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }}
table {{ border-collapse: collapse; }}
td, th {{ text-align: left; vertical-align: top; padding: 0.4em 0.8em; border-top: 1px solid #ddd; }}
td:first-child {{ white-space: nowrap; }}
code.cmd {{ display: inline-block; margin-top: 0.3em; background: #f6f6f6; padding: 0.15em 0.4em; }}
table.channels td {{ font-variant-numeric: tabular-nums; }}
table.channels td:nth-child(n+4) {{ text-align: right; }}
p.note {{ font-size: 0.9em; color: #444; max-width: 60em; }}
</style>
</head>
<body>
<h1>deconv inspect</h1>
<p>{html.escape(name)} with {what} <code>{html.escape(d["kernel"]["spec"])}</code>
({"x".join(map(str, d["kernel"]["shape"]))}) at stride {stride}: output {d["output"]["width"]}x{d["output"]["height"]}.
Every number below is also in <a href="{FILES["json"]}">{FILES["json"]}</a>.</p>
<section id="found"><h2>What inspect found</h2>
{chr(10).join(_explain(d))}
</section>
{channels}
{chr(10).join(figures)}
<section id="numbers"><h2>The numbers</h2>
<pre>{html.escape(chr(10).join(lines))}</pre>
</section>
{_cures_html(d)}
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
    from .inspect import inspect_lines

    _matplotlib()  # fail before anything is written
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise DeconvError(f"{root}: exists and is not a directory; choose another --report DIR", usage=True)
    layer = ins.phases_of_layer is not None
    paths = {key: root / name for key, name in FILES.items() if layer or key != "channels"}
    if not overwrite:
        existing = [str(p) for p in paths.values() if p.exists()]
        if existing:
            raise DeconvError(f"{existing[0]}: already exists; pass --overwrite to replace the report in {root}")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DeconvError(f"{root}: cannot create the report directory ({e.strerror or e})") from None
    from PIL import Image

    d = ins.as_dict()
    d["files"] = {key: path.name for key, path in paths.items()}
    blobs = {
        "result": result_png(ins),
        "corner": corner_png(ins),
        "coverage": coverage_png(ins),
        "difference": difference_png(ins),
        "profiles": profiles_png(ins),
    }
    if layer:
        blobs["channels"] = channels_png(ins, d)
    sizes = {}
    for key, data in blobs.items():
        with Image.open(io.BytesIO(data)) as im:
            sizes[key] = im.size
    blobs["json"] = (json.dumps(d, indent=2) + "\n").encode()
    blobs["html"] = index_html(ins, d, inspect_lines(d, advice=False), sizes)
    for key, data in blobs.items():
        atomic_write(paths[key], partial(_write_bytes, data=data), overwrite=overwrite)
    return {key: str(p) for key, p in paths.items()}
