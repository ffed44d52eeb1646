"""Hostile kernel and bias sources: every limit is checked from headers and declared shapes before
anything is allocated or read in full, special files are refused without waiting or reading,
and odd numbers are refused with one clear line, never a warning, a MemoryError or a traceback.

Every hostile file is made here, in tmp_path (large ones are sparse: they cost no disk)."""

from __future__ import annotations

import io
import json
import math
import os
import struct
import sys
import threading
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_cli import DeconvError, load_kernel, make_kernel
from deconv_cli.core import Crop, Geometry, as_pair
from deconv_cli.kernels import MAX_KERNEL_TAPS, load_bias, open_kernel
from deconv_cli.kernels import binary as kernel_binary
from deconv_cli.kernels.limits import MAX_BINARY_BYTES, MAX_HEADER_BYTES, MAX_TEXT_BYTES, MAX_VALUE

from conftest import SAMPLES, run

MiB = 1 << 20


# ---------------------------------------------------------------- helpers


def _npy_header(shape, descr="<f8", fortran=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    return buf.getvalue()


def _safetensors(path: Path, header: dict, data: bytes = b"", *, size: int | None = None) -> Path:
    """A .safetensors file with this JSON header; ``size`` makes it that long (sparse)."""
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    if size is not None:
        os.truncate(path, size)
    return path


def _refused(spec, words: str, *, usage: bool | None = None) -> DeconvError:
    with pytest.raises(DeconvError) as e:
        load_kernel(spec)
    message = str(e.value)
    assert words in message, message
    assert "\n" not in message and len(message) < 600, message
    if usage is not None:
        assert e.value.usage is usage
    return e.value


def _cli_refuses(args, words: str, code: int) -> None:
    r = run(*args)
    assert r.exit_code == code, r.output
    assert r.stderr.startswith("deconv: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert words in r.stderr
    assert "Warning" not in r.output and "Traceback" not in r.output


def _peak_bytes(fn) -> int:
    """The most memory Python and numpy held at once while fn() ran (it must raise DeconvError)."""
    tracemalloc.start()
    try:
        with pytest.raises(DeconvError):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _returns_within(seconds: float, fn, *, unblock=None):
    """fn() in a thread: fail, instead of hanging the test run, if it has not returned in time."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # handed back to the test below
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        if unblock:
            unblock()
        pytest.fail(f"still blocked after {seconds} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def layer(tmp_path):
    """An RGB image and a 4-D learned-layer weight (3 in, 3 out), for --bias."""
    Image.new("RGB", (4, 3), (200, 100, 50)).save(tmp_path / "img.png")
    np.save(tmp_path / "w4.npy", np.ones((3, 1, 2, 2)) / 4)
    return tmp_path / "img.png", tmp_path / "w4.npy"


# ---------------------------------------------------------------- 1. bounded reads: .npy


def test_npy_declaring_a_huge_shape_is_refused_from_its_header(tmp_path):
    path = tmp_path / "big.npy"
    path.write_bytes(_npy_header((100000, 100000)) + b"\0" * 64)
    _refused(path, "10000000000 taps (shape (100000, 100000)) is more than the 1048576 allowed")
    _cli_refuses(["kernel", "show", path], "is more than the 1048576 allowed", 1)


def test_npy_declaring_a_huge_non_numeric_dtype_is_refused_from_its_header(tmp_path):
    path = tmp_path / "strings.npy"  # 1000 strings of a million characters: 4 GB if allocated
    path.write_bytes(_npy_header((10, 100), descr="<U1000000") + b"\0" * 64)
    _refused(path, "holds <U1000000 values, not real numbers")


def test_npy_data_bytes_are_limited_as_well_as_taps(tmp_path):
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("no 16-byte long double here")
    path = tmp_path / "long.npy"
    descr = np.lib.format.dtype_to_descr(np.dtype(np.longdouble))
    path.write_bytes(_npy_header((1024, 1024), descr=descr))
    _refused(path, "more than the 8388608 bytes")


def test_truncated_npy_data_is_refused(tmp_path):
    path = tmp_path / "short.npy"
    path.write_bytes(_npy_header((4, 4)) + b"\0" * 10)
    _refused(path, "is truncated")


def test_npy_with_trailing_bytes_reads_only_its_array(tmp_path):
    path = tmp_path / "tail.npy"
    path.write_bytes(_npy_header((2, 2), fortran=True) + np.arange(4.0).tobytes() + b"junk" * 1000)
    np.testing.assert_array_equal(load_kernel(path), np.arange(4.0).reshape(2, 2, order="F"))


# ---------------------------------------------------------------- 1. bounded reads: .npz


def _inflating_npz(path: Path, *, total: int, shape) -> Path:
    """A deflated .npz whose one member is a .npy header for ``shape`` followed by zeros up to
    ``total`` bytes: a few kB on disk, ``total`` bytes once inflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("w.npy", "w", force_zip64=True) as m:
        head = _npy_header(shape)
        m.write(head)
        left, chunk = total - len(head), b"\0" * MiB
        while left > 0:
            m.write(chunk[: min(left, MiB)])
            left -= MiB
    return path


def test_npz_member_is_refused_by_its_declared_size_before_it_is_inflated(tmp_path):
    path = _inflating_npz(tmp_path / "bomb.npz", total=64 * MiB, shape=(8 * MiB,))
    assert path.stat().st_size < MiB
    peak = _peak_bytes(lambda: load_kernel(path))
    assert peak < 4 * MiB, peak
    _refused(path, f"inflates to {64 * MiB} bytes, more than the {MAX_BINARY_BYTES}")


def test_npz_member_declaring_a_huge_shape_is_refused_from_its_npy_header(tmp_path):
    path = tmp_path / "big.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", _npy_header((100000, 100000)))
    _refused(path, "10000000000 taps (shape (100000, 100000)) is more than the 1048576 allowed")


def test_npz_reads_are_capped_in_total(tmp_path, monkeypatch):
    np.savez(tmp_path / "many.npz", **{f"a{i}": np.zeros((2, 2)) for i in range(300)})
    assert load_kernel(f"{tmp_path / 'many.npz'}:a7").shape == (2, 2)
    monkeypatch.setattr(kernel_binary, "MAX_BINARY_BYTES", 4096)  # the zip directory alone is ~30 kB
    _refused(f"{tmp_path / 'many.npz'}:a7", "more than the 4096 bytes")


def test_npz_member_named_with_or_without_its_npy_suffix(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2)), b=np.zeros((2, 2)))
    assert load_kernel(f"{tmp_path / 'two.npz'}:b").sum() == 0
    assert load_kernel(f"{tmp_path / 'two.npz'}:b.npy").sum() == 0


