"""``deconv layers``: the transpose-convolution layers of a model file (ONNX, safetensors, PyTorch)."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import JsonOpt, app, emit, failures


@app.command()
def layers(
    model: Annotated[
        Path, typer.Argument(metavar="FILE", help="Model file: .onnx, .safetensors, .pt/.pth/.bin/.ckpt.")
    ],
    input_size: Annotated[
        Optional[str],
        typer.Option(
            "--input-size",
            "-i",
            metavar="N|ROWS,COLS",
            help="Give each layer whose geometry the file stores (ONNX) its output size for this input size.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the transpose-convolution layers of a model file, to pick one with -k FILE:NAME.

    ONNX models: every ConvTranspose node with its weight shape, C_in -> C_out, groups, bias,
    stride, padding, output padding and dilation (the node's attributes). Safetensors files and
    PyTorch state dicts: every 4-D tensor (they store no geometry: give it with upsample's
    options). Only headers and declared shapes are read, never the weights.

    \b
    Examples:
      deconv layers model.onnx
      deconv layers model.onnx --input-size 64,64 --json
      deconv layers decoder.safetensors
    """
    with failures():
        from ..core import as_pair
        from ..kernels.listing import list_layers

        size = None if input_size is None else as_pair(input_size, "input size")
        entries = [e.as_dict(size) for e in list_layers(model)]
        if as_json:
            emit(json.dumps({"file": str(model), "input_size": size and list(size), "layers": entries}) + "\n")
            return
        if not entries:
            emit(f"{model}: no transpose-convolution layer (ConvTranspose node or 4-D tensor)\n")
            return
        lines = []
        for d in entries:
            lines.append(_line(d, model))
        emit("\n".join(lines) + "\n")


def _pair(v: list) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]},{v[1]}"


def _line(d: dict, file: Path) -> str:
    """One layer as text: ``NAME  (C_in, C_out/g, kh, kw)  C_in -> C_out  groups G  bias  stride 2 ...``."""
    parts = [d["name"] or "(unnamed)"]
    if d["shape"] is not None:
        parts += [f"({', '.join(map(str, d['shape']))})", f"{d['c_in']} -> {d['c_out']}"]
    if d["groups"] is not None:
        parts.append(f"groups {d['groups']}")
    elif d["shape"] is not None:
        default = d["c_out"] // d["shape"][1]
        parts.append(f"groups not stored (default {default}; --groups G gives C_out = {d['shape'][1]} x G)")
    if d["kind"] == "ConvTranspose":
        parts.append("bias" if d["bias"] else "no bias")
    elif d["bias"]:
        sibling = d["name"][: -len("weight")] + "bias"
        how = "used with it" if file.suffix.lower() != ".safetensors" else f"give --bias {file}:{sibling}"
        parts.append(f"bias {sibling} ({how})")
    g = d["geometry"]
    if g is not None:
        pad = g["padding"]
        if isinstance(pad, dict) and "output_shape" in pad:
            shown = (
                f"to output_shape {_pair(pad['output_shape'])} (an odd cut's extra row at the {pad['odd_extra_at']})"
            )
        elif isinstance(pad, dict):
            shown = "top {top}, bottom {bottom}, left {left}, right {right}".format(**pad)
        else:
            shown = pad if isinstance(pad, str) else _pair(pad)
        parts.append(
            f"stride {_pair(g['stride'])}, padding {shown}, "
            f"output_padding {_pair(g['output_padding'])}, dilation {_pair(g['dilation'])}"
        )
    elif d["kind"] != "ConvTranspose":
        parts.append("geometry not stored (give -s/-p/--output-padding/-d)")
    if d["output_size"] is not None:
        parts.append(f"-> {d['output_size']['width']}x{d['output_size']['height']} (width x height)")
    if d["problem"]:
        parts.append(f"({d['problem']})")
    return "  ".join(parts)
