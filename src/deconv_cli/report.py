"""What people read: size-math and kernel reports as rich tables (terminal) or plain text (pipes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .core import AxisSize, PhaseReport

if TYPE_CHECKING:  # rich is imported by the functions that build tables, for start-up time
    from rich.console import Group
    from rich.table import Table


def fmt_num(v: float) -> str:
    """Short, exact-enough rendering of a kernel value."""
    return f"{v:.6g}"


def size_table(axes: tuple[AxisSize, AxisSize], title: str | None = None) -> Table:
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for name in ("axis", "N_in", "k", "s", "p", "a", "d", "N_out = (N_in - 1)·s - 2p + d·(k - 1) + a + 1"):
        t.add_column(name, justify="left" if name in ("axis",) or name.startswith("N_out") else "right")
    for ax in axes:
        t.add_row(
            ax.axis, str(ax.n_in), str(ax.kernel), str(ax.stride), str(ax.padding),
            str(ax.output_padding), str(ax.dilation), ax.formula(),
        )  # fmt: skip
    return t


def size_lines(axes: tuple[AxisSize, AxisSize]) -> list[str]:
    """Plain text, one line an axis, then the output size.

    >>> from deconv_cli.core import size_math
    >>> print("\\n".join(size_lines(size_math(3, 3, 1))))
    rows: N_out = (3 - 1) x 1 - 2x0 + 3 = 5
    cols: N_out = (3 - 1) x 1 - 2x0 + 3 = 5
    output: 5 x 5 (rows x cols)
    """
    rows, cols = axes
    return [f"{ax.axis}: {ax.formula()}" for ax in axes] + [f"output: {rows.n_out} x {cols.n_out} (rows x cols)"]


def verdict(phases: PhaseReport) -> str:
    if phases.flat:
        return f"flat: every stride phase sums to {fmt_num(float(phases.sums.flat[0]))}, so a constant image comes out constant"
    lo, hi = float(phases.sums.min()), float(phases.sums.max())
    amp = "inf" if phases.amplitude == float("inf") else f"{phases.amplitude:.4g}"
    return f"checkerboard: stride phase sums range {fmt_num(lo)} .. {fmt_num(hi)} (max/min = {amp})"


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


def kernel_dict(k: np.ndarray, phases: list[PhaseReport], stride, dilation, spec: str) -> dict:
    return {
        "kernel": spec,
        "shape": list(k.shape),
        "stride": list(stride),
        "dilation": list(dilation),
        "values": k.tolist(),
        "sum": float(k.sum()),
        "channels": [
            {
                "phase_sums": ph.sums.tolist(),
                "flat": ph.flat,
                "amplitude": None if ph.amplitude == float("inf") else ph.amplitude,
                "verdict": verdict(ph),
            }
            for ph in phases
        ],
    }


def outcome_rows(d: dict) -> list[tuple[str, str]]:
    """(label, text) rows summarising one upsample (from Outcome.as_dict()); defaults left out."""
    i, o, p, cr, c, s = d["input"], d["output"], d["params"], d["crop"], d["clipped"], d["seconds"]
    rows = [(ax["axis"], ax["formula"]) for ax in d["size_math"]]
    rows.append(("input", f"{i['path']}  {i['width']}x{i['height']} {i['channels']} {i['depth']}-bit"))
    rows.append(("output", f"{o['path']}  {o['width']}x{o['height']} {o['channels']} {o['depth']}-bit"))
    rows.append(("kernel", f"{d['kernel']['spec']}  {'x'.join(map(str, d['kernel']['shape']))}, sum {fmt_num(d['kernel']['sum'])}"))
    if p["same"]:
        rows.append((
            "same",
            f"padding {p['padding'][0]},{p['padding'][1]}, output_padding "
            f"{p['output_padding'][0]},{p['output_padding'][1]} chosen for exactly stride x the input",
        ))  # fmt: skip
    if p["edge"] != "zero":
        rows.append(("edge", p["edge"]))
    if cr["mode"] != "none" or any(cr[k] for k in ("top", "bottom", "left", "right")):
        rows.append(("crop", f"top {cr['top']}, bottom {cr['bottom']}, left {cr['left']}, right {cr['right']} ({cr['reason']})"))
    rows.append(("clipped", f"{c['total']} values ({c['below']} below the range, {c['above']} above)"))
    rows.append(("time", f"{s['total']:.3f} s (load {s['load']:.3f}, compute {s['compute']:.3f}, save {s['save']:.3f})"))
    return rows


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
