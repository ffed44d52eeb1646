"""Run every benchmark case (issues 5, 14, 15) and print the tables (see bench/README.md).

    python bench/run.py                 # everything, a few minutes
    python bench/run.py --quick         # fewer runs, growth curve up to 1024x1024
    python bench/run.py --cases compute,startup --runs 9

Every contender of a case is measured in turn inside each round (A B C, A B C,
...), so a change in the machine's load hits all of them alike; the tables
give medians. Wall time of the command-line cases comes from the child's own
rusage (os.wait4), peak RSS from GNU time's %M when /usr/bin/time exists (else
from os.wait4, which Linux starts at this process's own RSS). The end-to-end and
memory and PNG cases need the shared photo retina.jpg (or DECONV_BENCH_PHOTO=PATH) and
refuse to run without it. Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "bench" / "scripts"
CACHE = ROOT / "bench" / ".cache"
sys.path.insert(0, str(ROOT / "src"))

from deconv_cli.core import Geometry, conv_transpose2d, plan  # noqa: E402
from deconv_cli.cpus import default_threads  # noqa: E402
from deconv_cli.kernels import make_kernel  # noqa: E402

try:
    import torch
except ImportError:  # PyTorch is optional: its rows are left out
    torch = None

MB = 1e6


# ----------------------------------------------------------------------------- helpers


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells])


def alternate(contenders: dict, runs: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each callable, measured in turn in every round."""
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def run_child(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one command.

    The peak comes from GNU time (``%M``) when it is installed: Linux starts a child's
    maximum RSS from its parent's at fork, so rusage seen from this big Python process would
    report at least this process's own RSS. Without GNU time, os.wait4's figure is used.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        full = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *cmd] if GNU_TIME else cmd
        t = time.perf_counter()
        p = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        err = p.stderr.read()  # type: ignore[union-attr]
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stderr.close()  # type: ignore[union-attr]
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {err.decode(errors='replace')[-500:]}")
        rss = int(rss_file.read().split()[-1]) * 1024 if GNU_TIME else usage.ru_maxrss * 1024
    return wall, rss


def alternate_children(commands: dict, runs: int, warmup: int = 1) -> dict[str, dict]:
    for _ in range(warmup):
        for cmd, env, _ in commands.values():
            run_child(cmd, env)
    res: dict[str, dict] = {name: {"wall": [], "rss": []} for name in commands}
    for _ in range(runs):
        for name, (cmd, env, _) in commands.items():
            wall, rss = run_child(cmd, env)
            res[name]["wall"].append(wall)
            res[name]["rss"].append(rss)
    for name, (_, _, out) in commands.items():
        res[name]["size"] = Path(out).stat().st_size if out else None
    return res


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def deconv_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("deconv")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "deconv_cli.cli"]


def has_imagemagick() -> bool:
    """ImageMagick's ``convert``, not a stand-in of the same name (it must say it is ImageMagick)."""
    exe = shutil.which("convert")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and "ImageMagick" in done.stdout


def peers_note(threads: int) -> str:
    found = ["Pillow"]
    found += ["PyTorch " + torch.__version__] if torch is not None else []
    found += ["vips"] if shutil.which("vips") else []
    found += ["ImageMagick convert"] if has_imagemagick() else []
    return f"peers found: {', '.join(found)}; threads: {threads}"


# ----------------------------------------------------------------------------- cases


