"""Learned layers in ONNX models: one ``ConvTranspose`` node's weight, bias and geometry.

The model is parsed by the ``onnx`` package (``pip install "deconv-cli[onnx]"``), imported here
only when an ONNX file is read; no runtime is needed. The protobuf is loaded with
``load_external_data=False``: weights kept in external data files are not read, except the
node's own initializers, each declared shape checked (at most
:data:`~.limits.MAX_KERNEL_TAPS` values) before its bytes are read, and each external file
confined to the model's own directory (a regular file, never a path that leaves it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Geometry, Pair, SidePadding
from ..errors import DeconvError, one_line
from ..modes import SamePadding
from .limits import MAX_DATA_BYTES, MAX_KERNEL_TAPS, MAX_MODEL_BYTES
from .source import Capped, open_regular, show, show_name, show_names, too_many_taps

#: ONNX TensorProto data types deconv reads: (numpy dtype, the TensorProto field that holds them when not raw).
_DTYPES: dict[int, tuple[str, str]] = {
    1: ("<f4", "float_data"),  # FLOAT
    10: ("<f2", "int32_data"),  # FLOAT16: bit patterns in int32_data
    11: ("<f8", "double_data"),  # DOUBLE
}
#: The first byte of a serialized ModelProto: the tag of one of its fields (ir_version, producer_name,
#: producer_version, domain, model_version, doc_string, graph, opset_import, metadata_props, and the
#: first byte of the two-byte tags of training_info, functions and configuration).
_MODEL_TAGS = {bytes([b]) for b in (0x08, 0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xA2, 0xCA, 0xD2)}
_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
INSTALL_HINT = 'install the ONNX extra: pip install "deconv-cli[onnx]"'


@dataclass(frozen=True)
class Declared:
    """What a model file says about its layer besides the weight.

    Attributes
    ----------
    geometry : Geometry or None
        Stride, padding, output padding and dilation (None: the file does not store them, as a
        PyTorch state dict does not).
    groups : int or None
        The channel groups (None: not stored).
    bias : ndarray or None
        The layer's bias from the file, (C_out,) float64.
    bias_name : str
        Where the bias was found (an initializer or a tensor name), for reports.
    name : str
        The node (ONNX) or tensor (state dict) the weight came from.
    """

    geometry: Geometry | None
    groups: int | None
    bias: np.ndarray | None
    bias_name: str
    name: str


@dataclass(frozen=True)
class NodeInfo:
    """A ``ConvTranspose`` node as ``deconv layers`` lists it (nothing read but its declarations)."""

    name: str
    weight_shape: tuple[int, ...] | None  # None: the weight is not an initializer
    groups: int
    geometry: Geometry | None  # None: attributes deconv cannot use (the reason in `problem`)
    bias: bool
    problem: str = ""


def _onnx(path: Path, what: str) -> Any:
    try:
        import onnx
    except ImportError:
        raise DeconvError(f"{what} {path}: reading ONNX models needs the onnx package; {INSTALL_HINT}") from None
    return onnx


def load_model(path: Path, what: str = "kernel") -> Any:
    """The model's protobuf, external data left unread; refuses a file beyond
    :data:`~.limits.MAX_MODEL_BYTES` or one that is not an ONNX model."""
    onnx = _onnx(path, what)
    with open_regular(path, what) as raw:
        f = Capped(raw, MAX_MODEL_BYTES, f"{what} {path}")
        size = f.size()
        if size > MAX_MODEL_BYTES:
            raise DeconvError(
                f"{what} {path}: {size} bytes is more than the {MAX_MODEL_BYTES} an ONNX protobuf can hold; "
                "save the model with external data (onnx.save_model(..., save_as_external_data=True))"
            )
        first = f.read(1)
        if first not in _MODEL_TAGS:  # refused before the rest of a large file that is no model is read
            raise DeconvError(
                f"{what} {path}: is not an ONNX model (its first byte {first.hex() or 'is missing'} starts no "
                "field of a ModelProto)"
            )
        data = first + f.read(size - 1)
    try:
        model = onnx.ModelProto()
        model.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise DeconvError(f"{what} {path}: is not a valid ONNX model ({show(one_line(e), 80)})") from None
    if not model.HasField("graph"):
        raise DeconvError(f"{what} {path}: is not an ONNX model (it holds no graph)")
    return model


def _node_name(node: Any) -> str:
    return node.name or (node.output[0] if node.output else "")


def _nodes(model: Any) -> list[Any]:
    return [n for n in model.graph.node if n.op_type == "ConvTranspose" and n.domain in ("", "ai.onnx")]


def pick_node(model: Any, path: Path, member: str | None, what: str = "kernel") -> Any:
    """The ``ConvTranspose`` node named ``member`` (its name, or its output's when it has none), or
    the only one when ``member`` is None."""
    nodes = _nodes(model)
    names = [_node_name(n) for n in nodes]
    if not nodes:
        raise DeconvError(f"{what} {path}: the model has no ConvTranspose node")
    if member is None:
        if len(nodes) > 1:
            raise DeconvError(
                f"{what} {path}: the model has {len(nodes)} ConvTranspose nodes ({show_names(names)}); "
                f"pick one with {path}:NODE_NAME (deconv layers {path} lists them)",
                usage=True,
            )
        return nodes[0]
    for node, name in zip(nodes, names, strict=True):
        if member == name:
            return node
    raise DeconvError(
        f"{what} {path}: has no ConvTranspose node {show(member, 60)}; its ConvTranspose nodes: {show_names(names)}",
        usage=True,
    )


def _attrs(node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        if a.type == 7:  # INTS
            out[a.name] = [int(v) for v in a.ints]
        elif a.type == 2:  # INT
            out[a.name] = int(a.i)
        elif a.type == 3:  # STRING
            out[a.name] = a.s.decode("utf-8", "replace")
    return out


def _pair(attrs: dict[str, Any], name: str, default: int, label: str) -> Pair:
    v = attrs.get(name)
    if v is None or v == []:
        return (default, default)
    if len(v) != 2:
        raise DeconvError(f"{label}: attribute {name} {v} has {len(v)} values; deconv reads 2-D ConvTranspose only")
    return (v[0], v[1])


def node_geometry(node: Any, kernel: Pair, label: str) -> tuple[Geometry, int]:
    """The :class:`Geometry` and groups of a ``ConvTranspose`` node whose kernel is ``kernel`` (kh, kw)
    (as ONNX Runtime computes them; see :class:`~deconv_cli.core.SidePadding`)."""
    attrs = _attrs(node)
    shape = attrs.get("kernel_shape")
    if shape and tuple(shape) != kernel:
        raise DeconvError(f"{label}: kernel_shape {shape} does not match the weight's {list(kernel)}")
    stride = _pair(attrs, "strides", 1, label)
    dilation = _pair(attrs, "dilations", 1, label)
    out_pad = _pair(attrs, "output_padding", 0, label)
    groups = attrs.get("group", 1)
    auto_pad = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad not in _AUTO_PAD:
        raise DeconvError(f"{label}: auto_pad {auto_pad!r} is not one of {', '.join(_AUTO_PAD)}")
    pads = attrs.get("pads")
    if pads is not None and len(pads) != 4:
        raise DeconvError(f"{label}: attribute pads {pads} has {len(pads)} values; deconv reads 2-D ConvTranspose only")
    output_shape = attrs.get("output_shape")
    padding: Pair | SamePadding | SidePadding
    if output_shape:
        if len(output_shape) != 2:
            raise DeconvError(f"{label}: output_shape {output_shape} must give the 2 spatial sizes")
        padding = SidePadding(size=(output_shape[0], output_shape[1]), extra_at_start=auto_pad != "SAME_UPPER")
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # ONNX Runtime: the total cut is full + output_padding - stride x input, never below 0,
        # which depends on the kernel only: d*(k - 1) + 1 - s + a
        lower = auto_pad == "SAME_LOWER"
        spans = [dilation[i] * (kernel[i] - 1) + 1 - stride[i] for i in range(2)]
        if out_pad == (0, 0) and min(spans) >= 0:
            padding = SamePadding.same_lower if lower else SamePadding.same_upper
        else:
            box: list[int] = []
            for i in range(2):
                total = max(0, spans[i] + out_pad[i])
                head = total - total // 2 if lower else total // 2
                box += [head, total - head]
            padding = SidePadding((box[0], box[1], box[2], box[3]))
    elif auto_pad == "VALID" or not pads:
        padding = (0, 0)
    else:
        top, left, bottom, right = pads
        padding = (top, left) if (top, left) == (bottom, right) else SidePadding((top, bottom, left, right))
    try:
        geometry = Geometry(stride, padding, out_pad, dilation)
    except DeconvError as e:
        raise DeconvError(f"{label}: {e}") from None
    return geometry, groups


def _initializers(model: Any) -> dict[str, Any]:
    return {t.name: t for t in model.graph.initializer}


def _producer(model: Any, name: str) -> str:
    for n in model.graph.node:
        if name in n.output:
            return f"is computed by node {show_name(_node_name(n))} ({n.op_type})"
    if any(i.name == name for i in model.graph.input):
        return "is a graph input"
    return "is defined nowhere in the graph"


def read_tensor(tensor: Any, path: Path, label: str, what: str = "kernel") -> np.ndarray:
    """An initializer's values, its declared shape and size checked first; external data is read
    from a regular file in the model's directory only, and only the tensor's bytes."""
    dims = tuple(int(d) for d in tensor.dims)
    if min(dims, default=1) < 0:
        raise DeconvError(f"{label}: declares a negative shape {list(dims)}")
    taps = math.prod(dims)
    if taps > MAX_KERNEL_TAPS:
        raise too_many_taps(label, taps, dims)
    if tensor.data_type not in _DTYPES:
        raise DeconvError(
            f"{label}: holds ONNX data type {tensor.data_type}, which deconv does not read; "
            "export the model in float32 (or float16, float64)"
        )
    dtype, field = np.dtype(_DTYPES[tensor.data_type][0]), _DTYPES[tensor.data_type][1]
    nbytes = taps * dtype.itemsize
    if tensor.data_location == 1:  # EXTERNAL
        data = _external(tensor, path, label, nbytes, what)
    elif tensor.HasField("raw_data"):
        data = tensor.raw_data
    else:
        values = getattr(tensor, field)
        if len(values) != taps:
            raise DeconvError(f"{label}: holds {len(values)} values for its shape {list(dims)}")
        arr = np.asarray(values)
        if tensor.data_type == 10:
            arr = arr.astype("<u2").view("<f2")
        return arr.astype(np.float64).reshape(dims)
    if len(data) != nbytes:
        raise DeconvError(f"{label}: holds {len(data)} bytes of data for its shape {list(dims)} ({nbytes} needed)")
    return np.frombuffer(data, dtype=dtype, count=taps).astype(np.float64).reshape(dims)


def _external(tensor: Any, path: Path, label: str, nbytes: int, what: str) -> bytes:
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    try:
        offset, length = int(info.get("offset", "0") or 0), int(info.get("length", str(nbytes)) or nbytes)
    except ValueError:
        raise DeconvError(f"{label}: its external data offset/length are not integers") from None
    if length != nbytes or offset < 0:
        raise DeconvError(f"{label}: its external data spans {length} bytes at {offset}; its shape needs {nbytes}")
    if nbytes > MAX_DATA_BYTES:
        raise DeconvError(f"{label}: {nbytes} bytes of data is more than the {MAX_DATA_BYTES} deconv reads")
    base = Path(os.path.realpath(path.parent))
    target = Path(os.path.realpath(base / location)) if location else base
    if not location or os.path.isabs(location) or base not in target.parents:
        raise DeconvError(
            f"{label}: its external data file {show(location, 80)} is not inside the model's directory {base}; "
            "deconv reads external data only from beside the model"
        )
    with open_regular(target, what) as raw:
        f = Capped(raw, MAX_DATA_BYTES, f"{what} {target}")
        if offset + nbytes > f.size():
            raise DeconvError(f"{label}: its external data runs past the end of {target}")
        f.seek(offset)
        data = f.read(nbytes)
    if len(data) != nbytes:
        raise DeconvError(f"{label}: its external data in {target} is cut short")
    return data


def read_onnx(path: Path, member: str | None, what: str = "kernel") -> tuple[np.ndarray, Declared]:
    """The weight of one ``ConvTranspose`` node of the model at ``path`` and what the node declares."""
    model = load_model(path, what)
    node = pick_node(model, path, member, what)
    name = _node_name(node)
    label = f"{what} {path}:{show_name(name)}"
    inits = _initializers(model)
    if len(node.input) < 2 or not node.input[1]:
        raise DeconvError(f"{label}: the node has no weight input")
    tensors: list[np.ndarray | None] = []
    for role, ref in (("weight", node.input[1]), ("bias", node.input[2] if len(node.input) > 2 else "")):
        if not ref:
            tensors.append(None)
            continue
        if ref not in inits:
            raise DeconvError(
                f"{label}: its {role} {show_name(ref)} {_producer(model, ref)}, not stored in the file as an "
                "initializer; deconv reads stored weights only (export with constant folding, "
                "torch.onnx.export(..., do_constant_folding=True))"
            )
        tensors.append(read_tensor(inits[ref], path, f"{label} {role} {show_name(ref)}", what))
    weight, bias = tensors
    assert weight is not None
    if weight.ndim != 4:
        raise DeconvError(f"{label}: weight has shape {weight.shape}; deconv reads 2-D ConvTranspose (a 4-D weight)")
    geometry, groups = node_geometry(node, (weight.shape[2], weight.shape[3]), label)
    if groups < 1 or weight.shape[0] % groups:
        raise DeconvError(f"{label}: group {groups} does not divide C_in = {weight.shape[0]}")
    if bias is not None and bias.shape != (weight.shape[1] * groups,):
        raise DeconvError(f"{label}: bias has shape {bias.shape}, not ({weight.shape[1] * groups},)")
    return weight, Declared(geometry, groups, bias, node.input[2] if bias is not None else "", name)


def list_onnx(path: Path) -> list[NodeInfo]:
    """Every ``ConvTranspose`` node of the model, from the declared shapes (no tensor data read)."""
    model = load_model(path, "model")
    inits = _initializers(model)
    out = []
    for node in _nodes(model):
        name = _node_name(node)
        label = f"model {path}:{show_name(name)}"
        ref = node.input[1] if len(node.input) > 1 else ""
        t = inits.get(ref)
        attrs = _attrs(node)
        groups = int(attrs.get("group", 1))
        has_bias = len(node.input) > 2 and bool(node.input[2])
        if t is None:
            out.append(NodeInfo(name, None, groups, None, has_bias, f"weight {_producer(model, ref)}"))
            continue
        shape = tuple(int(d) for d in t.dims)
        try:
            if len(shape) != 4:
                raise DeconvError(f"weight has shape {list(shape)}, not 4-D")
            geometry, groups = node_geometry(node, (shape[2], shape[3]), label)
            out.append(NodeInfo(name, shape, groups, geometry, has_bias))
        except DeconvError as e:
            out.append(NodeInfo(name, shape, groups, None, has_bias, str(e).removeprefix(label + ": ")))
    return out
