"""Running the planned files of ``deconv upsample``: one line per failure, JSON lines, a progress
bar of files on a terminal (and of strips for one long file), and the exit code."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from .app import (
    console,
    emit,
    exit_interrupted,
    printable,
    printable_data,
    say,
    show,
    stream_is_tty,
)


def run_files(
    jobs_list,
    problems,
    settings,
    *,
    single,
    workers,
    scheduler,
    scheduler_timeout,
    skip_existing,
    fail_fast,
    quiet,
    as_json,
    prestarted=None,
):
    """Run the planned files, report each (one line per failure, JSON lines), and exit 0 / 1 / 130 / 143.
    ``prestarted``: pool workers started ahead (:func:`deconv_cli.batch.boot.prestart`)."""
    import time

    from .. import report
    from ..batch import Interrupted, default_workers, run_batch

    t0 = time.perf_counter()
    for item, problem in problems:
        say(f"deconv: error: {item}: {problem}")
    progress = None
    if not single and not quiet and stream_is_tty(sys.stderr) and len(jobs_list) > 1:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        progress = Progress(
            TextColumn("upsampling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console(stderr=True),
            transient=False,
            redirect_stdout=False,  # stdout is data (--json, -o -): it never goes through the bar
        )
        task = progress.add_task("files", total=len(jobs_list), rate="")

    def tell(line: str) -> None:  # above the progress bar when there is one
        if progress is None:
            say(line)
        else:
            progress.console.print(printable(line), markup=False, highlight=False, soft_wrap=True)

    def on_result(res) -> None:
        if res.status == "failed":
            usage.append(res.usage)
            tell(f"deconv: error: {res.error}")
        elif not quiet:
            for w in res.warnings:
                tell(f"deconv: warning: {w}")
            if single and res.detail is not None:
                shown = printable_data(res.detail)
                show((lambda: report.outcome_table(shown), report.outcome_lines(shown)), stderr=True)
                for line in report.advice_lines(res.detail):
                    tell(line)
            elif res.detail is not None:  # a batch says its hint and warning once, at the end
                advice.append(res.detail["advice"])
        if as_json:
            emit(json.dumps(res.as_json()) + "\n")
        if progress is not None:
            done = progress.tasks[0].completed + 1
            elapsed = time.perf_counter() - t0
            progress.update(task, advance=1, rate=f"{done / elapsed:.1f} files/s" if elapsed > 0 else "")

    counts = None
    usage: list[bool] = []
    advice: list[dict] = []
    strips = _StripProgress() if single and not quiet and stream_is_tty(sys.stderr) else None
    try:
        if progress is not None:
            progress.start()
        counts = run_batch(
            jobs_list,
            settings,
            workers=workers or default_workers(),
            scheduler=scheduler,
            scheduler_timeout=scheduler_timeout,
            skip_existing=skip_existing,
            fail_fast=fail_fast,
            on_result=on_result,
            progress=strips,
            prestarted=prestarted,
        )
    except Interrupted as e:
        if progress is not None:
            progress.stop()
            progress = None
        exit_interrupted(e.signum, "deconv: interrupted; finished outputs kept, nothing partial left")
    finally:
        if progress is not None:
            progress.stop()
        if strips is not None:
            strips.stop()
    failed = counts["failed"] + len(problems)
    if not single and not quiet:
        took = time.perf_counter() - t0
        for line in report.batch_advice_lines(advice, settings):
            say(line)
        own = sum(1 for j in jobs_list if j.own_output_of is not None)
        mine = f" ({own} of them this run's own earlier outputs)" if own else ""
        say(
            f"deconv: {counts['ok']} done, {counts['skipped']} skipped{mine}, {failed} failed, "
            f"of {len(jobs_list) + len(problems)} in {took:.1f} s"
        )
    if failed:
        raise typer.Exit(2 if single and all(usage) and usage else 1)


class _StripProgress:
    """A bar of strips for one long file, on a terminal: shown once the file has taken a second
    (a quick file shows nothing), removed when it is done. Called from the job's thread."""

    SHOW_AFTER = 1.0

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self._t0 = self._clock()
        self._bar: Any = None  # a rich Progress, imported only when shown
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            if self._clock() - self._t0 < self.SHOW_AFTER or done >= total:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("computing strips"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console(stderr=True),
                transient=True,
                redirect_stdout=False,
            )
            self._task = self._bar.add_task("strips", total=total)
            self._bar.start()
        self._bar.update(self._task, completed=done)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
