"""One image through stdin or stdout (``deconv upsample -`` and ``-o -``): a private temporary
directory, a size limit on what stdin may bring, and nothing left behind."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import DeconvError
from .app import (
    emit,
    emit_file,
    printable_data,
    say,
    show,
    stream_is_tty,
)

#: Bytes an image on stdin may take beyond 8 per pixel of --max-pixels (headers, ICC profiles, EXIF).
STDIN_SLACK = 16 << 20


def stdin_limit(max_pixels: int) -> int | None:
    """The most bytes ``deconv upsample -`` reads from stdin: 8 bytes for each pixel ``--max-pixels``
    allows (16-bit RGBA, uncompressed: the most any supported format stores a pixel in) plus
    :data:`STDIN_SLACK`; no limit with ``--max-pixels 0``."""
    return 8 * max_pixels + STDIN_SLACK if max_pixels else None


def make_out_dir(out_dir: Path, subdirs=()) -> None:
    """Create ``--out-dir`` (and the subdirectories a ``--name`` template asks for)."""
    for d in [out_dir, *subdirs]:
        try:
            Path(d).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DeconvError(f"--out-dir {out_dir}: cannot create {d} ({e.strerror or e})") from None


def _copy_stdin(dst: str, limit: int | None) -> None:
    """Copy the image on stdin to ``dst``, refusing more than ``limit`` bytes."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise DeconvError("no image on stdin (it is closed); pipe one in or give a path", usage=True)
    n = 0
    with open(dst, "wb") as f:
        while chunk := stream.read(1 << 20):
            n += len(chunk)
            if limit is not None and n > limit:
                raise DeconvError(
                    f"stdin: more than {limit} bytes, more than an image within --max-pixels can take "
                    "(8 bytes a pixel and 16 MiB of metadata); raise --max-pixels, or give the image as a file"
                )
            try:
                f.write(chunk)
            except OSError as e:
                raise DeconvError(
                    f"stdin: cannot keep the image in {os.path.dirname(dst)} ({e.strerror or e}); "
                    "set TMPDIR to a directory with room"
                ) from None


def upsample_stdio(files, output, out_format, settings, *, quiet, as_json, out_dir, name) -> None:
    """One image from stdin and/or to stdout, through a private temporary directory.

    The caller has SIGINT and SIGTERM raising already: the private directory is removed
    whatever happens, and the job runs on a helper thread so that a signal is handled at
    once, even in the middle of a long strip."""
    import shutil
    import tempfile

    from .. import report
    from ..batch import Job, plan, run_in_thread, run_job
    from ..imageio import WRITE_FORMATS

    if output == "-":
        if as_json:
            raise DeconvError("-o - writes the image on stdout, so --json cannot; drop one of them", usage=True)
        if sys.stdout is None:
            raise DeconvError("-o -: stdout is closed; redirect it (> out.png) or give -o FILE")
        if stream_is_tty(sys.stdout):
            raise DeconvError(
                "refusing to write an image to a terminal; redirect stdout (> out.png) or give -o FILE", usage=True
            )
        if len(files) != 1:
            raise DeconvError(f"-o - takes exactly one input, got {len(files)}", usage=True)
    ext = "." + (out_format or "png").lower().lstrip(".")
    if output == "-" and ext not in WRITE_FORMATS:
        raise DeconvError(
            f"--format {out_format}: not a format deconv writes ({', '.join(sorted({e[1:] for e in WRITE_FORMATS}))})",
            usage=True,
        )
    src = files[0]
    if src == "-" and stream_is_tty(sys.stdin):
        raise DeconvError("no image on stdin (it is a terminal); pipe one in or give a path", usage=True)
    if output == "-":
        dst = None
    elif output is not None:
        dst = output
    else:
        dst = plan(["-"], out_dir=str(out_dir) if out_dir else None, name=name, output=None, settings=settings)[0].dst
        if out_dir is not None:
            make_out_dir(out_dir, [Path(dst).parent])
    try:
        tmp = tempfile.mkdtemp(prefix="deconv-")
    except OSError as e:
        raise DeconvError(
            f"cannot make a temporary directory in {tempfile.gettempdir()} ({e.strerror or e}); set TMPDIR"
        ) from None
    try:
        if src == "-":
            src = os.path.join(tmp, "stdin")
            _copy_stdin(src, stdin_limit(settings.max_pixels))
        if dst is None:
            dst = os.path.join(tmp, "stdout" + ext)
        res = run_in_thread(run_job, Job(src, dst), settings)
        res = _as_given(res, src if files[0] == "-" else None, dst if output == "-" else None)
        if res.status == "failed":
            raise DeconvError(res.error or "failed")
        if output == "-":
            emit_file(dst)
        if not quiet and res.detail is not None:
            for w in res.warnings:
                say(f"deconv: warning: {w}")
            shown = printable_data(res.detail)
            show((lambda: report.outcome_table(shown), report.outcome_lines(shown)), stderr=True)
            for line in report.advice_lines(res.detail):
                say(line)
        if as_json:
            emit(json.dumps(res.as_json()) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _as_given(res, stdin_file: str | None, stdout_file: str | None):
    """The result of a job that read stdin or wrote stdout through the private temporary
    files, named as the user gave them: ``-`` in the report's path fields, stdin and stdout
    in its text (errors, warnings, advice), never a temporary path that is gone once the
    command ends."""
    import dataclasses

    names = [(p, n) for p, n in ((stdin_file, "stdin"), (stdout_file, "stdout")) if p]

    def named(v):
        if isinstance(v, str):
            for path, name in names:
                v = v.replace(path, name)
            return v
        if isinstance(v, dict):
            return {k: named(x) for k, x in v.items()}
        if isinstance(v, list):
            return [named(x) for x in v]
        return v

    detail = named(res.detail)
    if detail is not None:
        for key, path in (("input", stdin_file), ("output", stdout_file)):
            if path:
                detail[key]["path"] = "-"
    return dataclasses.replace(
        res,
        input="-" if stdin_file else res.input,
        output="-" if stdout_file else res.output,
        error=named(res.error),
        detail=detail,
        warnings=named(res.warnings),
    )
