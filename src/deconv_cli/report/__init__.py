"""What people read: size-math and kernel reports as rich tables (terminal) or plain text (pipes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core import SIDES, AxisSize, PhaseRange, PhaseReport
from ..core.advice import GAIN_TOLERANCE
from ..modes import SamePadding

if TYPE_CHECKING:  # rich is imported by the functions that build tables, for start-up time
    from rich.console import Group
    from rich.table import Table


def fmt_num(v: float) -> str:
    """Short, exact-enough rendering of a kernel value."""
    return f"{v:.6g}"


def size_table(axes: tuple[AxisSize, AxisSize], title: str | None = None, params: dict | None = None) -> Table:
    """The size math as a table; ``params`` (:meth:`Geometry.params`) adds a same padding's rows below it."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for name in ("axis", "N_in", "k", "s", "p", "a", "d", "N_out = (N_in - 1)·s - 2p + d·(k - 1) + a + 1"):
        t.add_column(name, justify="left" if name in ("axis",) or name.startswith("N_out") else "right")
    for ax in axes:
        t.add_row(
            ax.axis,
            str(ax.n_in),
            str(ax.kernel),
            str(ax.stride),
            str(ax.padding),
            str(ax.output_padding),
            str(ax.dilation),
            ax.formula(),
        )
    for label, text in same_rows(params or {}):
        t.add_row(label, "", "", "", "", "", "", text)
    t.add_row("output", "", "", "", "", "", "", output_size(axes), style="bold")
    return t


def size_lines(axes: tuple[AxisSize, AxisSize], params: dict | None = None) -> list[str]:
    """Plain text, one line an axis, then a same padding's rows (from ``params``), then the output size.

    >>> from deconv_cli.core import size_math
    >>> print("\\n".join(size_lines(size_math(3, 3, 1))))
    rows: N_out = (3 - 1) x 1 - 2x0 + 3 = 5
    cols: N_out = (3 - 1) x 1 - 2x0 + 3 = 5
    output: 5x5 (width x height)
    """
    return (
        [f"{ax.axis}: {ax.formula()}" for ax in axes]
        + [f"{label}: {text}" for label, text in same_rows(params or {})]
        + [f"output: {output_size(axes)}"]
    )


def output_size(axes: tuple[AxisSize, AxisSize]) -> str:
    """The output's size as people read image sizes: ``WIDTHxHEIGHT``, labelled.

    >>> from deconv_cli.core import size_math
    >>> output_size(size_math((3, 5), 3, 2))
    '11x7 (width x height)'
    """
    rows, cols = axes
    return f"{cols.kept}x{rows.kept} (width x height)"


def same_rows(p: dict) -> list[tuple[str, str]]:
    """(label, text) rows for a same padding, from the ``params`` of a report
    (:meth:`~deconv_cli.core.Geometry.params`); none for a numeric padding.

    >>> from deconv_cli.core import Geometry
    >>> g = Geometry.of(2, "same-lower")
    >>> rows = same_rows(g.params(g.axes((4, 4), (3, 3))))
    >>> print(rows[0][1][:60])
    same-lower (ONNX SAME_LOWER), exactly stride x the input: pa
    >>> for label, text in rows[1:]:
    ...     print(f"{label}: {text}")
    same cut: from the full (N_in - 1)*s + d*(k - 1) + 1 output: top 1, bottom 0, left 1, right 0
    pytorch: rows: padding=1, output_padding=1; cols: padding=1, output_padding=1
    """
    if not p.get("same"):
        return []
    mode = SamePadding(p["same_mode"])
    names = f"TF/Keras 'same', ONNX {mode.onnx}" if mode is SamePadding.same_upper else f"ONNX {mode.onnx}"
    cut = p["cut"]
    added = " (negative: zero rows added)" if min(cut.values()) < 0 else ""
    return [
        (
            "same",
            f"{mode} ({names}), exactly stride x the input: padding {_pair(p['padding'])}, "
            f"output_padding {_pair(p['output_padding'])}"
            + "".join(
                f", then {_pair(p[key])} more cut at the {where}"
                for key, where in (("trim_start", "start"), ("trim_end", "end"))
                if any(p[key])
            ),
        ),
        (
            "same cut",
            f"from the full (N_in - 1)*s + d*(k - 1) + 1 output{added}: "
            + ", ".join(f"{side} {cut[side]}" for side in SIDES),
        ),
        ("pytorch", "; ".join(f"{axis}: {call}" for axis, call in p["pytorch"].items())),
    ]


