"""Workers started before the command has imported what it needs, so that their own start
(an interpreter, numpy, Pillow and deconv imported again: workers are spawned, not forked) runs
beside the command's instead of after it. Light to import: nothing beyond the standard library.

A started worker imports what a job needs, then waits for its first message, ``(main, settings,
threads, tag, task)``, sent when the pool adopts it (:class:`~.pool._Pool`), and runs
``main`` (the pool's worker loop) with the rest; ``None`` or the parent's end of its pipe closing
sends it away.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Processes started inside begin with SIGINT ignored (an ignored signal stays ignored across
    fork and exec, and Python then installs no KeyboardInterrupt for it), so a Ctrl-C that reaches
    the whole process group while a worker's interpreter is still starting is never a traceback
    from the worker. Not a blocked signal mask: starting a worker may start multiprocessing's
    resource tracker, which unblocks SIGINT on its way. Only the main thread can set this; the
    parent ignores a Ctrl-C for the few milliseconds a start takes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class Prestarted:
    """Worker processes started ahead, and the lifeline pipe they watch (the parent holds its
    only writing end). :meth:`take` hands them to the pool; :meth:`close` sends away those not
    taken (a batch that turned out to have one file, a usage error)."""

    def __init__(self, ctx: Any, n: int):
        self.life_r, self.life_w = ctx.Pipe(duplex=False)
        self.lifeline_taken = False
        self.started: list[tuple[Any, Any]] = []
        for _ in range(n):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_boot, args=(theirs, self.life_r), name="deconv-worker", daemon=True)
            try:
                with sigint_ignored():
                    proc.start()
            except (OSError, EOFError):  # the pool starts what it lacks, and says so if it cannot
                mine.close()
                theirs.close()
                break
            theirs.close()
            self.started.append((proc, mine))

    def take(self, k: int) -> tuple[list[tuple[Any, Any]], Any, Any]:
        """Up to ``k`` workers (process, pipe), and the lifeline's two ends, which the taker then
        owns (and closes); the workers not taken are sent away."""
        taken, self.started = self.started[:k], self.started[k:]
        self.lifeline_taken = True  # before close(), which would close it otherwise
        self.close()
        return taken, self.life_r, self.life_w

    def close(self) -> None:
        """Send away the workers not taken (each leaves once booted); close the lifeline if no
        pool took it."""
        for proc, conn in self.started:
            try:
                conn.send(None)
            except (OSError, ValueError):
                proc.terminate()
            conn.close()
        self.started = []
        if not self.lifeline_taken:
            self.life_w.close()
            self.life_r.close()
            self.lifeline_taken = True  # closed: nothing left to close


def prestart(n: int) -> Prestarted:
    """Start ``n`` workers now (spawned, as :mod:`.pool` starts them)."""
    import multiprocessing as mp

    return Prestarted(mp.get_context("spawn"), n)


def _boot(conn, lifeline) -> None:
    """A worker started ahead: quiet on Ctrl-C and SIGTERM while it imports, then a pool worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent alone handles Ctrl-C
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(128 + signum))
    from . import jobs  # noqa: F401  (numpy, Pillow and the pipeline: the start that runs ahead)

    try:
        first = conn.recv()
    except (EOFError, OSError):
        os._exit(0)
    if first is None:
        os._exit(0)
    main, *args = first
    main(conn, lifeline, *args)