def test_npz_member_that_is_not_npy_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as z:
        z.writestr("notes.txt", b"hello")
    _refused(tmp_path / "odd.npz", "is not a .npy array")


# ---------------------------------------------------------------- 1. bounded reads: .safetensors


def test_safetensors_declared_shape_is_checked_before_the_tensor_is_read(tmp_path):
    n = 8 * MiB  # 64 MiB of float64, in a sparse file
    header = {"w": {"dtype": "F64", "shape": [n], "data_offsets": [0, 8 * n]}}
    path = _safetensors(tmp_path / "big.safetensors", header)
    h = len(json.dumps(header).encode())
    os.truncate(path, 8 + h + 8 * n)
    peak = _peak_bytes(lambda: load_kernel(path))
    assert peak < 4 * MiB, peak
    _refused(path, f"{n} taps (shape ({n},)) is more than the 1048576 allowed")


def test_safetensors_header_length_is_capped(tmp_path):
    path = tmp_path / "fat.safetensors"
    h = json.dumps({"w": {"dtype": "F64", "shape": [1, 1], "data_offsets": [0, 8]}}).encode()
    h += b" " * (MAX_HEADER_BYTES + 1 - len(h))
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"\0" * 8)
    _refused(path, f"declares a {len(h)}-byte header, more than the {MAX_HEADER_BYTES} bytes")