def bits(depth: int | str) -> str:
    """``8-bit``, ``16-bit`` or ``float``: an image's sample depth as people say it."""
    return f"{depth}-bit" if isinstance(depth, int) else str(depth)


def _pair(v: list[int]) -> str:
    return f"{v[0]},{v[1]}"


def verdict(phases: PhaseReport | PhaseRange) -> str:
    """What a constant image becomes, in words.

    >>> verdict(PhaseReport(np.full((2, 2), 16.0)))[:56]
    'flat, gain 16: every stride phase sums to 16, so a const'
    """
    if phases.flat:
        gain = phases.hi
        total = fmt_num(gain)
        if abs(gain - 1.0) <= GAIN_TOLERANCE:
            return f"flat, gain 1: every stride phase sums to {total}, so a constant image comes out constant"
        return (
            f"flat, gain {total}: every stride phase sums to {total}, so a constant image comes out constant but "
            f"{total} times as bright (--normalize phase makes the gain 1)"
        )
    lo, hi = phases.lo, phases.hi
    amp = "inf" if phases.amplitude == float("inf") else f"{phases.amplitude:.4g}"
    pattern = "this grid" if phases.sums is not None else "its stride phases"
    cure = (
        " (--normalize phase evens it)"
        if lo > 0
        else "; a phase that sums to 0 or less cannot be evened by --normalize: use a kernel at least as long "
        "as the stride"
    )
    return (
        f"checkerboard: stride phase sums range {fmt_num(lo)} .. {fmt_num(hi)} (max/min = {amp}), so a constant "
        f"image comes out as {pattern} repeated{cure}"
    )


def phase_range_text(ph: PhaseRange, stride) -> str:
    """The phase sums of a stride with too many phases to list.

    >>> from deconv_cli.core import phase_range
    >>> phase_range_text(phase_range(np.ones((1, 1)), 65536), (65536, 65536))
    'phase sums for stride 65536,65536: 4294967296 phases, too many to list; 1 gets taps; they range 0 .. 1'
    """
    gets = f"{ph.reached} {'gets' if ph.reached == 1 else 'get'} taps"
    return (
        f"phase sums for stride {stride[0]},{stride[1]}: {ph.phases} phases, too many to list; {gets}; "
        f"they range {fmt_num(ph.lo)} .. {fmt_num(ph.hi)}"
    )


