"""The Typer apps, the options every command shares, and how output and failures are shown.

numpy and Pillow are imported inside the commands so ``deconv --help`` and
``deconv --version`` stay fast; this module needs only Typer and :mod:`deconv_cli.modes`.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Annotated

import typer

from ..errors import DeconvError

app = typer.Typer(
    help="Upsample images by transpose convolution, and see the size math and kernel phases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
kernel_app = typer.Typer(help="Show and make kernels.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(kernel_app, name="kernel")


# --------------------------------------------------------------------------- output helpers


def stream_is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stderr: bool):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def say(message: str) -> None:
    """A plain line on stderr (errors, warnings, notes): no markup, so paths print as they are."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def show(renderable_or_lines, *, stderr: bool) -> None:
    """Rich on a terminal, plain text otherwise. The renderable may be a function that builds
    it, so that rich is imported only when a terminal will show it."""
    stream = sys.stderr if stderr else sys.stdout
    table, lines = renderable_or_lines
    if stream_is_tty(stream):
        console(stderr).print(table() if callable(table) else table)
    else:
        stream.write("\n".join(lines) + "\n")
        stream.flush()


@contextmanager
def failures():
    """Turn every failure into one line on stderr and an exit code (2 usage, 1 runtime)."""
    try:
        yield
    except typer.Exit:
        raise
    except DeconvError as e:
        say(f"deconv: error: {e}")
        raise typer.Exit(2 if e.usage else 1) from None
    except KeyboardInterrupt:
        say("deconv: interrupted")
        raise typer.Exit(130) from None
    except Exception as e:  # a bug: still one line, never a traceback unless asked for
        if os.environ.get("DECONV_DEBUG"):
            raise
        say(f"deconv: internal error: {type(e).__name__}: {e} (rerun with DECONV_DEBUG=1 for a traceback)")
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        from ..version import __version__  # not importlib.metadata: that alone costs ~30 ms

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
    str,
    typer.Option(
        "--output-padding", help="Extra rows/cols at the bottom/right: N or ROWS,COLS (< stride or < dilation)."
    ),
]
DilationOpt = Annotated[str, typer.Option("--dilation", "-d", help="Spacing of the kernel taps: N or ROWS,COLS.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
SamePaddingOpt = Annotated[
    str,
    typer.Option(
        "--padding", "-p", help="Padding cut from each side: N, ROWS,COLS, or same (output exactly stride x input)."
    ),
]
KERNEL_HELP = (
    "Kernel file (.npy .npz[:NAME] .safetensors[:NAME] .txt .csv .mat), built-in name (nearest, bilinear, "
    "bicubic, lanczos2, lanczos3, gaussian:sigma=S) or inline kernel (3x3:1,2,1,2,4,2,1,2,1 or 0.25,0.75,0.75,0.25)."
)
KernelOpt = Annotated[str, typer.Option("--kernel", "-k", help=KERNEL_HELP)]
LayerKernelOpt = Annotated[
    str,
    typer.Option(
        "--kernel",
        "-k",
        help=KERNEL_HELP + " A 4-D (C_in, C_out/groups, kh, kw) weight is a learned layer that mixes channels.",
    ),
]


def main() -> None:
    app()
