"""The ``deconv`` command: parses, calls the library, formats, exits.

numpy and Pillow are imported inside the commands so ``deconv --help`` and
``deconv --version`` stay fast.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import DeconvError

app = typer.Typer(
    help="Upsample images by transpose convolution, and see the size math and kernel phases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
kernel_app = typer.Typer(help="Show and make kernels.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(kernel_app, name="kernel")


class DType(str, Enum):
    float32 = "float32"
    float64 = "float64"


class Alpha(str, Enum):
    premultiply = "premultiply"
    separate = "separate"


class Edge(str, Enum):
    zero = "zero"
    replicate = "replicate"
    reflect = "reflect"
    wrap = "wrap"
    renormalize = "renormalize"


class Depth(str, Enum):
    auto = "auto"
    d8 = "8"
    d16 = "16"
    float = "float"


# --------------------------------------------------------------------------- output helpers


def _stream_is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _console(stderr: bool):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _say(message: str) -> None:
    """A plain line on stderr (errors, warnings, notes): no markup, so paths print as they are."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _show(renderable_or_lines, *, stderr: bool) -> None:
    """Rich on a terminal, plain text otherwise. The renderable may be a function that builds
    it, so that rich is imported only when a terminal will show it."""
    stream = sys.stderr if stderr else sys.stdout
    table, lines = renderable_or_lines
    if _stream_is_tty(stream):
        _console(stderr).print(table() if callable(table) else table)
    else:
        stream.write("\n".join(lines) + "\n")
        stream.flush()


