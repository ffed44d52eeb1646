"""Where one upsample's time goes after start-up: seconds per phase, measured inside the process.

    DECONV_THREADS=1 python bench/scripts/phases.py IN.png OUT.png [--no-warmup] [deconv upsample options]

Wraps the pipeline's functions with perf counters (decode, convert to 8-bit, PNG row filter,
deflate, chunk writes; the strips' computation is the strip loop's time minus those) and runs
``upsample_file`` once to warm up, then once measured. With one thread the phases run one after
another and add up; with more they overlap. Also gives the process's resident memory (VmRSS)
and its peak so far (VmHWM) in MB after the imports, after the decode and at the end. Prints one
JSON line. Start-up (imports, Typer's
parsing) is not here: see bench/README.md, *Where the time goes*.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict

from deconv_cli.imageio import pngstream, write
from deconv_cli.pipeline import upsample as up

spent: dict[str, float] = defaultdict(float)
memory: dict[str, int] = {}


def rss(label: str) -> None:
    """VmRSS and VmHWM (peak so far) in MB, from /proc (Linux only)."""
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f)
    for key in ("VmRSS", "VmHWM"):
        memory[f"{label} {key}"] = int(status[key].split()[0]) // 1024


def timed(name, fn):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[name] += time.perf_counter() - t
            if name == "decode":
                rss("after decode")

    return wrapper


up.probe = timed("probe", up.probe)
up.decode = timed("decode", up.decode)
write.store = timed("convert", write.store)
pngstream.PngStream.filtered = timed("filter", pngstream.PngStream.filtered)  # type: ignore[method-assign]
pngstream._chunk = timed("write", pngstream._chunk)


class _Compress:  # zlib.compressobj's objects cannot be patched: wrap the module function
    def __init__(self, obj):
        self.obj = obj

    def compress(self, data):
        t = time.perf_counter()
        try:
            return self.obj.compress(data)
        finally:
            spent["deflate"] += time.perf_counter() - t

    def flush(self, *a):
        t = time.perf_counter()
        try:
            return self.obj.flush(*a)
        finally:
            spent["deflate"] += time.perf_counter() - t


deflate = pngstream.zlib  # the deflate module pngstream uses (zlib-ng's)
_compressobj = deflate.compressobj
pngstream.zlib = type(sys)("zlib_timed")  # the module's own name for it, with compressobj wrapped
pngstream.zlib.__dict__.update(deflate.__dict__)
pngstream.zlib.compressobj = lambda *a: _Compress(_compressobj(*a))  # type: ignore[attr-defined]

src, dst, *args = (a for a in sys.argv[1:] if a != "--no-warmup")
opts: dict = {"overwrite": True}
it = iter(args)
for a in it:  # a few of upsample's options, enough for the bench cases
    if a in ("-s", "--stride"):
        opts["stride"] = int(next(it))
    elif a in ("-p", "--padding"):
        opts["padding"] = int(next(it))
    elif a == "--edge":
        opts["edge"] = next(it)
    elif a in ("-k", "--kernel"):
        opts["kernel"] = next(it)
    else:
        raise SystemExit(f"unknown option {a}")
rss("imports")
if "--no-warmup" not in sys.argv:  # --no-warmup: the peaks are those of one run, as the command's
    up.upsample_file(src, dst, **opts)
spent.clear()
t = time.perf_counter()
outcome = up.upsample_file(src, dst, **opts)
total = time.perf_counter() - t
strips = outcome.saved.strip_seconds
inner = sum(spent[k] for k in ("convert", "filter", "deflate", "write"))
spent["compute"] = strips - inner
spent["rest"] = total - strips - spent["probe"] - spent["decode"]
rss("end")
out_mb = os.path.getsize(dst) // 10**6
figures = {"total": round(total, 4), **{k: round(v, 4) for k, v in spent.items()}, **memory, "output MB": out_mb}
print(json.dumps(figures))
