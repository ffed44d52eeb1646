"""Planning a batch: inputs expanded, lists read within a limit, output names from a checked
template, clashes refused before anything runs."""

from __future__ import annotations

import glob
import os
import re
import string
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath

from ..errors import DeconvError
from ..pipeline import Settings, default_output, output_suffix

#: Extensions picked up from directories (explicit file arguments are read whatever their name).
IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".webp",
    ".gif",
    ".ppm",
    ".pgm",
    ".pnm",
    ".pbm",
    ".tga",
)
TEMPLATE_FIELDS = ("stem", "ext", "parent", "stride", "kernel")
STDIO = "-"


def _has_magic(s: str) -> bool:
    return any(c in s for c in "*?[")


def expand_inputs(items: Iterable[str], *, recursive: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """Paths, directories and quoted globs -> (files in order, [(item, problem)]).

    Directories give their image files (by extension), sorted; with
    ``recursive`` their subdirectories too. A glob is expanded by deconv
    (``**`` matches across directories). Duplicates are dropped, first one kept.
    Items that give nothing are reported, not silently dropped.
    """
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    for item in items:
        if item == STDIO:
            files.append(item)
            continue
        p = Path(item)
        if p.is_dir():
            walk = sorted(p.rglob("*") if recursive else p.iterdir())
            found = [str(f) for f in walk if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
            if not found:
                problems.append(
                    (
                        item,
                        "directory holds no image files"
                        + ("" if recursive else " (add --recursive for subdirectories)"),
                    )
                )
            files += found
        elif not p.exists() and _has_magic(item):
            found = sorted(f for f in glob.glob(item, recursive=True) if Path(f).is_file())
            if not found:
                problems.append((item, "no file matches this pattern"))
            files += found
        else:
            files.append(item)  # missing or unreadable files are reported when processed
    seen: set[str] = set()
    unique = []
    for f in files:
        key = f if f == STDIO else os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


#: The most bytes ``--files-from`` reads (64 MiB: about half a million paths).
FILE_LIST_LIMIT = 64 << 20
_CHUNK = 1 << 20


def read_file_list(source: str, limit: int | None = None) -> list[str]:
    """``--files-from FILE`` or ``-`` (stdin): one path per line; blank lines ignored.

    At most ``limit`` bytes (default :data:`FILE_LIST_LIMIT`) are read, so a list that
    never ends (``/dev/zero``, a runaway pipe) is refused instead of filling memory, and
    a NUL byte (no path holds one) is refused as soon as it is read. Pipes, FIFOs and
    process substitution (``--files-from <(find ...)``) are read as they come."""
    limit = FILE_LIST_LIMIT if limit is None else limit
    what = f"--files-from {source}"
    try:
        if source == STDIO:
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:
                raise DeconvError(f"{what}: stdin is closed; pipe the list in or give a file", usage=True)
            data = _read_list(stream, what, limit)
        else:
            with open(source, "rb") as f:
                data = _read_list(f, what, limit)
    except OSError as e:
        raise DeconvError(f"{what}: cannot read it ({e.strerror or e})", usage=True) from None
    text = data.decode("utf-8", errors="surrogateescape")
    return [line.rstrip("\r\n") for line in text.splitlines() if line.strip()]


def _read_list(stream, what: str, limit: int) -> bytes:
    chunks: list[bytes] = []
    n = 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - n))
        if not chunk:
            return b"".join(chunks)
        nul = chunk.find(b"\0")
        if nul >= 0:
            raise DeconvError(
                f"{what}: holds a NUL byte (at byte {n + nul}), so it is not a list of paths, one per line; "
                "give a text file (for find, use -print, not -print0)",
                usage=True,
            )
        n += len(chunk)
        if n > limit:
            raise DeconvError(
                f"{what}: longer than {_size(limit)}, the most deconv reads from a list; "
                "split it (split -l) and run each part, or pass directories or globs",
                usage=True,
            )
        chunks.append(chunk)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``I/N`` -> (I, N): process every N-th file starting at the I-th (0-based).

    >>> parse_shard("0/4"), parse_shard(None)
    ((0, 4), (0, 1))
    """
    if spec is None:
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not m or int(m[2]) < 1 or int(m[1]) >= int(m[2]):
        raise DeconvError(f"--shard {spec!r} must be I/N with 0 <= I < N (e.g. --shard 0/4 .. 3/4)", usage=True)
    return int(m[1]), int(m[2])


def _kernel_label(kernel: str) -> str:
    name = Path(kernel.split(":", 1)[0]).stem if ("/" in kernel or "." in kernel) else kernel.split(":", 1)[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "kernel"


#: The widest a template field may be padded or cut to (a file name has at most 255 bytes).
MAX_FIELD_WIDTH = 255
_SPEC = re.compile(r"(?:.?[<>^])?(\d{1,4})?(?:\.(\d{1,4}))?")


def _fields_hint() -> str:
    return " ".join("{" + f + "}" for f in TEMPLATE_FIELDS)


def check_template(template: str) -> list[tuple[str, str | None, str]]:
    """Parse a ``--name`` template into ``[(literal, field or None, width spec)]``, or refuse it.

    Only the documented fields are allowed, with no attribute or index access and no
    conversion, and a width or precision of at most :data:`MAX_FIELD_WIDTH`
    (``{stem:>8}``, ``{stem:.20}``).

    >>> check_template("{stem}_x{stride}{ext}")
    [('', 'stem', ''), ('_x', 'stride', ''), ('', 'ext', '')]
    """
    bad = f"--name {template!r}"
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise DeconvError(f"{bad}: {e}; write a literal brace as {{{{ or }}}}", usage=True) from None
    parts: list[tuple[str, str | None, str]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            parts.append((literal, None, ""))
            continue
        shown = "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
        if name not in TEMPLATE_FIELDS or conversion is not None:
            raise DeconvError(
                f"{bad}: {shown} is not a field; use {_fields_hint()} (no attributes, indexes or conversions)",
                usage=True,
            )
        m = _SPEC.fullmatch(spec or "")
        if m is None or max(int(m[1] or 0), int(m[2] or 0)) > MAX_FIELD_WIDTH:
            raise DeconvError(
                f"{bad}: {shown}: a field takes only an alignment and a width or precision of at most "
                f"{MAX_FIELD_WIDTH}, as in {{stem:>8}} or {{stem:.20}}",
                usage=True,
            )
        parts.append((literal, name, spec or ""))
    return parts


def output_name(src: str, template: str, *, stride: str, kernel: str) -> str:
    """Fill a ``--name`` template for one input (``stride``: :attr:`Geometry.label`, ``kernel``: the spec).

    The result is a relative path that stays inside the output directory: an
    absolute path or a ``..`` is a usage error.

    >>> output_name("shots/cat.gif", "{parent}_{stem}_x{stride}_{kernel}{ext}", stride="2", kernel="k/bilinear.npy")
    'shots_cat_x2_bilinear.png'
    """
    parts = check_template(template)
    p = Path(src)
    values = {
        "stem": p.stem,
        "ext": output_suffix(p),
        "parent": p.resolve().parent.name,
        "stride": stride,
        "kernel": _kernel_label(kernel),
    }
    name = "".join(literal + (format(values[f], spec) if f else "") for literal, f, spec in parts)
    pure = PurePath(name)
    if not name.strip() or pure.is_absolute() or pure.anchor or ".." in pure.parts or name.endswith(("/", os.sep)):
        raise DeconvError(
            f"--name {template!r} gives {name!r} for {src}, which is not a file inside the output directory; "
            "use a relative name without '..'",
            usage=True,
        )
    return name


@dataclass
class Job:
    """One input and where its output goes."""

    src: str
    dst: str
    index: int = 0
    skip_existing: bool = False  # an output that appears meanwhile (another run wrote it) is a skip
    replace: bool = False  # a retry after its worker died having written the output: replace it
    own_output_of: str | None = None  # this input is what this run writes for that input: skipped


@dataclass
class FileResult:
    """What happened to one file; ``as_json`` is its line in ``--json`` output."""

    input: str
    output: str | None
    status: str  # ok, skipped, failed
    error: str | None = None
    seconds: float = 0.0
    input_size: list[int] | None = None  # [height, width]
    output_size: list[int] | None = None
    detail: dict | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    usage: bool = False  # the failure was a usage error (a parameter that does not fit this image)
    reason: str | None = None  # why a file was skipped

    def as_json(self) -> dict:
        """The upsample report (``Outcome.as_dict()``) with ``status`` and ``error``; for a
        skipped or failed file only what is known: paths, the reason, the time spent."""
        if self.detail is not None:
            return {"status": self.status, "error": None, **self.detail}
        return {
            "status": self.status,
            "error": self.error,
            **({"reason": self.reason} if self.reason else {}),
            "input": {"path": self.input},
            "output": {"path": self.output},
            "warnings": self.warnings,
            "seconds": {"total": round(self.seconds, 4)},
        }


def plan(
    files: list[str],
    *,
    out_dir: str | None,
    name: str | None,
    output: str | None,
    settings: Settings,
    shard: tuple[int, int] = (0, 1),
    overwrite: bool = False,
) -> list[Job]:
    """Decide every output path before anything runs, and refuse clashes.

    Two inputs that would write the same output are a usage error; with
    ``overwrite``, so is an output that is one of the inputs (of any shard).
    Without ``overwrite`` such an output already exists and is refused (or
    skipped) file by file, so a rerun over a folder holding earlier outputs
    cannot destroy anything. Nothing is processed when the plan is refused.
    """
    if output is not None and len(files) != 1:
        raise DeconvError(
            f"-o/--output names one file but there are {len(files)} inputs; use --out-dir DIR (and --name)", usage=True
        )
    if output is not None and (out_dir or name):
        raise DeconvError("give either -o/--output or --out-dir/--name, not both", usage=True)
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise DeconvError(f"--out-dir {out_dir}: exists and is not a directory", usage=True)
    label, kernel = settings.geometry.label, settings.kernel.source
    if name is not None:
        check_template(name)  # a bad template is one error before any file
    i, n = shard
    every = []  # every file's job, of every shard: what this run (all shards together) writes
    for k, src in enumerate(files):
        if output is not None:
            dst = output
        elif src == STDIO:
            if out_dir is None and name is None:
                raise DeconvError("reading an image from stdin (-) needs -o FILE, -o - or --out-dir", usage=True)
            dst = str(
                Path(out_dir or ".") / output_name("stdin.png", name or "{stem}{ext}", stride=label, kernel=kernel)
            )
        elif out_dir is None and name is None:
            dst = str(default_output(src, label))
        else:
            filled = output_name(src, name or "{stem}{ext}", stride=label, kernel=kernel)
            dst = str(Path(out_dir) / filled) if out_dir is not None else str(Path(src).parent / filled)
        every.append(Job(src, dst, k))
    # An input that another input's output would be is this run's own output (an earlier run's
    # a_x2.png beside a.png): it is skipped, never read as an input nor counted as one, so the
    # same command run twice plans the same files.
    # (An input written by its own job is refused below, not skipped.)
    writes = {os.path.abspath(j.dst): j.src for j in reversed(every) if j.dst != STDIO}
    for idx, j in enumerate(every):
        if j.src == STDIO or os.path.abspath(j.dst) == os.path.abspath(j.src):
            continue
        maker = writes.get(os.path.abspath(j.src))
        if maker is not None:
            every[idx] = replace(j, own_output_of=maker)
    jobs = [j for j in every if j.index % n == i]
    seen: dict[str, str] = {}
    inputs = {os.path.abspath(j.src) for j in every if j.src != STDIO and j.own_output_of is None}
    for j in jobs:
        if j.dst == STDIO or j.own_output_of is not None:
            continue
        key = os.path.abspath(j.dst)
        if key in seen:
            raise DeconvError(
                f"{seen[key]} and {j.src} would both be written to {j.dst}; "
                f"add {{parent}} to --name or use separate runs",
                usage=True,
            )
        seen[key] = j.src
        if key in inputs and overwrite:
            raise DeconvError(
                f"{j.dst}: is one of the inputs; writing it would destroy an input "
                f"(choose another -o, --out-dir or --name)"
            )
    return jobs
