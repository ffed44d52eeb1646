"""Reading a ConvTranspose layer from an ONNX model (``-k model.onnx[:NODE]``), against ONNX Runtime.

Every case writes a real model file (onnx.helper, weights as initializers, some in external data
files), runs that file on ONNX Runtime's CPU provider in float32, and compares it with deconv's
result from the same file: through the API (:func:`open_run_kernel` and the declared geometry
into :func:`conv_transpose2d_layer`, float64) and through ``deconv upsample`` (a .npy output).
The attributes covered: strides, pads (symmetric and asymmetric), output_padding, output_shape
(under NOTSET, SAME_UPPER and SAME_LOWER), dilations, group (1, C, in between) and auto_pad
(NOTSET, SAME_UPPER, SAME_LOWER, VALID), with bias and without, embedded and external weights.

Measured once (onnx 1.23, onnxruntime 1.32, x86-64): over the 17 CASES x bias/no bias x 3 seeds
(102 models, a third with external data), the largest difference from ORT was 9.8e-07, 1.2e-07 of
max(1, max|ORT|), so TOLERANCE has a ~80x margin. The file runs in ~3 s.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from deconv_cli import DeconvError
from deconv_cli.core import conv_transpose2d_layer
from deconv_cli.kernels import open_run_kernel
from deconv_cli.pipeline import Settings

from conftest import run

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

OPSET, IR_VERSION = 17, 8  # as tests/test_onnx_oracle.py
TOLERANCE = 1e-5  # of max(1, max|ORT|): ORT computes in float32


def make_model(path, weight, bias=None, *, c_in=None, name="up", external=False, **attrs):
    """A one-node ConvTranspose model written to ``path``; ``attrs`` are the node's attributes."""
    helper, tp = onnx.helper, onnx.TensorProto
    inits = [onnx.numpy_helper.from_array(np.asarray(weight, np.float32), "W")]
    inputs = ["X", "W"]
    if bias is not None:
        inits.append(onnx.numpy_helper.from_array(np.asarray(bias, np.float32), "B"))
        inputs.append("B")
    node = helper.make_node("ConvTranspose", inputs, ["Y"], name=name, **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", tp.FLOAT, [1, c_in or weight.shape[0], "H", "W"])],
        [helper.make_tensor_value_info("Y", tp.FLOAT, [1, weight.shape[1] * attrs.get("group", 1), "Ho", "Wo"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, location=path.name + ".data", size_threshold=0)
    else:
        onnx.save_model(model, str(path))
    return path


def ort_run(path, x):
    """ORT's result for the model at ``path`` on an (H, W, C) image, channels last, float32."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"X": np.ascontiguousarray(np.moveaxis(x.astype(np.float32), -1, 0)[None])})
    return np.moveaxis(y[0], 0, -1)


def ours(path, x, member=None):
    """deconv's result from the file alone: the kernel, bias, groups and geometry it declares."""
    spec = f"{path}:{member}" if member else str(path)
    s = Settings.of(spec)
    layer, g = s.kernel.layer, s.geometry
    return conv_transpose2d_layer(
        x, s.kernel.weight, layer.bias, g.stride, g.padding, g.output_padding, g.dilation, layer.groups
    )


def check(mine, ref, what):
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape} != ORT {ref.shape}"
    err = float(np.abs(mine - ref).max())
    assert err <= TOLERANCE * max(1.0, float(np.abs(ref).max())), f"{what}: max |diff| {err:.3g}"
    return err


def image(rng, h, w, c):
    return rng.standard_normal((h, w, c)).astype(np.float32).astype(np.float64)


# (c_in, cog, groups, kernel, attributes, input size): every attribute, groups 1 / C / in between
CASES = [
    (3, 2, 1, (3, 3), dict(strides=[2, 2]), (5, 6)),
    (3, 2, 1, (4, 4), dict(strides=[2, 2], pads=[1, 1, 1, 1]), (5, 6)),
    (2, 3, 1, (3, 4), dict(strides=[2, 3], pads=[0, 1, 2, 3]), (4, 5)),  # asymmetric: top 0, left 1, bottom 2, right 3
    (2, 2, 2, (3, 3), dict(strides=[3, 2], pads=[2, 0, 1, 1], output_padding=[1, 1]), (4, 4)),
    (4, 1, 4, (3, 3), dict(strides=[2, 2], dilations=[2, 1], pads=[1, 2, 3, 0]), (5, 3)),  # depthwise
    (4, 3, 2, (2, 3), dict(strides=[1, 2], dilations=[3, 2], output_padding=[0, 1]), (3, 4)),  # groups in between
    (3, 1, 1, (3, 3), dict(strides=[2, 2], auto_pad="SAME_UPPER"), (5, 4)),
    (3, 1, 1, (3, 3), dict(strides=[2, 2], auto_pad="SAME_LOWER"), (5, 4)),
    (2, 2, 1, (4, 5), dict(strides=[2, 3], auto_pad="SAME_UPPER"), (3, 4)),
    (2, 2, 1, (4, 5), dict(strides=[2, 3], auto_pad="SAME_LOWER"), (3, 4)),
    (2, 2, 1, (3, 3), dict(strides=[2, 2], auto_pad="SAME_UPPER", output_padding=[1, 0]), (3, 4)),
    (2, 2, 1, (1, 2), dict(strides=[3, 3], auto_pad="SAME_LOWER"), (3, 3)),  # kernel shorter than the stride
    (2, 2, 1, (3, 3), dict(strides=[2, 2], auto_pad="VALID"), (3, 4)),
    (2, 2, 1, (3, 3), dict(strides=[2, 2], output_shape=[8, 6]), (4, 3)),  # NOTSET: the odd cut's extra at the start
    (2, 2, 1, (3, 3), dict(strides=[2, 2], output_shape=[8, 6], auto_pad="SAME_UPPER"), (4, 3)),
    (2, 2, 1, (3, 3), dict(strides=[2, 2], output_shape=[8, 6], auto_pad="SAME_LOWER"), (4, 3)),
    (2, 2, 1, (4, 4), dict(strides=[2, 2], output_shape=[7, 9], pads=[3, 3, 3, 3], output_padding=[1, 1]), (4, 4)),
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_a_node_equals_onnx_runtime(tmp_path, case, bias):
    c_in, cog, groups, (kh, kw), attrs, (h, w) = CASES[case]
    rng = np.random.default_rng(case)
    weight = rng.standard_normal((c_in, cog, kh, kw)).astype(np.float32)
    b = rng.standard_normal(cog * groups).astype(np.float32) if bias else None
    path = make_model(tmp_path / "m.onnx", weight, b, kernel_shape=[kh, kw], group=groups, **attrs)
    x = image(rng, h, w, c_in)
    check(ours(path, x), ort_run(path, x), f"{attrs} groups {groups}")


@pytest.mark.parametrize("case", [1, 2, 5, 8, 14])
def test_the_cli_equals_onnx_runtime_with_external_data(tmp_path, case):
    """``deconv upsample img.npy -k model.onnx -o out.npy``: the image's own units, the bias in [0, 1] units."""
    c_in, cog, groups, (kh, kw), attrs, (h, w) = CASES[case]
    rng = np.random.default_rng(100 + case)
    weight = rng.standard_normal((c_in, cog, kh, kw)).astype(np.float32) / 8
    b = rng.random(cog * groups).astype(np.float32)
    (tmp_path / "models").mkdir()
    path = make_model(tmp_path / "models" / "m.onnx", weight, b, kernel_shape=[kh, kw], group=groups, external=True,
                      **attrs)  # fmt: skip
    assert (tmp_path / "models" / "m.onnx.data").stat().st_size > 0
    x = rng.integers(0, 256, (h, w, c_in)).astype(np.uint8)
    src = tmp_path / "x.png"
    Image.fromarray(x[..., 0] if c_in == 1 else x, {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c_in]).save(src)
    out = tmp_path / "out.npy"
    r = run("upsample", src, "-k", path, "-o", out, "-q", "--json")
    assert r.exit_code == 0, r.output
    onnx_bias = make_model(tmp_path / "ref.onnx", weight, b * 255, kernel_shape=[kh, kw], group=groups, **attrs)
    check(np.load(out), ort_run(onnx_bias, x.astype(np.float64)), f"CLI {attrs}")
    d = json.loads(r.stdout)
    assert d["params"]["geometry_from"] == dict.fromkeys(
        ("stride", "padding", "output_padding", "dilation", "groups"), "file"
    )
    assert d["kernel"]["groups"] == groups and d["kernel"]["bias"].endswith("m.onnx:B")


def test_asymmetric_pads_make_a_side_padding_and_symmetric_ones_a_pytorch_pair(tmp_path):
    w = np.ones((1, 1, 3, 3), np.float32)
    g = Settings.of(make_model(tmp_path / "a.onnx", w, strides=[2, 2], pads=[0, 1, 2, 1])).geometry
    assert g.padding.box == (0, 2, 1, 1)
    listed = json.loads(run("layers", tmp_path / "a.onnx", "-i", "4,4", "--json").stdout)["layers"][0]
    assert listed["geometry"]["padding"] == {"top": 0, "bottom": 2, "left": 1, "right": 1}
    assert listed["output_size"] == {"width": 7, "height": 7}  # (4 - 1) x 2 + 3 = 9, minus 0 + 2 rows and 1 + 1 columns
    g = Settings.of(make_model(tmp_path / "s.onnx", w, strides=[2, 2], pads=[1, 2, 1, 2])).geometry
    assert g.padding == (1, 2) and g.stride == (2, 2)


def test_a_geometry_option_that_agrees_is_fine_and_one_that_contradicts_is_a_usage_error(tmp_path):
    w = np.ones((1, 1, 4, 4), np.float32)
    path = make_model(tmp_path / "m.onnx", w, strides=[2, 2], pads=[1, 1, 1, 1])
    src = tmp_path / "x.png"
    Image.fromarray(np.full((3, 3), 9, np.uint8)).save(src)
    r = run("upsample", src, "-k", path, "-s", "2", "-p", "1", "-o", tmp_path / "o.npy", "-q")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "o.npy").shape == (6, 6, 1)
    r = run("upsample", src, "-k", path, "-s", "3", "-o", tmp_path / "o2.npy", "-q")
    assert r.exit_code == 2
    assert "--stride 3" in r.stderr and "stride 2" in r.stderr and "\n" not in r.stderr.strip()
    r = run("upsample", src, "-k", path, "--groups", "1", "-p", "2", "-o", tmp_path / "o3.npy", "-q")
    assert r.exit_code == 2 and "--padding 2" in r.stderr and "padding 1" in r.stderr


def test_two_nodes_need_a_name_and_the_error_lists_them(tmp_path):
    helper, tp = onnx.helper, onnx.TensorProto
    w1 = np.full((1, 2, 2, 2), 0.5, np.float32)
    w2 = np.full((2, 1, 3, 3), 0.25, np.float32)
    nodes = [
        helper.make_node("ConvTranspose", ["X", "W1"], ["H"], name="/up1/ConvTranspose", strides=[2, 2]),
        helper.make_node("Relu", ["H"], ["R"], name="relu"),
        helper.make_node(
            "ConvTranspose", ["R", "W2"], ["Y"], name="/up2/ConvTranspose", strides=[2, 2], pads=[1, 1, 1, 1]
        ),  # fmt: skip
    ]
    inits = [onnx.numpy_helper.from_array(w1, "W1"), onnx.numpy_helper.from_array(w2, "W2")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", tp.FLOAT, [1, 1, 3, 3])],
        [helper.make_tensor_value_info("Y", tp.FLOAT, [1, 1, "Ho", "Wo"])], initializer=inits,
    )  # fmt: skip
    path = tmp_path / "two.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8), str(path))
    with pytest.raises(DeconvError, match=r"2 ConvTranspose nodes.*/up1/ConvTranspose.*/up2/ConvTranspose"):
        open_run_kernel(path, (2, 2))
    s = Settings.of(f"{path}:/up2/ConvTranspose")
    assert s.kernel.weight.shape == (2, 1, 3, 3) and s.geometry.padding == (1, 1)
    with pytest.raises(DeconvError, match="has no ConvTranspose node 'nope'"):
        open_run_kernel(f"{path}:nope", (2, 2))
    r = run("layers", path, "--input-size", "3,3", "--json")
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)["layers"]
    assert [(d["name"], d["shape"], d["c_in"], d["c_out"]) for d in listed] == [
        ("/up1/ConvTranspose", [1, 2, 2, 2], 1, 2),
        ("/up2/ConvTranspose", [2, 1, 3, 3], 2, 1),
    ]
    assert [d["output_size"] for d in listed] == [
        {"width": 6, "height": 6},
        {"width": 5, "height": 5},
    ]  # each for a 3x3 input


def test_a_weight_computed_by_another_node_is_refused(tmp_path):
    helper, tp = onnx.helper, onnx.TensorProto
    nodes = [
        helper.make_node("Identity", ["W0"], ["W"], name="copy"),
        helper.make_node("ConvTranspose", ["X", "W"], ["Y"], name="up", strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", tp.FLOAT, [1, 1, 3, 3])],
        [helper.make_tensor_value_info("Y", tp.FLOAT, [1, 1, "Ho", "Wo"])],
        initializer=[onnx.numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "W0")],
    )  # fmt: skip
    path = tmp_path / "computed.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8), str(path))
    with pytest.raises(DeconvError, match=r"weight W is computed by node copy \(Identity\), not stored"):
        open_run_kernel(path, (2, 2))


def test_external_data_outside_the_model_directory_is_refused(tmp_path):
    (tmp_path / "models").mkdir()
    path = make_model(tmp_path / "models" / "m.onnx", np.ones((1, 1, 2, 2), np.float32), external=True)
    (tmp_path / "secret.data").write_bytes((tmp_path / "models" / "m.onnx.data").read_bytes())
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../secret.data"
    onnx.save_model(model, str(path))
    with pytest.raises(DeconvError, match="not inside the model's directory"):
        open_run_kernel(path, (2, 2))


def test_a_huge_declared_initializer_is_refused_before_its_data_is_read(tmp_path):
    tensor = onnx.TensorProto(name="W", data_type=onnx.TensorProto.FLOAT, dims=[64, 64, 32, 32])
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "missing.data"), ("offset", "0"), ("length", str(64 * 64 * 32 * 32 * 4))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    helper, tp = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        [helper.make_node("ConvTranspose", ["X", "W"], ["Y"], name="up")], "g",
        [helper.make_tensor_value_info("X", tp.FLOAT, [1, 64, 3, 3])],
        [helper.make_tensor_value_info("Y", tp.FLOAT, [1, 1, "Ho", "Wo"])], initializer=[tensor],
    )  # fmt: skip
    path = tmp_path / "huge.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8), str(path))
    with pytest.raises(DeconvError, match="4194304 taps"):  # the missing data file is never opened
        open_run_kernel(path, (2, 2))


