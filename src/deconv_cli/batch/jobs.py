"""One job in this process: signals turned into an exception, the job on a helper thread so that
a signal is handled at once, every failure a per-file result."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import DeconvError
from ..imageio.atomic import abandon, sweep
from ..pipeline import Settings, process
from .planning import STDIO, FileResult, Job


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the batch."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM raise :class:`Interrupted` (in the main thread;
    elsewhere signals cannot be handled and this does nothing); the handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a helper thread while the main thread waits in short steps, so that a
    signal is handled at once even while a long strip runs in native code. When the wait is
    interrupted, the temporary files of this process are removed (:func:`abandon`) and the
    exception propagates; the helper is left to die with the process (it is a daemon, but the
    strip threads it started are not: exit with ``os._exit`` after an interruption)."""
    if threading.current_thread() is not threading.main_thread():
        return fn(*args)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # handed to the main thread
            box["error"] = e

    t = threading.Thread(target=target, name="deconv-job", daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.1)
    except BaseException:
        abandon()
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]


def run_job(job: Job, settings: Settings, progress: Callable[[int, int], None] | None = None) -> FileResult:
    """Process one file; every failure becomes a ``failed`` result, never an exception.
    ``progress`` goes to :func:`~deconv_cli.pipeline.process`."""
    t0 = time.perf_counter()
    if job.skip_existing and job.dst != STDIO and os.path.lexists(job.dst):
        return FileResult(job.src, job.dst, "skipped", None)
    if job.replace and not settings.overwrite:
        settings = dataclasses.replace(settings, overwrite=True)
    try:
        d = process(job.src, job.dst, settings, progress).as_dict()
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
        if job.skip_existing and os.path.lexists(job.dst):  # another run wrote it meanwhile: leave it alone
            return FileResult(job.src, job.dst, "skipped", None, time.perf_counter() - t0)
        return FileResult(job.src, job.dst, "failed", str(e), time.perf_counter() - t0, usage=e.usage)
    except MemoryError:
        return FileResult(job.src, job.dst, "failed", f"{job.src}: not enough memory", time.perf_counter() - t0)
    except Exception as e:  # a bug: still this file's failure, not the batch's
        return FileResult(
            job.src, job.dst, "failed", f"{job.src}: internal error: {type(e).__name__}: {e}", time.perf_counter() - t0
        )


def sweep_temporaries(jobs: Iterable[Job], tag: str) -> int:
    """Remove the temporary files of run ``tag`` (``.NAME.TAG-xxxxxx.part``) left beside planned
    outputs by workers that were killed; return how many. Other runs' files are not touched."""
    return sweep((j.dst for j in jobs if j.dst != STDIO), tag)