@contextmanager
def _failures():
    """Turn every failure into one line on stderr and an exit code (2 usage, 1 runtime)."""
    try:
        yield
    except typer.Exit:
        raise
    except DeconvError as e:
        _say(f"deconv: error: {e}")
        raise typer.Exit(2 if e.usage else 1) from None
    except KeyboardInterrupt:
        _say("deconv: interrupted")
        raise typer.Exit(130) from None
    except Exception as e:  # a bug: still one line, never a traceback unless asked for
        if os.environ.get("DECONV_DEBUG"):
            raise
        _say(f"deconv: internal error: {type(e).__name__}: {e} (rerun with DECONV_DEBUG=1 for a traceback)")
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        from . import __version__  # not importlib.metadata: that alone costs ~30 ms

        print(f"deconv {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Upsample images by transpose convolution, and see the size math and kernel phases."""


# --------------------------------------------------------------------------- shared options

StrideOpt = Annotated[str, typer.Option("--stride", "-s", help="Stride: N or ROWS,COLS.")]
PaddingOpt = Annotated[str, typer.Option("--padding", "-p", help="Padding cut from each side: N or ROWS,COLS.")]
OutPadOpt = Annotated[
    str, typer.Option("--output-padding", help="Extra rows/cols at the bottom/right: N or ROWS,COLS (< stride or < dilation).")
]
DilationOpt = Annotated[str, typer.Option("--dilation", "-d", help="Spacing of the kernel taps: N or ROWS,COLS.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
SamePaddingOpt = Annotated[
    str, typer.Option("--padding", "-p", help="Padding cut from each side: N, ROWS,COLS, or same (output exactly stride x input).")
]
KERNEL_HELP = (
    "Kernel file (.npy .npz[:NAME] .safetensors[:NAME] .txt .csv .mat), built-in name (nearest, bilinear, "
    "bicubic, lanczos2, lanczos3, gaussian:sigma=S) or inline kernel (3x3:1,2,1,2,4,2,1,2,1 or 0.25,0.75,0.75,0.25)."
)


# --------------------------------------------------------------------------- upsample


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
        typer.Option("--output", "-o", help="Output file for a single input; format from the extension, .npy for the raw float array, - for stdout. [default: IMAGE_x2.EXT]"),
    ] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out-dir", help="Write every output into this directory (created if missing).")] = None,
    name: Annotated[
        Optional[str],
        typer.Option("--name", help="Output file name template: {stem} {ext} {parent} {stride} {kernel}. [default: {stem}{ext} with --out-dir]"),
    ] = None,
    kernel: Annotated[
        str,
        typer.Option(
            "--kernel", "-k",
            help=KERNEL_HELP + " A 4-D (C_in, C_out/groups, kh, kw) weight is a learned layer that mixes channels.",
        ),
    ] = "bilinear",
    groups: Annotated[
        Optional[int],
        typer.Option("--groups", min=1, help="Learned layer (4-D weight) only: channel groups. [default: C_in if the weight's 2nd dim is 1, else 1]"),
    ] = None,
    bias: Annotated[
        Optional[str],
        typer.Option("--bias", help="Learned layer only: bias FILE[:NAME], list a,b,c or number, one per output channel, in [0, 1] units."),
    ] = None,
    stride: StrideOpt = "2",
    padding: SamePaddingOpt = "0",
    output_padding: OutPadOpt = "0",
    dilation: DilationOpt = "1",
    edge: Annotated[
        Edge,
        typer.Option(
            "--edge",
            help="Beyond the image: zero (PyTorch's), replicate, reflect, wrap (extend the input so borders get every tap), "
            "or renormalize (divide by the weight that arrived, as Pillow does).",
        ),
    ] = Edge.zero,
    crop: Annotated[
        str,
        typer.Option("--crop", help="Cut the result: none, auto (the border that got fewer kernel taps), N, or TOP,BOTTOM,LEFT,RIGHT."),
    ] = "none",
    alpha: Annotated[
        Alpha, typer.Option("--alpha", help="premultiply: colour weighted by alpha (no dark fringes); separate: alpha like any channel.")
    ] = Alpha.premultiply,
    dtype: Annotated[DType, typer.Option("--dtype", help="Computation precision.")] = DType.float32,
    two_pass: Annotated[
        bool,
        typer.Option(
            "--two-pass",
            help="Apply a separable kernel as a row pass then a column pass, storing the intermediate rounded and clipped to the "
            "image's integer range, as Pillow's resize does (with --edge renormalize: Pillow's 8-bit result within 1 level).",
        ),
    ] = False,
    depth: Annotated[Depth, typer.Option("--depth", help="Output bits per channel; auto keeps the input's.")] = Depth.auto,
    compress: Annotated[
        Optional[int],
        typer.Option("--compress", min=0, max=9, help="PNG zlib level 0..9. [default: zlib's fast run-length strategy]"),
    ] = None,
    out_format: Annotated[
        Optional[str], typer.Option("--format", help="Format of -o - (stdout): png, tif, jpg, webp, bmp, ppm, tga, npy. [default: png]")
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Take images from subdirectories of directory inputs too.")] = False,
    files_from: Annotated[
        Optional[str], typer.Option("--files-from", help="Read input paths from FILE, one per line (- for stdin).")
    ] = None,
    jobs: Annotated[
        Optional[int], typer.Option("--jobs", "-j", min=1, help="Files processed in parallel (processes). [default: number of CPUs]")
    ] = None,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Leave inputs whose output exists alone (resume a run).")] = False,
    shard: Annotated[
        Optional[str], typer.Option("--shard", help="I/N: process only every N-th file starting at the I-th (0-based), to split a list across machines.")
    ] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed file (default: go on and report each).")] = False,
    max_pixels: Annotated[
        int, typer.Option("--max-pixels", min=0, help="Refuse inputs, and outputs by the size formula, with more pixels (0: no limit).")
    ] = 1 << 28,
    scheduler: Annotated[
        Optional[str], typer.Option("--scheduler", help="Run the files as tasks on a Dask distributed scheduler at this address (deconv-cli[dask]).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file on stdout (JSON lines).")] = False,
) -> None:
    """Upsample images by transpose convolution with a kernel, and report the size math.

    Every input pixel scales the whole kernel; the scaled kernels are placed
    STRIDE apart and summed (PyTorch's conv_transpose2d on each channel).
    Many inputs run in parallel; a file that fails is reported and the rest go on.

    Example: deconv upsample photo.png --stride 2 --kernel bilinear --padding 1 -o photo_x2.png

    Example: deconv upsample 'shots/*.jpg' --out-dir big --jobs 4 --skip-existing
    """
    with _failures():
        from .batch import Options, expand_inputs, parse_shard, plan, read_file_list
        from .pipeline import Params

        params = Params.parse(stride, padding, output_padding, dilation)  # usage errors before any file
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
            raise DeconvError("--format applies to -o - only; elsewhere the output's extension names the format", usage=True)
        files, problems = expand_inputs(items, recursive=recursive)
        if "-" in files and len(files) > 1:
            raise DeconvError("- (an image on stdin) must be the only input", usage=True)
        opts = Options(
            kernel=kernel, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
            alpha=alpha.value, edge=edge.value, crop=crop, dtype=dtype.value,
            depth=None if depth is Depth.auto else ("float" if depth is Depth.float else int(depth.value)),
            compress=compress, overwrite=overwrite, max_pixels=max_pixels, groups=groups, bias=bias, two_pass=two_pass,
        )  # fmt: skip
        if output == "-" or files == ["-"]:
            _upsample_stdio(files, output, out_format, opts, params, quiet=quiet, as_json=as_json, out_dir=out_dir, name=name)
            return
        from .kernels import open_kernel
        from .pipeline import Layer

        kern = open_kernel(kernel, params.stride)  # a bad kernel is one error, not one per file
        Layer.setup(kern.weight, groups, bias, kernel, edge.value)
        jobs_list = plan(
            files, out_dir=str(out_dir) if out_dir is not None else None, name=name, output=output,
            stride_label=params.label(), kernel=kernel, shard=parse_shard(shard), overwrite=overwrite,
        )  # fmt: skip
        if out_dir is not None:
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DeconvError(f"--out-dir {out_dir}: cannot create it ({e.strerror or e})") from None
            for j in jobs_list:  # subdirectories a --name template asks for
                Path(j.dst).parent.mkdir(parents=True, exist_ok=True)
        single = len(files) == 1 and not problems and out_dir is None and name is None and shard is None
        _run_upsample_batch(jobs_list, problems, opts, single=single, workers=jobs, scheduler=scheduler,
                            skip_existing=skip_existing, fail_fast=fail_fast, quiet=quiet, as_json=as_json)  # fmt: skip


def _run_upsample_batch(jobs_list, problems, opts, *, single, workers, scheduler, skip_existing, fail_fast, quiet, as_json):
    """Run the planned files, report each (one line per failure, JSON lines), and exit 0 / 1 / 130 / 143."""
    import time

    from . import report
    from .batch import Interrupted, default_workers, run_batch

    t0 = time.perf_counter()
    for item, problem in problems:
        _say(f"deconv: error: {item}: {problem}")
    progress = None
    if not single and not quiet and _stream_is_tty(sys.stderr) and len(jobs_list) > 1:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("upsampling"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=_console(stderr=True), transient=False,
        )  # fmt: skip
        task = progress.add_task("files", total=len(jobs_list), rate="")

    def say(line: str) -> None:  # above the progress bar when there is one
        if progress is None:
            _say(line)
        else:
            progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def on_result(res) -> None:
        if res.status == "failed":
            usage.append(res.usage)
            say(f"deconv: error: {res.error}")
        elif not quiet:
            for w in res.warnings:
                say(f"deconv: warning: {w}")
            if single and res.detail is not None:
                _show((lambda: report.outcome_table(res.detail), report.outcome_lines(res.detail)), stderr=True)
        if as_json:
            sys.stdout.write(json.dumps(res.as_json()) + "\n")
            sys.stdout.flush()
        if progress is not None:
            done = progress.tasks[0].completed + 1
            elapsed = time.perf_counter() - t0
            progress.update(task, advance=1, rate=f"{done / elapsed:.1f} files/s" if elapsed > 0 else "")

    counts = None
    usage = []
    try:
        if progress is not None:
            progress.start()
        counts = run_batch(jobs_list, opts, workers=workers or default_workers(), scheduler=scheduler,
                           skip_existing=skip_existing, fail_fast=fail_fast, on_result=on_result)  # fmt: skip
    except Interrupted as e:
        if progress is not None:
            progress.stop()
        _say("deconv: interrupted; finished outputs kept, nothing partial left")
        raise typer.Exit(130 if e.signum == 2 else 143) from None
    finally:
        if progress is not None:
            progress.stop()
    failed = counts["failed"] + len(problems)
    if not single and not quiet:
        took = time.perf_counter() - t0
        _say(f"deconv: {counts['ok']} done, {counts['skipped']} skipped, {failed} failed, of {len(jobs_list) + len(problems)} in {took:.1f} s")
    if failed:
        raise typer.Exit(2 if single and all(usage) and usage else 1)


def _upsample_stdio(files, output, out_format, opts, params, *, quiet, as_json, out_dir, name) -> None:
    """One image from stdin and/or to stdout, through a private temporary directory."""
    import shutil
    import tempfile

    from . import report
    from .batch import Job, run_job
    from .imageio import WRITE_FORMATS

    if output == "-":
        if as_json:
            raise DeconvError("-o - writes the image on stdout, so --json cannot; drop one of them", usage=True)
        if _stream_is_tty(sys.stdout):
            raise DeconvError("refusing to write an image to a terminal; redirect stdout (> out.png) or give -o FILE", usage=True)
        if len(files) != 1:
            raise DeconvError(f"-o - takes exactly one input, got {len(files)}", usage=True)
    ext = "." + (out_format or "png").lower().lstrip(".")
    if output == "-" and ext not in WRITE_FORMATS:
        raise DeconvError(f"--format {out_format}: not a format deconv writes ({', '.join(sorted({e[1:] for e in WRITE_FORMATS}))})", usage=True)
    with tempfile.TemporaryDirectory(prefix="deconv-") as tmp:
        src = files[0]
        if src == "-":
            if _stream_is_tty(sys.stdin):
                raise DeconvError("no image on stdin (it is a terminal); pipe one in or give a path", usage=True)
            src = os.path.join(tmp, "stdin")
            with open(src, "wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f)
        if output == "-":
            dst = os.path.join(tmp, "stdout" + ext)
        elif output is not None:
            dst = output
        else:
            from .batch import plan

            dst = plan(["-"], out_dir=str(out_dir) if out_dir else None, name=name, output=None,
                       stride_label=params.label(), kernel=opts.kernel)[0].dst  # fmt: skip
        res = run_job(Job(src, dst), opts)
        if res.status == "failed":
            raise DeconvError((res.error or "failed").replace(src, files[0] if files[0] != "-" else "stdin"))
        if output == "-":
            with open(dst, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.flush()
        if not quiet and res.detail is not None:
            for w in res.warnings:
                _say(f"deconv: warning: {w}")
            _show((lambda: report.outcome_table(res.detail), report.outcome_lines(res.detail)), stderr=True)
        if as_json:
            print(json.dumps(res.as_json()))


# --------------------------------------------------------------------------- size


@app.command()
def size(
    image: Annotated[Optional[Path], typer.Argument(help="Image whose size to use (only its header is read).")] = None,
    input_size: Annotated[
        Optional[str], typer.Option("--input-size", "-i", help="Input size instead of an image: N or ROWS,COLS.")
    ] = None,
    kernel: Annotated[
        Optional[str], typer.Option("--kernel", "-k", help="Kernel file or built-in name whose size to use. [default: bilinear]")
    ] = None,
    kernel_size: Annotated[Optional[str], typer.Option("--kernel-size", help="Kernel size instead of a kernel: N or ROWS,COLS.")] = None,
    stride: StrideOpt = "2",
    padding: PaddingOpt = "0",
    output_padding: OutPadOpt = "0",
    dilation: DilationOpt = "1",
    as_json: JsonOpt = False,
) -> None:
    """Print the output-size math, N_out = (N_in - 1)*s - 2p + d*(k - 1) + a + 1, without touching pixels.

    Example: deconv size --input-size 3 --kernel-size 3 --stride 1
    """
    with _failures():
        from . import report
        from .core import size_math
        from .imageio import image_size
        from .kernels import load_kernel
        from .pipeline import Params

        Params.parse(stride, padding, output_padding, dilation)  # parameter errors before any file is read

        if (image is None) == (input_size is None):
            raise DeconvError("give either an IMAGE or --input-size, not both or neither", usage=True)
        if kernel is not None and kernel_size is not None:
            raise DeconvError("give either --kernel or --kernel-size, not both", usage=True)
        n_in = image_size(image) if image is not None else input_size
        if kernel_size is not None:
            k = kernel_size
        else:
            k = load_kernel(kernel or "bilinear", stride).shape[-2:]
        axes = size_math(n_in, k, stride, padding, output_padding, dilation)
        if as_json:
            print(json.dumps({"image": str(image) if image else None, "axes": [a.as_dict() for a in axes],
                              "output": [axes[0].n_out, axes[1].n_out]}))  # fmt: skip
        else:
            _show((lambda: report.size_table(axes), report.size_lines(axes)), stderr=False)


# --------------------------------------------------------------------------- inspect


@app.command("inspect")
def inspect_cmd(
    image: Annotated[Optional[Path], typer.Argument(help="Image to inspect; leave out and give --size for a synthetic constant image.")] = None,
    kernel: Annotated[
        str,
        typer.Option(
            "--kernel", "-k",
            help=KERNEL_HELP,
        ),
    ] = "bilinear",
    stride: StrideOpt = "2",
    padding: SamePaddingOpt = "0",
    output_padding: OutPadOpt = "0",
    dilation: DilationOpt = "1",
    size: Annotated[
        Optional[str],
        typer.Option("--size", help="Inspect a synthetic constant grey image of WIDTHxHEIGHT (or N) instead of IMAGE: the kernel's pure edge effect."),
    ] = None,
    report_dir: Annotated[
        Optional[Path],
        typer.Option("--report", help="Also write pictures, report.json and index.html into this directory (plots need deconv-cli[report]).")
    ] = None,
    alpha: Annotated[
        Alpha, typer.Option("--alpha", help="premultiply: colour weighted by alpha (no dark fringes); separate: alpha like any channel.")
    ] = Alpha.premultiply,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace report files already in --report DIR.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show what a kernel does to an image, and where: size math, stride-phase sums and checkerboard
    amplitude, coverage at corners/edges/interior, border-band brightness vs the interior, and the
    crop that --crop auto would apply.

    Example: deconv inspect photo.png --kernel bilinear --stride 2 --report photo_report

    Example: deconv inspect --size 64x64 --kernel box3.npy --stride 2
    """
    with _failures():
        from . import report
        from .pipeline import Params, inspect_image, parse_size

        params = Params.parse(stride, padding, output_padding, dilation)
        dims = parse_size(size) if size is not None else None
        if report_dir is not None:
            from .report.pictures import _matplotlib

            _matplotlib()  # a missing extra is reported before any work
        ins = inspect_image(image, size=dims, kernel=kernel, params=params, alpha=alpha.value)
        d = ins.as_dict()
        if report_dir is not None:
            from .report.pictures import write_report

            files = write_report(report_dir, ins, overwrite=overwrite)
            d["files"] = files
            _say(f"deconv: wrote report: {files['html']} (open it in a browser)")
        if as_json:
            print(json.dumps(d))
        else:
            _show((lambda: report.inspect_table(d), report.inspect_lines(d)), stderr=False)


# --------------------------------------------------------------------------- kernel show / make


@kernel_app.command("show")
def kernel_show(
    kernel: Annotated[str, typer.Argument(help="Kernel file or built-in name.")],
    stride: StrideOpt = "2",
    dilation: DilationOpt = "1",
    as_json: JsonOpt = False,
) -> None:
    """Print a kernel, its sum, its per-phase sums for STRIDE, and whether it draws a checkerboard.

    Example: deconv kernel show kernels/bilinear.npy --stride 2
    """
    with _failures():
        from rich.console import Group

        from . import report
        from .core import AXES, as_pair, check_axis, phase_sums
        from .kernels import open_kernel

        s, d = as_pair(stride, "stride"), as_pair(dilation, "dilation")
        for i, axis in enumerate(AXES):
            check_axis(axis, s[i], 0, 0, d[i])
        kern = open_kernel(kernel, s)
        k = kern.weight
        planes = [k] if k.ndim == 2 else list(k.reshape(-1, *k.shape[-2:]))
        phases = [phase_sums(p, s, d) for p in planes]
        if as_json:
            print(json.dumps({**report.kernel_dict(k, phases, s, d, kernel), "offset": kern.offset}))
            return
        tables, lines = [], []
        for c, (plane, ph) in enumerate(zip(planes, phases)):
            name = f"{kernel}" + (f" channel {c}" if k.ndim == 3 else "")
            name += f" in {c // k.shape[1]} out {c % k.shape[1]}" if k.ndim == 4 else ""
            tables += [
                report.matrix_table(plane, f"{name}: {plane.shape[0]}x{plane.shape[1]}, sum {report.fmt_num(float(plane.sum()))}"),
                report.matrix_table(ph.sums, f"phase sums for stride {s[0]},{s[1]} (row phase \\ col phase)"),
                report.verdict(ph),
            ]
            lines += [f"{name}: {plane.shape[0]}x{plane.shape[1]}, sum {report.fmt_num(float(plane.sum()))}"]
            lines += report.matrix_lines(plane)
            lines += [f"phase sums for stride {s[0]},{s[1]}:"] + report.matrix_lines(ph.sums)
            lines += [report.verdict(ph)]
        if kern.offset:  # a libvips .mat offset
            tables.append(f"offset {report.fmt_num(kern.offset)}, added after the convolution")
            lines.append(f"offset {report.fmt_num(kern.offset)}, added after the convolution")
        _show((Group(*tables), lines), stderr=False)


@kernel_app.command("make")
def kernel_make(
    name: Annotated[
        str,
        typer.Argument(help="Built-in kernel: nearest, bilinear, bicubic[:a=A], lanczos2, lanczos3 or gaussian[:sigma=S]."),
    ],
    stride: StrideOpt = "2",
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="File to write (.npy .npz .safetensors .txt .csv .mat); text on stdout without it."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Generate a built-in kernel for STRIDE and write it to a file.

    Example: deconv kernel make bilinear --stride 3 -o kernels/bilinear_s3.npy
    """
    with _failures():
        from .imageio import atomic_write
        from .kernels import intended_padding, kernel_to_bytes, make_kernel

        k = make_kernel(name, stride)
        if output is None:
            sys.stdout.write(kernel_to_bytes(k, ".txt").decode())
            return
        data = kernel_to_bytes(k, output.suffix)
        atomic_write(output, lambda f: f.write(data), overwrite=overwrite)
        py, px = intended_padding(name, stride)
        _say(f"wrote {output}: {name} kernel {k.shape[0]}x{k.shape[1]}; --padding {py},{px} gives exactly stride x the input")


@kernel_app.command("convert")
def kernel_convert(
    source: Annotated[str, typer.Argument(metavar="IN", help="Kernel file, built-in name or inline kernel.")],
    dest: Annotated[
        str,
        typer.Argument(
            metavar="OUT",
            help="File to write, format from the extension (.npy .npz[:NAME] .safetensors[:NAME] .txt .csv .mat), "
            "or - for an inline WxH:... string on stdout.",
        ),
    ],
    stride: Annotated[str, typer.Option("--stride", "-s", help="Stride a built-in IN is generated for: N or ROWS,COLS.")] = "2",
    drop_offset: Annotated[
        bool, typer.Option("--drop-offset", help="Write a .mat kernel's weights without its offset to a format that cannot hold it.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Convert a kernel between formats: .npy, .npz, .safetensors, .txt, .csv, libvips .mat, inline strings.

    Values are written exactly (float64, shortest round-trip text); a .mat
    offset is kept in .mat files. Example: deconv kernel convert blur.mat blur.safetensors:weight
    """
    with _failures():
        from .kernels import open_kernel, save_kernel, to_inline

        kern = open_kernel(source, stride)
        offset = 0.0 if drop_offset else kern.offset
        if dest == "-":
            if offset:
                raise DeconvError(f"kernel {source} has offset {offset:g}, which an inline string cannot hold; pass --drop-offset", usage=True)
            print(to_inline(kern.weight))
            return
        if offset and not dest.lower().endswith(".mat"):
            raise DeconvError(
                f"kernel {source} has offset {offset:g}, which only a .mat file can hold; write .mat or pass --drop-offset",
                usage=True,
            )
        path = save_kernel(kern.weight, dest, offset=offset, overwrite=overwrite)
        shape = "x".join(str(n) for n in kern.weight.shape)
        _say(f"wrote {path}: kernel {shape}" + (f", offset {offset:g}" if offset else ""))


def main() -> None:
    app()