def test_errors_are_one_line_and_name_the_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x01\x02not a model")
    src = tmp_path / "x.png"
    Image.fromarray(np.full((3, 3), 9, np.uint8)).save(src)
    r = run("upsample", src, "-k", bad, "-o", tmp_path / "o.npy")
    assert r.exit_code == 1 and str(bad) in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_output_shape_larger_than_the_layer_gives_is_a_usage_error(tmp_path):
    path = make_model(tmp_path / "m.onnx", np.ones((1, 1, 3, 3), np.float32), strides=[2, 2], output_shape=[20, 20])
    with pytest.raises(DeconvError, match="output_shape rows 20 is larger than the 9"):
        x = np.ones((4, 4, 1))
        ours(path, x)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter: the dynamo one needs onnxscript
def test_a_torch_exported_decoder_equals_pytorch(tmp_path):
    """torch.onnx.export of a small decoder, one node picked by name; where torch is installed."""
    torch = pytest.importorskip("torch", reason="torch is not installed: the exporter's own models are not tested")
    torch.manual_seed(0)
    decoder = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(6, 6, 3, stride=2, padding=1, output_padding=1, groups=3, bias=False),
        torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(6, 3, 3, stride=1, padding=(0, 1), dilation=2),
    ).eval()
    path = tmp_path / "decoder.onnx"
    torch.onnx.export(decoder, torch.zeros(1, 4, 5, 5), str(path), input_names=["X"], dynamo=False)
    listed = json.loads(run("layers", path, "--json").stdout)["layers"]
    assert len(listed) == 3
    for i, entry in enumerate(listed):
        conv = decoder[2 * i]
        x = torch.randn(1, conv.in_channels, 4, 5)
        with torch.no_grad():
            want = conv(x)[0].permute(1, 2, 0).numpy()
        got = ours(path, x[0].permute(1, 2, 0).numpy().astype(np.float64), entry["name"])
        check(got, want, f"node {entry['name']}")
        assert entry["groups"] == conv.groups and entry["bias"] == (conv.bias is not None)


