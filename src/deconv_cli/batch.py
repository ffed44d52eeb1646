"""Many files: expand the inputs, name the outputs, run them in parallel, and never
leave a partial or clobbered file behind, however the run ends.

Every output goes through :func:`~deconv_cli.imageio.atomic_write` (a temporary
file beside the target, fsynced, then renamed into place). Workers turn SIGTERM
into an exception so that clean-up runs; the parent, when interrupted, stops the
workers, sweeps any temporary file of a planned output that survived, and keeps
every output already finished.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .cpus import available_cpus
from .errors import DeconvError
from .pipeline import Settings, default_output, output_suffix, process

#: Extensions picked up from directories (explicit file arguments are read whatever their name).
IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".webp",
    ".gif",
    ".ppm",
    ".pgm",
    ".pnm",
    ".pbm",
    ".tga",
)
TEMPLATE_FIELDS = ("stem", "ext", "parent", "stride", "kernel")
STDIO = "-"


def _has_magic(s: str) -> bool:
    return any(c in s for c in "*?[")


def expand_inputs(items: Iterable[str], *, recursive: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """Paths, directories and quoted globs -> (files in order, [(item, problem)]).

    Directories give their image files (by extension), sorted; with
    ``recursive`` their subdirectories too. A glob is expanded by deconv
    (``**`` matches across directories). Duplicates are dropped, first one kept.
    Items that give nothing are reported, not silently dropped.
    """
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    for item in items:
        if item == STDIO:
            files.append(item)
            continue
        p = Path(item)
        if p.is_dir():
            walk = sorted(p.rglob("*") if recursive else p.iterdir())
            found = [str(f) for f in walk if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
            if not found:
                problems.append(
                    (
                        item,
                        "directory holds no image files"
                        + ("" if recursive else " (add --recursive for subdirectories)"),
                    )
                )
            files += found
        elif not p.exists() and _has_magic(item):
            found = sorted(f for f in glob.glob(item, recursive=True) if Path(f).is_file())
            if not found:
                problems.append((item, "no file matches this pattern"))
            files += found
        else:
            files.append(item)  # missing or unreadable files are reported when processed
    seen: set[str] = set()
    unique = []
    for f in files:
        key = f if f == STDIO else os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


def read_file_list(source: str) -> list[str]:
    """``--files-from FILE`` or ``-`` (stdin): one path per line; blank lines ignored."""
    try:
        text = (
            sys.stdin.read() if source == STDIO else Path(source).read_text(encoding="utf-8", errors="surrogateescape")
        )
    except OSError as e:
        raise DeconvError(f"--files-from {source}: cannot read it ({e.strerror or e})", usage=True) from None
    return [line.rstrip("\r\n") for line in text.splitlines() if line.strip()]


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``I/N`` -> (I, N): process every N-th file starting at the I-th (0-based).

    >>> parse_shard("0/4"), parse_shard(None)
    ((0, 4), (0, 1))
    """
    if spec is None:
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not m or int(m[2]) < 1 or int(m[1]) >= int(m[2]):
        raise DeconvError(f"--shard {spec!r} must be I/N with 0 <= I < N (e.g. --shard 0/4 .. 3/4)", usage=True)
    return int(m[1]), int(m[2])


