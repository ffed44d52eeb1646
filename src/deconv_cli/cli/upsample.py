"""``deconv upsample``: one image or many, to files or stdout, with a progress bar on a terminal."""

from collections.abc import Iterator
from contextlib import contextmanager
from math import isqrt
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import DeconvError
from ..modes import (
    DEFAULT_KERNEL,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_WORK,
    DEFAULT_STRIDE,
    Alpha,
    Depth,
    DType,
    Edge,
    Normalize,
)
from .app import (
    AlphaOpt,
    BiasOpt,
    DilationOpt,
    GroupsOpt,
    LayerKernelOpt,
    OutPadOpt,
    SamePaddingOpt,
    StrideOpt,
    app,
    failures,
    given,
)
from .running import run_files
from .stdio import make_out_dir, upsample_stdio


@app.command()
def upsample(
    ctx: typer.Context,
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="IMAGE...",
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
            metavar="FILE",
            help="Output file for a single input; format from the extension, "
            ".npy for the raw float array, - for stdout. [default: IMAGE_xS.EXT beside the input, S the "
            "stride: IMAGE_x2.EXT at the default stride 2, IMAGE_x2x3.EXT for --stride 2,3]",
        ),
    ] = None,
    out_dir: Annotated[
        Optional[Path],
        typer.Option("--out-dir", metavar="DIR", help="Write every output into this directory (created if missing)."),
    ] = None,
    name: Annotated[
        Optional[str],
        typer.Option(
            "--name",
            metavar="TEMPLATE",
            help="Output file name template: {stem} {ext} {parent} {stride} {kernel}. "
            "[default: {stem}{ext} with --out-dir]",
        ),
    ] = None,
    scale: Annotated[
        Optional[str],
        typer.Option(
            "--scale",
            metavar="N|ROWS,COLS",
            help="Make the image N (or ROWS,COLS) times bigger without artifacts: stands for --stride N "
            "--padding same --edge replicate with the default kernel made for N; any of those given "
            "beside it wins, and the report prints what it stood for.",
            show_default=False,
        ),
    ] = None,
    kernel: LayerKernelOpt = DEFAULT_KERNEL,
    groups: GroupsOpt = None,
    bias: BiasOpt = None,
    stride: StrideOpt = DEFAULT_STRIDE,
    padding: SamePaddingOpt = "0",
    output_padding: OutPadOpt = "0",
    dilation: DilationOpt = "1",
    edge: Annotated[
        Edge,
        typer.Option(
            "--edge",
            help="Beyond the image: zero (PyTorch's), replicate, reflect (about the edge pixel), "
            "symmetric (including it), "
            "wrap (extend the input so borders get every tap), "
            "or renormalize (divide by the weight that arrived, as Pillow does).",
        ),
    ] = Edge.zero,
    normalize: Annotated[
        Normalize,
        typer.Option(
            "--normalize",
            help="Rescale the kernel first: none, phase (each stride phase sums to 1: no checkerboard, "
            "gain 1), or sum (the whole kernel sums to stride_rows x stride_cols).",
        ),
    ] = Normalize.none,
    crop: Annotated[
        str,
        typer.Option(
            "--crop",
            metavar="none|auto|N|T,B,L,R",
            help="Cut the result: none, auto (the border that got fewer kernel taps), N, or TOP,BOTTOM,LEFT,RIGHT.",
        ),
    ] = "none",
    alpha: AlphaOpt = Alpha.premultiply,
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
    quality: Annotated[
        Optional[int],
        typer.Option(
            "--quality",
            min=1,
            max=100,
            metavar="1..100",
            help="JPEG quality, or lossy WebP at this quality. [default: JPEG 95, WebP lossless]",
            show_default=False,
        ),
    ] = None,
    compress: Annotated[
        Optional[int],
        typer.Option(
            "--compress",
            min=0,
            max=9,
            metavar="LEVEL",
            help="PNG deflate level 0..9 (zlib-ng's levels). [default: the fast run-length strategy]",
        ),
    ] = None,
    out_format: Annotated[
        Optional[str],
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="Format of -o - (stdout): png, tif, jpg, webp, bmp, ppm, tga, npy. [default: png]",
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Take images from subdirectories of directory inputs too.")
    ] = False,
    files_from: Annotated[
        Optional[str],
        typer.Option("--files-from", metavar="FILE", help="Read input paths from FILE, one per line (- for stdin)."),
    ] = None,
    jobs: Annotated[
        Optional[int],
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            help="Files processed in parallel (processes). [default: number of CPUs]",
        ),
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave inputs whose output exists alone (resume a run).")
    ] = False,
    shard: Annotated[
        Optional[str],
        typer.Option(
            "--shard",
            metavar="I/N",
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
            metavar="N",
            help="The one pixel limit: refuse an input with more pixels (read from its header, before "
            "decoding) and an output the size formula gives more (before allocating); an image on stdin "
            f"may bring 8 bytes a pixel of it plus 16 MiB. 0: no limit. [default: {DEFAULT_MAX_PIXELS} = "
            f"{isqrt(DEFAULT_MAX_PIXELS)}x{isqrt(DEFAULT_MAX_PIXELS)}]",
            show_default=False,
        ),
    ] = DEFAULT_MAX_PIXELS,
    max_work: Annotated[
        float,
        typer.Option(
            "--max-work",
            min=0,
            metavar="SECONDS",
            help="Refuse a file whose computation the cost model estimates at more seconds of one CPU core "
            "(0: no limit); checked before it starts.",
        ),
    ] = DEFAULT_MAX_WORK,
    scheduler: Annotated[
        Optional[str],
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="Run the files as tasks on a Dask distributed scheduler at this address (deconv-cli[dask]).",
        ),
    ] = None,
    scheduler_timeout: Annotated[
        float,
        typer.Option(
            "--scheduler-timeout", min=0.1, metavar="SECONDS", help="Seconds to wait for the --scheduler to answer."
        ),
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

    \b
    Examples:
      deconv upsample photo.png --scale 2 -o photo_2x.png
      deconv upsample photo.png --stride 2 --kernel bilinear --padding 1 -o photo_x2.png
      deconv upsample photo.png -k lanczos3 -s 3 -p same --edge renormalize -o photo_x3.png
      deconv upsample 'shots/*.jpg' --out-dir big --jobs 4 --skip-existing
      deconv upsample --files-from list.txt --out-dir big --json > log.jsonl
    """
    with failures(), _workers_ahead(inputs, files_from, output, scheduler, jobs) as ahead:
        from ..batch import expand_inputs, parse_shard, plan, read_file_list, signals_raise
        from ..core import Crop
        from ..kernels import open_run_kernel
        from ..pipeline import Settings
        from ..pipeline.settings import command_geometry, merge_declared, parse_scale, scaled, stride_dilation

        with signals_raise():  # SIGINT and SIGTERM stop the run cleanly from here, before any file is made
            scale_ = parse_scale(scale)
            # --scale fills in what was not given on the command line (the defaults otherwise)
            kernel, stride, padding, edge = scaled(
                scale_,
                *(
                    given(ctx, name, value)
                    for name, value in (("kernel", kernel), ("stride", stride), ("padding", padding), ("edge", edge))
                ),
            )
            # usage errors before any file (but for a model file's layer, whose node may make them valid)
            geometry = command_geometry(kernel, stride, padding, output_padding, dilation)
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
            if kernel == "-" and "-" in files:
                raise DeconvError(
                    "stdin (-) can bring the image or the kernel, not both; give one of them as a file", usage=True
                )
            if "-" in files and len(files) > 1:
                raise DeconvError("- (an image on stdin) must be the only input", usage=True)
            # the kernel (and a layer's bias) is read once, here: a bad kernel is one error, not one per file
            stride_, dilation_ = stride_dilation(geometry)
            kern = open_run_kernel(kernel, stride_, groups=groups, bias=bias, normalize=normalize, dilation=dilation_)
            values = (("stride", stride), ("padding", padding), ("output_padding", output_padding))
            on_command_line = {
                name: value
                for name, value in (*values, ("dilation", dilation), ("groups", groups))
                if given(ctx, name, value) is not None
            }
            run_geometry, origins = merge_declared(kern, geometry, on_command_line, scale_)
            settings = Settings(
                kern,
                run_geometry,
                Edge.of(edge),
                alpha,
                crop_spec,
                dtype,
                depth,
                compress,
                two_pass,
                max_pixels,
                overwrite,
                max_work,
                scale_,
                quality,
                origins,
            )
            if output == "-" or files == ["-"]:
                upsample_stdio(
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
                make_out_dir(out_dir, [Path(j.dst).parent for j in jobs_list])
            single = len(files) == 1 and not problems and out_dir is None and name is None and shard is None
            run_files(
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
                prestarted=ahead,
            )


@contextmanager
def _workers_ahead(inputs, files_from, output, scheduler, jobs) -> Iterator:
    """Pool workers started before the command's own imports when the run looks like a local
    batch (several inputs, a directory, a glob or a list of files; more than one job), so that
    each worker's start (about 0.3 s: an interpreter, numpy, Pillow and deconv imported again)
    runs beside the command's; None otherwise. Those the run does not take are sent away."""
    import glob
    import os

    from ..cpus import available_cpus

    items = list(inputs or [])
    workers = jobs if jobs is not None else available_cpus()
    many = (
        files_from is not None
        or len(items) > 1
        or any(i != "-" and (os.path.isdir(i) or glob.has_magic(i)) for i in items)
    )
    if not many or workers <= 1 or scheduler is not None or output == "-" or "-" in items:
        yield None
        return
    from ..batch.boot import prestart

    ahead = prestart(workers)
    try:
        yield ahead
    finally:
        ahead.close()
