"""The Typer apps, the options every command shares, and how output and failures are shown.

numpy and Pillow are imported inside the commands so ``deconv --help`` and
``deconv --version`` stay fast; this module needs only Typer and :mod:`deconv_cli.modes`.
"""

import os
import sys
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any, NoReturn, Optional

import typer
from typer._click.exceptions import (
    BadParameter,
    ClickException,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import Abort

from ..errors import DeconvError
from ..modes import Alpha, SamePadding, did_you_mean

# --------------------------------------------------------------------------- output helpers

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    r"""``text`` on one line with nothing a terminal would act on: control characters (newlines,
    ANSI escapes), and the undecodable bytes of a file name, written as escapes.

    >>> printable("a\nb\x1b[31m.png"), printable("caf\u00e9 \udcff")
    ('a\\nb\\x1b[31m.png', 'café \\xff')
    """
    s = str(text)
    if s.isprintable():
        return s
    out = []
    for c in s:
        if c.isprintable():
            out.append(c)
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif 0xDC80 <= ord(c) <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
    return "".join(out)


def printable_data(obj: Any) -> Any:
    """A copy of a report (dicts, lists, strings) with every string :func:`printable`, for display."""
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, dict):
        return {k: printable_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(printable_data(v) for v in obj)
    return obj


def stream_is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stderr: bool):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def say(message: str) -> None:
    """A plain line on stderr (errors, warnings, notes), escaped to one line; nothing happens
    when stderr is closed or full (there is nowhere left to tell)."""
    try:
        sys.stderr.write(printable(message) + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


class StdoutGone(Exception):
    """The reader of stdout went away (a closed pipe): stop quietly, as Unix tools do."""


def _stdout_failed(e: BaseException) -> BaseException:
    """What a failed write to stdout becomes: a quiet stop for a closed pipe, else one error."""
    try:  # later writes (and Python's own flush at exit) must not fail again
        fd = os.open(os.devnull, os.O_WRONLY)
        if sys.stdout is not None and sys.stdout.fileno() == 1:
            os.dup2(fd, 1)
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass
    if isinstance(e, BrokenPipeError):
        return StdoutGone()
    reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return DeconvError(f"cannot write to stdout ({reason}); redirect it to a file or device with room")


def _stdout():
    if sys.stdout is None:
        raise DeconvError("stdout is closed; redirect it (> FILE), or leave out the option that prints to it")
    return sys.stdout


def emit(text: str) -> None:
    """Write ``text`` to stdout and flush it, so that a failure is seen here: a closed pipe
    stops quietly (:class:`StdoutGone`), a full or closed stdout is one error."""
    out = _stdout()
    try:
        out.write(text)
        out.flush()
    except (OSError, ValueError) as e:
        raise _stdout_failed(e) from None


def emit_file(path: str) -> None:
    """Copy a file's bytes to stdout (an image written with ``-o -``)."""
    out = _stdout()
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        raise DeconvError("stdout cannot take bytes here; redirect it to a file (> out.png)")
    try:
        out.flush()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                buffer.write(chunk)
        buffer.flush()
    except (OSError, ValueError) as e:
        raise _stdout_failed(e) from None


def show(renderable_or_lines, *, stderr: bool) -> None:
    """Rich on a terminal, plain text otherwise. The renderable may be a function that builds
    it, so that rich is imported only when a terminal will show it."""
    stream = sys.stderr if stderr else sys.stdout
    table, lines = renderable_or_lines
    if stream_is_tty(stream):
        console(stderr).print(table() if callable(table) else table)
    elif stderr:
        for line in lines:
            say(line)
    else:
        emit("".join(printable(line) + "\n" for line in lines))


def _busy_threads() -> bool:
    return any(t.is_alive() for t in threading.enumerate() if t is not threading.main_thread())


def exit_interrupted(signum: int, message: str = "deconv: interrupted") -> NoReturn:
    """Say so and exit 130 (SIGINT) or 143 (SIGTERM). A job still running on a helper thread
    (a long strip in native code) is not waited for: the process ends at once."""
    say(message)
    code = 130 if signum == 2 else 128 + signum
    if _busy_threads():
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    raise typer.Exit(code)


@contextmanager
def failures():
    """Turn every failure into one line on stderr and an exit code (2 usage, 1 runtime, 141 for
    a closed stdout pipe, 130/143 for SIGINT/SIGTERM)."""
    try:
        yield
        if sys.stdout is not None:  # what is still buffered fails here, not in Python's exit
            try:
                sys.stdout.flush()
            except (OSError, ValueError) as e:
                raise _stdout_failed(e) from None
    except typer.Exit:
        raise
    except DeconvError as e:
        say(f"deconv: error: {e}")
        raise typer.Exit(2 if e.usage else 1) from None
    except (StdoutGone, BrokenPipeError) as e:
        _stdout_failed(e)
        raise typer.Exit(141) from None  # 128 + SIGPIPE, what a shell shows for `cat big | head`
    except KeyboardInterrupt:
        exit_interrupted(2)
    except Exception as e:  # a bug: still one line, never a traceback unless asked for
        if os.environ.get("DECONV_DEBUG"):
            raise
        say(f"deconv: internal error: {type(e).__name__}: {e} (rerun with DECONV_DEBUG=1 for a traceback)")
        raise typer.Exit(1) from None
    except BaseException as e:  # batch.Interrupted: a signal, turned into an exception
        batch = sys.modules.get("deconv_cli.batch")
        if batch is not None and isinstance(e, batch.Interrupted):
            exit_interrupted(e.signum)
        raise


# --------------------------------------------------------------------------- usage errors


def _command_path(ctx) -> str:
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["deconv", *reversed(names)])


