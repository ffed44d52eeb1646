"""``deconv size``, ``deconv inspect`` and ``deconv kernel show|make|convert``."""

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import DeconvError
from ..modes import DEFAULT_KERNEL, DEFAULT_STRIDE, INSPECT_MAX_PIXELS, Alpha, Edge, Normalize
from .app import (
    AlphaOpt,
    BiasOpt,
    DilationOpt,
    GroupsOpt,
    JsonOpt,
    KernelOpt,
    OutPadOpt,
    SamePaddingOpt,
    StrideOpt,
    app,
    emit,
    failures,
    given,
    kernel_app,
    printable_data,
    say,
    show,
    stream_is_tty,
)


@app.command()
def size(
    ctx: typer.Context,
    image: Annotated[Optional[Path], typer.Argument(help="Image whose size to use (only its header is read).")] = None,
    input_size: Annotated[
        Optional[str],
        typer.Option(
            "--input-size", "-i", metavar="N|ROWS,COLS", help="Input size instead of an image: N or ROWS,COLS."
        ),
    ] = None,
    kernel: Annotated[
        Optional[str],
        typer.Option(
            "--kernel",
            "-k",
            metavar="KERNEL",
            help="Kernel file or built-in name whose size to use. [default: bilinear]",
        ),
    ] = None,
    kernel_size: Annotated[
        Optional[str],
        typer.Option("--kernel-size", metavar="N|ROWS,COLS", help="Kernel size instead of a kernel: N or ROWS,COLS."),
    ] = None,
    stride: StrideOpt = DEFAULT_STRIDE,
    padding: SamePaddingOpt = "0",
    output_padding: OutPadOpt = "0",
    dilation: DilationOpt = "1",
    as_json: JsonOpt = False,
) -> None:
    """Print the output-size math, N_out = (N_in - 1)*s - 2p + d*(k - 1) + a + 1, without touching pixels.

    With --padding same or same-lower: the padding and output padding chosen for exactly stride x the
    input, the rows cut from each side, and the PyTorch call that gives each axis.

    \b
    Examples:
      deconv size --input-size 3 --kernel-size 3 --stride 1
      deconv size --input-size 64 --kernel-size 3 --stride 2 --padding same
      deconv size photo.png -k lanczos3 -s 3 --json
    """
    with failures():
        from .. import report
        from ..core import Geometry, as_pair
        from ..imageio import image_size
        from ..kernels import open_kernel
        from ..pipeline.settings import command_geometry, merge_declared, stride_dilation

        # parameter errors before any file is read (but for a model file's layer, whose node may make them valid)
        checked = command_geometry(kernel, stride, padding, output_padding, dilation)
        if (image is None) == (input_size is None):
            raise DeconvError("give either an IMAGE or --input-size, not both or neither", usage=True)
        if kernel is not None and kernel_size is not None:
            raise DeconvError("give either --kernel or --kernel-size, not both", usage=True)
        n_in = image_size(image) if image is not None else as_pair(input_size, "input size")
        if kernel_size is not None:
            k = as_pair(kernel_size, "kernel size")
            geometry = Geometry.of(stride, padding, output_padding, dilation)
        else:
            kern = open_kernel(kernel or DEFAULT_KERNEL, stride_dilation(checked)[0])
            k = (kern.weight.shape[-2], kern.weight.shape[-1])
            # a model file (-k model.onnx) gives its own geometry; options given beside it must agree
            values = (("stride", stride), ("padding", padding), ("output_padding", output_padding))
            on_command_line = {n: v for n, v in (*values, ("dilation", dilation)) if given(ctx, n, v) is not None}
            geometry = merge_declared(kern, checked, on_command_line)[0]
        axes = geometry.axes(n_in, k)
        if as_json:
            emit(
                json.dumps(
                    {
                        "image": str(image) if image else None,
                        "axes": [a.as_dict() for a in axes],
                        "params": geometry.params(axes),
                        "output": {"width": axes[1].kept, "height": axes[0].kept},
                    }
                )
                + "\n"
            )
        else:
            params = geometry.params(axes)
            show((lambda: report.size_table(axes, params=params), report.size_lines(axes, params)), stderr=False)