def test_safetensors_reads_only_the_named_tensor_of_a_big_file(tmp_path):
    """A model file with a large tensor beside the small one asked for: only that one is read."""
    big = 64 * MiB
    header = {
        "big": {"dtype": "F32", "shape": [big // 4], "data_offsets": [0, big]},
        "k": {"dtype": "F32", "shape": [2, 2], "data_offsets": [big, big + 16]},
    }
    h = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(h)) + h)
    with open(path, "r+b") as f:
        f.seek(8 + len(h) + big)
        f.write(np.array([[1, 2], [3, 4]], "<f4").tobytes())
    tracemalloc.start()
    try:
        k = load_kernel(f"{path}:k")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert k.tolist() == [[1, 2], [3, 4]] and peak < 4 * MiB


@pytest.mark.parametrize(
    "header, words",
    [
        ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}}, "needs 16 bytes but its data_offsets"),
        ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 99]}}, "past the end of the file"),
        ({"w": {"dtype": "F32", "shape": [2, -2], "data_offsets": [0, 0]}}, "is not a valid .safetensors file"),
        ({"w": {"dtype": "F32", "shape": "2x2", "data_offsets": [0, 16]}}, "is not a valid .safetensors file"),
        ({"w": [1, 2]}, "is not a valid .safetensors file"),
        ([1, 2], "is not a valid .safetensors file"),
    ],
)
def test_safetensors_header_mistakes(tmp_path, header, words):
    _refused(_safetensors(tmp_path / "bad.safetensors", header, b"\0" * 16), words)


# ---------------------------------------------------------------- 1. bounded reads: text, .mat, inline


def test_text_kernel_larger_than_the_text_limit_is_refused_unread(tmp_path):
    for name in ("huge.txt", "huge.mat"):
        path = tmp_path / name
        path.write_bytes(b"1 1\n1\n")
        os.truncate(path, MAX_TEXT_BYTES + 1)  # sparse: NULs that would be read as one endless line
        _refused(path, f"is {MAX_TEXT_BYTES + 1} bytes, more than the {MAX_TEXT_BYTES} bytes")


def test_text_kernel_lines_are_read_one_at_a_time(tmp_path):
    path = tmp_path / "comments.txt"
    path.write_bytes(b"##\n" * 40_000)  # as a list of lines: 40 000 strings, 2.4 MB
    peak = _peak_bytes(lambda: load_kernel(path))
    assert peak < 1 * MiB, peak


def test_text_kernel_with_too_many_numbers_stops_counting(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"0 " * (MAX_KERNEL_TAPS + 1))
    _refused(path, f"holds more than {MAX_KERNEL_TAPS} numbers")  # counted as they are read, not split first


def test_mat_header_declaring_too_many_taps_is_refused_before_its_rows(tmp_path):
    (tmp_path / "big.mat").write_text("3000 3000\n1 2 3\n")
    _refused(tmp_path / "big.mat", "declares 3000x3000 = 9000000 values, more than the 1048576 allowed")


def test_inline_list_is_checked_before_its_outer_product_is_made():
    text = ",".join(["1"] * 5000)
    peak = _peak_bytes(lambda: load_kernel(text))
    assert peak < 16 * MiB, peak
    e = _refused(text, "its separable outer product would have 5000x5000 = 25000000 taps")
    assert len(str(e)) < 300  # the 10 kB string is not echoed whole


def test_inline_grid_size_is_checked_before_its_values_are_read():
    _refused("100000x100000:" + ",".join(["1"] * 50), "100000x100000 = 10000000000 taps, more than the 1048576")


# ---------------------------------------------------------------- 1. special files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", ["k.npy", "k.txt", "k.safetensors", "k.npz"])
def test_a_fifo_kernel_is_refused_without_waiting_for_a_writer(tmp_path, name):
    path = tmp_path / name
    os.mkfifo(path)

    def unblock():  # a reader stuck in open() is released by a writer appearing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    with pytest.raises(DeconvError) as e:
        _returns_within(10, lambda: load_kernel(path), unblock=unblock)
    assert "is a FIFO (named pipe), not a regular file" in str(e.value)
    r = _returns_within(10, lambda: run("kernel", "show", path), unblock=unblock)
    assert r.exit_code == 1 and "is a FIFO (named pipe), not a regular file" in r.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
