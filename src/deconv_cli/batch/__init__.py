"""Many files: expand the inputs, name the outputs (:mod:`.planning`), run them one by one in this
process (:mod:`.jobs`), on a process pool of deconv's own (:mod:`.pool`) or on a Dask cluster
(:mod:`.runner`), and never leave a partial or clobbered file behind, however the run ends.

Every output goes through :func:`~deconv_cli.imageio.atomic_write` (a temporary file beside
the target, fsynced, then renamed into place), whose temporary names carry the run's tag, so a
run removes only its own temporary files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports

if TYPE_CHECKING:
    from .jobs import Interrupted, run_in_thread, run_job, signals_raise, sweep_temporaries
    from .planning import (
        FILE_LIST_LIMIT,
        IMAGE_SUFFIXES,
        STDIO,
        TEMPLATE_FIELDS,
        FileResult,
        Job,
        check_template,
        expand_inputs,
        output_name,
        parse_shard,
        plan,
        read_file_list,
    )
    from .pool import STOP_GRACE, default_workers, run_local
    from .runner import run_batch, run_dask

#: Name -> the submodule defining it: imported when first asked for, so that :mod:`.boot` (workers
#: started before the command's own imports) is importable without numpy or the pipeline.
_EXPORTS = {
    **dict.fromkeys(("Interrupted", "run_in_thread", "run_job", "signals_raise", "sweep_temporaries"), "jobs"),
    **dict.fromkeys(
        (
            "FILE_LIST_LIMIT",
            "IMAGE_SUFFIXES",
            "STDIO",
            "TEMPLATE_FIELDS",
            "FileResult",
            "Job",
            "check_template",
            "expand_inputs",
            "output_name",
            "parse_shard",
            "plan",
            "read_file_list",
        ),
        "planning",
    ),
    **dict.fromkeys(("STOP_GRACE", "default_workers", "run_local"), "pool"),
    **dict.fromkeys(("run_batch", "run_dask"), "runner"),
}


__getattr__ = exports(__name__, _EXPORTS, globals())


__all__ = [
    "FILE_LIST_LIMIT",
    "IMAGE_SUFFIXES",
    "STDIO",
    "STOP_GRACE",
    "TEMPLATE_FIELDS",
    "FileResult",
    "Interrupted",
    "Job",
    "check_template",
    "default_workers",
    "expand_inputs",
    "output_name",
    "parse_shard",
    "plan",
    "read_file_list",
    "run_batch",
    "run_dask",
    "run_in_thread",
    "run_job",
    "run_local",
    "signals_raise",
    "sweep_temporaries",
]