# --------------------------------------------------------------------------- inspect


@app.command("inspect")
def inspect_cmd(
    ctx: typer.Context,
    image: Annotated[
        Optional[Path],
        typer.Argument(help="Image to inspect; leave out and give --size for a synthetic constant image."),
    ] = None,
    kernel: KernelOpt = DEFAULT_KERNEL,
    groups: GroupsOpt = None,
    bias: BiasOpt = None,
    stride: StrideOpt = DEFAULT_STRIDE,
    padding: SamePaddingOpt = "0",
    output_padding: OutPadOpt = "0",
    dilation: DilationOpt = "1",
    size: Annotated[
        Optional[str],
        typer.Option(
            "--size",
            metavar="WIDTHxHEIGHT",
            help="Inspect a synthetic constant grey image of WIDTHxHEIGHT (or N) "
            "instead of IMAGE: the kernel's pure edge effect.",
        ),
    ] = None,
    report_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--report",
            metavar="DIR",
            help="Also write pictures, report.json and index.html into this directory (plots need deconv-cli[report]).",
        ),
    ] = None,
    edge: Annotated[
        Edge,
        typer.Option(
            "--edge",
            help="The edge mode of the upsample to inspect (its result, findings and cures): zero, replicate, "
            "reflect, symmetric, wrap or renormalize. Zero, replicate and renormalize are compared whatever it is.",
        ),
    ] = Edge.zero,
    normalize: Annotated[
        Normalize,
        typer.Option("--normalize", help="Inspect the kernel as upsample --normalize rescales it: none, phase, sum."),
    ] = Normalize.none,
    alpha: AlphaOpt = Alpha.premultiply,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace report files already in --report DIR.")
    ] = False,
    max_pixels: Annotated[
        int,
        typer.Option(
            "--max-pixels",
            min=0,
            metavar="N",
            help="Refuse inputs, and outputs by the size formula, with more pixels (0: no limit); inspect holds "
            "about 130 bytes per output pixel.",
        ),
    ] = INSPECT_MAX_PIXELS,
    as_json: JsonOpt = False,
) -> None:
    """Show what a kernel does to an image, and where: size math, stride-phase sums and checkerboard
    amplitude, coverage at corners/edges/interior, border-band brightness vs the interior, and the
    crop that --crop auto would apply.

    A learned layer (4-D weight, with --groups and --bias as for upsample): per output channel, its
    stride-phase pattern under a constant input (each input channel at the image's mean, or at 1
    with --size), the checkerboard amplitude, and the worst channels.

    \b
    Examples:
      deconv inspect photo.png --kernel bilinear --stride 2 --report photo_report
      deconv inspect --size 64x64 --kernel box3.npy --stride 2
      deconv inspect photo.png -k box3.npy -s 2 -p same --edge replicate --normalize phase
      deconv inspect --size 64 -k layer.safetensors:weight --bias layer.safetensors:bias -s 2 -p 2
    """
    with failures():
        from ..kernels import open_run_kernel
        from ..pipeline import inspect, parse_size
        from ..pipeline.settings import command_geometry, merge_declared, stride_dilation

        # parameter errors before any file is read (but for a model file's layer, whose node may make them valid)
        checked = command_geometry(kernel, stride, padding, output_padding, dilation)
        dims = parse_size(size) if size is not None else None
        if report_dir is not None:
            from ..report.pictures import _matplotlib

            _matplotlib()  # a missing extra is reported before any work
        if (image is None) == (dims is None):
            raise DeconvError(
                "give either an IMAGE or --size WIDTHxHEIGHT (a synthetic constant image), not both or neither",
                usage=True,
            )
        if normalize is not Normalize.none and (groups is not None or bias is not None):
            raise DeconvError(
                f"--normalize {normalize} rescales a kernel, --groups and --bias set up a learned layer, whose "
                "weights deconv does not rescale; give one or the other",
                usage=True,
            )
        kern = open_run_kernel(kernel, stride_dilation(checked)[0], groups=groups, bias=bias)
        # a model file (-k model.onnx) gives its own geometry, as for upsample; options given beside it must agree
        values = (("stride", stride), ("padding", padding), ("output_padding", output_padding), ("dilation", dilation))
        on_command_line = {n: v for n, v in (*values, ("groups", groups)) if given(ctx, n, v) is not None}
        geometry = merge_declared(kern, checked, on_command_line)[0]
        ins = inspect(image, dims, kern, geometry, alpha, max_pixels, edge, normalize)
        d = ins.as_dict()
        if report_dir is not None:
            from ..report.pictures import write_report

            files = write_report(report_dir, ins, overwrite=overwrite)
            d["files"] = files
            say(f"deconv: wrote report: {files['html']} (open it in a browser)")
        if as_json:
            emit(json.dumps(d) + "\n")
        else:
            shown = printable_data(d)
            from ..report.inspect import inspect_lines, inspect_table

            show((lambda: inspect_table(shown), inspect_lines(shown)), stderr=False)


