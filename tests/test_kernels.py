"""Built-in kernels, the shipped kernel files, and every way a kernel file can be bad."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from deconv_cli import DeconvError, conv_transpose2d, load_kernel, make_kernel, phase_sums
from deconv_cli.kernels import bilinear_1d, intended_padding, kernel_to_bytes

from conftest import KERNELS, run


def fcn_bilinear(size: int) -> np.ndarray:
    """The FCN reference (shelhamer/fcn.berkeleyvision.org surgery.upsample_filt), written out."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.ogrid[:size, :size]
    return (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)


@pytest.mark.parametrize("stride", [1, 2, 3, 4, 5, 8])
def test_bilinear_is_the_fcn_filter(stride):
    size = 2 * stride - stride % 2
    np.testing.assert_allclose(make_kernel("bilinear", stride), fcn_bilinear(size), atol=1e-15)


@pytest.mark.parametrize("stride", [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (5, 2)])
@pytest.mark.parametrize("name", ["nearest", "bilinear"])
def test_builtins_flat_and_exact_size_with_intended_padding(name, stride):
    k = make_kernel(name, stride)
    ph = phase_sums(k, stride)
    assert ph.flat
    np.testing.assert_allclose(ph.sums, 1.0)
    pad = intended_padding(name, stride)
    out = conv_transpose2d(np.full((7, 9), 5.0), k, stride, pad)
    assert out.shape == (7 * stride[0], 9 * stride[1])
    # interior (away from the borders every tap reaches) is exactly the constant
    m0, m1 = k.shape[0], k.shape[1]
    np.testing.assert_allclose(out[m0 : -m0 or None, m1 : -m1 or None], 5.0, atol=1e-12)


def test_bilinear_1d_values():
    assert bilinear_1d(2).tolist() == [0.25, 0.75, 0.75, 0.25]
    np.testing.assert_allclose(bilinear_1d(3), [1 / 3, 2 / 3, 1, 2 / 3, 1 / 3])
    np.testing.assert_allclose(bilinear_1d(4), [1, 3, 5, 7, 7, 5, 3, 1] / np.float64(8))


def test_bilinear_stride2_padding1_interior_is_half_pixel_interpolation():
    # Output pixel 2i+1 sits at input coordinate i + 1/4: 0.75 x[i] + 0.25 x[i+1].
    x = np.array([[0.0, 4.0, 8.0, 20.0]])
    out = conv_transpose2d(x, make_kernel("bilinear", (1, 2)), (1, 2), (0, 1))
    assert out[0, 1:-1].tolist() == [1.0, 3.0, 5.0, 7.0, 11.0, 17.0]


def test_nearest_copies_each_pixel_into_its_cell():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(conv_transpose2d(x, make_kernel("nearest", 2), 2), np.kron(x, np.ones((2, 2))))


def _rebuild_commands() -> list[tuple[str, list[str]]]:
    """(file, arguments of its rebuild command) for each row of kernels/README.md's table."""
    rows = re.findall(r"\| `deconv (kernel make [^`]*) -o kernels/([^` ]+)` \|", (KERNELS / "README.md").read_text())
    return [(name, cmd.split()) for cmd, name in rows]


def test_every_shipped_kernel_has_a_rebuild_command():
    assert {n for n, _ in _rebuild_commands()} == {
        "bilinear.npy", "bilinear.txt", "bilinear_s3.npy", "bilinear_s4.npy", "nearest.npy"
    }  # fmt: skip


