"""Where deconv's time goes before its first pixel: one command, split by perf counters in the process.

    python bench/scripts/startup_phases.py upsample IN.png -o OUT.png --overwrite -q

Runs ``deconv ARGS`` in this process and prints to stderr, in ms: the import of the command
line (Typer included); Typer's processing of the command's parameters (``process_value``:
Pydantic's import and a TypeAdapter per parameter, built on first use); the rest of the way
to the pipeline's ``process`` (the command's own imports: numpy, Pillow, deconv's pipeline;
its settings); ``process`` itself (decode, compute, encode, write); what follows. Python's own
start (``python -c pass``) comes before all of it and is not counted.
"""

from __future__ import annotations

import contextlib
import sys
import time

t0 = time.perf_counter()
import deconv_cli.cli as cli  # noqa: E402

t1 = time.perf_counter()
import typer.core  # noqa: E402  (imported by deconv_cli.cli already)

spent = {"typer": 0.0, "params": 0}
marks: dict[str, float] = {}
_process_value = typer.core._TyperParameter.process_value


def process_value(self, ctx, value):
    t = time.perf_counter()
    try:
        return _process_value(self, ctx, value)
    finally:
        spent["typer"] += time.perf_counter() - t
        spent["params"] += 1


typer.core._TyperParameter.process_value = process_value  # type: ignore[method-assign]


class _Hook:  # wraps deconv_cli.batch.jobs.process once the command has imported it
    def find_spec(self, name, path=None, target=None):
        if name != "deconv_cli.batch.jobs":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module  # type: ignore[union-attr]

        def exec_and_wrap(module):
            exec_module(module)
            inner = module.process

            def process(*a, **k):
                marks["first"] = time.perf_counter()
                try:
                    return inner(*a, **k)
                finally:
                    marks["end"] = time.perf_counter()

            module.process = process

        spec.loader.exec_module = exec_and_wrap  # type: ignore[union-attr]
        return spec


sys.meta_path.insert(0, _Hook())
sys.argv = ["deconv", *sys.argv[1:]]
with contextlib.suppress(SystemExit):
    cli.main()
t3 = time.perf_counter()
first, end = marks.get("first", t3), marks.get("end", t3)
print(
    f"import cli {1000 * (t1 - t0):.1f}; typer params {1000 * spent['typer']:.1f} ({spent['params']} calls); "
    f"then to process {1000 * (first - t1 - spent['typer']):.1f}; process {1000 * (end - first):.1f}; "
    f"after {1000 * (t3 - end):.1f}",
    file=sys.stderr,
)
