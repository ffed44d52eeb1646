"""``deconv inspect``'s report in words and tables: its sections (setup, coverage, border bands,
crop, a layer's output channels, what was found and the cures), as rich tables on a terminal
and plain lines in a pipe; :mod:`.pictures` draws the same numbers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import PhaseRange, PhaseReport
from ..core.cures import NOTHING_TO_CURE
from . import bits, fmt_num, normalize_text, same_rows, verdict

if TYPE_CHECKING:  # rich is imported by the functions that build tables, for start-up time
    from rich.console import Group


def _opt(v: float | None, fmt: str = "{:.4g}") -> str:
    return "-" if v is None else fmt.format(v)


def phase_verdict(ph: dict) -> str:
    """:func:`verdict` for one entry of ``Inspection.as_dict()["phases"]``."""
    if ph["sums"] is None:
        return verdict(PhaseRange(ph["min"], ph["max"], ph["reached"], ph["phases"]))
    return verdict(PhaseReport(np.asarray(ph["sums"], dtype=np.float64)))


#: The most stride phases a row of the output-channel table lists; beyond, only their range.
MAX_LISTED_PHASES = 16


def layer_channel_order(d: dict) -> list[int]:
    """A layer's output channels, the worst (:func:`~deconv_cli.core.worst_channels`) first, then the flat ones."""
    worst = d["layer"]["worst"]
    return worst + [ph["channel"] for ph in d["phases"] if ph["channel"] not in worst]


def layer_channel_rows(d: dict) -> list[list[str]]:
    """One row per output channel of a layer (from ``Inspection.as_dict()``), the worst first."""
    rows = []
    by = {ph["channel"]: ph for ph in d["phases"]}
    for o in layer_channel_order(d):
        ph = by[o]
        ins = ph["inputs"]
        inputs = ",".join(map(str, ins)) if len(ins) <= 4 else f"{ins[0]}..{ins[-1]}"
        means = (
            " | ".join(" ".join(f"{v:.5g}" for v in row) for row in ph["sums"])
            if ph["phases"] <= MAX_LISTED_PHASES
            else f"{ph['phases']} phases"
        )
        amp = "flat" if ph["flat"] else "inf" if ph["amplitude"] is None else f"{ph['amplitude']:.4g}"
        rows.append(
            [
                str(o),
                inputs,
                means,
                f"{ph['min']:.4g}",
                f"{ph['max']:.4g}",
                amp,
                f"{ph['peak_to_peak']:.3g}",
                f"{ph['peak_to_peak_levels']:.3g}",
            ]
        )
    return rows


def layer_verdict(d: dict) -> str:
    """What a constant input becomes through a layer, in words (from ``Inspection.as_dict()``).

    >>> ph = {"channel": 0, "flat": True, "amplitude": 1.0, "mean": 0.5, "peak_to_peak": 0.0}
    >>> layer_verdict({"layer": {"worst": [], "c_out": 1}, "phases": [ph]})
    'flat: every output channel comes out constant (no checkerboard)'
    """
    layer = d["layer"]
    worst = layer["worst"]
    if not worst:
        return "flat: every output channel comes out constant (no checkerboard)"
    ph = next(p for p in d["phases"] if p["channel"] == worst[0])
    amp = "inf" if ph["amplitude"] is None else f"{ph['amplitude']:.4g}"
    return (
        f"checkerboard in {len(worst)} of {layer['c_out']} output channels; the worst, channel {worst[0]}, "
        f"max/min {amp} (swing {ph['peak_to_peak']:.3g}); ranked by max/min: {', '.join(map(str, worst))}"
    )