def matrix_table(m: np.ndarray, title: str) -> Group:
    """A titled grid of numbers; the title on its own line so a narrow table does not wrap it."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(header_style="bold")
    t.add_column("", style="dim", justify="right")
    for j in range(m.shape[1]):
        t.add_column(str(j), justify="right")
    for i, row in enumerate(m):
        t.add_row(str(i), *(fmt_num(float(v)) for v in row))
    return Group(Text(title, style="bold"), t)


def matrix_lines(m: np.ndarray) -> list[str]:
    cells = [[fmt_num(float(v)) for v in row] for row in m]
    width = max(len(c) for row in cells for c in row)
    return ["  ".join(c.rjust(width) for c in row) for row in cells]


def kernel_dict(k: np.ndarray, phases: list[PhaseReport | PhaseRange], stride, dilation, spec: str) -> dict:
    return {
        "kernel": spec,
        "shape": list(k.shape),
        "stride": list(stride),
        "dilation": list(dilation),
        "values": k.tolist(),
        "sum": float(k.sum()),
        "channels": [
            {
                "phase_sums": None if ph.sums is None else ph.sums.tolist(),  # None: too many phases to list
                "min": ph.lo,
                "max": ph.hi,
                "flat": ph.flat,
                "amplitude": None if ph.amplitude == float("inf") else ph.amplitude,
                "verdict": verdict(ph),
            }
            for ph in phases
        ],
    }


def layer_kernel_dict(k: np.ndarray, groups: int, stride, dilation, spec: str) -> dict:
    """``kernel show``'s numbers for a learned layer's 4-D weight: the phase sums of every (input,
    output) kernel, and per output channel their total over its group's inputs (each at 1, no bias)
    with its verdict."""
    from ..core import ChannelPhases, layer_phase_sums, layer_response, worst_channels

    pairs = layer_phase_sums(k, stride, dilation)
    c_in, cog = k.shape[:2]
    cig = c_in // groups
    totals = layer_response(pairs, groups, np.ones(c_in))
    chans = [ChannelPhases(t) for t in totals]
    return {
        "kernel": spec,
        "shape": list(k.shape),
        "stride": list(stride),
        "dilation": list(dilation),
        "groups": groups,
        "values": k.tolist(),
        "sum": float(k.sum()),
        # each (input, output) kernel's phase report, as kernel_dict gives a 3-D kernel's planes
        "channels": kernel_dict(
            k, [phase_sums_of(p, stride, dilation) for p in k.reshape((-1,) + k.shape[-2:])], stride, dilation, spec
        )["channels"],
        "pairs": [
            {
                "input": i,
                "output": (i // cig) * cog + j,
                "sum": float(k[i, j].sum()),
                "phase_sums": pairs[i, j].tolist(),
            }
            for i in range(c_in)
            for j in range(cog)
        ],
        "outputs": [
            {
                "output": o,
                "inputs": list(range((o // cog) * cig, (o // cog + 1) * cig)),
                "phase_sums": ch.sums.tolist(),
                "min": ch.lo,
                "max": ch.hi,
                "flat": ch.flat,
                "amplitude": None if ch.amplitude == float("inf") else ch.amplitude,
                "peak_to_peak": ch.peak_to_peak,
                "verdict": channel_verdict(ch),
            }
            for o, ch in enumerate(chans)
        ],
        "worst": worst_channels(chans),
        "checkerboard": not all(ch.flat for ch in chans),
    }


def phase_sums_of(plane: np.ndarray, stride, dilation) -> PhaseReport | PhaseRange:
    from ..core import phase_report

    return phase_report(plane, stride, dilation)


def channel_verdict(ch) -> str:
    """What one output channel of a layer makes of a constant input, in words (a
    :class:`~deconv_cli.core.ChannelPhases`).

    >>> from deconv_cli.core import ChannelPhases
    >>> channel_verdict(ChannelPhases(np.full((2, 2), 0.5)))
    'flat: every stride phase comes out 0.5'
    """
    if ch.flat:
        return f"flat: every stride phase comes out {fmt_num(ch.hi)}"
    amp = "inf" if ch.amplitude == float("inf") else f"{ch.amplitude:.4g}"
    return (
        f"checkerboard: stride phases come out {fmt_num(ch.lo)} .. {fmt_num(ch.hi)} (max/min {amp}, swing "
        f"{ch.peak_to_peak:.3g})"
    )


def _grid(sums: list, fmt=fmt_num) -> str:
    return " | ".join(" ".join(fmt(v) for v in row) for row in sums)


def _short(v: float) -> str:
    return f"{v:.4g}"


def layer_kernel_lines(d: dict) -> list[str]:
    """Plain text of :func:`layer_kernel_dict`."""
    s = d["stride"]
    c_in, cog = d["shape"][:2]
    lines = [
        f"{d['kernel']}: learned layer {'x'.join(map(str, d['shape']))} (C_in x C_out/groups x kh x kw), groups "
        f"{d['groups']}, sum {fmt_num(d['sum'])}",
        f"phase sums for stride {s[0]},{s[1]} of each (input, output) kernel (rows of the sy x sx grid split by |):",
    ]
    for p in d["pairs"]:
        lines.append(f"  in {p['input']} -> out {p['output']}: {_grid(p['phase_sums'])}  (sum {fmt_num(p['sum'])})")
    lines.append("per output channel, every input channel of its group at 1 (no bias):")
    for o in d["outputs"]:
        ins = ",".join(map(str, o["inputs"]))
        lines.append(f"  out {o['output']} (inputs {ins}): {_grid(o['phase_sums'])}  {o['verdict']}")
    worst = d["worst"]
    lines.append(
        "worst output channels by max/min: " + ", ".join(map(str, worst))
        if worst
        else "no checkerboard: every output channel comes out flat"
    )
    return lines


def layer_kernel_table(d: dict) -> Group:
    """:func:`layer_kernel_lines` as rich tables: input channels down, output channels across."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    s = d["stride"]
    c_out = len(d["outputs"])
    head = layer_kernel_lines(d)[0]
    t = Table(
        title=f"phase sums for stride {s[0]},{s[1]} (rows of the sy x sx grid split by |), input down, output across",
        title_justify="left",
        header_style="bold",
    )
    t.add_column("in \\ out", style="dim", justify="right")
    for o in range(c_out):
        t.add_column(str(o), justify="right")
    c_in = d["shape"][0]
    cells = [["-"] * c_out for _ in range(c_in)]  # "-": the pair is in different groups
    for p in d["pairs"]:
        cells[p["input"]][p["output"]] = _grid(p["phase_sums"], _short)
    for i, row in enumerate(cells):
        t.add_row(str(i), *row)
    t.add_row("total", *(_grid(o["phase_sums"], _short) for o in d["outputs"]), style="bold")
    verdicts = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    verdicts.add_column("out")
    verdicts.add_column("every input of its group at 1, no bias")
    for o in d["outputs"]:
        verdicts.add_row(str(o["output"]), o["verdict"])
    worst = layer_kernel_lines(d)[-1]
    return Group(Text(head, style="bold"), t, verdicts, Text(worst))


