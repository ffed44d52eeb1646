"""Every shell example of README.md and kernels/README.md, run as a person would type it.

An example is a command line of a fenced ``sh``/``bash``/``shell`` block, a ``$ `` line of a
``console`` block, or a `` `deconv ...` `` command in a table row (kernels/README.md has its
commands only there). Each block (fenced, or table) runs in a fresh scratch directory holding
copies of ``kernels/`` and ``sample_images/`` and the small inputs the examples name, its
examples in order (a later line may read an earlier one's output), each through ``bash -c``
with a ``deconv`` on PATH that runs this checkout's code. Every example must exit 0, or with
the code a trailing ``# exit N`` comment states; a console excerpt must be exactly what the
command prints (stdout and stderr together, as in a pipe), a line ``...`` standing for one or
more lines. What cannot run here (installing, the suite itself, a Dask cluster) is in SKIP,
each with its reason.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from conftest import KERNELS, ROOT, SAMPLES

DOCS = ["README.md", "kernels/README.md"]
SHELLS = {"sh", "bash", "shell"}

#: (pattern, reason): the examples that do not run here. A pattern no example matches fails
#: test_every_skip_is_used, so the list cannot outlive the examples it was written for.
SKIP = [
    (r"-m venv|pip install", "installs the package into a new virtualenv: .ci/run does, on a clean checkout"),
    (r"-m pytest", "the test suite itself, which CI runs"),
    (r"ruff|mypy|lint-imports", "the repository's own checks, which CI runs (.ci/run)"),
    (r"\.ci/run", "CI itself: reinstalls and runs the whole suite"),
    (r"^dask |--scheduler tcp://HOST", "needs a Dask cluster on other machines (test_batch.py runs a local one)"),
]

#: The environment every example sees besides PATH: the job-array task number of --shard $TASK_ID/8.
ENV = {"TASK_ID": "0"}

ELLIPSIS = "..."


@dataclass
class Example:
    line: int  # where it starts in the file, 1-based
    command: str  # as written, continuation lines and comment included
    output: list[str] | None = None  # a console excerpt's lines; None: not checked

    @property
    def code(self) -> str:
        """The command without its trailing comment, continuations joined."""
        return strip_comment(self.command.replace("\\\n", " ")).strip()

    @property
    def exit_code(self) -> int:
        """0, or N where the comment says ``exit N``."""
        joined = self.command.replace("\\\n", " ")
        m = re.search(r"\bexit (\d+)\b", joined[len(strip_comment(joined)) :])
        return int(m.group(1)) if m else 0


@dataclass
class Block:
    doc: str
    index: int
    line: int
    examples: list[Example]

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.index}-line{self.line}"


def strip_comment(text: str) -> str:
    """``text`` up to a ``#`` that starts a shell comment (at the start or after a blank,
    outside quotes)."""
    quote = None
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    return text


def shell_examples(lines: list[str], first: int) -> list[Example]:
    """The commands of an sh block: one per line, ``\\`` joining lines, comment-only lines skipped."""
    out: list[Example] = []
    pending: list[str] = []
    for n, text in enumerate(lines, first):
        pending.append(text)
        if text.endswith("\\"):
            continue
        command, pending = "\n".join(pending), []
        if strip_comment(command).strip():
            out.append(Example(n - command.count("\n"), command))
    assert not pending, f"line {first + len(lines) - 1}: a continuation at the end of the block"
    return out


def console_examples(lines: list[str], first: int) -> list[Example]:
    """The ``$ `` commands of a console block, each with the lines after it as its output."""
    out: list[Example] = []
    for n, text in enumerate(lines, first):
        if text.startswith("$ "):
            out.append(Example(n, text[2:], []))
            continue
        assert out, f"line {n}: output before the first $ command"
        last = out[-1]
        assert last.output is not None
        if last.command.endswith("\\") and not last.output:
            last.command += "\n" + text
        else:
            last.output.append(text)
    return out


def blocks(doc: str) -> list[Block]:
    """The doc's example blocks in order: fenced shell and console blocks, and tables holding
    `` `deconv ...` `` commands."""
    lines = (ROOT / doc).read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"```(\S*)", lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            body, first = lines[i + 1 : end], i + 2
            if fence.group(1) in SHELLS:
                found.append(Block(doc, len(found), i + 1, shell_examples(body, first)))
            elif fence.group(1) == "console":
                found.append(Block(doc, len(found), i + 1, console_examples(body, first)))
            i = end + 1
        elif lines[i].startswith("|"):
            start = i
            examples = []
            while i < len(lines) and lines[i].startswith("|"):
                examples += [Example(i + 1, c) for c in re.findall(r"`(deconv [^`]+)`", lines[i])]
                i += 1
            if examples:
                found.append(Block(doc, len(found), start + 1, examples))
        else:
            i += 1
    return found


ALL = [b for doc in DOCS for b in blocks(doc)]


def skip_reason(example: Example) -> str | None:
    return next((why for pattern, why in SKIP if re.search(pattern, example.code)), None)


def matches(expected: list[str], got: list[str]) -> bool:
    """Whether ``got`` is ``expected`` with each ``...`` line standing for one or more lines."""
    if not expected:
        return not got
    if expected[0] != ELLIPSIS:
        return bool(got) and got[0] == expected[0] and matches(expected[1:], got[1:])
    return any(matches(expected[1:], got[k:]) for k in range(1, len(got) + 1))


# ---------------------------------------------------------------- the scratch directory


def crop(name: str, box: tuple[int, int, int, int]) -> Image.Image:
    with Image.open(SAMPLES / name) as im:
        return im.crop(box)


def onnx_model(path: Path, rng: np.random.Generator) -> None:
    """A one-node ONNX model as exporters write it: a 3 -> 3 ConvTranspose, 4x4, stride 2, pads 1, bias."""
    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    inits = [
        onnx.numpy_helper.from_array(rng.normal(0, 0.1, (3, 3, 4, 4)).astype(np.float32), "up.weight"),
        onnx.numpy_helper.from_array(np.full(3, 0.05, np.float32), "up.bias"),
    ]
    node = helper.make_node(
        "ConvTranspose", ["x", "up.weight", "up.bias"], ["y"], name="/up/ConvTranspose", strides=[2, 2],
        pads=[1, 1, 1, 1], kernel_shape=[4, 4],
    )  # fmt: skip
    graph = helper.make_graph(
        [node], "decoder", [helper.make_tensor_value_info("x", tp.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", tp.FLOAT, [1, 3, "H", "W"])], initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save_model(model, str(path))


def scratch(root: Path) -> dict[str, str]:
    """Fill ``root`` with what the examples read, small so that they run fast; returns the
    environment to run them in: a ``deconv`` on PATH that runs this checkout."""
    shutil.copytree(KERNELS, root / "kernels")
    shutil.copytree(SAMPLES, root / "sample_images")
    crop("astronaut.png", (200, 100, 264, 148)).save(root / "in.png")  # 64x48 RGB
    crop("astronaut.png", (160, 40, 224, 88)).save(root / "photo.png")
    crop("camera.png", (200, 100, 264, 148)).save(root / "scan.tif")  # grey
    shots = root / "shots"
    (shots / "trip").mkdir(parents=True)
    crop("astronaut.png", (0, 0, 48, 32)).save(shots / "beach.png")
    crop("horse.png", (100, 100, 148, 132)).save(shots / "horse.png")  # RGBA
    crop("astronaut.png", (300, 300, 348, 332)).save(shots / "dawn.jpg")
    shutil.copy(SAMPLES / "coffee_16bit.png", shots / "trip" / "cup.png")  # 300x200, 16 bits
    crop("camera.png", (0, 0, 48, 32)).save(shots / "trip" / "street.jpg")
    (root / "list.txt").write_text("".join(f"{p.relative_to(root)}\n" for p in sorted(shots.rglob("*.*"))))
    rng = np.random.default_rng(0)
    np.save(root / "my_layer.npy", rng.uniform(0, 0.5, (4, 4)))
    np.save(root / "box3.npy", np.ones((3, 3)))
    save_file(
        {"weight": rng.normal(0, 0.2, (3, 3, 4, 4)).astype(np.float32), "bias": np.full(3, 0.1, np.float32)},
        str(root / "layer.safetensors"),
    )
    (root / "blur.mat").write_text("3 3 16\n1 2 1\n2 4 2\n1 2 1\n")
    onnx_model(root / "model.onnx", rng)

    bin_dir = root.parent / f"{root.name}-bin"
    bin_dir.mkdir()
    deconv = bin_dir / "deconv"
    deconv.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT / "src"}" exec "{sys.executable}" -m deconv_cli "$@"\n')
    deconv.chmod(deconv.stat().st_mode | stat.S_IXUSR)
    # without what would change what is printed: forced colours or terminal, tracebacks
    drop = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "DECONV_DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, **ENV, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


# ---------------------------------------------------------------- the tests


def test_the_examples_are_found():
    examples = [e for b in ALL for e in b.examples]
    assert len(examples) > 40
    assert {b.doc for b in ALL} == set(DOCS)
    assert sum(e.output is not None for e in examples) >= 4  # the console excerpts


def test_how_the_examples_are_read():
    sh = ["# only a comment", "deconv a \\", "  --b   # why", "", "deconv c '#1' x#y  # exit 2", "echo 'exit 3'"]
    assert [(e.line, e.code, e.exit_code) for e in shell_examples(sh, 10)] == [
        (11, "deconv a    --b", 0),
        (14, "deconv c '#1' x#y", 2),
        (15, "echo 'exit 3'", 0),
    ]
    console = console_examples(["$ deconv a", "out", "...", "$ deconv b"], 1)
    assert [(e.line, e.code, e.output) for e in console] == [(1, "deconv a", ["out", "..."]), (4, "deconv b", [])]
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert not matches(["a", "...", "d"], ["a", "d"])  # ... is at least one line
    assert not matches(["a"], ["a", "b"]) and not matches(["a", "b"], ["a"])


def test_every_skip_is_used():
    codes = [e.code for b in ALL for e in b.examples]
    for pattern, _ in SKIP:
        assert any(re.search(pattern, c) for c in codes), f"no example matches {pattern!r}: remove it"


RUN = [b for b in ALL if any(not skip_reason(e) for e in b.examples)]
SKIPPED = [(b, e) for b in ALL for e in b.examples if skip_reason(e)]


@pytest.mark.parametrize(("block", "example"), SKIPPED, ids=[f"{b.doc}:{e.line}" for b, e in SKIPPED])
def test_skipped_example(block: Block, example: Example):
    """One skip per example that does not run, so that ``-ra`` lists each with its reason."""
    pytest.skip(f"{block.doc}:{example.line}: {skip_reason(example)}")


@pytest.mark.slow  # about 40 processes: 20-40 s on 2 cores
@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_readme_example(block: Block, tmp_path: Path):
    """The block's examples in order in one scratch directory; every one runs, even after one
    failed, and the failure lists them all."""
    work = tmp_path / "work"
    work.mkdir()
    env = scratch(work)
    failures = []
    for example in block.examples:
        if skip_reason(example):
            continue
        r = subprocess.run(
            ["bash", "-o", "pipefail", "-c", example.command],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
        where = f"{block.doc}:{example.line}: {example.command}"
        if r.returncode != example.exit_code:
            failures.append(f"{where}\nexits {r.returncode}, not {example.exit_code}, printing:\n{r.stdout}")
        elif example.output is not None and not matches(example.output, r.stdout.splitlines()):
            shown = "\n".join(example.output)
            failures.append(f"{where}\nprints:\n{r.stdout}the README shows:\n{shown}\n")
    assert not failures, "\n".join(failures)


def test_the_python_api_example_runs_as_shown():
    import doctest

    failed, tried = doctest.testfile(str(ROOT / "README.md"), module_relative=False, verbose=False)
    assert tried >= 5 and failed == 0