@pytest.mark.parametrize(("name", "args"), _rebuild_commands(), ids=[n for n, _ in _rebuild_commands()])
def test_shipped_kernels_are_byte_for_byte_what_their_command_makes(tmp_path, name, args):
    out = tmp_path / name
    r = run(*args, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes() == (KERNELS / name).read_bytes()


def test_builtin_name_is_built_for_the_stride():
    assert load_kernel("bilinear", 3).shape == (5, 5)
    assert load_kernel("NEAREST", (2, 3)).shape == (2, 3)


# ---------------------------------------------------------------- formats


def test_npy_npz_txt_csv_load_the_same(tmp_path):
    k = np.array([[1.0, -2.5], [3.25, 4e-3]])
    np.save(tmp_path / "k.npy", k)
    np.savez(tmp_path / "one.npz", k)
    np.savez(tmp_path / "many.npz", a=k, b=2 * k)
    (tmp_path / "k.txt").write_text("# a comment\n1 -2.5   # trailing\n\n3.25 0.004\n")
    (tmp_path / "k.csv").write_text("1,-2.5\n3.25,4e-3\n")
    for spec in ["k.npy", "one.npz", "many.npz:a", "k.txt", "k.csv"]:
        np.testing.assert_array_equal(load_kernel(str(tmp_path / spec)), k)
    np.testing.assert_array_equal(load_kernel(f"{tmp_path / 'many.npz'}:b"), 2 * k)


def test_3d_kernel_loads(tmp_path):
    k = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    np.save(tmp_path / "k3.npy", k)
    loaded = load_kernel(tmp_path / "k3.npy")
    assert loaded.shape == (2, 3, 3)
    np.testing.assert_array_equal(loaded, k)


def test_text_round_trip_is_exact(tmp_path):
    k = np.random.default_rng(0).standard_normal((3, 5))
    for suffix in (".txt", ".csv"):
        path = tmp_path / f"k{suffix}"
        path.write_bytes(kernel_to_bytes(k, suffix))
        np.testing.assert_array_equal(load_kernel(path), k)


class Evil:
    def __reduce__(self):
        return (print, ("pickle executed",))


def bad_files(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name -> (spec, words in the message)"""
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf]]))
    np.save(tmp_path / "one_d.npy", np.ones(4))
    np.save(tmp_path / "five_d.npy", np.ones((1, 1, 1, 2, 2)))
    np.save(tmp_path / "strings.npy", np.array([["a", "b"]]))
    np.save(tmp_path / "complex.npy", np.ones((2, 2), complex))
    np.save(tmp_path / "pickled.npy", np.array([Evil()], dtype=object), allow_pickle=True)
    (tmp_path / "pickle_raw.npy").write_bytes(pickle.dumps(np.ones((2, 2))))
    (tmp_path / "garbage.npy").write_bytes(b"not numpy at all")
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2)), b=np.ones((2, 2)))
    np.savez(tmp_path / "pickled.npz", a=np.array([Evil()], dtype=object))
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 broken")
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    (tmp_path / "ragged.txt").write_text("1 2 3\n4 5\n")
    (tmp_path / "words.csv").write_text("1,2\n3,four\n")
    (tmp_path / "nan.txt").write_text("1 nan\n2 3\n")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00\x01")
    (tmp_path / "k.json").write_text("[[1,2]]")
    return {
        "empty": ("empty.npy", "is empty"),
        "nan": ("nan.npy", "NaN/infinite value(s), the first at index (0, 1)"),
        "inf": ("inf.npy", "NaN/infinite"),
        "1-d": ("one_d.npy", "np.outer"),
        "5-d": ("five_d.npy", "got shape (1, 1, 1, 2, 2)"),
        "strings": ("strings.npy", "not real numbers"),
        "complex": ("complex.npy", "not real numbers"),
        "pickled npy": ("pickled.npy", "pickled Python objects"),
        "raw pickle": ("pickle_raw.npy", "holds a Python pickle"),
        "garbage npy": ("garbage.npy", "is not a .npy file (no NUMPY header)"),
        "ambiguous npz": ("two.npz", "holds 2 arrays (a, b); pick one with"),
        "missing member": ("two.npz:c", "has no array 'c'; it holds: a, b"),
        "pickled npz": ("pickled.npz", "pickled Python objects"),
        "garbage npz": ("garbage.npz", "not a valid .npz file"),
        "empty text": ("empty.txt", "holds no numbers"),
        "ragged": ("ragged.txt", "line 2 has 2 values but the first row has 3"),
        "non-numeric": ("words.csv", "line 2: 'four' is not a number"),
        "nan text": ("nan.txt", "NaN/infinite"),
        "binary text": ("binary.txt", "not a text file"),
        "unknown type": ("k.json", "unknown kernel file type '.json'"),
        "missing": ("nope.npy", "no such file, and not a built-in kernel"),
        "unknown name": ("lanczos9", "no such file, and not a built-in kernel"),
    }


@pytest.mark.parametrize(
    "case",
    ["empty", "nan", "inf", "1-d", "5-d", "strings", "complex", "pickled npy", "raw pickle", "garbage npy",
     "ambiguous npz", "missing member", "pickled npz", "garbage npz", "empty text", "ragged", "non-numeric",
     "nan text", "binary text", "unknown type", "missing", "unknown name"],
)  # fmt: skip
def test_bad_kernel_files_give_one_clear_line(tmp_path, capsys, case):
    spec, words = bad_files(tmp_path)[case]
    full = spec if case == "unknown name" else str(tmp_path / spec)
    with pytest.raises(DeconvError) as e:
        load_kernel(full)
    message = str(e.value)
    assert words in message
    assert "\n" not in message
    if case != "unknown name":
        assert spec.split(":")[0] in message  # names the file
    assert "pickle executed" not in capsys.readouterr().out


def test_enormous_kernel_refused(tmp_path):
    np.save(tmp_path / "huge.npy", np.zeros((1025, 1025), np.float32))
    with pytest.raises(DeconvError, match="taps"):
        load_kernel(tmp_path / "huge.npy")