@pytest.mark.parametrize("case", [2, 9, 14, 16])
def test_size_and_the_report_use_the_node_geometry(tmp_path, case):
    """``deconv size -k model.onnx`` gives ORT's output size; ``upsample`` says the geometry is the file's
    and, for a deficient border, hints at --edge replicate rather than at a padding the node would refuse."""
    c_in, cog, groups, (kh, kw), attrs, (h, w) = CASES[case]
    weight = np.full((c_in, cog, kh, kw), 0.1, np.float32)
    path = make_model(tmp_path / "m.onnx", weight, kernel_shape=[kh, kw], group=groups, **attrs)
    want = ort_run(path, np.ones((h, w, c_in))).shape[:2]
    r = run("size", "-k", path, "-i", f"{h},{w}", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["output"] == {"width": want[1], "height": want[0]}
    img = tmp_path / "x.png"
    Image.fromarray(np.full((h, w, c_in), 200, np.uint8)[..., :c_in].squeeze(), {2: "LA", 4: "RGBA"}.get(c_in)).save(
        img
    )
    r = run("upsample", img, "-k", path, "-o", tmp_path / "o.npy")
    assert r.exit_code == 0, r.output
    assert "geometry: from the file: stride" in r.stderr
    assert "-p same" not in r.stderr
    # inspect takes the node's geometry too (it used to apply the command line's defaults)
    r = run("inspect", img, "-k", path, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)["output"]
    assert (out["height"], out["width"]) == tuple(want)


def test_a_float16_model_and_a_node_name_with_colons(tmp_path):
    """Half-precision weights as exporters write them (raw float16), and a node named like tf2onnx names them."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float16)
    b = rng.standard_normal(2).astype(np.float16)
    helper, tp = onnx.helper, onnx.TensorProto
    node = helper.make_node(
        "ConvTranspose", ["X", "W", "B"], ["Y"], name="model/up:0", strides=[2, 2], pads=[1, 0, 0, 1]
    )
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", tp.FLOAT16, [1, 2, 4, 5])],
        [helper.make_tensor_value_info("Y", tp.FLOAT16, [1, 2, "Ho", "Wo"])],
        initializer=[onnx.numpy_helper.from_array(w, "W"), onnx.numpy_helper.from_array(b, "B")],
    )  # fmt: skip
    path = tmp_path / "half.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8), str(path))
    x = rng.standard_normal((4, 5, 2)).astype(np.float16)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"X": np.ascontiguousarray(np.moveaxis(x, -1, 0)[None])})
    want = np.moveaxis(y[0], 0, -1).astype(np.float64)
    got = ours(path, x.astype(np.float64), "model/up:0")
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 2e-2 * max(1.0, np.abs(want).max())  # ORT rounds to float16 as it goes
    r = run("layers", path)
    assert r.exit_code == 0 and "model/up:0  (2, 2, 3, 3)  2 -> 2  groups 1  bias" in r.stdout
    assert "padding top 1, bottom 0, left 0, right 1" in r.stdout


def test_scale_beside_a_model_layer_is_refused(tmp_path):
    path = make_model(tmp_path / "m.onnx", np.ones((1, 1, 4, 4), np.float32), strides=[2, 2], pads=[1, 1, 1, 1])
    with pytest.raises(DeconvError, match="--scale chooses a stride and padding.*drop --scale") as e:
        Settings.of(path, scale=2)
    assert e.value.usage


def test_a_large_file_that_is_no_model_is_refused_from_its_first_byte(tmp_path):
    path = tmp_path / "big.onnx"
    with open(path, "wb") as f:
        f.write(b"\x00")
        f.truncate(1 << 30)  # 1 GiB, sparse: reading it would take seconds and a gigabyte
    with pytest.raises(DeconvError, match="is not an ONNX model \\(its first byte 00"):
        open_run_kernel(path, (2, 2))


def test_options_valid_only_with_the_node_geometry_agree_with_it(tmp_path):
    """--output-padding 2 is invalid at the default stride 2, but it is what this stride-3 node declares."""
    path = make_model(tmp_path / "m.onnx", np.ones((1, 1, 3, 3), np.float32), strides=[3, 3], output_padding=[2, 2])
    img = tmp_path / "x.png"
    Image.fromarray(np.full((3, 3), 9, np.uint8)).save(img)
    r = run("upsample", img, "-k", path, "--output-padding", "2", "-o", tmp_path / "o.npy", "-q")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "o.npy").shape == (11, 11, 1)  # (3 - 1) x 3 + 3 + 2
    r = run("size", "-k", path, "-i", "3", "--output-padding", "2", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["output"] == {"width": 11, "height": 11}
    np.save(tmp_path / "k.npy", np.ones((1, 1, 3, 3)))  # no declared geometry: the options alone are refused
    r = run("upsample", img, "-k", tmp_path / "k.npy", "--output-padding", "2", "-o", tmp_path / "o2.npy", "-q")
    assert r.exit_code == 2 and "output_padding (rows) must be smaller than the stride" in r.stderr


@pytest.mark.parametrize("data_type", ["FLOAT", "DOUBLE"])
def test_initializers_stored_as_typed_fields_not_raw_bytes(tmp_path, data_type):
    """float_data / double_data, as onnx.helper.make_tensor(raw=False) and some exporters write them."""
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(3)
    helper, tp = onnx.helper, onnx.TensorProto
    kind = getattr(tp, data_type)
    inits = [
        helper.make_tensor("W", kind, w.shape, w.ravel().tolist()),
        helper.make_tensor("B", kind, b.shape, b.tolist()),
    ]
    node = helper.make_node("ConvTranspose", ["X", "W", "B"], ["Y"], name="up", strides=[2, 1], pads=[0, 1, 1, 0])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", kind, [1, 2, 3, 4])],
        [helper.make_tensor_value_info("Y", kind, [1, 3, "Ho", "Wo"])], initializer=inits,
    )  # fmt: skip
    path = tmp_path / "typed.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8), str(path))
    s = Settings.of(path)
    if data_type == "DOUBLE":  # ORT has no float64 ConvTranspose: the values read are the file's, exactly
        assert np.array_equal(s.kernel.weight, w) and np.array_equal(s.kernel.layer.bias, b)
        return
    x = image(rng, 3, 4, 2)
    feed = np.ascontiguousarray(np.moveaxis(x, -1, 0)[None]).astype(np.float32)
    (y,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"X": feed})
    check(ours(path, x), np.moveaxis(y[0], 0, -1), data_type)
