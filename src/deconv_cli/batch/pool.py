"""Local runs: a small process pool of deconv's own, in which each worker holds one file at a
time, so a worker that dies costs exactly that file (retried once on a fresh worker), and a
worker exits at once when its parent is gone."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..cpus import available_cpus
from ..errors import DeconvError, one_line
from ..imageio.atomic import abandon, new_tag, set_tag
from ..pipeline import Settings
from .boot import sigint_ignored
from .jobs import run_in_thread, run_job, sweep_temporaries
from .planning import STDIO, FileResult, Job

if TYPE_CHECKING:
    from .boot import Prestarted


def _mp_context():
    """Workers are spawned as the parent's own children. Not ``forkserver``: its workers are
    the server's children, so when the server dies every worker looks dead to the parent
    (their sentinels close) while they run on, and the retries clash with their outputs.
    Spawned workers cost about 2% more wall time on a batch (one start per worker, not per file)."""
    import multiprocessing as mp

    return mp.get_context("spawn")


#: Seconds a stopped worker gets to remove its temporary file before it is killed.
STOP_GRACE = 1.0


def run_local(
    jobs: list[Job],
    settings: Settings,
    workers: int,
    *,
    task: Callable[[Job, Settings], FileResult] | None = None,
    prestarted: Prestarted | None = None,
) -> Iterator[FileResult]:
    """Results in completion order; one process per worker (in-process for one worker or one job).

    ``task(job, settings)`` (default :func:`run_job`, a module-level function) processes one file.
    ``prestarted``: workers started ahead (:func:`~.boot.prestart`), taken before any new one."""
    task = task or run_job
    if workers <= 1 or len(jobs) <= 1:
        if prestarted is not None:
            prestarted.close()
        for j in jobs:
            yield run_in_thread(task, j, settings)
        return
    yield from _Pool(settings, min(workers, len(jobs)), task, prestarted).run(jobs)


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return name + (", perhaps the out-of-memory killer" if -code == getattr(signal, "SIGKILL", 9) else "")


@dataclass
class _Worker:
    proc: Any
    conn: Any
    job: Job | None = None
    fresh: bool = True  # its output did not exist when the job was handed to it


class _Pool:
    """Worker processes that each take one file at a time over their own pipe.

    Why not ``multiprocessing.Pool`` or ``ProcessPoolExecutor``: ``Pool`` never returns the
    task of a worker that died (the batch waits forever), and ``ProcessPoolExecutor`` breaks
    as a whole, failing every file in flight without saying whose worker died. Here the
    parent knows which file each worker holds and waits on the workers' pipes and process
    sentinels together, so a death is seen at once and costs exactly its file, which is
    retried once on a fresh worker, then reported as failed. Every worker also watches a
    lifeline pipe whose only writer is the parent: when the parent dies (even by SIGKILL)
    the worker removes its temporary file and exits at once, silently.
    """

    def __init__(
        self,
        settings: Settings,
        n: int,
        task: Callable[[Job, Settings], FileResult],
        prestarted: Prestarted | None = None,
    ):
        self.ctx = _mp_context()
        self.settings, self.n, self.task = settings, n, task
        self.tag = new_tag()
        self.threads = max(1, default_workers() // n)
        self.workers: list[_Worker] = []
        self.ahead: list[tuple[Any, Any]] = []
        if prestarted is not None:  # their lifeline is every worker's: they watch it already
            self.ahead, self.life_r, self.life_w = prestarted.take(n)
        else:
            self.life_r, self.life_w = self.ctx.Pipe(duplex=False)

    def _adopt(self, proc, conn) -> None:
        """Make a worker started ahead one of this pool's: its first message is what it serves
        with. If it died meanwhile, its sentinel says so in :meth:`run`, as for any worker."""
        with suppress(OSError, ValueError):
            conn.send((_worker_main, self.settings, self.threads, self.tag, self.task))
        self.workers.append(_Worker(proc, conn))

    def _start(self) -> None:
        """Start one more worker. When none can be started (no memory, no processes left, the
        interpreter cannot be run) and no worker is left either, the batch cannot go on."""
        mine, theirs = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=_worker_main,
            args=(theirs, self.life_r, self.settings, self.threads, self.tag, self.task),
            name="deconv-worker",
            daemon=True,
        )
        try:
            with warnings.catch_warnings():  # a killed resource tracker is relaunched, nothing to tell
                warnings.filterwarnings("ignore", "resource_tracker: process died", UserWarning)
                with sigint_ignored():
                    proc.start()
        except (OSError, EOFError) as e:
            mine.close()
            theirs.close()
            if not self.workers:
                raise DeconvError(
                    f"cannot start a worker process ({one_line(e) or type(e).__name__}); "
                    "free memory or processes, or run with --jobs 1"
                ) from None
            return
        theirs.close()
        self.workers.append(_Worker(proc, mine))

    def run(self, jobs: list[Job]) -> Iterator[FileResult]:
        from multiprocessing.connection import wait

        queue = deque(jobs)
        died: dict[int, str] = {}  # job index -> how its first worker died
        finished = False
        try:
            for proc, conn in self.ahead:
                self._adopt(proc, conn)
            self.ahead = []
            for _ in range(min(self.n, len(queue)) - len(self.workers)):
                self._start()
            while queue or any(w.job is not None for w in self.workers):
                idle = [w for w in self.workers if w.job is None and w.proc.is_alive()]
                if queue and not idle and len(self.workers) < self.n:  # never wait with work and no one to do it
                    self._start()
                for w in self.workers:
                    if w.job is None and queue and w.proc.is_alive():
                        w.job = queue.popleft()
                        w.fresh = w.job.dst == STDIO or not os.path.lexists(w.job.dst)
                        with suppress(OSError):  # if it died just now, its sentinel says so below
                            w.conn.send(w.job)
                busy = [w.conn for w in self.workers if w.job is not None]
                ready = set(wait(busy + [w.proc.sentinel for w in self.workers], timeout=1.0))
                for w in list(self.workers):
                    if w.job is not None and w.conn in ready:
                        try:
                            res = w.conn.recv()
                        except (EOFError, OSError):
                            res = None  # died: handled with its sentinel
                        if res is not None:
                            done, w.job = w.job, None
                            if done.index in died:
                                res.warnings.append(f"{done.src}: {died[done.index]}; it was processed again")
                            yield res
                            continue
                    if w.proc.sentinel in ready or not w.proc.is_alive():
                        w.proc.join(0.1)
                        if w.proc.is_alive():  # its pipe broke but it lives on: stop it
                            w.proc.kill()
                            w.proc.join()
                        w.conn.close()
                        self.workers.remove(w)
                        job, w.job = w.job, None
                        if job is not None:
                            how = f"the worker process processing it died ({_signal_name(w.proc.exitcode)})"
                            sweep_temporaries([job], self.tag)
                            if job.index in died:
                                yield FileResult(
                                    job.src, job.dst, "failed", f"{job.src}: {how}, twice; nothing was written"
                                )
                            else:
                                died[job.index] = how
                                if w.fresh and job.dst != STDIO and os.path.lexists(job.dst):
                                    # it died after its output was in place (whole: outputs are renamed
                                    # into place), before it could say so: the retry replaces that file
                                    job = replace(job, replace=True)
                                queue.appendleft(job)
                        if queue and len(self.workers) < self.n:
                            self._start()
            finished = True
        finally:
            self._close(graceful=finished)
            sweep_temporaries(jobs, self.tag)

    def _close(self, *, graceful: bool) -> None:
        """Stop every worker: ask idle ones to leave (``graceful``) or SIGTERM them (each removes
        its temporary file), SIGKILL whatever is left after :data:`STOP_GRACE` seconds."""
        from multiprocessing.connection import wait

        for w in self.workers:
            try:
                if graceful:
                    w.conn.send(None)
                else:
                    w.proc.terminate()
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + (5.0 if graceful else STOP_GRACE)
        while any(w.proc.is_alive() for w in self.workers) and time.monotonic() < deadline:
            wait([w.proc.sentinel for w in self.workers if w.proc.is_alive()], timeout=0.1)
        for w in self.workers:
            if w.proc.is_alive():
                w.proc.kill()
            w.proc.join()
            w.conn.close()
        self.workers.clear()
        self.life_w.close()
        self.life_r.close()


def _worker_sigterm(signum, frame):
    abandon()  # the temporary file being written, if any
    os._exit(128 + signum)


def _watch_parent(lifeline) -> None:
    """The parent holds the only writing end of ``lifeline``: it turns readable (end of file) when
    the parent is gone, however it died. Then remove the temporary file and leave, silently."""
    with suppress(OSError, EOFError, ValueError):
        lifeline.poll(None)
    abandon()
    os._exit(1)


def _worker_init(threads: int | None = None) -> None:
    """In each worker: SIGTERM removes the temporary file being written and exits quietly; the
    parent alone handles SIGINT. ``threads`` caps the strip threads of each worker, so that
    workers x threads stays at the CPUs."""
    if threads and not os.environ.get("DECONV_THREADS"):
        os.environ["DECONV_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)


def _worker_main(conn, lifeline, settings: Settings, threads: int, tag: str, task) -> None:
    """A worker: take a job, send its result back, until told to stop (None) or the parent is gone."""
    _worker_init(threads)
    set_tag(tag)
    threading.Thread(target=_watch_parent, args=(lifeline,), name="deconv-lifeline", daemon=True).start()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if job is None:
            break
        res = task(job, settings)
        try:
            conn.send(res)
        except (OSError, ValueError):
            abandon()
            os._exit(0)
    conn.close()
    # Idle, nothing in flight, nothing written but through conn: leave without the interpreter's
    # teardown (its modules, numpy's included), which the parent would wait for: 50-150 ms a batch.
    with suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


def default_workers() -> int:
    """CPUs this process may use."""
    return available_cpus()