def _raw_value(param, argv: Iterable[str]) -> str | None:
    """What the user typed for ``param`` (the last occurrence), or None."""
    opts = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    found = None
    args = list(argv)
    for i, tok in enumerate(args):
        if tok == "--":
            break
        for opt in opts:
            if tok == opt and i + 1 < len(args):
                found = args[i + 1]
            elif opt.startswith("--") and tok.startswith(opt + "="):
                found = tok[len(opt) + 1 :]
            elif len(opt) == 2 and not opt.startswith("--") and tok.startswith(opt) and len(tok) > 2:
                found = tok[2:]
    return found


def _param_name(param) -> str:
    opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
    if opts:
        return max(opts, key=len)
    return (getattr(param, "metavar", None) or param.name or "value").upper()


def _choices(param) -> list[str]:
    """The values of ``param``'s enumeration, or []."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(m.value) for m in annotation]
    return []


def _describe(param) -> str | None:
    """What ``param`` accepts, from its own definition: the choices of its enumeration, its range."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        values = annotation.values() if hasattr(annotation, "values") else [m.value for m in annotation]
        return "one of " + ", ".join(map(str, values))
    kind = "an integer" if annotation is int else "a number" if annotation is float else None
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if kind and low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if kind and low is not None:
        return f"{kind} >= {low}"
    if kind and high is not None:
        return f"{kind} <= {high}"
    return kind


def _path_from_argv(group, argv: Iterable[str]) -> str:
    """``deconv SUBCOMMAND...`` as far as ``argv`` names commands (when Click gave no context)."""
    names = []
    command = group
    for tok in argv:
        sub = getattr(command, "commands", {}).get(tok)
        if sub is None:
            break
        names.append(tok)
        command = sub
    return " ".join(["deconv", *names])


def usage_line(e: UsageError, argv: Iterable[str], group=None) -> str:
    """Click's usage error as deconv's one line: the option, what it accepts, what was given."""
    argv = list(argv)
    where = _command_path(e.ctx) if e.ctx is not None else "deconv"
    if where == "deconv" and group is not None:
        where = _path_from_argv(group, argv)
    hint = f"see '{where} --help'"
    if isinstance(e, MissingParameter) and e.param is not None:
        kind = "option" if getattr(e.param, "opts", None) and e.param.opts[0].startswith("-") else "argument"
        return f"deconv: error: {where}: missing {kind} {_param_name(e.param)}; {hint}"
    if isinstance(e, BadParameter) and e.param is not None:
        name, accepts = _param_name(e.param), _describe(e.param)
        raw = _raw_value(e.param, argv)
        got = f", got {raw!r}" if raw is not None else ""
        if accepts:
            choices = _choices(e.param)
            maybe = did_you_mean(raw, choices) if raw is not None and choices else ""
            return f"deconv: error: {name} must be {accepts}{got}{maybe}; {hint}"
        return f"deconv: error: {name}: {e.message}{got}; {hint}"
    if isinstance(e, NoSuchOption):
        maybe = f" (did you mean {', '.join(sorted(e.possibilities))}?)" if e.possibilities else ""
        return f"deconv: error: no such option {e.option_name}{maybe}; {hint}"
    message = " ".join(e.format_message().split()).rstrip(".")
    return f"deconv: error: {message[:1].lower() + message[1:]}; {hint}"


class DeconvGroup(TyperGroup):
    """The ``deconv`` group: Click's own error output (a usage block and ``Error: ...``) becomes
    one ``deconv: error:`` line and exit 2; ``--help``, ``--version`` and a bare command (its
    help) are as Click does them."""

    def main(
        self,
        args=None,
        prog_name=None,
        complete_var=None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra,
    ):
        argv = list(args) if args is not None else sys.argv[1:]
        try:
            rv = super().main(
                args=argv,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = rv if isinstance(rv, int) else 0
        except NoArgsIsHelpError as e:
            e.show()
            code = e.exit_code
        except UsageError as e:
            say(usage_line(e, argv, self))
            code = 2
        except ClickException as e:
            say(f"deconv: error: {e.format_message()}")
            code = e.exit_code
        except Abort:
            say("deconv: aborted")
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


class DeconvCommand(TyperCommand):
    """A command whose help names its arguments as people write them: ``IMAGE...``, ``IN OUT``,
    not Typer's ``{IN}`` and ``<list[str]>``; options show their metavar (``FILE``, ``N|ROWS,COLS``)."""

    @staticmethod
    def _argument_name(param) -> str:
        return (param.metavar or param.name.upper()).removesuffix("...") + ("..." if param.nargs != 1 else "")

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = self._argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx, formatter) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                args.append((self._argument_name(param), record[1]))
            else:
                opts.append(record)
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def use_deconv_commands(*apps: typer.Typer) -> None:
    """Every command registered on ``apps`` (so far) is built as a :class:`DeconvCommand`."""
    for typer_app in apps:
        for info in typer_app.registered_commands:
            if info.cls in (None, TyperCommand):
                info.cls = DeconvCommand


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}  # inherited by every subcommand's context