@pytest.mark.parametrize("name", ["zero.txt", "zero.npy", "zero.mat", "zero.safetensors", "zero.npz", "zero"])
def test_a_device_kernel_is_refused_unread(tmp_path, name):
    link = tmp_path / name
    link.symlink_to("/dev/zero")
    e = _returns_within(10, lambda: _refused(link, "is a character device, not a regular file"))
    assert name in str(e)
    _refused("/dev/zero", "kernel /dev/zero: is a character device, not a regular file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_device_bias_is_refused_unread(tmp_path, layer):
    img, w4 = layer
    (tmp_path / "b.txt").symlink_to("/dev/zero")
    for bias in ("/dev/zero", tmp_path / "b.txt"):
        with pytest.raises(DeconvError) as e:
            _returns_within(10, lambda b=bias: load_bias(b, 3))
        assert f"bias {bias}: is a character device, not a regular file" in str(e.value)
        r = _returns_within(10, lambda b=bias: run("upsample", img, "-k", w4, "--bias", b, "-o", tmp_path / "o.png"))
        assert r.exit_code == 1 and "is a character device" in r.stderr, r.output
    assert not (tmp_path / "o.png").exists()


def test_a_directory_bias_is_named_as_one(tmp_path):
    (tmp_path / "biases").mkdir()
    with pytest.raises(DeconvError) as e:
        load_bias(tmp_path / "biases", 3)
    assert "is a directory" in str(e.value)


# ---------------------------------------------------------------- 2. safetensors dtypes numpy cannot hold


@pytest.mark.parametrize("dtype", ["F4", "F6_E2M3", "F8_E8M0", "C64", "WHAT"])
def test_safetensors_dtype_numpy_cannot_map_is_one_line_listing_what_is_supported(tmp_path, dtype):
    path = _safetensors(tmp_path / "f.safetensors", {"w": {"dtype": dtype, "shape": [2, 2], "data_offsets": [0, 2]}})
    path.write_bytes(path.read_bytes() + b"\0\0")
    e = _refused(path, f"tensor 'w' has dtype {dtype!r}, which deconv cannot read")
    assert "supported: BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, F32, F64" in str(e)
    _cli_refuses(["kernel", "show", path], "which deconv cannot read", 1)


def test_safetensors_every_supported_dtype_reads(tmp_path):
    for code, dt in [("BOOL", "?"), ("U8", "u1"), ("I8", "i1"), ("U16", "<u2"), ("I16", "<i2"), ("F16", "<f2"),
                     ("U32", "<u4"), ("I32", "<i4"), ("F32", "<f4"), ("U64", "<u8"), ("I64", "<i8"),
                     ("F64", "<f8")]:  # fmt: skip
        data = np.array([[1, 0], [1, 1]], dt).tobytes()
        header = {"w": {"dtype": code, "shape": [2, 2], "data_offsets": [0, len(data)]}}
        path = _safetensors(tmp_path / f"{code}.safetensors", header, data)
        assert load_kernel(path).tolist() == [[1, 0], [1, 1]], code


# ---------------------------------------------------------------- 3. long lists of names


def test_an_npz_with_thousands_of_arrays_lists_ten_names_and_a_count(tmp_path):
    path = tmp_path / "many.npz"
    np.savez(path, **{f"a{i}": np.zeros(1) for i in range(3000)})
    e = _refused(path, "holds 3000 arrays (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, ... and 2990 more); pick one")
    assert len(str(e)) < 300
    e = _refused(f"{path}:nope", "has no array 'nope'; it holds: a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, ... and 2990")
    assert len(str(e)) < 300


def test_odd_member_names_stay_on_one_line(tmp_path):
    header = {
        "a\nb": {"dtype": "F64", "shape": [1, 1], "data_offsets": [0, 8]},
        "x" * 5000: {"dtype": "F64", "shape": [1, 1], "data_offsets": [8, 16]},
    }
    path = _safetensors(tmp_path / "names.safetensors", header, b"\0" * 16)
    e = _refused(path, "holds 2 tensors ('a\\nb', 'xxxxxxxx")
    assert len(str(e)) < 300


# ---------------------------------------------------------------- 4. numbers that would warn


def test_mat_with_a_subnormal_or_overflowing_scale_is_refused(tmp_path):
    (tmp_path / "tiny.mat").write_text("2 2 1e-320\n1 1\n1 1\n")
    _refused(tmp_path / "tiny.mat", "scale 1e-320 is too close to 0")
    (tmp_path / "small.mat").write_text("2 1 1e-300\n1e10 1\n")
    _refused(tmp_path / "small.mat", "divided by the scale 1e-300 they exceed")
    _cli_refuses(["kernel", "show", tmp_path / "tiny.mat"], "scale 1e-320 is too close to 0", 1)


def test_mat_offset_and_values_beyond_the_value_limit_are_refused(tmp_path, layer):
    img, _ = layer
    (tmp_path / "off.mat").write_text("2 2 1 1e308\n1 1\n1 1\n")
    _refused(tmp_path / "off.mat", f"offset 1e+308 is beyond ±{MAX_VALUE:g}")
    _cli_refuses(["upsample", img, "-k", tmp_path / "off.mat", "-o", tmp_path / "o.npy"], "offset 1e+308", 1)
    (tmp_path / "big.mat").write_text("2 1\n1e300 1\n")
    _refused(tmp_path / "big.mat", f"beyond ±{MAX_VALUE:g}")


def test_kernel_values_beyond_the_value_limit_are_refused(tmp_path, layer):
    img, _ = layer
    np.save(tmp_path / "huge.npy", np.full((2, 2), 1e300))
    _refused(tmp_path / "huge.npy", f"value 1e+300 at index (0, 0) is beyond ±{MAX_VALUE:g}")
    _cli_refuses(["upsample", img, "-k", tmp_path / "huge.npy", "-o", tmp_path / "o.npy"], "is beyond", 1)
    (tmp_path / "huge.txt").write_text("1 2\n3 -1e300\n")
    _refused(tmp_path / "huge.txt", "value -1e+300 at index (1, 1)")


def test_long_double_values_beyond_float64_are_refused_without_a_warning(tmp_path):
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("long double is float64 here")
    np.save(tmp_path / "ld.npy", np.array([[np.longdouble("1e400"), 1]], dtype=np.longdouble))
    _refused(tmp_path / "ld.npy", "is beyond")


def test_bias_values_beyond_the_value_limit_are_refused(tmp_path, layer):
    img, w4 = layer
    with pytest.raises(DeconvError, match="is beyond"):
        load_bias("1e300,0,0", 3)
    np.save(tmp_path / "b.npy", np.array([0, 1e300, 0]))
    with pytest.raises(DeconvError, match="is beyond"):
        load_bias(tmp_path / "b.npy", 3)
    _cli_refuses(["upsample", img, "-k", w4, "--bias", "1e300,0,0", "-o", tmp_path / "o.png"], "is beyond", 2)


@pytest.mark.parametrize("sigma", ["1e-300", "5e-324", "1e-160", "0.1"])
def test_a_tiny_gaussian_sigma_is_the_nearest_kernel_without_a_warning(sigma):
    for s in (1, 2, 3, (2, 5)):
        np.testing.assert_array_equal(load_kernel(f"gaussian:sigma={sigma}", s), make_kernel("nearest", s))


@pytest.mark.parametrize("spec", ["bicubic:a=1e308", "bicubic:a=-1e308", "bicubic:a=1e200"])
def test_a_builtin_parameter_whose_weights_overflow_is_refused(spec):
    _refused(spec, "cannot be normalised", usage=True)


def test_a_builtin_support_beyond_any_kernel_is_refused():
    from deconv_cli.kernels import intended_padding

    _refused("gaussian:sigma=1e308", "needs more than 1048576 taps a side", usage=True)
    with pytest.raises(DeconvError, match="needs more than 1048576 taps a side"):
        intended_padding("gaussian:sigma=1e308", 2)
    _cli_refuses(["kernel", "make", "gaussian:sigma=1e308"], "needs more than 1048576 taps a side", 2)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("inf,0", "holds 1 NaN/infinite value(s), the first at index (0,)"),
        ("1,nan,-inf", "holds 2 NaN/infinite value(s), the first at index (1,)"),
        ("1e200,1", f"values up to 1e+200, whose squares in its separable outer product exceed ±{MAX_VALUE:g}"),
        ("1e20,1e-5", "values up to 1e+20, whose squares"),
        ("2x1:1,1e999", "NaN/infinite value(s), the first at index (0, 1)"),
    ],
)
def test_inline_lists_are_checked_before_their_outer_product(spec, words):
    _refused(spec, words)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(sigma=math.inf), "sigma must be a finite number"),
        (dict(sigma=math.nan), "sigma must be a finite number"),
        (dict(sigma="1"), "sigma must be a number"),
        (dict(sigma=True), "sigma must be a number"),
    ],
)
def test_builtin_parameters_from_python_are_checked(kwargs, words):
    with pytest.raises(DeconvError) as e:
        make_kernel("gaussian", 2, **kwargs)
    assert words in str(e.value) and e.value.usage


