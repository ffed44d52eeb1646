"""Kernel file formats and inline strings: what each reads, round trips through `kernel convert`,
and every way each can be bad (one line, the right exit code)."""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from deconv_cli import DeconvError, conv_transpose2d, load_kernel
from deconv_cli.kernels import load_bias, open_kernel, save_kernel, to_inline

from conftest import ROOT, run, sample_crop

# ---------------------------------------------------------------- libvips .mat


def test_mat_header_forms_scale_and_offset(tmp_path):
    (tmp_path / "plain.mat").write_text("3 2\n1 2 1\n2 4 2\n")
    (tmp_path / "scaled.mat").write_text("3 2 16\n1 2 1\n2 4 2\n")
    (tmp_path / "offset.mat").write_text('3 2 -8 128.5\n1,2,1\n"2"\t4 , 2\n\n')  # libvips separators
    want = np.array([[1.0, 2, 1], [2, 4, 2]])
    np.testing.assert_array_equal(load_kernel(tmp_path / "plain.mat"), want)
    np.testing.assert_array_equal(load_kernel(tmp_path / "scaled.mat"), want / 16)
    k = open_kernel(tmp_path / "offset.mat")
    np.testing.assert_array_equal(k.weight, want / -8)
    assert k.offset == 128.5
    assert open_kernel(tmp_path / "scaled.mat").offset == 0.0


def test_kernel_show_reports_a_mat_offset(tmp_path):
    (tmp_path / "k.mat").write_text("2 1 2 128\n1 1\n")
    r = run("kernel", "show", tmp_path / "k.mat")
    assert r.exit_code == 0, r.output
    assert "0.5  0.5" in r.stdout and "offset 128, added after the convolution" in r.stdout
    assert json.loads(run("kernel", "show", tmp_path / "k.mat", "--json").stdout)["offset"] == 128.0


def test_mat_offset_is_added_after_the_convolution_as_libvips_does(tmp_path):
    from PIL import Image

    (tmp_path / "k.mat").write_text("2 2 4 10\n1 1\n1 1\n")  # box / 4, then + 10
    x = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(x).save(tmp_path / "in.png")
    r = run(
        "upsample", tmp_path / "in.png", "-k", tmp_path / "k.mat", "-s", "2", "-o", tmp_path / "out.npy", "-q", "--json"
    )
    assert r.exit_code == 0, r.output
    got = np.load(tmp_path / "out.npy")
    want = conv_transpose2d(x, np.ones((2, 2)) / 4, 2) + 10
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert json.loads(r.stdout)["kernel"]["offset"] == 10.0


def test_mat_offset_skips_alpha_under_premultiply(tmp_path):
    from PIL import Image

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 100, 255
    Image.fromarray(rgba).save(tmp_path / "in.png")
    (tmp_path / "k.mat").write_text("1 1 1 -50\n1\n")
    for alpha, want_alpha in (("premultiply", 255.0), ("separate", 205.0)):
        out = tmp_path / f"{alpha}.npy"
        r = run("upsample", tmp_path / "in.png", "-k", tmp_path / "k.mat", "-s", "1", "--alpha", alpha, "-o", out, "-q")
        assert r.exit_code == 0, r.output
        got = np.load(out)
        np.testing.assert_allclose(got[..., :3], 50.0)
        np.testing.assert_allclose(got[..., 3], want_alpha)


# ---------------------------------------------------------------- inline strings


def test_inline_grid_and_separable_list():
    k = load_kernel("3x2:1,2,1,2,4,2")
    assert k.tolist() == [[1, 2, 1], [2, 4, 2]]
    assert load_kernel(" 2x2 : 1 2 3 4 ").tolist() == [[1, 2], [3, 4]]
    a = [0.25, 0.75, 0.75, 0.25]
    np.testing.assert_array_equal(load_kernel("0.25,0.75,0.75,0.25"), np.outer(a, a))
    np.testing.assert_array_equal(load_kernel("0.25, 0.75, 0.75, 0.25", 5), load_kernel("bilinear", 2))


