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


# --------------------------------------------------------------------------- upsample


@app.command()
def upsample(
    image: Annotated[Path, typer.Argument(help="Input image (PNG, JPEG, TIFF, BMP, WebP, GIF, PPM/PGM, TGA).")],
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Output file; format from the extension, .npy for the raw float array. [default: IMAGE_x2.EXT]"),
    ] = None,
    kernel: Annotated[
        str, typer.Option("--kernel", "-k", help="Kernel file (.npy .npz[:NAME] .txt .csv) or built-in name (nearest, bilinear).")
    ] = "bilinear",
    stride: StrideOpt = "2",
    padding: Annotated[
        str, typer.Option("--padding", "-p", help="Padding cut from each side: N, ROWS,COLS, or same (output exactly stride x input).")
    ] = "0",
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
    depth: Annotated[Depth, typer.Option("--depth", help="Output bits per channel; auto keeps the input's.")] = Depth.auto,
    compress: Annotated[
        Optional[int],
        typer.Option("--compress", min=0, max=9, help="PNG zlib level 0..9. [default: zlib's fast run-length strategy]"),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Upsample IMAGE by transpose convolution with a kernel, and report the size math.

    Every input pixel scales the whole kernel; the scaled kernels are placed
    STRIDE apart and summed (PyTorch's conv_transpose2d on each channel).

    Example: deconv upsample photo.png --stride 2 --kernel bilinear --padding 1 -o photo_x2.png
    """
    with _failures():
        from .pipeline import Params, upsample_file

        params = Params.parse(stride, padding, output_padding, dilation)
        out = upsample_file(
            image,
            output,
            kernel=kernel,
            params=params,
            alpha=alpha.value,
            edge=edge.value,
            crop=crop,
            dtype=dtype.value,
            depth=None if depth is Depth.auto else ("float" if depth is Depth.float else int(depth.value)),
            compress=compress,
            overwrite=overwrite,
        )
        d = out.as_dict()
        if not quiet:
            from . import report

            for w in d["warnings"]:
                _say(f"deconv: warning: {w}")
            _show((lambda: report.outcome_table(d), report.outcome_lines(d)), stderr=True)
        if as_json:
            print(json.dumps(d))


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
        from .kernels import load_kernel

        s, d = as_pair(stride, "stride"), as_pair(dilation, "dilation")
        for i, axis in enumerate(AXES):
            check_axis(axis, s[i], 0, 0, d[i])
        k = load_kernel(kernel, s)
        planes = [k] if k.ndim == 2 else list(k)
        phases = [phase_sums(p, s, d) for p in planes]
        if as_json:
            print(json.dumps(report.kernel_dict(k, phases, s, d, kernel)))
            return
        tables, lines = [], []
        for c, (plane, ph) in enumerate(zip(planes, phases)):
            name = f"{kernel}" + (f" channel {c}" if k.ndim == 3 else "")
            tables += [
                report.matrix_table(plane, f"{name}: {plane.shape[0]}x{plane.shape[1]}, sum {report.fmt_num(float(plane.sum()))}"),
                report.matrix_table(ph.sums, f"phase sums for stride {s[0]},{s[1]} (row phase \\ col phase)"),
                report.verdict(ph),
            ]
            lines += [f"{name}: {plane.shape[0]}x{plane.shape[1]}, sum {report.fmt_num(float(plane.sum()))}"]
            lines += report.matrix_lines(plane)
            lines += [f"phase sums for stride {s[0]},{s[1]}:"] + report.matrix_lines(ph.sums)
            lines += [report.verdict(ph)]
        _show((Group(*tables), lines), stderr=False)


@kernel_app.command("make")
def kernel_make(
    name: Annotated[str, typer.Argument(help="Built-in kernel: nearest or bilinear.")],
    stride: StrideOpt = "2",
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="File to write (.npy, .txt or .csv); text on stdout without it.")
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


def main() -> None:
    app()