# ---------------------------------------------------------------- 5. built-in parameters given twice


@pytest.mark.parametrize(
    "spec, words",
    [
        ("gaussian:sigma=1,sigma=2", "parameter sigma is given twice"),
        ("bicubic:a=-0.5, A=-0.75", "parameter a is given twice"),
        ("gaussian:sigma=1_0", "parameters are written name:key=value"),
        ("gaussian:sigma=\u0663", "parameters are written name:key=value"),
        ("gaussian:sigma=\uff12", "parameters are written name:key=value"),
        ("gaussian:=1", "parameters are written name:key=value"),
    ],
)
def test_builtin_parameters_are_parsed_strictly(spec, words):
    _refused(spec, words, usage=True)
    _cli_refuses(["kernel", "show", spec], words, 2)


# ---------------------------------------------------------------- 6. plain ASCII decimal numbers


@pytest.mark.parametrize("text", ["1_0", "\u0663", "\uff12", "2,\u0662", "1x\u0663", "2.0", "+2", "", " ", "2,,3"])
def test_as_pair_takes_plain_ascii_decimal_integers_only(text):
    with pytest.raises(DeconvError) as e:
        as_pair(text, "stride")
    assert e.value.usage and "is not an integer or a rows,cols pair of integers" in str(e.value)