def _inspect_sections(d: dict) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """(title, header, rows, notes) for each section of the inspect report; notes are lines said under it."""
    i, k, cov, bands, crop = d["input"], d["kernel"], d["coverage"], d["bands"], d["crop_auto"]
    src = f"synthetic constant image, value {i['value']}" if i["synthetic"] else i["path"]
    setup = [
        ["input", f"{src}  {i['width']}x{i['height']} {i['channels']} {bits(i['depth'])}"],
        ["kernel", f"{k['spec']}  {'x'.join(map(str, k['shape']))}, sum {fmt_num(k['sum'])}"],
    ]
    if k.get("factors") is not None:
        setup.append(["normalize", normalize_text(k["normalize"], k["factors"])])
    if d.get("edge", "zero") != "zero":
        setup.append(["edge", f"{d['edge']} (the result, what was found and the cures are for it)"])
    p = d["params"]
    setup += [[label, text] for label, text in same_rows(p)]
    setup += [[ax["axis"], ax["formula"]] for ax in d["size_math"]]
    setup.append(["output", f"{d['output']['width']}x{d['output']['height']} (width x height)"])
    layer = d.get("layer")
    if layer is not None:
        bias = "no bias" if layer["bias"] is None else "bias " + ", ".join(fmt_num(v) for v in layer["bias"])
        setup.append(["layer", f"{layer['c_in']} -> {layer['c_out']} channels, groups {layer['groups']}, {bias}"])
        values = ", ".join(f"{v:.4g}" for v in layer["constant"]["values"])
        setup.append(["constant", f"{layer['constant']['what']}: {values}"])
        setup.append(["verdict", layer_verdict(d)])
    for ph in [] if layer is not None else d["phases"]:
        name = "phases" if ph["channel"] is None else f"phases ch {ph['channel']}"
        setup.append(
            [
                name,
                "  |  ".join(" ".join(fmt_num(v) for v in row) for row in ph["sums"])
                + "  (rows of the sy x sx phase-sum grid)"
                if ph["sums"] is not None
                else f"{ph['phases']} phases, too many to list; {ph['reached']} get{'s' if ph['reached'] == 1 else ''} "
                "taps; "
                f"they range {fmt_num(ph['min'])} .. {fmt_num(ph['max'])}",
            ]
        )
        setup.append(["verdict", phase_verdict(ph)])
    lo, hi = cov["interior_taps"]
    wlo, whi = (fmt_num(w) for w in cov["interior_weight"])
    taps = lo if lo == hi else f"{lo}..{hi}"
    weight = wlo if wlo == whi else f"{wlo}..{whi}"
    setup.append(
        [
            "interior",
            f"{taps} taps, weight {weight} (by stride phase); "
            f"{cov['complete_pixels']} of {cov['pixels']} output pixels get all their taps",
        ]
    )
    points = [
        [
            pt["where"],
            f"{pt['row']},{pt['col']}",
            f"{pt['taps']}/{pt['full_taps']}",
            fmt_num(pt["weight"]),
            fmt_num(pt["full_weight"]),
            _opt(pt["ratio"]),
        ]
        for pt in cov["points"]
    ]
    sides = [
        [
            s["side"],
            str(s["width"]),
            _opt(s["mean"], "{:.2f}"),
            _opt(s["replicate_mean"], "{:.2f}"),
            _opt(s["ratio_vs_replicate"]),
            _opt(bands["interior_mean"], "{:.2f}"),
            _opt(s["ratio"]),
        ]
        for s in bands["sides"]
    ]
    diff = d["difference"]
    crop_rows = [
        [
            f"{crop['top']},{crop['bottom']},{crop['left']},{crop['right']}",
            f"{crop['kept']['width']}x{crop['kept']['height']}",
            _opt(diff["max_abs"], "{:.3g}"),
            _opt(diff["interior_max_abs"], "{:.3g}"),
        ]
    ]
    found = [[f["what"], f["text"]] for f in d["findings"]]
    if d["cures"]:
        cure_rows = [[c["options"], f"{c['output']['width']}x{c['output']['height']}", c["cost"]] for c in d["cures"]]
    else:
        head, _, tail = NOTHING_TO_CURE.partition(": ")
        cure_rows = [[head, f"{d['output']['width']}x{d['output']['height']}", tail]]
    channel_sections = []
    if layer is not None:
        channel_sections.append(
            (
                "output channels: stride-phase means under the constant input ([0, 1] units), worst first",
                ["ch", "inputs", "phase means (rows of the sy x sx grid)", "min", "max", "max/min", "swing", "levels"],
                layer_channel_rows(d),
                [
                    "max/min: the larger magnitude over the smaller (inf when the phases straddle 0); swing: max - "
                    f"min; levels: the swing in the image's units ({bits(d['input']['depth'])})"
                ],
            )
        )
    return [
        ("deconv inspect", ["", ""], setup, []),
        *channel_sections,
        (
            "coverage (zero edges): taps and kernel weight reaching each pixel",
            ["where", "row,col", "taps/full", "weight", "interior weight", "ratio"],
            points,
            [],
        ),
        (
            "border bands (what --crop auto removes): the edge effect, then the border against the interior",
            ["side", "width", "zero mean", "replicate mean", "zero/replicate", "interior", "zero/interior"],
            sides,
            BAND_NOTES,
        ),
        (
            "--crop auto (top,bottom,left,right) and the edge effect",
            ["crop", "keeps (w x h)", "max |zero - replicate|", "same, inside the crop"],
            crop_rows,
            [],
        ),
        (
            "what inspect found"
            + (
                " (zero edges: deconv upsample's default, PyTorch's conv_transpose2d)"
                if d.get("edge", "zero") == "zero"
                else f" (--edge {d['edge']})"
            ),
            ["", ""],
            found or [["-", "nothing surprising"]],
            [],
        ),
        (
            f"cures: options to add to {d['upsample']}",
            ["options", "output (w x h)", "cost"],
            cure_rows,
            [cure_note(d["cures"])] if d["cures"] else [],
        ),
    ]