def old_per_tap_loop(xs: np.ndarray, k: np.ndarray, s: int, p: int) -> np.ndarray:
    """The implementation before issue 5, for reference: every tap's scaled copy of the whole
    image added into a strided view of the output."""
    kh, kw = k.shape
    h, w = xs.shape[:2]
    n_out = lambda n, kk: (n - 1) * s - 2 * p + kk  # noqa: E731
    ho, wo = n_out(h, kh), n_out(w, kw)
    out = np.zeros((ho, wo) + xs.shape[2:], xs.dtype)
    tmp = np.empty_like(xs)

    def span(n, off, n_o):
        i0 = max(0, -((off - p) // s))
        i1 = min(n - 1, (n_o - 1 + p - off) // s) + 1
        return (i0, i1, i0 * s - p + off) if i1 > i0 else None

    for u in range(kh):
        rs = span(h, u, ho)
        for v in range(kw):
            cs = span(w, v, wo)
            if rs is None or cs is None:
                continue
            (i0, i1, o0), (j0, j1, q0) = rs, cs
            part = tmp[: i1 - i0, : j1 - j0]
            np.multiply(xs[i0:i1, j0:j1], k[u, v], out=part)
            out[o0 : o0 + (i1 - i0 - 1) * s + 1 : s, q0 : q0 + (j1 - j0 - 1) * s + 1 : s] += part
    return out


COMPUTE_CASES = {
    "bilinear": ("bilinear 4x4, stride 2, padding 1", 2, 1),
    "random16": ("random 16x16, stride 4, padding 6", 4, 6),
}
#: Without the compiled loop (an install with no C compiler): the ``terms`` method, for the
#: bilinear case, where the planner picks ``fused`` when it is built.
NUMPY_ONLY = "deconv, numpy only ('terms' method)"
CONTENDERS = [
    "deconv",
    "deconv into a preallocated output",
    NUMPY_ONLY,
    "PyTorch, channels as batch",
    "PyTorch, groups=3",
    "numpy per-tap loop (before issue 5)",
    "fill: np.empty(output) + fill",
    "fill of a preallocated output",
]
#: Contenders that compute nothing: the floors the compute target is measured against.
FILLS = ("fill: np.empty(output) + fill", "fill of a preallocated output")


def compute_setup(case: str, contender: str, threads: int):
    """(callable, its result as (H, W, C) numpy): one contender on one case, in this process."""
    _, s, p = COMPUTE_CASES[case]
    rng = np.random.default_rng(0)
    x = (rng.random((1080, 1920, 3), dtype=np.float32) * 255).astype(np.float32)
    k = make_kernel("bilinear", 2).astype(np.float32) if case == "bilinear" else rng.random((16, 16)).astype(np.float32)
    if contender == "deconv":
        os.environ["DECONV_THREADS"] = str(threads)
        return (lambda: conv_transpose2d(x, k, s, p)), (lambda r: r)
    shape = plan(x, k, Geometry.of(s, p), threads=threads).shape
    if contender == NUMPY_ONLY:
        return (lambda: plan(x, k, Geometry.of(s, p), threads=threads, method="terms").compute()), (lambda r: r)
    if contender == "deconv into a preallocated output":
        os.environ["DECONV_THREADS"] = str(threads)
        pre = np.zeros(shape, np.float32)  # touched: its pages are in before the timing

        def into():
            for _ in plan(x, k, Geometry.of(s, p), threads=threads).run(out=pre):
                pass
            return pre

        return into, (lambda r: r)
    if contender in FILLS:
        held = np.zeros(shape, np.float32)

        def fill():
            out = np.empty(shape, np.float32) if contender == FILLS[0] else held
            out.fill(1.0)
            return out

        return fill, (lambda r: r)
    if contender.startswith("PyTorch"):
        torch.set_num_threads(threads)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
        kt = torch.from_numpy(k)
        if contender == "PyTorch, channels as batch":
            fn = lambda: torch.nn.functional.conv_transpose2d(xt[:, None], kt[None, None], stride=s, padding=p)  # noqa: E731
            return fn, (lambda r: r[:, 0].numpy().transpose(1, 2, 0))
        w = kt[None, None].expand(3, 1, *kt.shape).contiguous()
        fn = lambda: torch.nn.functional.conv_transpose2d(xt[None], w, stride=s, padding=p, groups=3)  # noqa: E731
        return fn, (lambda r: r[0].numpy().transpose(1, 2, 0))
    return (lambda: old_per_tap_loop(x, k, s, p)), (lambda r: r)


def compute_worker(case: str, contender: str, threads: int) -> None:
    """``run.py --worker``: time one contender each time a line arrives on stdin."""
    fn, as_array = compute_setup(case, contender, threads)
    result = as_array(fn())  # warm-up, and the numbers for the cross-check
    np.save(os.environ["BENCH_OUT"], result[::7, ::7])  # a sample of the numbers, for the cross-check
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t = time.perf_counter()
        fn()
        print(f"{time.perf_counter() - t:.6f}", flush=True)


def case_compute(args, report: dict) -> str:
    """Each contender lives in its own process (so PyTorch's spinning OpenMP threads or a
    previous contender's memory cannot slow the next one down), called in turn, with a pause."""
    threads = args.threads
    contenders = [c for c in CONTENDERS if torch is not None or not c.startswith("PyTorch")]
    lines = [
        f"3 channels of 1080x1920 float32 (channels-last for deconv; channels-first tensors prepared in advance for "
        f"PyTorch). Each contender in its own process, called in turn {args.runs} times; median. "
        f"{load_note()} before."
    ]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for case, (label, _, _) in COMPUTE_CASES.items():
            names = [
                c
                for c in contenders
                if not (c.startswith("numpy") and case != "bilinear" and not args.slow)
                and not (c == NUMPY_ONLY and case != "bilinear")
            ]
            procs = {}
            for name in names:
                out = Path(d) / f"{case}-{len(procs)}.npy"
                procs[name] = subprocess.Popen(
                    [sys.executable, __file__, "--worker", case, name, str(threads)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "BENCH_OUT": str(out)},
                )
                assert procs[name].stdout.readline().strip() == "ready"  # type: ignore[union-attr]
                procs[name].out = out  # type: ignore[attr-defined]
            ref = np.load(procs["deconv"].out)  # type: ignore[attr-defined]
            for name in names[1:]:
                if name in FILLS:
                    continue
                other = np.load(procs[name].out)  # type: ignore[attr-defined]
                err = float(np.abs(other - ref).max() / max(1.0, float(np.abs(other).max())))
                lines.append(f"{label}: {name} differs from deconv by at most {err:.1e} (relative)")
            times: dict[str, list[float]] = {n: [] for n in names}
            for _ in range(args.runs):
                for name, proc in procs.items():
                    proc.stdin.write("run\n")  # type: ignore[union-attr]
                    proc.stdin.flush()  # type: ignore[union-attr]
                    times[name].append(float(proc.stdout.readline()))  # type: ignore[union-attr]
                    time.sleep(0.05)
            for proc in procs.values():
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait()
            med = {n: statistics.median(t) for n, t in times.items()}
            torch_best = min((v for n, v in med.items() if n.startswith("PyTorch")), default=None)
            for name, t in med.items():
                rows.append([label, name, ms(t), f"{t / med['deconv']:.2f}"])
            method = plan(
                np.zeros((1080, 1920, 3), np.float32),
                make_kernel("bilinear", 2) if case == "bilinear" else np.random.default_rng(0).random((16, 16)),
                Geometry.of(*COMPUTE_CASES[case][1:]),
            ).method
            if torch_best is not None:
                lines.append(
                    f"{label}: deconv ({method!r} method) is {torch_best / med['deconv']:.2f}x faster "
                    "than PyTorch's best form"
                )
            lines.append(
                f"{label}: deconv takes {med['deconv'] / med[FILLS[0]]:.2f}x the time of a fill of a new output "
                f"array; into a preallocated output {med['deconv into a preallocated output'] / med[FILLS[1]]:.2f}x "
                "a fill of that array"
            )
            report.setdefault("compute", {})[label] = {
                "median_s": med,
                "each_s": times,
                "method": method,
                "torch_best_s": torch_best,
            }
    lines.append(f"{load_note()} after.")
    floors = []
    for case, (label, st, pd) in COMPUTE_CASES.items():
        kk = 4 if case == "bilinear" else 16
        ho, wo = (1080 - 1) * st - 2 * pd + kk, (1920 - 1) * st - 2 * pd + kk
        taps = (kk // st) ** 2
        floors.append(
            f"{label}: output {ho}x{wo}x3 float32 = {ho * wo * 3 * 4 / MB:.1f} MB written, {taps} multiply-adds "
            f"per output value = {2 * taps * ho * wo * 3 / 1e9:.2f} G flops"
        )
    floors.append("The fill rows are the memory floor of the same output, measured in the same run.")
    body = "\n".join(lines) + "\n\nFloors: " + "; ".join(floors)
    return body + "\n\n" + table(["case", "contender", "ms", "x deconv's time"], rows)


#: The photo the end-to-end and memory cases are measured on (1411x1411): the shared photo set's
#: retina.jpg beside the checkout, or DECONV_BENCH_PHOTO. Never a stand-in: the figures in
#: bench/README.md are for this image.
RETINA = Path(os.environ.get("DECONV_BENCH_PHOTO", ROOT.parent / "shared" / "data" / "photos" / "retina.jpg"))


def retina_png() -> Path:
    from PIL import Image

    if not RETINA.is_file():
        raise SystemExit(
            f"bench: the end-to-end, memory and PNG cases need retina.jpg (1411x1411), not found at {RETINA}; "
            "put the shared photo set beside the checkout or set DECONV_BENCH_PHOTO=PATH "
            "(or run only --cases compute,startup,growth)"
        )
    CACHE.mkdir(exist_ok=True)
    out = CACHE / "retina.png"
    with Image.open(RETINA) as src:
        size = src.size
        if out.exists():
            with Image.open(out) as cached:
                if cached.size == size:
                    return out
        src.convert("RGB").save(out)  # made once per photo; a cache of another image is replaced
    return out


def big_png() -> Path:
    """4000x4000 RGB: the retina photo resized (bicubic), saved once."""
    CACHE.mkdir(exist_ok=True)
    out = CACHE / "big4000.png"
    if not out.exists():
        from PIL import Image

        with Image.open(retina_png()) as im:
            im.resize((4000, 4000), Image.Resampling.BICUBIC).save(out, compress_level=1)
    return out


def peer_commands(src: Path, tmp: Path, threads: int) -> dict:
    """name -> (command, environment, output path): the same 2x bilinear upsample, PNG to PNG."""
    cmds = {
        "deconv": (
            deconv_cmd()
            + [
                "upsample",
                str(src),
                "-s",
                "2",
                "-p",
                "1",
                "--edge",
                "replicate",
                "-o",
                str(tmp / "deconv.png"),
                "--overwrite",
            ],
            {"DECONV_THREADS": str(threads)},
            tmp / "deconv.png",
        ),
        "Pillow script (default level 6)": (
            [sys.executable, str(SCRIPTS / "pillow_resize.py"), str(src), str(tmp / "pillow.png"), "2"],
            {},
            tmp / "pillow.png",
        ),
        "Pillow script (level 1)": (
            [
                sys.executable,
                str(SCRIPTS / "pillow_resize.py"),
                str(src),
                str(tmp / "pillow1.png"),
                "2",
                "--compress",
                "1",
            ],
            {},
            tmp / "pillow1.png",
        ),
    }
    if torch is not None:
        cmds["PyTorch script"] = (
            [sys.executable, str(SCRIPTS / "torch_resize.py"), str(src), str(tmp / "torch.png"), "2", str(threads)],
            {},
            tmp / "torch.png",
        )
    if shutil.which("vips"):
        cmds["vips resize --kernel linear"] = (
            ["vips", "resize", str(src), str(tmp / "vips.png"), "2", "--kernel", "linear"],
            {"VIPS_CONCURRENCY": str(threads)},
            tmp / "vips.png",
        )
    if has_imagemagick():
        cmds["convert -filter Triangle -resize 200%"] = (
            ["convert", str(src), "-filter", "Triangle", "-resize", "200%", str(tmp / "magick.png")],
            {"MAGICK_THREAD_LIMIT": str(threads), "OMP_NUM_THREADS": str(threads)},
            tmp / "magick.png",
        )
    return cmds


def peer_table(res: dict, budget: float | None = None) -> str:
    ours = res["deconv"]
    rows = []
    for name, r in res.items():
        wall, rss = statistics.median(r["wall"]), max(r["rss"])
        size = r["size"]
        rows.append(
            [
                name,
                ms(wall),
                f"{wall / statistics.median(ours['wall']):.2f}",
                f"{rss / MB:.0f}",
                f"{rss / max(ours['rss']):.2f}",
                f"{size / MB:.2f}" if size else "-",
                f"{size / ours['size']:.2f}" if size else "-",
            ]
        )
    return table(["command", "wall ms", "x deconv", "peak RSS MB", "x deconv", "output MB", "x deconv"], rows)


def work_after_startup(src: Path, dst: Path, threads: int) -> float:
    """Seconds of deconv's pipeline (probe, decode, compute, encode, write) measured inside the
    process, after its imports: bench/scripts/phases.py, one warm-up then one measured run."""
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "phases.py"), str(src), str(dst), "-s", "2", "-p", "1", "--edge", "replicate"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DECONV_THREADS": str(threads)},
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["total"])


def case_e2e(args, report: dict) -> str:
    src = retina_png()
    with tempfile.TemporaryDirectory() as d:
        cmds = peer_commands(src, Path(d), args.threads)
        before = load_note()
        res = alternate_children(cmds, args.runs)
        work = [work_after_startup(src, Path(d) / "phases.png", args.threads) for _ in range(args.runs)]
        after = load_note()
        same = equal_outputs(Path(d))
    res["deconv"]["work_after_startup"] = work
    report["e2e"] = res
    from PIL import Image

    with Image.open(src) as im:
        size = f"{im.width}x{im.height}"
    return (
        f"{src.name} ({size} RGB PNG) upsampled 2x to PNG, bilinear. {args.runs} alternated runs, median wall time, "
        f"largest peak RSS. {before} before, {after} after.\n{same}\n"
        f"deconv's work after start-up (probe, decode, compute, encode, write; in the process, "
        f"bench/scripts/phases.py, {args.runs} runs): median {statistics.median(work) * 1000:.0f} ms "
        f"({', '.join(f'{w * 1000:.0f}' for w in work)}).\n\n" + peer_table(res)
    )


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def case_targets(args, report: dict) -> str:
    """Issue 15's verdicts, from the figures of the cases run before it in this call (compute,
    e2e, memory, batch): each target with its figure, the goal and whether it is met."""
    rows = []
    comp = report.get("compute", {})
    for case, (label, _, _) in COMPUTE_CASES.items():
        c = comp.get(label)
        if c is None or c["torch_best_s"] is None:
            continue
        each = c["each_s"]
        torch_each = [min(v) for v in zip(*(t for n, t in each.items() if n.startswith("PyTorch")), strict=True)]
        vs_torch = [t / d for t, d in zip(torch_each, each["deconv"], strict=True)]
        med = c["median_s"]
        rows.append(
            [
                f"compute, {label}: PyTorch's fastest form / deconv",
                f"{c['torch_best_s'] / med['deconv']:.2f}x (rounds {_range(vs_torch)})",
                ">= 3x",
                "met" if c["torch_best_s"] / med["deconv"] >= 3 else "NOT met",
            ]
        )
        if case == "bilinear":
            vs_fill = [d / f for d, f in zip(each["deconv"], each[FILLS[0]], strict=True)]
            rows.append(
                [
                    f"compute, {label}: deconv / a fill of a new output",
                    f"{med['deconv'] / med[FILLS[0]]:.2f}x (rounds {_range(vs_fill)})",
                    "<= 2x",
                    "met" if med["deconv"] / med[FILLS[0]] <= 2 else "NOT met",
                ]
            )
    e2e = report.get("e2e", {})
    vips = next((r for n, r in e2e.items() if n.startswith("vips")), None)
    if vips is not None:
        ours, theirs = statistics.median(e2e["deconv"]["wall"]), statistics.median(vips["wall"])
        pairs = [a / b for a, b in zip(e2e["deconv"]["wall"], vips["wall"], strict=True)]
        size = e2e["deconv"]["size"] / vips["size"]
        rows.append(
            [
                "end to end, retina 2x PNG: deconv wall / vips wall; file size",
                f"{ours / theirs:.2f}x (rounds {_range(pairs)}); file {size:.2f}x",
                "<= 0.95x, file <= 1x",
                "met" if ours / theirs <= 0.95 and size <= 1 else "NOT met",
            ]
        )
        work = statistics.median(e2e["deconv"]["work_after_startup"])
        rows.append(
            [
                "end to end: deconv's work after start-up / vips wall",
                f"{work / theirs:.2f}x ({work * 1000:.0f} ms / {theirs * 1000:.0f} ms)",
                "<= 0.6x",
                "met" if work / theirs <= 0.6 else "NOT met",
            ]
        )
    mem = report.get("memory")
    if mem is not None:
        peak = max(mem["results"]["deconv"]["rss"])
        rows.append(
            [
                "peak RSS, 4000x4000 -> 8000x8000 PNG",
                f"{peak / MB:.1f} MB",
                f"<= {mem['target_bytes'] / MB:.0f} MB",
                "met" if peak <= mem["target_bytes"] else "NOT met",
            ]
        )
    batch = report.get("batch", {})
    loop = batch.get("vips resize, xargs -P2 loop (default compression)")
    if loop is not None:
        ours_b = batch["deconv upsample DIR --jobs 2"]["wall"]
        pairs = [a / b for a, b in zip(ours_b, loop["wall"], strict=True)]
        ratio = statistics.median(ours_b) / statistics.median(loop["wall"])
        rows.append(
            [
                "batch, 60 x 512x512 -> 2x PNG, 2 jobs / the vips xargs loop",
                f"{ratio:.2f}x (rounds {_range(pairs)})",
                "<= 0.4x",
                "met" if ratio <= 0.4 else "NOT met",
            ]
        )
    if not rows:
        return (
            "No figures: run this case after compute, e2e, memory and batch (--cases compute,e2e,memory,batch,targets)."
        )
    return (
        "Issue 15's targets, from the figures above (medians; 'rounds': the ratio within each alternated round).\n\n"
        + table(["target", "measured", "goal", "verdict"], rows)
    )


def equal_outputs(d: Path) -> str:
    """How far the peers' pixels are from deconv's (same operation, different rounding and edges)."""
    from PIL import Image

    ref = np.asarray(Image.open(d / "deconv.png")).astype(np.int16)
    notes = []
    for f in sorted(d.glob("*.png")):
        if f.name == "deconv.png":
            continue
        a = np.asarray(Image.open(f).convert("RGB")).astype(np.int16)
        if a.shape != ref.shape:
            notes.append(f"{f.stem}: shape {a.shape}")
            continue
        diff = np.abs(a - ref)
        notes.append(f"{f.stem}: max |diff| {diff.max()}, mean {diff.mean():.3f}")
    return "pixels vs deconv's: " + "; ".join(notes)


def case_memory(args, report: dict) -> str:
    src = big_png()
    raw_in, raw_out = 4000 * 4000 * 3, 8000 * 8000 * 3
    budget = raw_in + raw_out + 100 * MB
    with tempfile.TemporaryDirectory() as d:
        cmds = peer_commands(src, Path(d), args.threads)
        cmds.pop("Pillow script (level 1)")
        before = load_note()
        res = alternate_children(cmds, args.memory_runs, warmup=0)
        after = load_note()
    tight = raw_in + 100 * MB  # issue 15: the decoded input and 100 MB, the output never held
    report["memory"] = {"results": res, "budget_bytes": budget, "target_bytes": tight}
    ours = max(res["deconv"]["rss"])
    verdict = "met" if ours <= budget else "NOT met"
    return (
        f"4000x4000 RGB PNG upsampled 2x to 8000x8000 PNG. {args.memory_runs} alternated runs. "
        f"{before} before, {after} after.\n"
        f"Target of issue 5: peak RSS <= raw input {raw_in / MB:.0f} MB + raw output {raw_out / MB:.0f} MB + 100 MB "
        f"= {budget / MB:.0f} MB: {verdict}. Target of issue 15: <= raw input + 100 MB = {tight / MB:.0f} MB: "
        f"{'met' if ours <= tight else 'NOT met'}. deconv {ours / MB:.1f} MB (the largest of the runs: "
        f"{', '.join(f'{r / MB:.1f}' for r in res['deconv']['rss'])}).\n\n" + peer_table(res)
    )


def batch_inputs() -> Path:
    """60 RGB PNGs of 512x512, crops of the retina photo at 60 offsets, made once."""
    from PIL import Image

    d = CACHE / "batch60"
    if len(list(d.glob("*.png"))) == 60:
        return d
    d.mkdir(parents=True, exist_ok=True)
    with Image.open(retina_png()) as im:
        rgb = im.convert("RGB")
        for i in range(60):
            x, y = (i % 6) * 150, (i // 6) * 80
            rgb.crop((x, y, x + 512, y + 512)).save(d / f"img{i:02d}.png")
    return d


def case_batch(args, report: dict) -> str:
    """Issue 15: a batch of 60 files, deconv's own 2 workers against vips in an xargs -P2 loop."""
    src = batch_inputs()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        ours = out / "deconv"
        cmds: dict = {
            "deconv upsample DIR --jobs 2": (
                deconv_cmd()
                + ["upsample", str(src), "--out-dir", str(ours), "-s", "2", "-p", "1", "--edge", "replicate"]
                + ["--jobs", str(args.threads), "--overwrite", "-q"],
                {},
                None,
            )
        }
        if shutil.which("vips"):
            for name, suffix in (
                ("vips resize, xargs -P2 loop (default compression)", ""),
                ("vips resize, xargs -P2 loop (compression 1)", "[compression=1]"),
            ):
                dst = out / ("vips1" if suffix else "vips")
                dst.mkdir()
                loop = (
                    f"ls {src}/*.png | xargs -P{args.threads} -I{{}} sh -c "
                    f'\'vips resize "$1" "{dst}/$(basename "$1"){suffix}" 2 --kernel linear\' _ {{}}'
                )
                cmds[name] = (["sh", "-c", loop], {}, None)
        before = load_note()
        res = alternate_children(cmds, args.batch_runs)
        after = load_note()
        sizes = {
            name: sum(f.stat().st_size for f in (out / sub).glob("*.png"))
            for name, sub in zip(cmds, ("deconv", "vips", "vips1"), strict=False)
        }
    report["batch"] = {n: {"wall": r["wall"], "bytes": sizes.get(n)} for n, r in res.items()}
    base = statistics.median(res["deconv upsample DIR --jobs 2"]["wall"])
    rows = [
        [
            n,
            " ".join(f"{w:.2f}" for w in r["wall"]),
            f"{statistics.median(r['wall']):.2f}",
            f"{statistics.median(r['wall']) / base:.2f}",
            f"{sizes[n] / MB:.1f}" if sizes.get(n) else "-",
        ]
        for n, r in res.items()
    ]
    return (
        f"60 RGB PNGs of 512x512 (crops of retina.png) upsampled 2x to PNG, {args.threads} processes at a time. "
        f"{args.batch_runs} alternated runs, wall time of the whole command. {before} before, {after} after.\n\n"
        + table(["command", "wall s (each run)", "median s", "x deconv", "outputs MB"], rows)
    )


LEARNED = ROOT / "kernels" / "learned_x2.safetensors"


def layer_commands(src: Path, tmp: Path, threads: int) -> dict:
    """name -> (command, environment, output path): the modes issue 14 streams, beside plain
    bilinear and PyTorch's conv_transpose2d of the same layer (bench/scripts/torch_layer.py)."""
    env = {"DECONV_THREADS": str(threads)}
    up = deconv_cmd() + ["upsample", str(src), "--overwrite", "-s", "2"]
    learned = ["-k", f"{LEARNED}:weight", "--bias", f"{LEARNED}:bias", "-p", "2", "--edge", "replicate"]
    cmds = {
        "deconv bilinear (plain)": (
            up + ["-p", "1", "--edge", "replicate", "-o", str(tmp / "plain.png")],
            env,
            tmp / "plain.png",
        ),
        "deconv bicubic --two-pass": (
            up + ["-k", "bicubic", "-p", "same", "--edge", "renormalize", "--two-pass", "-o", str(tmp / "two.png")],
            env,
            tmp / "two.png",
        ),
        "deconv learned_x2 layer": (up + learned + ["-o", str(tmp / "layer.png")], env, tmp / "layer.png"),
    }
    if torch is not None:
        script = [sys.executable, str(SCRIPTS / "torch_layer.py"), str(src), str(tmp / "torch_layer.png")]
        cmds["PyTorch conv_transpose2d, same layer"] = (
            script + [str(LEARNED), str(threads), str(tmp / "torch_seconds.txt")],
            {},
            tmp / "torch_layer.png",
        )
    return cmds


def case_layers(args, report: dict) -> str:
    """Issue 14: learned layers, --two-pass (and .mat offsets) computed in strips like plain kernels."""
    from PIL import Image

    src = big_png()
    raw_in, raw_out = 4000 * 4000 * 3, 8000 * 8000 * 3
    budget = raw_in + raw_out + 100 * MB
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cmds = layer_commands(src, tmp, args.threads)
        before = load_note()
        res = alternate_children(cmds, args.layer_runs, warmup=0)
        after = load_note()
        torch_conv = [float(v) for v in (tmp / "torch_seconds.txt").read_text().split()] if torch else []
        same = "-"
        if torch is not None:
            a = np.asarray(Image.open(tmp / "layer.png")).astype(np.int16)
            b = np.asarray(Image.open(tmp / "torch_layer.png")).astype(np.int16)
            same = f"max |diff| {np.abs(a - b).max()}, {np.mean(a != b) * 100:.4f} % of samples differ"
    plain = statistics.median(res["deconv bilinear (plain)"]["wall"])
    rows = []
    for name, r in res.items():
        wall, rss = statistics.median(r["wall"]), max(r["rss"])
        rows.append(
            [
                name,
                " ".join(f"{w:.2f}" for w in r["wall"]),
                f"{wall:.2f}",
                f"{wall / plain:.2f}",
                f"{rss / MB:.0f}",
                ("met" if rss <= budget else "NOT met") if name.startswith("deconv") else "-",
            ]
        )
    layer = statistics.median(res["deconv learned_x2 layer"]["wall"]) / plain
    report["layers"] = {"results": res, "budget_bytes": budget, "torch_conv_seconds": torch_conv}
    conv = f"; PyTorch's conv_transpose2d alone: median {statistics.median(torch_conv):.2f} s" if torch_conv else ""
    return (
        f"{src.name} (4000x4000 RGB PNG) upsampled 2x to an 8000x8000 PNG; {args.threads} threads each. "
        f"{args.layer_runs} alternated runs of separate processes, median wall time, largest peak RSS (GNU time "
        f"%M). {before} before, {after} after.\n"
        f"Targets: peak RSS <= raw input {raw_in / MB:.0f} MB + raw output {raw_out / MB:.0f} MB + 100 MB "
        f"= {budget / MB:.0f} MB for each deconv mode; the layer's wall time <= 1.5x plain bilinear's: "
        f"{layer:.2f}x, {'met' if layer <= 1.5 else 'NOT met'}{conv}.\n"
        f"deconv's layer output vs PyTorch's: {same}.\n\n"
        + table(["command", "wall s (each run)", "median s", "x plain", "peak RSS MB", "RSS target"], rows)
    )


def case_startup(args, report: dict) -> str:
    cmds = {
        "deconv --version": (deconv_cmd() + ["--version"], None, None),
        "deconv --help": (deconv_cmd() + ["--help"], None, None),
        "bare two-command Typer app --help": ([sys.executable, str(SCRIPTS / "bare_typer.py"), "--help"], None, None),
        "python -c pass (interpreter alone)": ([sys.executable, "-c", "pass"], None, None),
    }
    before = load_note()
    res = alternate_children(cmds, args.startup_runs, warmup=2)
    report["startup"] = res
    rows = [[name, ms(statistics.median(r["wall"])), ms(min(r["wall"]))] for name, r in res.items()]
    return f"{args.startup_runs} alternated runs. {before} before, {load_note()} after.\n\n" + table(
        ["command", "median ms", "best ms"], rows
    )


def case_png(args, report: dict) -> str:
    """Encoding the same 2x result: PngStream's strategies and levels, Pillow's, one thread each."""
    import io
    import zlib

    from PIL import Image

    from deconv_cli.imageio import PngStream, load_image, png_pieces, to_storage

    image = load_image(retina_png())
    stored, _, _ = to_storage(
        plan(image.array, make_kernel("bilinear", 2), Geometry.of(2, 1), edge="replicate").compute_image(), 8
    )
    h, w = stored.shape[:2]
    pieces = list(png_pieces(stored, max(1, (1 << 20) // stored[0].nbytes)))

    def ours(level, strategy, deflate=None):
        """PngStream's encode; ``deflate``: another zlib-compatible module in place of zlib-ng."""

        def go():
            from deconv_cli.imageio import pngstream

            own = pngstream.zlib
            pngstream.zlib = deflate or own
            try:
                f = io.BytesIO()
                png = PngStream(f, w, h, "RGB", 8, level, strategy=strategy)
                png.start()
                for part in pieces:
                    png.write(png.encode(part), len(part))
                png.finish()
            finally:
                pngstream.zlib = own
            return f.getbuffer().nbytes

        return go

    def pillow(level):
        def go():
            f = io.BytesIO()
            Image.fromarray(stored).save(f, format="PNG", compress_level=level)
            return f.getbuffer().nbytes

        return go

    contenders = {
        "Up filter, zlib-ng Z_RLE (deconv's default)": ours(1, zlib.Z_RLE),
        "Up filter, zlib-ng level 1": ours(1, zlib.Z_DEFAULT_STRATEGY),
        "Up filter, zlib-ng level 2": ours(2, zlib.Z_DEFAULT_STRATEGY),
        "Up filter, zlib-ng level 6": ours(6, zlib.Z_DEFAULT_STRATEGY),
        "Up filter, Python's zlib Z_RLE": ours(1, zlib.Z_RLE, zlib),
        "Up filter, Python's zlib level 1": ours(1, zlib.Z_DEFAULT_STRATEGY, zlib),
        "Up filter, Python's zlib level 6": ours(6, zlib.Z_DEFAULT_STRATEGY, zlib),
        "Pillow, adaptive filter, level 1": pillow(1),
        "Pillow, adaptive filter, level 6 (its default)": pillow(6),
    }
    sizes = {name: fn() for name, fn in contenders.items()}
    times = alternate(contenders, args.png_runs, warmup=0)
    base = statistics.median(times["Up filter, zlib-ng Z_RLE (deconv's default)"])
    rows = [
        [n, ms(statistics.median(t)), f"{statistics.median(t) / base:.2f}", f"{sizes[n] / MB:.2f}"]
        for n, t in times.items()
    ]
    report["png"] = {n: {"median_s": statistics.median(t), "bytes": sizes[n]} for n, t in times.items()}
    return (
        f"Encoding the {w}x{h} RGB result of the end-to-end case on one thread (deconv splits it over threads). "
        f"{args.png_runs} alternated runs. {load_note()}.\n\n" + table(["encoder", "ms", "x default", "MB"], rows)
    )


def case_growth(args, report: dict) -> str:
    sizes = [256, 512, 1024] if args.quick else [256, 512, 1024, 2048, 4096]
    kernels = [2, 4, 8, 16]
    rng = np.random.default_rng(1)
    rows = []
    data = {}
    for n in sizes:
        x = rng.random((n, n, 3), dtype=np.float32)
        for k in kernels:
            kern = rng.random((k, k)).astype(np.float32)  # full rank: no separable shortcut
            taps = math.ceil(k / 2) ** 2
            runs = 1 if n * n * k * k > 2048 * 2048 * 64 else 3
            t = statistics.median(alternate({"x": partial(conv_transpose2d, x, kern, 2)}, runs, warmup=0)["x"])
            out = ((n - 1) * 2 + k) ** 2
            method = plan(x, kern, Geometry.of(2)).method
            rows.append(
                [f"{n}x{n}", f"{k}x{k}", taps, method, ms(t), f"{t / out * 1e9:.1f}", f"{t / (out * taps) * 1e9:.2f}"]
            )
            data[f"{n}/{k}"] = t
    report["growth"] = data
    return (
        f"conv_transpose2d alone, 3 channels float32, random (full-rank) kernels, stride 2, padding 0. "
        f"Taps per phase = ceil(k/2)^2. {load_note()} at the end.\n\n"
        + table(["input", "kernel", "taps/phase", "method", "ms", "ns per output pixel", "ns per pixel per tap"], rows)
    )


CASES = {
    "compute": ("1. Compute: deconv vs PyTorch conv_transpose2d", case_compute),
    "e2e": ("2. End to end: PNG in, 2x PNG out", case_e2e),
    "png": ("2b. PNG encoding: the figures behind the default", case_png),
    "memory": ("3. Memory: 4000x4000 RGB, 2x", case_memory),
    "batch": ("3c. Batch: 60 files of 512x512, 2x, 2 processes", case_batch),
    "layers": ("3b. Every mode in strips: learned layer, --two-pass, 4000x4000 RGB, 2x", case_layers),
    "startup": ("4. Start-up", case_startup),
    "growth": ("5. Cost growth", case_growth),
    "targets": ("6. Issue 15's targets: verdicts", case_targets),
}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        compute_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--quick", action="store_true", help="fewer runs; growth curve up to 1024x1024")
    ap.add_argument("--runs", type=int, default=None, help="rounds for compute and end to end (default 7, quick 3)")
    ap.add_argument(
        "--threads", type=int, default=default_threads(), help="threads for deconv, PyTorch, vips, ImageMagick"
    )
    ap.add_argument(
        "--slow", action="store_true", help="also time the old per-tap loop on the 16x16 case (about a minute)"
    )
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()
    args.runs = args.runs or (3 if args.quick else 7)
    args.memory_runs = 1 if args.quick else 2
    args.layer_runs = 3 if args.quick else 5
    args.startup_runs = 10 if args.quick else 20
    args.png_runs = 2 if args.quick else 5
    args.batch_runs = 2 if args.quick else 5
    os.environ["DECONV_THREADS"] = str(args.threads)
    # The children run this checkout's deconv, not another one installed in the environment
    # (an editable install of another worktree would be measured instead).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    # An installed package has its bytecode compiled (pip does it); a source checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would compile deconv's modules on every start (~30 ms): compile
    # them once and let the children read the cache, as every peer's libraries do.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    import compileall

    compileall.compile_dir(str(ROOT / "src" / "deconv_cli"), quiet=1)
    report: dict = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
    }
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    print(
        f"# deconv benchmark\n\n{cpu}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}, numpy {np.__version__}; "
        f"{peers_note(args.threads)}. {load_note()} at the start.\n"
    )
    for key in args.cases.split(","):
        title, fn = CASES[key.strip()]
        t = time.perf_counter()
        body = fn(args, report)
        print(f"## {title}\n\n{body}\n\n({time.perf_counter() - t:.0f} s)\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