def test_as_pair_still_reads_negatives_and_spaces_for_the_range_checks():
    assert as_pair(" 2 , 3 ", "stride") == (2, 3) and as_pair("-1", "padding") == (-1, -1)
    with pytest.raises(DeconvError, match="stride \\(rows\\) must be >= 1, got -2"):
        Geometry.of("-2")


@pytest.mark.parametrize("value", ["1_0", "\u0663", "\uff12"])
def test_cli_refuses_underscored_and_non_ascii_parameters(value):
    _cli_refuses(["size", "--input-size", "3", "--kernel-size", "3", "--stride", value], "is not an integer", 2)


@pytest.mark.parametrize(
    "spec, words, usage",
    [
        ("3x1:1_0,2,3", "'1_0' is not a number", False),
        ("3x1:1,2,\uff13", "'３' is not a number", False),
        ("\uff13x1:1,2,3", "no such file, and not a built-in kernel", True),
        ("\u0663,\u0661", "no such file, and not a built-in kernel", True),
        ("1_0,2", "no such file, and not a built-in kernel", True),
        ("1,2_0", "'2_0' is not a number", False),
    ],
)
def test_inline_kernels_take_plain_ascii_decimals_only(spec, words, usage):
    _refused(spec, words, usage=usage)


def test_files_and_biases_take_plain_ascii_decimals_only(tmp_path):
    (tmp_path / "u.txt").write_text("1_0 2\n3 4\n")
    _refused(tmp_path / "u.txt", "line 1: '1_0' is not a number")
    (tmp_path / "d.csv").write_text("1,2\n3,\u0664\n")
    _refused(tmp_path / "d.csv", "line 2: '٤' is not a number")
    (tmp_path / "h.mat").write_text("2_0 1\n1 2\n")
    _refused(tmp_path / "h.mat", "'2_0' is not a number")
    for bias in ("1_0", "\u0661"):
        with pytest.raises(DeconvError, match="not a number or a list"):
            load_bias(bias, 1)