def test_an_existing_file_wins_over_a_name_or_inline_string(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("bicubic", np.ones((2, 2)))  # writes bicubic.npy
    Path("bicubic").write_bytes(Path("bicubic.npy").read_bytes())
    with pytest.raises(DeconvError, match="unknown kernel file type"):
        load_kernel("bicubic")  # the file, not the built-in: and it has no known extension
    assert load_kernel("bicubic.npy").shape == (2, 2)


# ---------------------------------------------------------------- safetensors


def test_safetensors_single_named_and_half_precision(tmp_path):
    w = np.random.default_rng(0).standard_normal((3, 1, 4, 4)).astype(np.float32)
    save_file({"up.weight": w, "up.bias": np.zeros(3, np.float32)}, str(tmp_path / "layer.safetensors"))
    save_file({"k": np.eye(3, dtype=np.float16)}, str(tmp_path / "one.safetensors"))
    np.testing.assert_array_equal(load_kernel(f"{tmp_path / 'layer.safetensors'}:up.weight"), w)
    np.testing.assert_array_equal(load_kernel(tmp_path / "one.safetensors"), np.eye(3))
    np.testing.assert_array_equal(load_bias(f"{tmp_path / 'layer.safetensors'}:up.bias", 3), np.zeros(3))


def test_non_contiguous_arrays_are_written_in_c_order(tmp_path):
    # safetensors 0.8's numpy writer stores a transposed view's raw memory (safetensors issue #825)
    k = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5).transpose(1, 0, 3, 2)
    assert not k.flags["C_CONTIGUOUS"]
    for dst in ("t.safetensors", "t.npz", "t.npy"):
        save_kernel(k, tmp_path / dst)
        np.testing.assert_array_equal(load_kernel(tmp_path / dst), k)


def test_safetensors_written_by_pytorch_load_without_torch_code(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as torch_save

    layer = torch.nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)
    torch_save(
        {"weight": layer.weight.detach().contiguous(), "bias": layer.bias.detach()}, str(tmp_path / "l.safetensors")
    )
    np.testing.assert_array_equal(load_kernel(f"{tmp_path / 'l.safetensors'}:weight"), layer.weight.detach().numpy())
    np.testing.assert_array_equal(load_bias(f"{tmp_path / 'l.safetensors'}:bias", 2), layer.bias.detach().numpy())


# ---------------------------------------------------------------- round trips through `kernel convert`

FORMATS_2D = [".npy", ".npz", ".safetensors", ".txt", ".csv", ".mat", "inline"]


@pytest.mark.parametrize("src_fmt, dst_fmt", list(itertools.product(FORMATS_2D, FORMATS_2D)))
def test_every_2d_format_round_trips_exactly(tmp_path, src_fmt, dst_fmt):
    k = np.random.default_rng(1).standard_normal((3, 5)) * np.array([1e-9, 1, 1e6, -3, 0.1])
    src = to_inline(k) if src_fmt == "inline" else str(save_kernel(k, tmp_path / f"in{src_fmt}"))
    if dst_fmt == "inline":
        r = run("kernel", "convert", src, "-")
        assert r.exit_code == 0, r.output
        text = r.stdout.strip()
        assert text.startswith("5x3:")
        np.testing.assert_array_equal(load_kernel(text), k)
    else:
        dst = tmp_path / f"out{dst_fmt}"
        r = run("kernel", "convert", src, dst)
        assert r.exit_code == 0, r.output
        assert f"wrote {dst}: kernel 3x5" in r.stderr
        np.testing.assert_array_equal(load_kernel(dst), k)


@pytest.mark.parametrize("shape", [(3, 2, 2), (3, 4, 5, 5)])
@pytest.mark.parametrize("dst", [".npy", ".npz:w", ".safetensors:layer.weight"])
def test_3d_and_4d_round_trip_through_the_array_formats(tmp_path, shape, dst):
    k = np.random.default_rng(2).standard_normal(shape)
    np.save(tmp_path / "in.npy", k)
    out = f"{tmp_path / 'out'}{dst}"
    r = run("kernel", "convert", tmp_path / "in.npy", out)
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(load_kernel(out), k)


