"""Measure every engine method on a grid of problems and fit the cost model's constants.

    python bench/fit_costs.py                  # measure the full grid (~5 min), then fit
    python bench/fit_costs.py --quick          # a smaller grid on smaller images, then fit
    python bench/fit_costs.py --fit-only       # refit from bench/data/costs.csv, no measuring
    python bench/fit_costs.py --out other.csv  # where the measurements go (or come from)

What it measures: every method of ``deconv_cli.engine.METHODS``, forced (``method=NAME``)
on one thread, on float32 images of 1 and 3 channels with square kernels of 2x2 to 16x16
and a few non-square ones, strides 1 to 4 (and one unequal pair), random full-rank
kernels and separable ones (products of small integers and a power of two, so that
``terms`` splits them exactly into one term). The outputs are about ``--side`` squared
elements per channel (1400: ~2 million; ``--quick`` 560), so the per-strip overheads are
amortized as in real use. A method whose ``features()`` is None (its set-up would exceed
the budget) is skipped, and so is ``taps`` where the current model expects it to take more
than ``--max-seconds`` a run (default 1); skipped rows stay in the CSV with a note and no
time. A run whose warm-up takes longer than that anyway is timed once more, without rounds.

How: BLAS and OpenMP are held to one thread (set below before numpy is imported), each
method computes into a preallocated output with ``threads=1`` (``Plan.run(out=...)``: no
first-touch page faults of a fresh array in the figure), and the time is the CPU time of
this process (``time.process_time``), which other processes' load barely moves. Per
problem, one warm-up run of every method, then ``--reps`` rounds that run every method in
turn (so a change of load hits all alike); the figure is the fastest of the rounds, in ns
per output element (all channels): other processes only ever add time (cache and memory
contention), so the minimum repeats best (the median is kept in the CSV too).

The fit: measured ns/element ~= sum_j feature_j * c_j over all rows of all methods at once,
by non-negative least squares with every row weighted by 1/sqrt(measured) (``--weight-power``).
Unweighted, the slow rows (large kernels at stride 1, 20-100 ns) would set every constant;
the planner compares methods on the same problem, so relative errors matter. But weighted
by the full 1/measured, the cheapest rows (1-4 ns), where costs the features do not count
(one call per output row, per-row loop overheads) are a large share, pull the constants
instead. On this project's data the half-way weighting gave the best choices by every
measure (agreement, mean and worst slowdown; the script prints all four weightings'
figures for comparison, so this can be re-judged on other data).

It prints the COSTS dict to paste into ``src/deconv_cli/engine/costs.py`` and, for the
current constants and the fitted ones, how often the model's choice is the measured fastest
method and the worst slowdown (time of the method chosen / time of the fastest) over all
problems, then measured/modelled per method: a ratio that drifts by 2x or more with the
stride or the channels points at a feature formula that no constant can fix.
"""

from __future__ import annotations

import os
import sys

# Before numpy is imported: BLAS must not start its own threads (the engine threads strips itself,
# and the fit is of one thread's costs).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if "numpy" in sys.modules:  # imported as a module after numpy: BLAS threads are set already
    print("warning: numpy was imported before fit_costs set the BLAS thread count", file=sys.stderr)

import argparse  # noqa: E402
import csv  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from deconv_cli.core import Geometry, plan  # noqa: E402
from deconv_cli.engine import METHODS  # noqa: E402
from deconv_cli.engine.costs import COSTS  # noqa: E402

KEYS = list(COSTS)  # copy, window, ew, mac, gemm_base, tap_strided
DEFAULT_CSV = ROOT / "bench" / "data" / "costs.csv"
PARAMS = ["problem", "kind", "kh", "kw", "sy", "sx", "py", "px", "channels", "h_in", "w_in", "h_out", "w_out"]
FIELDS = PARAMS + ["method", "n_terms"] + [f"f_{k}" for k in KEYS] + [
    "ns_per_elem", "ns_median", "ns_max", "reps", "load1", "note"]  # fmt: skip


# ----------------------------------------------------------------------------- the grid