def outcome_rows(d: dict) -> list[tuple[str, str]]:
    """(label, text) rows summarising one upsample (from Outcome.as_dict()); defaults left out."""
    i, o, p, cr, c, s = d["input"], d["output"], d["params"], d["crop"], d["clipped"], d["seconds"]
    rows = [(ax["axis"], ax["formula"]) for ax in d["size_math"]]
    rows.append(("input", f"{i['path']}  {i['width']}x{i['height']} {i['channels']} {bits(i['depth'])}"))
    rows.append(("output", f"{o['path']}  {o['width']}x{o['height']} {o['channels']} {bits(o['depth'])}"))
    rows.append(
        (
            "kernel",
            f"{d['kernel']['spec']}  {'x'.join(map(str, d['kernel']['shape']))}, sum {fmt_num(d['kernel']['sum'])}",
        )
    )
    kern = d["kernel"]
    if kern.get("factors") is not None:
        rows.append(("normalize", normalize_text(kern["normalize"], kern["factors"])))
    if p.get("scale"):
        rows.append(("scale", f"{'x'.join(map(str, p['scale']['factor']))} stands for {p['scale']['means']}"))
    rows += same_rows(p)
    if p.get("side_padding"):
        rows.append(("padding", p["side_padding"]))
    if p.get("geometry_from"):
        rows.append(("geometry", geometry_from_text({**p, "groups": [kern.get("groups")] * 2})))
    if p["edge"] != "zero":
        rows.append(("edge", p["edge"]))
    if cr["mode"] != "none" or any(cr[k] for k in ("top", "bottom", "left", "right")):
        rows.append(
            ("crop", f"top {cr['top']}, bottom {cr['bottom']}, left {cr['left']}, right {cr['right']} ({cr['reason']})")
        )
    rows.append(("clipped", f"{c['total']} values ({c['below']} below the range, {c['above']} above)"))
    rows.append(
        ("time", f"{s['total']:.3f} s (load {s['load']:.3f}, compute {s['compute']:.3f}, save {s['save']:.3f})")
    )
    return rows