def test_convert_builtin_at_a_stride_and_mat_offsets(tmp_path):
    r = run("kernel", "convert", "lanczos3", tmp_path / "l3.mat", "--stride", "3")
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(load_kernel(tmp_path / "l3.mat"), load_kernel("lanczos3", 3))
    (tmp_path / "edge.mat").write_text("3 1 2 128\n-1 0 1\n")
    r = run("kernel", "convert", tmp_path / "edge.mat", tmp_path / "copy.mat")
    assert r.exit_code == 0 and "offset 128" in r.stderr
    assert open_kernel(tmp_path / "copy.mat").offset == 128
    np.testing.assert_array_equal(load_kernel(tmp_path / "copy.mat"), [[-0.5, 0, 0.5]])
    r = run("kernel", "convert", tmp_path / "edge.mat", tmp_path / "edge.npy")
    assert r.exit_code == 2
    assert "offset 128, which only a .mat file can hold; write .mat or pass --drop-offset" in r.stderr
    assert not (tmp_path / "edge.npy").exists()
    r = run("kernel", "convert", tmp_path / "edge.mat", tmp_path / "edge.npy", "--drop-offset")
    assert r.exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "edge.npy"), [[-0.5, 0, 0.5]])


def test_convert_refuses_what_a_format_cannot_hold(tmp_path):
    np.save(tmp_path / "k3.npy", np.ones((3, 2, 2)))
    for dst in ["k.txt", "k.csv", "k.mat", "-"]:
        r = run("kernel", "convert", tmp_path / "k3.npy", dst if dst == "-" else tmp_path / dst)
        assert r.exit_code == 2, dst
        assert "2-D kernels only" in r.stderr or "2-D kernel only" in r.stderr
    r = run("kernel", "convert", "bilinear", tmp_path / "k.json")
    assert r.exit_code == 2 and "cannot write a kernel as '.json'" in r.stderr
    r = run("kernel", "convert", "bilinear", tmp_path / "k.npy")
    assert r.exit_code == 0
    r = run("kernel", "convert", "bicubic", tmp_path / "k.npy")
    assert r.exit_code == 1 and "already exists; pass --overwrite" in r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "k.npy"), load_kernel("bilinear", 2))


# ---------------------------------------------------------------- bad files, one per way to be bad


