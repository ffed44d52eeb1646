"""Reading a layer from a PyTorch state dict (``-k ckpt.pt:NAME``), against PyTorch itself.

Where torch is importable: state dicts saved with ``torch.save(model.state_dict(), ...)`` (and
nested ``{"state_dict": ...}`` checkpoints) are read with ``weights_only=True`` and compared with
the module that saved them, groups 1 / C / in between, bias found at the sibling ``.bias`` or not
there, or replaced by ``--bias``; a pickled module is refused. Without torch, the files are refused
with the extra to install (tested with torch hidden from the import system).

Measured once (torch 2.13 CPU): over the 3 layers x 3 groupings x 5 inputs, the largest difference
from the module was 1.4e-07, 1.2e-07 of max(1, max|torch|).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from deconv_cli import DeconvError
from deconv_cli.core import conv_transpose2d_layer
from deconv_cli.pipeline import Settings

from conftest import run

TOLERANCE = 1e-5  # of max(1, max|torch|): torch computes in float32 here


def decoder(torch, groups_mid):
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1),  # groups 1, bias
        torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(6, 6, 3, stride=2, padding=1, output_padding=1, groups=groups_mid, bias=False),
        torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(6, 6, (3, 2), stride=(1, 2), padding=(2, 0), dilation=(2, 1), groups=6),  # depthwise
    ).eval()


LAYERS = [  # (index in the Sequential, the geometry options the command line must give)
    (0, dict(stride=2, padding=1)),
    (2, dict(stride=2, padding=1, output_padding=1)),
    (4, dict(stride="1,2", padding="2,0", dilation="2,1")),
]


def check(mine, ref, what):
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape} != torch {ref.shape}"
    err = float(np.abs(mine - ref).max())
    assert err <= TOLERANCE * max(1.0, float(np.abs(ref).max())), f"{what}: max |diff| {err:.3g}"
    return err


@pytest.mark.parametrize("groups_mid", [1, 2, 6])
@pytest.mark.parametrize("index, options", LAYERS)
def test_a_state_dict_tensor_equals_the_module(tmp_path, groups_mid, index, options):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'deconv-cli[torch]')")
    model = decoder(torch, groups_mid)
    path = tmp_path / "decoder.pt"
    torch.save(model.state_dict(), path)
    conv = model[index]
    s = Settings.of(f"{path}:{index}.weight", groups=conv.groups if conv.groups != 1 else None, **options)
    assert s.kernel.layer.groups == conv.groups
    assert (s.kernel.layer.bias is None) == (conv.bias is None)
    x = torch.randn(1, conv.in_channels, 5, 4)
    with torch.no_grad():
        want = conv(x)[0].permute(1, 2, 0).numpy()
    g, layer = s.geometry, s.kernel.layer
    got = conv_transpose2d_layer(
        x[0].permute(1, 2, 0).numpy().astype(np.float64), s.kernel.weight, layer.bias,
        g.stride, g.padding, g.output_padding, g.dilation, layer.groups,
    )  # fmt: skip
    check(got, want, f"layer {index} groups {conv.groups}")
    assert s.geometry_from["stride"] == "command line"
    assert s.geometry_from["output_padding"] == ("command line" if "output_padding" in options else "default")


def test_the_cli_reads_a_nested_checkpoint_and_reports_where_the_geometry_came_from(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'deconv-cli[torch]')")
    conv = torch.nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1)
    with torch.no_grad():
        conv.weight.mul_(0.1)
        conv.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    path = tmp_path / "run.ckpt"
    torch.save({"state_dict": {f"decoder.up1.{k}": v for k, v in conv.state_dict().items()}, "epoch": 3}, path)
    x = np.random.default_rng(0).integers(0, 256, (6, 5, 3)).astype(np.uint8)
    Image.fromarray(x).save(tmp_path / "x.png")
    out = tmp_path / "o.npy"
    spec = f"{path}:state_dict.decoder.up1.weight"
    r = run("upsample", tmp_path / "x.png", "-k", spec, "-s", "2", "-p", "1", "-o", out, "-q", "--json")
    assert r.exit_code == 0, r.output
    with torch.no_grad():  # the bias in [0, 1] units: x255 for 8-bit pixels
        want = (
            torch.nn.functional.conv_transpose2d(
                torch.tensor(x, dtype=torch.float32).permute(2, 0, 1)[None], conv.weight, conv.bias * 255, 2, 1
            )[0]
            .permute(1, 2, 0)
            .numpy()
        )
    check(np.load(out), want, "CLI")
    d = json.loads(r.stdout)
    assert d["kernel"]["bias"].endswith("run.ckpt:state_dict.decoder.up1.bias")
    assert d["params"]["geometry_from"] == {
        "stride": "command line", "padding": "command line", "output_padding": "default", "dilation": "default",
        "groups": "default",
    }  # fmt: skip
    r = run("upsample", tmp_path / "x.png", "-k", spec, "-s", "2", "-p", "1", "-o", tmp_path / "t.png")
    assert (
        r.exit_code == 0
        and "from the command line: stride 2, padding 1; defaults: output_padding 0, dilation 1" in r.stderr
    )
    # --bias says otherwise: the sibling is not used
    r = run("upsample", tmp_path / "x.png", "-k", spec, "--bias", "0,0,0", "-s", "2", "-p", "1", "-o", out, "-q",
            "--overwrite")  # fmt: skip
    assert r.exit_code == 0, r.output
    with torch.no_grad():
        want = (
            torch.nn.functional.conv_transpose2d(
                torch.tensor(x, dtype=torch.float32).permute(2, 0, 1)[None], conv.weight, None, 2, 1
            )[0]
            .permute(1, 2, 0)
            .numpy()
        )
    check(np.load(out), want, "CLI --bias 0")
    r = run("layers", path, "--json")
    assert json.loads(r.stdout)["layers"] == [
        {"name": "state_dict.decoder.up1.weight", "kind": "4-D tensor", "shape": [3, 3, 4, 4], "c_in": 3, "c_out": 3,
         "groups": None, "bias": True, "geometry": None, "output_size": None, "problem": None}
    ]  # fmt: skip


def test_several_4d_tensors_need_a_name(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'deconv-cli[torch]')")
    path = tmp_path / "d.pth"
    torch.save(decoder(torch, 2).state_dict(), path)
    with pytest.raises(DeconvError, match=r"holds 3 4-D tensors \(0.weight, 2.weight, 4.weight\); pick one"):
        Settings.of(path)
    with pytest.raises(DeconvError, match="has no tensor '9.weight'"):
        Settings.of(f"{path}:9.weight")


def test_a_pickled_module_is_refused_with_how_to_save_a_state_dict(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'deconv-cli[torch]')")
    path = tmp_path / "module.pt"
    torch.save(torch.nn.ConvTranspose2d(1, 1, 2), path)
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "x.png")
    r = run("upsample", tmp_path / "x.png", "-k", path, "-o", tmp_path / "o.png")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "is not a state dict" in r.stderr and "torch.save(model.state_dict()" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_huge_tensor_is_refused_before_it_is_copied(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'deconv-cli[torch]')")
    path = tmp_path / "big.pt"
    torch.save({"w": torch.zeros(64, 64, 32, 32)}, path)  # 16 MiB, 4 Mi taps
    with pytest.raises(DeconvError, match="4194304 taps"):
        Settings.of(path)


def test_without_torch_a_checkpoint_is_refused_with_the_extra_to_install(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    path.write_bytes(b"PK\x03\x04 not really")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(DeconvError, match=r"deconv-cli\[torch\]"):
        Settings.of(path)


def test_a_legacy_checkpoint_and_a_half_precision_bin(tmp_path):
    """The pre-1.6 (non-zip) format, read whole within the byte cap, and a Hugging Face style
    pytorch_model.bin in float16 with prefixed names; the listing gives a depthwise weight's default groups."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'deconv-cli[torch]')")
    conv = torch.nn.ConvTranspose2d(3, 3, 3, stride=2, groups=3)
    torch.save(conv.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    half = {"module.up.weight": conv.weight.detach().half(), "module.up.bias": conv.bias.detach().half()}
    torch.save(half, tmp_path / "pytorch_model.bin")
    x = torch.randn(1, 3, 4, 3)
    for name, ref in (("legacy.pt", conv), ("pytorch_model.bin", None)):
        s = Settings.of(tmp_path / name, stride=2)
        assert s.kernel.layer.groups == 3  # depthwise (3, 1, 3, 3): groups C_in by default
        w, b = (conv.weight, conv.bias) if ref is not None else (half["module.up.weight"], half["module.up.bias"])
        with torch.no_grad():
            want = torch.nn.functional.conv_transpose2d(x, w.float(), b.float(), 2, groups=3)[0].permute(1, 2, 0)
        got = conv_transpose2d_layer(
            x[0].permute(1, 2, 0).numpy().astype(np.float64), s.kernel.weight, s.kernel.layer.bias, 2, groups=3
        )
        check(got, want.numpy(), name)
    listed = json.loads(run("layers", tmp_path / "pytorch_model.bin", "--json").stdout)["layers"]
    assert [(d["name"], d["c_in"], d["c_out"], d["groups"], d["bias"]) for d in listed] == [
        ("module.up.weight", 3, 3, None, True)
    ]


def test_scale_gives_a_state_dict_layer_its_stride_and_padding(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'deconv-cli[torch]')")
    torch.save(torch.nn.ConvTranspose2d(3, 3, 4).state_dict(), tmp_path / "c.pt")
    s = Settings.of(tmp_path / "c.pt", scale=2)
    assert s.geometry.stride == (2, 2) and s.geometry.same
    assert s.geometry_from["stride"] == s.geometry_from["padding"] == "--scale"