# ---------------------------------------------------------------- 7. what else was loose


def test_a_long_inline_string_is_not_echoed_whole():
    text = "3x3:" + ",".join(["1"] * 4000)
    e = _refused(text, "3x3 needs 9 values, got 4000")
    assert len(str(e)) < 300
    e = _refused("1," + "x" * 100_000, "is not a number")
    assert len(str(e)) < 300


def test_a_long_bad_token_in_a_file_is_not_echoed_whole(tmp_path):
    (tmp_path / "k.txt").write_text("1 " + "9" * 100_000 + "z\n")
    e = _refused(tmp_path / "k.txt", "is not a number")
    assert len(str(e)) < 300


def test_a_utf8_bom_does_not_spoil_the_first_number(tmp_path):
    (tmp_path / "k.csv").write_bytes("\ufeff1,2\n3,4\n".encode())
    assert load_kernel(tmp_path / "k.csv").tolist() == [[1, 2], [3, 4]]


def test_lines_split_as_before(tmp_path):
    (tmp_path / "k.txt").write_bytes(b"1 2\r3 4\r\n5 6\n")
    assert load_kernel(tmp_path / "k.txt").tolist() == [[1, 2], [3, 4], [5, 6]]


def test_kernel_and_offset_in_range_still_load(tmp_path):
    (tmp_path / "ok.mat").write_text("2 1 1e-300 128\n1e-290 2e-300\n")
    k = open_kernel(tmp_path / "ok.mat")
    assert k.offset == 128 and np.allclose(k.weight, [[1e10, 2]])


def test_python_3_11_int_digit_limit_is_a_clear_error():
    if not hasattr(sys, "get_int_max_str_digits"):
        pytest.skip("no digit limit on this Python")
    with pytest.raises(DeconvError, match="is not an integer"):
        as_pair("9" * 5000, "stride")


@pytest.mark.parametrize("spec", ["1_0", "\u0663", "+1", "1,2,3,\uff14", "1e3"])
def test_crop_takes_plain_ascii_decimal_integers_only(spec):
    with pytest.raises(DeconvError, match="must be none, auto, N or TOP,BOTTOM,LEFT,RIGHT") as e:
        Crop.parse(spec)
    assert e.value.usage


@pytest.mark.parametrize(
    "header, words",
    [
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,\n", "not a valid .npy file"),  # a broken literal
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': " + b"(" * 3000 + b")" * 3000 + b"}", "not a valid .npy"),
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': (True, 3), }", "is not a tuple of integers"),
    ],
    ids=["unclosed", "nested", "bool-shape"],
)
def test_npy_headers_that_are_not_literals_of_the_format_are_refused(tmp_path, header, words):
    """Found by the fuzzer: numpy parses the header as a Python literal, and a broken one raised
    tokenize.TokenError (an internal error); a shape of booleans raised TypeError."""
    path = tmp_path / "k.npy"
    body = header.ljust(118) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body + bytes(48))
    r = run("upsample", SAMPLES / "camera.png", "-k", path, "-s", "2", "-o", tmp_path / "o.npy")
    assert r.exit_code == 1 and "internal error" not in r.stderr and words in r.stderr
    assert r.stderr.count("\n") == 1


def test_inline_sizes_with_thousands_of_digits_are_refused(tmp_path):
    r = run("upsample", SAMPLES / "camera.png", "-k", "9" * 5000 + "x1:1", "-s", "2", "-o", tmp_path / "o.npy")
    assert r.exit_code == 2 and "more digits than any kernel size" in r.stderr and r.stderr.count("\n") == 1