def _zip_pickle(path: Path) -> None:
    """What torch.save writes: a zip holding a pickle."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"weight": [1.0, 2.0]}))


def _safetensors_raw(path: Path, header: dict, data: bytes) -> None:
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def bad_cases(d: Path) -> dict[str, tuple[str, str, int]]:
    """name -> (spec, words in the message, exit code)"""
    (d / "one_number.mat").write_text("3\n1 2 3\n")
    (d / "five_numbers.mat").write_text("1 1 1 0 9\n1\n")
    (d / "short_row.mat").write_text("3 2\n1 2 3\n4 5\n")
    (d / "long_row.mat").write_text("2 1\n1 2 3\n")
    (d / "missing_row.mat").write_text("2 3\n1 2\n3 4\n")
    (d / "extra_row.mat").write_text("2 1\n1 2\n3 4\n")
    (d / "zero_scale.mat").write_text("2 1 0\n1 2\n")
    (d / "fraction_width.mat").write_text("2.5 1\n1 2\n")
    (d / "zero_height.mat").write_text("2 0\n")
    (d / "nan.mat").write_text("2 1\n1 nan\n")
    (d / "nan_offset.mat").write_text("2 1 1 nan\n1 2\n")
    (d / "word.mat").write_text("2 1\n1 two\n")
    (d / "empty.mat").write_text("\n\n")
    (d / "binary.mat").write_bytes(b"\x00\xff\xfe")
    save_file({"a": np.ones((2, 2)), "b": np.ones((2, 2))}, str(d / "two.safetensors"))
    save_file({"w": np.array([[1.0, np.nan]])}, str(d / "nan.safetensors"))
    save_file({"w": np.ones(4)}, str(d / "one_d.safetensors"))
    _zip_pickle(d / "torch_save.safetensors")
    (d / "raw_pickle.safetensors").write_bytes(pickle.dumps({"weight": [1.0]}, protocol=4))
    (d / "garbage.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    (d / "empty.safetensors").write_bytes(b"")
    _safetensors_raw(
        d / "bf16.safetensors", {"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\x80\x3f\x00\x40"
    )
    _zip_pickle(d / "layer.pt")
    return {
        "mat header with 1 number": (
            "one_number.mat",
            "line 1: the header must be 'width height [scale [offset]]' (2 to 4 numbers), got 1",
            1,
        ),
        "mat header with 5 numbers": ("five_numbers.mat", "(2 to 4 numbers), got 5", 1),
        "mat short row": ("short_row.mat", "line 3 has 2 value(s) but the header says width 3", 1),
        "mat long row": ("long_row.mat", "line 2 has 3 value(s) but the header says width 2", 1),
        "mat missing row": ("missing_row.mat", "the header says 3 row(s) (height) but 2 follow", 1),
        "mat extra row": ("extra_row.mat", "the header says 1 row(s) (height) but 2 follow", 1),
        "mat zero scale": (
            "zero_scale.mat",
            "line 1: scale is 0; the matrix is divided by it, so it must be non-zero",
            1,
        ),
        "mat fractional width": ("fraction_width.mat", "width must be a positive integer, got 2.5", 1),
        "mat zero height": ("zero_height.mat", "height must be a positive integer, got 0", 1),
        "mat NaN": ("nan.mat", "NaN/infinite value(s), the first at index (0, 1)", 1),
        "mat NaN offset": ("nan_offset.mat", "the header holds a NaN or infinite number", 1),
        "mat word": ("word.mat", "line 2: 'two' is not a number", 1),
        "mat empty": ("empty.mat", "is empty; a libvips matrix starts with", 1),
        "mat binary": ("binary.mat", "is not a text file (expected a libvips matrix)", 1),
        "safetensors ambiguous": ("two.safetensors", "holds 2 tensors (a, b); pick one with", 1),
        "safetensors missing name": ("two.safetensors:c", "has no tensor 'c'; it holds: a, b", 1),
        "safetensors NaN": ("nan.safetensors", "NaN/infinite value(s), the first at index (0, 1)", 1),
        "safetensors 1-D": ("one_d.safetensors", "got shape (4,)", 1),
        "safetensors torch.save zip": ("torch_save.safetensors", "is a zip archive (what torch.save writes", 1),
        "safetensors raw pickle": ("raw_pickle.safetensors", "holds a Python pickle, which deconv never loads", 1),
        "safetensors garbage": ("garbage.safetensors", "is not a valid .safetensors file", 1),
        "safetensors empty": ("empty.safetensors", "is not a valid .safetensors file", 1),
        "safetensors bf16": ("bf16.safetensors", "tensor 'w' is BF16, which numpy cannot hold", 1),
        # torch.load(weights_only=True) or, without torch, no load at all: never a full unpickle
        "pytorch checkpoint": (
            "layer.pt",
            "is not a PyTorch checkpoint torch can read"
            if importlib.util.find_spec("torch")
            else ".pt files are PyTorch pickles, read only with torch's weights_only loader",
            1,
        ),
        "member of a text file": ("nan.mat:w", "only .npz, .safetensors, .onnx and PyTorch checkpoints hold named", 1),
        "inline count": ("3x3:1,2,1,2", "3x3 needs 9 values, got 4", 2),
        "inline word": ("2x1:1,x", "'x' is not a number", 1),
        "inline origin": ("3x1+1+0:1,2,1", "the origin +1+0 is not supported", 2),
        "inline NaN": ("3x1:1,nan,1", "NaN/infinite value(s), the first at index (0, 1)", 1),
        "inline list word": ("0.25,abc", "'abc' is not a number", 1),
        "not anything": ("blur", "no such file, and not a built-in kernel", 2),
    }


def _case_names():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return list(bad_cases(Path(d)))


@pytest.mark.parametrize("case", _case_names())
def test_bad_kernels_give_one_clear_line_and_the_right_exit_code(tmp_path, case, capsys):
    spec, words, code = bad_cases(tmp_path)[case]
    full = spec if not (tmp_path / spec.split(":")[0]).exists() else str(tmp_path / spec)
    with pytest.raises(DeconvError) as e:
        load_kernel(full)
    assert words in str(e.value)
    assert "\n" not in str(e.value)
    assert "pickle executed" not in capsys.readouterr().out
    for cmd in (["kernel", "show", full], ["kernel", "convert", full, str(tmp_path / "out.npy")]):
        r = run(*cmd)
        assert r.exit_code == code, (cmd, r.output)
        assert r.stderr.startswith("deconv: error: ") and r.stderr.count("\n") == 1
        assert words in r.stderr
        assert "Traceback" not in r.output
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize(
    "spec, channels, words",
    [
        ("0.1,0.2", 3, "holds shape (2,) but the layer has 3 output channel(s)"),
        ("x.npy", 3, "holds shape (2, 2) but the layer has 3 output channel(s)"),
        ("nope", 3, "no such file, and not a number or a list"),
        ("0.1,nan,0.3", 3, "NaN or infinite"),
    ],
)
def test_bad_biases(tmp_path, spec, channels, words):
    np.save(tmp_path / "x.npy", np.ones((2, 2)))
    with pytest.raises(DeconvError) as e:
        load_bias(str(tmp_path / spec) if spec.endswith(".npy") else spec, channels)
    assert words in str(e.value)


def test_bias_from_a_text_column(tmp_path):
    (tmp_path / "b.txt").write_text("0.5\n-1\n2\n")
    assert load_bias(tmp_path / "b.txt", 3).tolist() == [0.5, -1.0, 2.0]


def test_convert_has_help_with_an_example_and_is_in_the_readme():
    r = run("kernel", "convert", "--help")
    assert r.exit_code == 0
    assert "Examples: deconv kernel convert " in " ".join(r.stdout.split())
    readme = (ROOT / "README.md").read_text()
    assert "`deconv kernel convert" in readme


# ---------------------------------------------------------------- a kernel on stdin (-k -)


def _npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b"1 3 3 1\n3 9 9 3\n3 9 9 3\n1 3 3 1\n", np.outer([1, 3, 3, 1], [1, 3, 3, 1])),
        (b"# a comment\n0.25, 0.5\n0.5, 1\n", np.array([[0.25, 0.5], [0.5, 1.0]])),
        (_npy_bytes(np.arange(6.0).reshape(2, 3)), np.arange(6.0).reshape(2, 3)),
    ],
)
def test_a_kernel_on_stdin_is_read_by_content(tmp_path, data, want):
    r = run("kernel", "show", "-", "-s", 1, "--json", input=data)
    assert r.exit_code == 0, r.stderr
    np.testing.assert_array_equal(np.array(json.loads(r.stdout)["values"]), want)
    # and upsample applies it exactly as the same kernel from a file
    src = sample_crop("camera.png", (0, 0, 12, 9), tmp_path / "in.png")
    np.save(tmp_path / "k.npy", want)
    assert run("upsample", src, "-k", "-", "-o", tmp_path / "a.npy", "-q", input=data).exit_code == 0
    assert run("upsample", src, "-k", tmp_path / "k.npy", "-o", tmp_path / "b.npy", "-q").exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "kernel -: nothing on stdin"),
        (b"1 2\n3\n", "kernel - (stdin, read as .txt): line 2 has 1 values but the first row has 2"),
        (b"\x93NUMPY\x01\x00garbage", "kernel - (stdin, read as .npy)"),
        (b"\x80\x04\x95pickle", "kernel - (stdin, read as .txt)"),
    ],
)
def test_a_bad_kernel_on_stdin_is_one_line(data, message):
    r = run("kernel", "show", "-", input=data)
    assert r.exit_code in (1, 2) and message in r.stderr and len(r.stderr.splitlines()) == 1 and r.stdout == ""


def test_stdin_cannot_bring_both_the_image_and_the_kernel(tmp_path):
    r = run("upsample", "-", "-k", "-", "-o", tmp_path / "o.png", input=b"1 2\n")
    assert r.exit_code == 2 and "stdin (-) can bring the image or the kernel, not both" in r.stderr