app = typer.Typer(
    cls=DeconvGroup,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)
kernel_app = typer.Typer(
    help="""Show, make and convert kernels: the phase sums a kernel has at a stride (does it draw a
checkerboard? what gain?), the built-in kernels as files, and conversions between kernel formats.

\b
Examples:
  deconv kernel show bilinear --stride 2
  deconv kernel show 3x3:1,1,1,1,1,1,1,1,1 --stride 2 --normalize phase
  deconv kernel make lanczos3 --stride 3 -o lanczos3_s3.npy
  deconv kernel convert blur.mat blur.npy""",
    short_help="Show, make and convert kernels (phase sums, built-ins, formats).",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)
app.add_typer(kernel_app, name="kernel")


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
    """Upsample images by transpose convolution, and see the size math, the kernel's phases and the
    edge effects.

    \b
    Examples:
      deconv upsample photo.png --scale 2 -o photo_2x.png  # exactly 2x, no dark border
      deconv upsample photo.png -s 2 -k bilinear -p 1 -o photo_x2.png
      deconv upsample shots/ --out-dir big --jobs 4 --json > log.jsonl
      deconv size --input-size 3 --kernel-size 3 --stride 1
      deconv inspect photo.png -k box3.npy -s 2 --report out/
      deconv kernel show bilinear --stride 2

    Run 'deconv COMMAND -h' for a command's options and examples.
    """


# --------------------------------------------------------------------------- shared options


def given(ctx: typer.Context, name: str, value: Any) -> Any:
    """``value`` if the option ``name`` was given on the command line, else None (its default)."""
    source = ctx.get_parameter_source(name)
    return None if source is None or source.name == "DEFAULT" else value


StrideOpt = Annotated[str, typer.Option("--stride", "-s", metavar="N|ROWS,COLS", help="Stride: N or ROWS,COLS.")]
OutPadOpt = Annotated[
    str,
    typer.Option(
        "--output-padding",
        metavar="N|ROWS,COLS",
        help="Extra rows/cols at the bottom/right: N or ROWS,COLS (< stride or < dilation).",
    ),
]
DilationOpt = Annotated[
    str, typer.Option("--dilation", "-d", metavar="N|ROWS,COLS", help="Spacing of the kernel taps: N or ROWS,COLS.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
GroupsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--groups",
        min=1,
        metavar="G",
        help="Learned layer (4-D weight) only: channel groups. [default: C_in if the weight's 2nd dim is 1, else 1]",
    ),
]
BiasOpt = Annotated[
    Optional[str],
    typer.Option(
        "--bias",
        metavar="B",
        help="Learned layer only: bias FILE[:NAME], list a,b,c or number, one per output channel, in [0, 1] units.",
    ),
]
AlphaOpt = Annotated[
    Alpha,
    typer.Option(
        "--alpha", help="premultiply: colour weighted by alpha (no dark fringes); separate: alpha like any channel."
    ),
]
SamePaddingOpt = Annotated[
    str,
    typer.Option(
        "--padding",
        "-p",
        metavar="N|ROWS,COLS|same|same-lower",
        help=f"Padding cut from each side: N, ROWS,COLS, {SamePadding.same_upper} (output exactly stride x input; "
        "an odd trim's extra row cut at the bottom/right, as TF/Keras 'same' and ONNX SAME_UPPER) or "
        f"{SamePadding.same_lower} (the extra row cut at the top/left, as ONNX SAME_LOWER).",
    ),
]
KERNEL_HELP = (
    "Kernel file (.npy .npz[:NAME] .safetensors[:NAME] .txt .csv .mat; a learned layer from model.onnx[:NODE] "
    "or a state dict ckpt.pt:NAME, see deconv layers), built-in name (nearest, bilinear, "
    "bicubic, lanczos2, lanczos3, gaussian:sigma=S) or inline kernel (3x3:1,2,1,2,4,2,1,2,1 or 0.25,0.75,0.75,0.25)."
)
KernelOpt = Annotated[str, typer.Option("--kernel", "-k", metavar="KERNEL", help=KERNEL_HELP)]
LayerKernelOpt = Annotated[
    str,
    typer.Option(
        "--kernel",
        "-k",
        metavar="KERNEL",
        help=KERNEL_HELP + " A 4-D (C_in, C_out/groups, kh, kw) weight is a learned layer that mixes channels.",
    ),
]


def main() -> None:
    # one name however it is started (deconv, python -m deconv_cli): in usage lines, and for
    # shell completion, whose environment variable is _DECONV_COMPLETE
    app(prog_name="deconv")