def _pair_text(value: list) -> str:
    return str(value[0]) if value[0] == value[1] else f"{value[0]},{value[1]}"


def geometry_from_text(p: dict) -> str:
    """Where a model-file kernel's geometry came from, as the report shows it.

    >>> geometry_from_text({"stride": [2, 2], "padding": [1, 1], "output_padding": [0, 0], "dilation": [1, 1],
    ...     "geometry_from": {"stride": "command line", "padding": "command line", "output_padding": "default",
    ...     "dilation": "default", "groups": "default"}})
    'from the command line: stride 2, padding 1; defaults: output_padding 0, dilation 1, groups'
    """
    groups: dict[str, list[str]] = {}
    for name, origin in p["geometry_from"].items():
        value = p.get(name)
        shown = name if value is None else f"{name} {_pair_text(value)}"
        groups.setdefault(origin, []).append(shown)
    heads = {
        "file": "from the file",
        "command line": "from the command line",
        "default": "defaults",
        "--scale": "from --scale",
    }
    return "; ".join(f"{heads.get(origin, origin)}: {', '.join(items)}" for origin, items in groups.items())


def normalize_text(mode: str, factors: list) -> str:
    """``--normalize``'s factors as the report shows them: per stride phase (rows of the sy x sx grid
    split by ``|``), per channel when the kernel has one plane each.

    >>> normalize_text("phase", [[[0.25, 0.5], [0.5, 1.0]]])
    'phase: each stride phase multiplied by 0.25 0.5 | 0.5 1 (rows of the sy x sx grid)'
    >>> normalize_text("sum", [[[0.125, 0.125], [0.125, 0.125]]])
    'sum: kernel multiplied by 0.125'
    """
    planes = []
    for plane in factors:
        if mode == "sum":
            planes.append(fmt_num(plane[0][0]))
        else:
            planes.append(" | ".join(" ".join(fmt_num(v) for v in row) for row in plane))
    what = "kernel multiplied by" if mode == "sum" else "each stride phase multiplied by"
    tail = "" if mode == "sum" else " (rows of the sy x sx grid)"
    body = planes[0] if len(planes) == 1 else "; ".join(f"channel {c}: {t}" for c, t in enumerate(planes))
    return f"{mode}: {what} {body}{tail}"


def advice_lines(d: dict) -> list[str]:
    """The ``deconv: hint:`` and ``deconv: warning:`` lines of one result (from ``Outcome.as_dict()``),
    at most one of each. A batch says them once, at the end (:func:`batch_advice_lines`)."""
    a, out = d["advice"], d["output"]["path"]
    out = "stdout" if out == "-" else out
    lines = [f"deconv: hint: {out}: {a['hint']}"] if a["hint"] else []
    return lines + ([f"deconv: warning: {out}: {a['warning']}"] if a["warning"] else [])


def batch_advice_lines(advice: list[dict], settings) -> list[str]:
    """The batch's summary lines: one hint for every deficient border, one warning for the kernel
    and the clipping of every file."""
    from ..core.advice import batch_hint, batch_warning

    lines = []
    borders = [a["deficient_border"] for a in advice if any(a["deficient_border"].values())]
    hint = batch_hint(borders, len(advice), settings.geometry.stride, settings.geometry.same)
    if hint:
        lines.append(f"deconv: hint: {hint}")
    warning = batch_warning(advice)
    if warning:
        lines.append(f"deconv: warning: {warning}")
    return lines


def outcome_lines(d: dict) -> list[str]:
    """Plain text, one ``label: text`` line a row."""
    return [f"{label}: {text}" for label, text in outcome_rows(d)]


def outcome_table(d: dict) -> Table:
    """The same rows as a borderless two-column table."""
    from rich.table import Table

    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for label, text in outcome_rows(d):
        t.add_row(label, text)
    return t


# --------------------------------------------------------------------------- inspect