def grid(quick: bool) -> list[tuple[int, int, int, int]]:
    """(kh, kw, sy, sx) of every geometry measured."""
    if quick:
        square, strides = [2, 4, 6, 8, 12, 16], [1, 2, 4]
        extra = [(3, 5, 1, 1), (4, 6, 2, 3), (8, 8, 2, 3)]
    else:
        square, strides = [2, 3, 4, 5, 6, 8, 10, 12, 16], [1, 2, 3, 4]
        extra = [(kh, kw, s, s) for kh, kw in [(3, 5), (4, 8), (2, 6), (12, 6)] for s in (1, 2)]
        extra += [(4, 6, 2, 3), (8, 9, 2, 3), (12, 12, 2, 3)]  # unequal strides
    # a kernel smaller than its stride leaves gaps: not an upsampling anyone uses
    return [(k, k, s, s) for k in square for s in strides if k >= s] + extra


def make_kernel(kind: str, kh: int, kw: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "separable":  # small integers times 2**-6: float32 holds the split exactly
        return np.outer(rng.integers(1, 9, kh), rng.integers(1, 9, kw)) * 2.0**-6
    return rng.random((kh, kw)) + 0.1  # full rank (almost surely): one term per kernel row


def in_size(n_out: int, k: int, s: int, p: int) -> int:
    """Input pixels whose output (``(n-1)*s - 2p + k``) is about ``n_out``."""
    return max(1, round((n_out - k + 2 * p) / s) + 1)


def estimate(features: dict[str, float] | None, costs: dict[str, float]) -> float:
    if features is None:
        return math.inf
    return sum(n * costs.get(key, math.inf) for key, n in features.items() if n)


def measure(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(2024)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    geoms = grid(args.quick)
    problems = [(g, kind, C) for g in geoms for kind in ("random", "separable") for C in (1, 3)]
    print(f"{len(problems)} problems x {len(METHODS)} methods, output ~{args.side}x{args.side} per channel, "
          f"{args.reps} rounds after a warm-up; writing {out_path}", flush=True)  # fmt: skip
    t_start = time.perf_counter()
    skipped: list[str] = []
    unfit: dict[str, int] = {}  # method -> problems where features() is None
    with open(out_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        for n, ((kh, kw, sy, sx), kind, C) in enumerate(problems, 1):
            py, px = max(0, (kh - sy) // 2), max(0, (kw - sx) // 2)
            H, W = in_size(args.side, kh, sy, py), in_size(args.side, kw, sx, px)
            x = rng.random((H, W, C), dtype=np.float32)
            k = make_kernel(kind, kh, kw, rng)
            geo = Geometry.of((sy, sx), (py, px))
            base = plan(x, k, geo, method="taps", threads=1)  # taps builds nothing: just the problem
            prob = base.problem
            h_out, w_out = prob.rows.n_out, prob.cols.n_out
            elems = h_out * w_out * C
            name = f"k{kh}x{kw} s{sy}x{sx} p{py}x{px} C{C} {kind}"
            common = dict(problem=name, kind=kind, kh=kh, kw=kw, sy=sy, sx=sx, py=py, px=px, channels=C,
                          h_in=H, w_in=W, h_out=h_out, w_out=w_out)  # fmt: skip
            rows: dict[str, dict] = {}
            plans = {}
            for m, unit in METHODS.items():
                feats = unit.features(prob)
                row = dict(common, method=m, load1=f"{os.getloadavg()[0]:.2f}")
                if m == "terms":
                    row["n_terms"] = len(prob.memo.get("terms", []))
                for key in KEYS:
                    row[f"f_{key}"] = "" if feats is None else f"{feats.get(key, 0.0):.6g}"
                rows[m] = row
                if feats is None:
                    row["note"] = "skipped: features() is None (set-up beyond the budget or not applicable)"
                    continue
                est = estimate(feats, COSTS) * elems * 1e-9
                if m == "taps" and est > args.max_seconds:
                    row["note"] = f"skipped: current model expects {est:.1f} s a run"
                    continue
                plans[m] = plan(x, k, geo, method=m, threads=1)
            outs = {m: np.empty(p.shape, p.dtype) for m, p in plans.items()}

            def run(m: str, plans: dict = plans, outs: dict = outs) -> float:
                t0 = time.process_time()
                for _ in plans[m].run(out=outs[m]):
                    pass
                return time.process_time() - t0

            warm = {m: run(m) for m in list(plans)}
            for m, t in warm.items():  # slower than expected: one more run, no rounds
                if t > args.max_seconds:
                    rows[m]["note"] = f"measured once: the warm-up took {t:.1f} s"
            times: dict[str, list[float]] = {m: [] for m in plans}
            for r in range(args.reps):
                for m in plans:
                    if r == 0 or not rows[m].get("note"):
                        times[m].append(run(m))
            for m, ts in times.items():
                ns = [t * 1e9 / elems for t in ts]
                rows[m].update(ns_per_elem=f"{min(ns):.4g}", ns_median=f"{statistics.median(ns):.4g}",
                               ns_max=f"{max(ns):.4g}", reps=len(ns))  # fmt: skip
            for m, row in rows.items():
                w.writerow(row)
                if row[f"f_{KEYS[0]}"] == "":
                    unfit[m] = unfit.get(m, 0) + 1
                elif "skipped" in row.get("note", ""):
                    skipped.append(f"{name}: {m} ({row['note']})")
            fh.flush()
            figs = "  ".join(f"{m} {rows[m]['ns_per_elem']}" for m in plans)
            print(f"[{n:3d}/{len(problems)} {time.perf_counter() - t_start:5.0f} s] {name:34s} ns/elem: {figs}",
                  flush=True)  # fmt: skip
    print(f"\nmeasured in {time.perf_counter() - t_start:.0f} s")
    for m, count in unfit.items():
        print(f"  {m}: not run on {count} problems, where its features() is None (cannot set up, or one channel)")
    print(f"  {len(skipped)} runs skipped as too slow:" if skipped else "  none skipped as too slow")
    for s in skipped:
        print("    " + s)


# ----------------------------------------------------------------------------- the fit


def nnls(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min ||A c - b|| with c >= 0: scipy's if installed, else exactly, by trying every support
    (few columns): the optimum is the unconstrained fit on its support, and is non-negative."""
    try:
        from scipy.optimize import nnls as scipy_nnls

        return scipy_nnls(A, b)[0]
    except ImportError:
        pass
    n = A.shape[1]
    best, best_res = np.zeros(n), float(b @ b)
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            cols = list(support)
            c_s, *_ = np.linalg.lstsq(A[:, cols], b, rcond=None)
            if np.all(c_s >= 0):
                c = np.zeros(n)
                c[cols] = c_s
                res = float(np.sum((A @ c - b) ** 2))
                if res < best_res:
                    best, best_res = c, res
    return best


def load(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["features"] = None if row[f"f_{KEYS[0]}"] == "" else {k: float(row.get(f"f_{k}") or 0.0) for k in KEYS}
        row["ns"] = float(row["ns_per_elem"]) if row.get("ns_per_elem") else None
    return rows


def round_sig(v: float, digits: int = 3) -> float:
    return 0.0 if v == 0 else float(f"{v:.{digits}g}")


def evaluate(rows: list[dict], costs: dict[str, float]) -> dict:
    """Per problem: the method the model picks (among those it could run) vs the measured fastest."""
    by_problem: dict[str, list[dict]] = {}
    for row in rows:
        by_problem.setdefault(row["problem"], []).append(row)
    results = []
    for name, group in by_problem.items():
        measured = {r["method"]: r["ns"] for r in group if r["ns"] is not None}
        if not measured:
            continue
        model = {r["method"]: estimate(r["features"], costs) for r in group if r["features"] is not None}
        chosen = min(model, key=model.__getitem__)
        fastest = min(measured, key=measured.__getitem__)
        slow = measured[chosen] / measured[fastest] if chosen in measured else math.inf
        results.append(dict(problem=name, chosen=chosen, fastest=fastest, slowdown=slow, measured=measured))
    agree = sum(r["chosen"] == r["fastest"] for r in results)
    finite = [r["slowdown"] for r in results if math.isfinite(r["slowdown"])]
    return dict(
        results=results, n=len(results), agree=agree,
        worst=max(results, key=lambda r: r["slowdown"]),
        geomean=math.exp(statistics.fmean(math.log(s) for s in finite)) if finite else math.nan,
        over10=sum(r["slowdown"] > 1.10 for r in results),
    )  # fmt: skip


def summary(title: str, ev: dict, show: int) -> None:
    w = ev["worst"]
    print(f"\n{title}")
    print(f"  picks the measured fastest method on {ev['agree']}/{ev['n']} problems "
          f"({100 * ev['agree'] / ev['n']:.0f} %); slower than the fastest by >10 % on {ev['over10']}")  # fmt: skip
    print(f"  mean slowdown (geometric) {ev['geomean']:.3f}; worst slowdown {w['slowdown']:.2f}x "
          f"({w['problem']}: picks {w['chosen']}, fastest {w['fastest']})")  # fmt: skip
    bad = sorted((r for r in ev["results"] if r["chosen"] != r["fastest"]), key=lambda r: -r["slowdown"])
    if bad and show:
        print("  disagreements, worst first (ns/element measured):")
        for r in bad[:show]:
            figs = ", ".join(f"{m} {t:.3g}" for m, t in sorted(r["measured"].items(), key=lambda kv: kv[1]))
            print(f"    {r['slowdown']:5.2f}x  {r['problem']:34s} picks {r['chosen']:6s}  [{figs}]")


def diagnose(rows: list[dict], costs: dict[str, float]) -> None:
    """Measured / modelled per method, overall and by stride and kernel size: a method whose
    ratio drifts by >2x with the problem has a feature formula no constant can fix."""
    print("\nmeasured / model (fitted constants), per method: median [min .. max]; by column stride; by kernel")
    for m in METHODS:
        mr = [r for r in rows if r["method"] == m and r["ns"] is not None]
        if not mr:
            continue
        ratio = lambda rs: [r["ns"] / estimate(r["features"], costs) for r in rs]  # noqa: E731
        q = ratio(mr)
        line = f"  {m:6s} {statistics.median(q):5.2f} [{min(q):.2f} .. {max(q):.2f}]  n={len(q)}"
        by_s = []
        for s in sorted({int(r["sx"]) for r in mr}):
            qs = ratio([r for r in mr if int(r["sx"]) == s])
            by_s.append(f"sx={s}: {statistics.median(qs):.2f}")
        by_k = []
        for lo, hi in [(2, 3), (4, 6), (8, 10), (12, 16)]:
            qk = ratio([r for r in mr if lo <= max(int(r["kh"]), int(r["kw"])) <= hi])
            if qk:
                by_k.append(f"k{lo}-{hi}: {statistics.median(qk):.2f}")
        by_c = []
        for c in (1, 3):
            qc = ratio([r for r in mr if int(r["channels"]) == c])
            if qc:
                by_c.append(f"C{c}: {statistics.median(qc):.2f}")
        print(line + "\n         " + "; ".join(by_s) + "\n         " + "; ".join(by_k + by_c))


def solve(data: list[dict], power: float) -> dict[str, float]:
    """NNLS of measured ~ features . c with every row weighted by 1/measured**power, rounded
    to 3 significant digits (the form pasted into costs.py)."""
    A = np.array([[r["features"][k] for k in KEYS] for r in data])
    y = np.array([r["ns"] for r in data])
    used = A.any(axis=0)
    w = y**-power
    c = np.zeros(len(KEYS))
    c[used] = nnls(A[:, used] * w[:, None], y * w)
    fitted = {k: round_sig(v) for k, v in zip(KEYS, c, strict=True)}
    for k, u in zip(KEYS, used, strict=True):
        if not u:  # no row spends it: keep the current constant
            fitted[k] = COSTS[k]
    return fitted


def noise(rows: list[dict]) -> str:
    """The spread between problems that differ only in the kernel's values (random vs separable),
    for the methods whose work does not depend on them: what the measurements can tell apart."""
    d = {(r["problem"], r["method"]): r["ns"] for r in rows if r["ns"] is not None}
    lr = [abs(math.log(t / d[(p.replace("random", "separable"), m)]))
          for (p, m), t in d.items()
          if m != "terms" and p.endswith("random") and (p.replace("random", "separable"), m) in d]  # fmt: skip
    if not lr:
        return "no pairs"
    return (f"same work measured twice (random vs separable kernel, methods other than terms, n={len(lr)}): "
            f"ratio median {math.exp(statistics.median(lr)):.3f}, 90th pct {math.exp(np.percentile(lr, 90)):.3f}, "
            f"max {math.exp(max(lr)):.2f}")  # fmt: skip


def fit(path: Path, show: int, power: float = 0.5) -> dict[str, float]:
    rows = load(path)
    data = [r for r in rows if r["ns"] is not None and r["features"] is not None]
    fitted = solve(data, power)
    A = np.array([[r["features"][k] for k in KEYS] for r in data])
    y = np.array([r["ns"] for r in data])
    rel = A @ np.array([fitted[k] for k in KEYS]) / y - 1
    print(
        f"\nfit: {len(data)} measurements ({len({r['problem'] for r in data})} problems), "
        f"rows weighted by 1/measured**{power:g}; relative error of the fitted model: "
        f"median |e| {np.median(np.abs(rel)) * 100:.0f} %, 90th pct {np.percentile(np.abs(rel), 90) * 100:.0f} %"
    )
    print("  " + noise(rows))  # fmt: skip
    for k in KEYS:
        if not any(r["features"][k] for r in data):
            print(f"  note: no measurement spends {k!r}: kept at its current value")
    print("  other weightings, for comparison (agreement, worst slowdown):")
    for pw in (0.0, 0.5, 1.0, 2.0):
        ev = evaluate(rows, solve(data, pw))
        print(f"    1/measured**{pw:g}: {ev['agree']}/{ev['n']}, worst {ev['worst']['slowdown']:.2f}x, "
              f"geometric mean {ev['geomean']:.3f}")  # fmt: skip
    print("\nCOSTS (paste into src/deconv_cli/engine/costs.py):\n")
    print("COSTS = {")
    for k in KEYS:
        print(f'    "{k}": {fitted[k]!r},')
    print("}")
    summary("current constants (engine/costs.py as it is):", evaluate(rows, COSTS), show)
    summary("fitted constants:", evaluate(rows, fitted), show)
    diagnose(rows, fitted)
    return fitted


def describe_machine() -> str:
    blas = "?"
    try:
        info = np.show_config(mode="dicts")  # numpy >= 1.26
        b = info["Build Dependencies"]["blas"]
        blas = f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older numpy: leave it unknown
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
            f"BLAS {blas}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller grid on smaller images")
    ap.add_argument("--fit-only", action="store_true", help="refit from the CSV, measure nothing")
    ap.add_argument("--out", default=str(DEFAULT_CSV), help="the CSV of measurements (default bench/data/costs.csv)")
    ap.add_argument("--side", type=int, default=None, help="output side per channel (default 1400, quick 560)")
    ap.add_argument("--reps", type=int, default=None, help="timed rounds after the warm-up (default 7, quick 3)")
    ap.add_argument("--max-seconds", type=float, default=1.0, help="skip taps when expected slower than this")
    ap.add_argument("--show", type=int, default=15, help="disagreements listed per summary")
    ap.add_argument("--weight-power", type=float, default=0.5, help="rows weighted by 1/measured**this (default 0.5)")
    args = ap.parse_args()
    args.side = args.side or (560 if args.quick else 1400)
    args.reps = args.reps or (3 if args.quick else 7)
    print(describe_machine())
    if not args.fit_only:
        measure(args)
    fit(Path(args.out), args.show, args.weight_power)


if __name__ == "__main__":
    main()
