"""``deconv upsample``: one image or many, to files or stdout, with a progress bar on a terminal."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import DeconvError
from ..modes import DEFAULT_KERNEL, DEFAULT_MAX_PIXELS, DEFAULT_MAX_WORK, DEFAULT_STRIDE, Alpha, Depth, DType, Edge
from .app import (
    DilationOpt,
    LayerKernelOpt,
    OutPadOpt,
    SamePaddingOpt,
    StrideOpt,
    app,
    console,
    emit,
    emit_file,
    exit_interrupted,
    failures,
    printable,
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


@app.command()
def upsample(
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Input images (PNG, JPEG, TIFF, BMP, WebP, GIF, PPM/PGM, TGA), directories, quoted globs "
            "('shots/**/*.png'), or - for one image on stdin.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Optional[str],
        typer.Option(
            "--output",
            "-o",
            help="Output file for a single input; format from the extension, "
            ".npy for the raw float array, - for stdout. [default: IMAGE_x2.EXT]",
        ),
    ] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out-dir", help="Write every output into this directory (created if missing).")
    ] = None,
    name: Annotated[
        Optional[str],
        typer.Option(
            "--name",
            help="Output file name template: {stem} {ext} {parent} {stride} {kernel}. "
            "[default: {stem}{ext} with --out-dir]",
        ),
    ] = None,
    kernel: LayerKernelOpt = DEFAULT_KERNEL,
    groups: Annotated[
        Optional[int],
        typer.Option(
            "--groups",
            min=1,
            help="Learned layer (4-D weight) only: channel groups. "
            "[default: C_in if the weight's 2nd dim is 1, else 1]",
        ),
    ] = None,
    bias: Annotated[
        Optional[str],
        typer.Option(
            "--bias",
            help="Learned layer only: bias FILE[:NAME], list a,b,c or number, one per output channel, in [0, 1] units.",
        ),
    ] = None,
    stride: StrideOpt = DEFAULT_STRIDE,
    padding: SamePaddingOpt = "0",
    output_padding: OutPadOpt = "0",
    dilation: DilationOpt = "1",
    edge: Annotated[
        Edge,
        typer.Option(
            "--edge",
            help="Beyond the image: zero (PyTorch's), replicate, reflect, "
            "wrap (extend the input so borders get every tap), "
            "or renormalize (divide by the weight that arrived, as Pillow does).",
        ),
    ] = Edge.zero,
    crop: Annotated[
        str,
        typer.Option(
            "--crop",
            help="Cut the result: none, auto (the border that got fewer kernel taps), N, or TOP,BOTTOM,LEFT,RIGHT.",
        ),
    ] = "none",
    alpha: Annotated[
        Alpha,
        typer.Option(
            "--alpha", help="premultiply: colour weighted by alpha (no dark fringes); separate: alpha like any channel."
        ),
    ] = Alpha.premultiply,
    dtype: Annotated[DType, typer.Option("--dtype", help="Computation precision.")] = DType.float32,
    two_pass: Annotated[
        bool,
        typer.Option(
            "--two-pass",
            help="Apply a separable kernel as a row pass then a column pass, "
            "storing the intermediate rounded and clipped to the "
            "image's integer range, as Pillow's resize does "
            "(with --edge renormalize: Pillow's 8-bit result within 1 level).",
        ),
    ] = False,
    depth: Annotated[
        Depth, typer.Option("--depth", help="Output bits per channel; auto keeps the input's.")
    ] = Depth.auto,
    compress: Annotated[
        Optional[int],
        typer.Option(
            "--compress", min=0, max=9, help="PNG zlib level 0..9. [default: zlib's fast run-length strategy]"
        ),
    ] = None,
    out_format: Annotated[
        Optional[str],
        typer.Option(
            "--format", help="Format of -o - (stdout): png, tif, jpg, webp, bmp, ppm, tga, npy. [default: png]"
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Take images from subdirectories of directory inputs too.")
    ] = False,
    files_from: Annotated[
        Optional[str], typer.Option("--files-from", help="Read input paths from FILE, one per line (- for stdin).")
    ] = None,
    jobs: Annotated[
        Optional[int],
        typer.Option("--jobs", "-j", min=1, help="Files processed in parallel (processes). [default: number of CPUs]"),
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave inputs whose output exists alone (resume a run).")
    ] = False,
    shard: Annotated[
        Optional[str],
        typer.Option(
            "--shard",
            help="I/N: process only every N-th file starting at the I-th (0-based), to split a list across machines.",
        ),
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop at the first failed file (default: go on and report each).")
    ] = False,
    max_pixels: Annotated[
        int,
        typer.Option(
            "--max-pixels",
            min=0,
            help="Refuse inputs, and outputs by the size formula, with more pixels (0: no limit).",
        ),
    ] = DEFAULT_MAX_PIXELS,
    max_work: Annotated[
        float,
        typer.Option(
            "--max-work",
            min=0,
            help="Refuse a file whose computation the cost model estimates at more seconds of one CPU core "
            "(0: no limit); checked before it starts.",
        ),
    ] = DEFAULT_MAX_WORK,
    scheduler: Annotated[
        Optional[str],
        typer.Option(
            "--scheduler",
            help="Run the files as tasks on a Dask distributed scheduler at this address (deconv-cli[dask]).",
        ),
    ] = None,
    scheduler_timeout: Annotated[
        float, typer.Option("--scheduler-timeout", min=0.1, help="Seconds to wait for the --scheduler to answer.")
    ] = 10.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per file on stdout (JSON lines).")
    ] = False,
) -> None:
    """Upsample images by transpose convolution with a kernel, and report the size math.

    Every input pixel scales the whole kernel; the scaled kernels are placed
    STRIDE apart and summed (PyTorch's conv_transpose2d on each channel).
    Many inputs run in parallel; a file that fails is reported and the rest go on.

    Example: deconv upsample photo.png --stride 2 --kernel bilinear --padding 1 -o photo_x2.png

    Example: deconv upsample 'shots/*.jpg' --out-dir big --jobs 4 --skip-existing
    """
    with failures():
        from ..batch import expand_inputs, parse_shard, plan, read_file_list, signals_raise
        from ..core import Crop, Geometry
        from ..kernels import open_run_kernel
        from ..pipeline import Settings

        with signals_raise():  # SIGINT and SIGTERM stop the run cleanly from here, before any file is made
            geometry = Geometry.of(stride, padding, output_padding, dilation)  # usage errors before any file
            crop_spec = Crop.parse(crop)
            items = list(inputs or [])
            if files_from is not None:
                if files_from == "-" and "-" in items:
                    raise DeconvError("stdin cannot hold both an image (-) and --files-from -", usage=True)
                items += read_file_list(files_from)
            if not items:
                raise DeconvError("no input images: give paths, directories or globs, or --files-from FILE", usage=True)
            if skip_existing and overwrite:
                raise DeconvError("--skip-existing and --overwrite contradict each other; choose one", usage=True)
            if out_format is not None and output != "-":
                raise DeconvError(
                    "--format applies to -o - only; elsewhere the output's extension names the format", usage=True
                )
            files, problems = expand_inputs(items, recursive=recursive)
            if "-" in files and len(files) > 1:
                raise DeconvError("- (an image on stdin) must be the only input", usage=True)
            # the kernel (and a layer's bias) is read once, here: a bad kernel is one error, not one per file
            settings = Settings(
                open_run_kernel(kernel, geometry.stride, groups=groups, bias=bias),
                geometry,
                edge,
                alpha,
                crop_spec,
                dtype,
                depth,
                compress,
                two_pass,
                max_pixels,
                overwrite,
                max_work,
            )
            if output == "-" or files == ["-"]:
                _upsample_stdio(
                    files, output, out_format, settings, quiet=quiet, as_json=as_json, out_dir=out_dir, name=name
                )
                return
            jobs_list = plan(
                files,
                out_dir=str(out_dir) if out_dir is not None else None,
                name=name,
                output=output,
                settings=settings,
                shard=parse_shard(shard),
                overwrite=overwrite,
            )
            if out_dir is not None:
                _make_out_dir(out_dir, [Path(j.dst).parent for j in jobs_list])
            single = len(files) == 1 and not problems and out_dir is None and name is None and shard is None
            _run_upsample_batch(
                jobs_list,
                problems,
                settings,
                single=single,
                workers=jobs,
                scheduler=scheduler,
                scheduler_timeout=scheduler_timeout,
                skip_existing=skip_existing,
                fail_fast=fail_fast,
                quiet=quiet,
                as_json=as_json,
            )


def _run_upsample_batch(
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
):
    """Run the planned files, report each (one line per failure, JSON lines), and exit 0 / 1 / 130 / 143."""
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
        if as_json:
            emit(json.dumps(res.as_json()) + "\n")
        if progress is not None:
            done = progress.tasks[0].completed + 1
            elapsed = time.perf_counter() - t0
            progress.update(task, advance=1, rate=f"{done / elapsed:.1f} files/s" if elapsed > 0 else "")

    counts = None
    usage: list[bool] = []
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
        say(
            f"deconv: {counts['ok']} done, {counts['skipped']} skipped, {failed} failed, "
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
            )
            self._task = self._bar.add_task("strips", total=total)
            self._bar.start()
        self._bar.update(self._task, completed=done)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _make_out_dir(out_dir: Path, subdirs=()) -> None:
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


def _upsample_stdio(files, output, out_format, settings, *, quiet, as_json, out_dir, name) -> None:
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
            _make_out_dir(out_dir, [Path(dst).parent])
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
        if res.status == "failed":
            raise DeconvError((res.error or "failed").replace(src, files[0] if files[0] != "-" else "stdin"))
        if output == "-":
            emit_file(dst)
        if not quiet and res.detail is not None:
            for w in res.warnings:
                say(f"deconv: warning: {w}")
            shown = printable_data(res.detail)
            show((lambda: report.outcome_table(shown), report.outcome_lines(shown)), stderr=True)
        if as_json:
            emit(json.dumps(res.as_json()) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