#: The one-line explanations under the border-band table: the edge effect first, then the ratio
#: that depends on the picture.
BAND_NOTES = [
    "zero/replicate: the edge effect, the border with zero edges over the same border given every tap "
    "(replicate); 0.5: half lost, whatever the picture",
    "zero/interior: the border over the middle of the picture; depends on the picture too (a dark border "
    "is below 1 even with every tap)",
]


def cure_note(cures: list[dict], *, html: bool = False) -> str:
    """The line under the cures table: which cures combine, and where the whole commands are
    (``html``: they are beside each cure).

    >>> cure_note([{"cures": "border", "options": "--crop auto"}, {"cures": "gain", "options": "--normalize phase"}])
    "one border cure combines with --normalize phase; --json gives each cure's whole command"
    """
    others = [c["options"] for c in cures if c["cures"] != "border" and c["options"].startswith("-")]
    border = sum(c["cures"] == "border" for c in cures)
    combine = (
        f"one border cure combines with {' and '.join(others)}"
        if border and others
        else "take one of them"
        if border > 1
        else ""
    )
    where = "the whole command is under each" if html else "--json gives each cure's whole command"
    return f"{combine}; {where}" if combine else where


def inspect_lines(d: dict, *, advice: bool = True) -> list[str]:
    """Plain text for pipes: ``section`` headings, then tab-free aligned rows; without the last
    two sections (what inspect found, and the cures) when not ``advice``."""
    out: list[str] = []
    sections = _inspect_sections(d)
    for title, header, rows, notes in sections if advice else sections[:-2]:
        out.append(f"# {title}")
        table = ([header] if any(header) else []) + rows
        widths = [max(len(r[j]) for r in table) for j in range(len(table[0]))]
        for r in table:
            out.append("  ".join(c.ljust(widths[j]) for j, c in enumerate(r)).rstrip())
        out += notes
    return out


#: A cell of numbers, right-aligned in the rich tables: 0.5, 1023x1023, 2/4, 1,1,1,1, -.
_NUMBERS = re.compile(r"[-+0-9.,/x ]*")


def inspect_table(d: dict) -> Group:
    """The same sections as rich tables."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    for n, (title, header, rows, notes) in enumerate(_inspect_sections(d)):
        t = Table(
            title=title,
            title_justify="left",
            title_style="bold",
            show_header=any(header),
            header_style="bold",
            box=None if n == 0 else None,
            pad_edge=False,
        )
        for j, name in enumerate(header):
            numbers = all(_NUMBERS.fullmatch(r[j]) for r in rows)
            t.add_column(
                name,
                style="bold" if n == 0 and j == 0 else None,
                justify="right" if j and n and numbers else "left",
                overflow="fold",
            )
        for r in rows:
            t.add_row(*r)
        parts += [t, *(Text(note, style="dim") for note in notes), Text("")]
    return Group(*parts[:-1])
