"""``deconv layers FILE``: the transpose-convolution layers of a model file, from what it declares.

An ONNX model lists its ``ConvTranspose`` nodes with their geometry; a ``.safetensors`` file or a
PyTorch state dict lists its 4-D tensors, which store no geometry. No tensor data is read: ONNX
and safetensors shapes come from the protobuf and the JSON header, a checkpoint's from the
memory-mapped state dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core import SIDES, Geometry, Pair, SidePadding
from ..errors import DeconvError
from ..modes import SamePadding
from .source import check_regular

#: The files ``deconv layers`` reads.
LAYER_SUFFIXES = (".onnx", ".safetensors", ".pt", ".pth", ".bin", ".ckpt")


@dataclass(frozen=True)
class LayerEntry:
    """One layer (or 4-D tensor) of a model file.

    In :meth:`as_dict`, the padding is ``[rows, cols]`` (PyTorch's), ``"same"`` / ``"same-lower"``,
    ``{"top": .., "bottom": .., "left": .., "right": ..}`` (ONNX pads that differ at the two ends) or
    ``{"output_shape": [rows, cols], "odd_extra_at": "start" | "end"}``.

    ``shape`` is the weight's (C_in, C_out/groups, kh, kw), None when the file does not store it
    (an ONNX weight computed by other nodes, with the reason in ``problem``); ``groups`` and
    ``geometry`` are None where the file does not say (a state dict: ``c_out`` is then the one
    of :func:`default_groups`). ``bias`` says whether the node has a bias, or a tensor holds a
    sibling ``NAME.bias``.
    """

    name: str
    kind: str
    shape: tuple[int, ...] | None
    groups: int | None
    bias: bool | None
    geometry: Geometry | None
    problem: str = ""

    def as_dict(self, input_size: Pair | None = None) -> dict[str, object]:
        """As ``--json`` prints it; ``output_size`` {width, height} for ``input_size`` when the geometry is known."""
        d: dict[str, object] = {"name": self.name, "kind": self.kind, "shape": None, "c_in": None, "c_out": None}
        if self.shape is not None:
            groups = self.groups or default_groups(self.shape)
            d.update(shape=list(self.shape), c_in=self.shape[0], c_out=self.shape[1] * groups)
        d.update(groups=self.groups, bias=self.bias, geometry=None, output_size=None, problem=self.problem or None)
        g = self.geometry
        if g is not None:
            pad = g.padding
            shown: object
            if isinstance(pad, SamePadding):
                shown = pad.value
            elif isinstance(pad, SidePadding) and pad.size is not None:
                shown = {"output_shape": list(pad.size), "odd_extra_at": "start" if pad.extra_at_start else "end"}
            elif isinstance(pad, SidePadding):
                shown = dict(zip(SIDES, pad.box, strict=True))
            else:
                shown = list(pad)
            d["geometry"] = {
                "stride": list(g.stride),
                "padding": shown,
                "output_padding": list(g.output_padding),
                "dilation": list(g.dilation),
            }
            if input_size is not None and self.shape is not None:
                try:
                    rows, cols = g.axes(input_size, (self.shape[2], self.shape[3]))
                    d["output_size"] = {"width": cols.kept, "height": rows.kept}
                except DeconvError as e:
                    d["problem"] = str(e)
        return d


def default_groups(shape: tuple[int, ...]) -> int:
    """The groups deconv uses for a weight whose file does not store them (see
    :func:`~deconv_cli.kernels.make_layer`): C_in for a depthwise (C, 1, kh, kw) weight, else 1."""
    return shape[0] if shape[1] == 1 else 1


def list_layers(path: Path) -> list[LayerEntry]:
    """The layers of the model file at ``path`` (see the module documentation)."""
    suffix = path.suffix.lower()
    if suffix not in LAYER_SUFFIXES:
        raise DeconvError(
            f"model {path}: deconv layers reads {', '.join(LAYER_SUFFIXES)} files, not {suffix or 'this one'}",
            usage=True,
        )
    check_regular(path, "model")
    if suffix == ".onnx":
        from .onnxfile import list_onnx

        return [
            LayerEntry(n.name, "ConvTranspose", n.weight_shape, n.groups, n.bias, n.geometry, n.problem)
            for n in list_onnx(path)
        ]
    if suffix == ".safetensors":
        from .binary import safetensors_shapes

        shapes = {name: shape for name, (_, shape) in safetensors_shapes(path).items()}
    else:
        from .torchfile import load_state_dict

        shapes = {name: tuple(t.shape) for name, t in load_state_dict(path, "model").items()}
    out = []
    for name, shape in shapes.items():
        if len(shape) != 4:
            continue
        sibling = name[: -len("weight")] + "bias" if name.endswith("weight") else None
        bias = sibling is not None and len(shapes.get(sibling, ())) == 1
        out.append(LayerEntry(name, "4-D tensor", shape, None, bias, None))
    return out
