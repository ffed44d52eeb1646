"""The end of a ``deconv`` process: what Python's exit does that matters, then no teardown.

Python's own exit frees every module and object before the process ends: after a run that has
imported numpy, Pillow, Typer and Pydantic that is 40-60 ms of the command's wall time (about a
tenth of a 1411x1411 PNG upsampled 2x; bench/README.md, *Start-up*), with nothing to show for
it. deconv keeps nothing for that teardown to finish: its outputs are closed and renamed, its
temporary files and directories removed in ``finally`` blocks, its worker processes joined or
sent away before the command returns.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def leave(code: int) -> NoReturn:
    """End the process with exit status ``code``, skipping the interpreter's teardown.

    First what the teardown would run that has an effect: a thread that is not a daemon is
    waited for (by Python's exit, which is then used), stdout and stderr are flushed (a flush
    that fails also leaves it to Python's exit, which reports it as before), and the ``atexit``
    functions run (multiprocessing's and logging's clean-up, a coverage tool's save). Only then
    ``os._exit``.
    """
    main = threading.main_thread()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main):
        raise SystemExit(code)
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # an atexit function's output to a pipe gone since
            pass
    os._exit(code)
