"""How many CPUs deconv may use: for batch workers, strip threads and PNG compression."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for strips and compression: ``DECONV_THREADS`` if set, else :func:`available_cpus`."""
    env = os.environ.get("DECONV_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return available_cpus()
