"""Running a whole batch: locally or on a Dask cluster, each result reported as it comes, the
run's own temporary files swept however it ends."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from ..errors import DeconvError
from ..imageio.atomic import new_tag, tagged
from ..pipeline import Settings
from .jobs import Interrupted, run_job, signals_raise, sweep_temporaries
from .planning import STDIO, FileResult, Job
from .pool import run_local

if TYPE_CHECKING:
    from .boot import Prestarted


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
    tag = new_tag()
    try:
        job_of = {
            client.submit(
                _tagged_job, j, settings, tag, key=f"deconv-{j.index}-{os.getpid()}-{time.time_ns()}", pure=False
            ): j
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
        sweep_temporaries(jobs, tag)  # what this run's tasks left, where this machine sees it


def _tagged_job(job: Job, settings: Settings, tag: str) -> FileResult:
    """A Dask task: :func:`run_job` with this run's tag in its temporary names."""
    with tagged(tag):
        return run_job(job, settings)


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
    progress: Callable[[int, int], None] | None = None,
    prestarted: Prestarted | None = None,
) -> dict[str, int]:
    """Run every job, calling ``on_result`` for each as it finishes.

    Returns the counts ``{'ok', 'skipped', 'failed'}``. SIGINT and SIGTERM
    raise :class:`Interrupted` after the workers have been stopped and the
    run's temporary files removed; finished outputs stay. With
    ``skip_existing``, an output that another run writes while this one works
    is a skip too, not a failure. ``progress(strips done, strips in all)`` is
    called for a file computed in this process (one job, or one worker). ``prestarted``: local
    workers started ahead (:func:`~.boot.prestart`), sent away if not used.
    """
    counts = {"ok": 0, "skipped": 0, "failed": 0}
    todo = []
    with signals_raise():
        for j in jobs:
            if j.own_output_of is not None:
                why = f"this run's own output (for {j.own_output_of}), not an input"
                counts["skipped"] += 1
                on_result(FileResult(j.src, None, "skipped", None, reason=why))
            elif skip_existing and j.dst != STDIO and os.path.lexists(j.dst):
                res = FileResult(j.src, j.dst, "skipped", None, reason="the output exists (--skip-existing)")
                counts["skipped"] += 1
                on_result(res)
            else:
                todo.append(replace(j, skip_existing=skip_existing))
        if scheduler:
            if prestarted is not None:
                prestarted.close()
            results = run_dask(todo, settings, scheduler, scheduler_timeout)
        else:
            task = partial(run_job, progress=progress) if progress is not None else None
            results = run_local(todo, settings, workers, task=task, prestarted=prestarted)
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
                close()  # stops the workers (terminating them if unfinished) and sweeps the run's temporaries
    return counts