def _kernel_label(kernel: str) -> str:
    name = Path(kernel.split(":", 1)[0]).stem if ("/" in kernel or "." in kernel) else kernel.split(":", 1)[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "kernel"


def output_name(src: str, template: str, *, stride: str, kernel: str) -> str:
    """Fill a ``--name`` template for one input (``stride``: :attr:`Geometry.label`, ``kernel``: the spec).

    >>> output_name("shots/cat.gif", "{parent}_{stem}_x{stride}_{kernel}{ext}", stride="2", kernel="k/bilinear.npy")
    'shots_cat_x2_bilinear.png'
    """
    p = Path(src)
    values = {
        "stem": p.stem,
        "ext": output_suffix(p),
        "parent": p.resolve().parent.name,
        "stride": stride,
        "kernel": _kernel_label(kernel),
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as e:
        raise DeconvError(
            f"--name {template!r}: {e} is not a field; use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}",
            usage=True,
        ) from None


@dataclass
class Job:
    """One input and where its output goes."""

    src: str
    dst: str
    index: int = 0


@dataclass
class FileResult:
    """What happened to one file; ``as_json`` is its line in ``--json`` output."""

    input: str
    output: str | None
    status: str  # ok, skipped, failed
    error: str | None = None
    seconds: float = 0.0
    input_size: list[int] | None = None  # [height, width]
    output_size: list[int] | None = None
    detail: dict | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    usage: bool = False  # the failure was a usage error (a parameter that does not fit this image)

    def as_json(self) -> dict:
        """The upsample report (``Outcome.as_dict()``) with ``status`` and ``error``; for a
        skipped or failed file only what is known: paths, the reason, the time spent."""
        if self.detail is not None:
            return {"status": self.status, "error": None, **self.detail}
        return {
            "status": self.status,
            "error": self.error,
            "input": {"path": self.input},
            "output": {"path": self.output},
            "warnings": self.warnings,
            "seconds": {"total": round(self.seconds, 4)},
        }


def plan(
    files: list[str],
    *,
    out_dir: str | None,
    name: str | None,
    output: str | None,
    settings: Settings,
    shard: tuple[int, int] = (0, 1),
    overwrite: bool = False,
) -> list[Job]:
    """Decide every output path before anything runs, and refuse clashes.

    Two inputs that would write the same output are a usage error; with
    ``overwrite``, so is an output that is one of the inputs (of any shard).
    Without ``overwrite`` such an output already exists and is refused (or
    skipped) file by file, so a rerun over a folder holding earlier outputs
    cannot destroy anything. Nothing is processed when the plan is refused.
    """
    if output is not None and len(files) != 1:
        raise DeconvError(
            f"-o/--output names one file but there are {len(files)} inputs; use --out-dir DIR (and --name)", usage=True
        )
    if output is not None and (out_dir or name):
        raise DeconvError("give either -o/--output or --out-dir/--name, not both", usage=True)
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise DeconvError(f"--out-dir {out_dir}: exists and is not a directory", usage=True)
    label, kernel = settings.geometry.label, settings.kernel.source
    i, n = shard
    jobs = []
    for k, src in enumerate(files):
        if k % n != i:
            continue
        if output is not None:
            dst = output
        elif src == STDIO:
            if out_dir is None and name is None:
                raise DeconvError("reading an image from stdin (-) needs -o FILE, -o - or --out-dir", usage=True)
            dst = str(
                Path(out_dir or ".") / output_name("stdin.png", name or "{stem}{ext}", stride=label, kernel=kernel)
            )
        elif out_dir is None and name is None:
            dst = str(default_output(src, label))
        else:
            filled = output_name(src, name or "{stem}{ext}", stride=label, kernel=kernel)
            dst = str(Path(out_dir) / filled) if out_dir is not None else str(Path(src).parent / filled)
        jobs.append(Job(src, dst, k))
    seen: dict[str, str] = {}
    inputs = {os.path.abspath(f) for f in files if f != STDIO}
    for j in jobs:
        if j.dst == STDIO:
            continue
        key = os.path.abspath(j.dst)
        if key in seen:
            raise DeconvError(
                f"{seen[key]} and {j.src} would both be written to {j.dst}; "
                f"add {{parent}} to --name or use separate runs",
                usage=True,
            )
        seen[key] = j.src
        if key in inputs and overwrite:
            raise DeconvError(
                f"{j.dst}: is one of the inputs; writing it would destroy an input "
                f"(choose another -o, --out-dir or --name)"
            )
    return jobs


# --------------------------------------------------------------------------- running


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the batch."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


_IN_TASK = False


def _worker_sigterm(signum, frame):
    if _IN_TASK:
        raise Interrupted(signum)  # unwinds the task: atomic_write removes its temporary file
    os._exit(128 + signum)  # idle: nothing to clean up


def _worker_init(threads: int | None = None) -> None:
    """In each worker: SIGTERM unwinds the running task, so ``finally`` clauses (temporary
    files) run, then the worker exits quietly; the parent alone handles SIGINT. ``threads``
    caps the strip threads of each worker, so that workers x threads stays at the CPUs."""
    if threads and not os.environ.get("DECONV_THREADS"):
        os.environ["DECONV_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)


def run_job(job: Job, settings: Settings) -> FileResult:
    """Process one file; every failure becomes a ``failed`` result, never an exception."""
    t0 = time.perf_counter()
    try:
        d = process(job.src, job.dst, settings).as_dict()
        return FileResult(
            job.src,
            job.dst,
            "ok",
            None,
            time.perf_counter() - t0,
            [d["input"]["height"], d["input"]["width"]],
            [d["output"]["height"], d["output"]["width"]],
            d,
            d["warnings"],
        )
    except DeconvError as e:
        return FileResult(job.src, job.dst, "failed", str(e), time.perf_counter() - t0, usage=e.usage)
    except MemoryError:
        return FileResult(job.src, job.dst, "failed", f"{job.src}: not enough memory", time.perf_counter() - t0)
    except Exception as e:  # a bug: still this file's failure, not the batch's
        return FileResult(
            job.src, job.dst, "failed", f"{job.src}: internal error: {type(e).__name__}: {e}", time.perf_counter() - t0
        )


def sweep_temporaries(jobs: Iterable[Job]) -> int:
    """Remove temporary files (``.NAME.xxxxxxxx.part``) left beside planned outputs; return how many."""
    removed = 0
    for j in jobs:
        if j.dst == STDIO:
            continue
        p = Path(j.dst)
        parent = p.parent if str(p.parent) else Path(".")
        for tmp in glob.glob(os.path.join(glob.escape(str(parent)), f".{glob.escape(p.name)}.*.part")):
            try:
                os.unlink(tmp)
                removed += 1
            except OSError:
                pass
    return removed


def _mp_context():
    import multiprocessing as mp

    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def run_local(jobs: list[Job], settings: Settings, workers: int) -> Iterator[FileResult]:
    """Results in completion order; one process per worker (in-process for one worker or one job)."""
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            yield run_job(j, settings)
        return
    n = min(workers, len(jobs))
    pool = _mp_context().Pool(processes=n, initializer=_worker_init, initargs=(max(1, default_workers() // n),))
    finished = False
    try:
        yield from pool.imap_unordered(_run_job_args, [(j, settings) for j in jobs])
        finished = True
    finally:
        if finished:
            pool.close()
        else:
            pool.terminate()  # SIGTERM: each worker's clean-up runs
        pool.join()


def _run_job_args(args: tuple[Job, Settings]) -> FileResult:
    global _IN_TASK
    _IN_TASK = True
    try:
        return run_job(*args)
    except Interrupted as e:
        os._exit(128 + e.signum)  # clean-up has run on the way here; no traceback
    finally:
        _IN_TASK = False


def run_dask(jobs: list[Job], settings: Settings, scheduler: str, timeout: float = 10.0) -> Iterator[FileResult]:
    """Each file a task on a Dask distributed cluster; failures come back per file, as locally.

    ``timeout``: seconds to wait for the scheduler to answer."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise DeconvError("--scheduler needs Dask distributed: pip install 'deconv-cli[dask]'") from None
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as e:
        raise DeconvError(f"--scheduler {scheduler}: cannot connect within {timeout:g} s ({e})") from None
    futures = []
    try:
        job_of = {
            client.submit(run_job, j, settings, key=f"deconv-{j.index}-{os.getpid()}-{time.time_ns()}", pure=False): j
            for j in jobs
        }
        futures = list(job_of)
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as e:  # the worker itself died
                j = job_of[fut]
                yield FileResult(j.src, j.dst, "failed", f"{j.src}: Dask task failed: {type(e).__name__}: {e}")
    finally:
        if futures:
            client.cancel(futures)
        client.close()


def run_batch(
    jobs: list[Job],
    settings: Settings,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    scheduler_timeout: float = 10.0,
    skip_existing: bool = False,
    fail_fast: bool = False,
    on_result: Callable[[FileResult], None] = lambda r: None,
) -> dict[str, int]:
    """Run every job, calling ``on_result`` for each as it finishes.

    Returns the counts ``{'ok', 'skipped', 'failed'}``. SIGINT and SIGTERM
    raise :class:`Interrupted` after the workers have been stopped and any
    temporary file swept; finished outputs stay.
    """
    counts = {"ok": 0, "skipped": 0, "failed": 0}
    todo = []
    for j in jobs:
        if skip_existing and j.dst != STDIO and Path(j.dst).exists():
            res = FileResult(j.src, j.dst, "skipped", None)
            counts["skipped"] += 1
            on_result(res)
        else:
            todo.append(j)
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    main_thread = _in_main_thread()
    if main_thread:
        for s in previous:
            signal.signal(s, _raise_interrupted)
    results = (
        run_dask(todo, settings, scheduler, scheduler_timeout) if scheduler else run_local(todo, settings, workers)
    )
    try:
        for res in results:
            counts[res.status] += 1
            on_result(res)
            if fail_fast and res.status == "failed":
                break
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT) from None
    finally:
        close = getattr(results, "close", None)
        if close:
            close()  # stops the pool (terminating workers if unfinished)
        sweep_temporaries(todo)
        if main_thread:
            for s, h in previous.items():
                signal.signal(s, h)
    return counts


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def default_workers() -> int:
    """CPUs this process may use."""
    return available_cpus()