# --------------------------------------------------------------------------- kernel show / make


@kernel_app.command("show")
def kernelshow(
    kernel: Annotated[str, typer.Argument(help="Kernel file or built-in name.")],
    stride: StrideOpt = DEFAULT_STRIDE,
    dilation: DilationOpt = "1",
    normalize: Annotated[
        Normalize,
        typer.Option("--normalize", help="Show the kernel as upsample --normalize would rescale it: none, phase, sum."),
    ] = Normalize.none,
    groups: GroupsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a kernel, its sum, its per-phase sums for STRIDE, and whether it draws a checkerboard.

    A learned layer (4-D weight): the phase sums of every (input, output) kernel, then per output
    channel their total (every input channel of its group at 1, no bias) and its verdict.

    \b
    Examples:
      deconv kernel show kernels/bilinear.npy --stride 2
      deconv kernel show 3x3:1,1,1,1,1,1,1,1,1 --normalize phase
      cat k.txt | deconv kernel show - --stride 2
    """
    with failures():
        from rich.console import Group

        from .. import report
        from ..core import Geometry, phase_report
        from ..core.normalize import normalize_kernel
        from ..kernels import open_kernel

        geometry = Geometry.of(stride, 0, 0, dilation)
        s, d = geometry.stride, geometry.dilation
        kern = open_kernel(kernel, s)
        k = kern.weight
        if k.ndim == 4 or groups is not None:
            from ..kernels import make_layer

            layer = make_layer(k, groups, None, kernel)
            assert layer is not None
            if normalize is not Normalize.none:
                normalize_kernel(k, s, d, normalize, f"kernel {kernel}")  # refuses a layer, saying why
            d_ = report.layer_kernel_dict(k, layer.groups, s, d, kernel)
            if as_json:
                emit(json.dumps(d_) + "\n")
            else:
                show((report.layer_kernel_table(d_), report.layer_kernel_lines(d_)), stderr=False)
            return
        factors = None
        if normalize is not Normalize.none:
            k, factors = normalize_kernel(k, s, d, normalize, f"kernel {kernel}")
        planes = [k] if k.ndim == 2 else list(k.reshape(-1, *k.shape[-2:]))
        phases = [phase_report(p, s, d) for p in planes]
        if as_json:
            extra = {
                "offset": kern.offset,
                "normalize": normalize.value,
                "factors": None if factors is None else factors.tolist(),
            }
            emit(json.dumps({**report.kernel_dict(k, phases, s, d, kernel), **extra}) + "\n")
            return
        tables: list[Any] = []
        lines: list[str] = []
        for c, (plane, ph) in enumerate(zip(planes, phases, strict=True)):
            name = f"{kernel}" + (f" channel {c}" if k.ndim == 3 else "")
            name += f" in {c // k.shape[1]} out {c % k.shape[1]}" if k.ndim == 4 else ""
            tables += [
                report.matrix_table(
                    plane, f"{name}: {plane.shape[0]}x{plane.shape[1]}, sum {report.fmt_num(float(plane.sum()))}"
                ),
                report.matrix_table(ph.sums, f"phase sums for stride {s[0]},{s[1]} (row phase \\ col phase)")
                if ph.sums is not None
                else report.phase_range_text(ph, s),
                report.verdict(ph),
            ]
            lines += [f"{name}: {plane.shape[0]}x{plane.shape[1]}, sum {report.fmt_num(float(plane.sum()))}"]
            lines += report.matrix_lines(plane)
            if ph.sums is not None:
                lines += [f"phase sums for stride {s[0]},{s[1]}:"] + report.matrix_lines(ph.sums)
            else:
                lines += [report.phase_range_text(ph, s)]
            lines += [report.verdict(ph)]
        if factors is not None:
            text = "normalize " + report.normalize_text(normalize.value, factors.tolist())
            tables.append(text)
            lines.append(text)
        if kern.offset:  # a libvips .mat offset
            tables.append(f"offset {report.fmt_num(kern.offset)}, added after the convolution")
            lines.append(f"offset {report.fmt_num(kern.offset)}, added after the convolution")
        show((Group(*tables), lines), stderr=False)


@kernel_app.command("make")
def kernel_make(
    name: Annotated[
        str,
        typer.Argument(
            help="Built-in kernel: nearest, bilinear, bicubic[:a=A], lanczos2, lanczos3 or gaussian[:sigma=S]."
        ),
    ],
    stride: StrideOpt = DEFAULT_STRIDE,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="File to write (.npy .npz .safetensors .txt .csv .mat); text on stdout without it or with -o -.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Generate a built-in kernel for STRIDE and write it to a file.

    \b
    Examples:
      deconv kernel make bilinear --stride 3 -o bilinear_s3.npy
      deconv kernel make lanczos3 --stride 2,3 -o lanczos3.mat
    """
    with failures():
        from .. import report
        from ..imageio import atomic_write
        from ..kernels import intended_padding, kernel_to_bytes, make_kernel

        k = make_kernel(name, stride)
        py, px = intended_padding(name, stride)
        padding = f"--padding {py}" if py == px else f"--padding {py},{px}"
        hint = f"{name} kernel {k.shape[1]}x{k.shape[0]} (width x height); {padding} gives exactly stride x the input"
        if output is None or str(output) == "-":
            if output is None and stream_is_tty(sys.stdout):  # for a person: rounded, the exact text in a file
                emit("\n".join(report.matrix_lines(k)) + "\n")
                say(f"{hint} (values rounded; -o FILE or a pipe gets them exactly)")
            else:
                emit(kernel_to_bytes(k, ".txt").decode())
                say(hint)
            return
        data = kernel_to_bytes(k, output.suffix)
        atomic_write(output, lambda f: f.write(data), overwrite=overwrite)
        say(f"wrote {output}: {hint}")


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
    stride: Annotated[
        str,
        typer.Option(
            "--stride", "-s", metavar="N|ROWS,COLS", help="Stride a built-in IN is generated for: N or ROWS,COLS."
        ),
    ] = "2",
    drop_offset: Annotated[
        bool,
        typer.Option(
            "--drop-offset", help="Write a .mat kernel's weights without its offset to a format that cannot hold it."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Convert a kernel between formats: .npy, .npz, .safetensors, .txt, .csv, libvips .mat, inline strings.

    Values are written exactly (float64, shortest round-trip text); a .mat
    offset is kept in .mat files.

    \b
    Examples:
      deconv kernel convert blur.mat blur.safetensors:weight
      deconv kernel convert kernels/bilinear.npy -     # the inline WxH:... string
    """
    with failures():
        from ..kernels import open_kernel, save_kernel, to_inline

        kern = open_kernel(source, stride)
        offset = 0.0 if drop_offset else kern.offset
        if dest == "-":
            if offset:
                raise DeconvError(
                    f"kernel {source} has offset {offset:g}, which an inline string cannot hold; pass --drop-offset",
                    usage=True,
                )
            emit(to_inline(kern.weight) + "\n")
            return
        if offset and not dest.lower().endswith(".mat"):
            raise DeconvError(
                f"kernel {source} has offset {offset:g}, which only a .mat file can hold; "
                f"write .mat or pass --drop-offset",
                usage=True,
            )
        path = save_kernel(kern.weight, dest, offset=offset, overwrite=overwrite)
        shape = "x".join(str(n) for n in kern.weight.shape)
        say(f"wrote {path}: kernel {shape}" + (f", offset {offset:g}" if offset else ""))
