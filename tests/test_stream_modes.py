"""Learned layers, --two-pass and .mat offsets computed in strips like plain kernels (issue 14).

Each is forced through thin strips (1, 2, 3 rows) on two threads and compared with a
reference that holds the whole result: for layers, every (input, output) channel pair
through the literal loop (zero edges) or through conv_transpose2d with the edge mode, summed;
for --two-pass, the two whole passes with the whole intermediate rounded and clipped (the
computation as it was before it streamed), equal to the bit; for offsets, the whole
convolution plus the offset. Then the pipeline: the files written equal those references,
its peak allocation stays far below one float output, and a batch reads the layer once.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.numpy import save_file

from deconv_cli import conv_transpose2d, engine
from deconv_cli.core import Geometry, plan, separable_factors
from deconv_cli.core.planning import identity_axis, plan_layer, plan_two_pass
from deconv_cli.imageio import load_image
from deconv_cli.kernels import make_kernel
from deconv_cli.modes import Edge
from deconv_cli.pipeline import Settings, upsample_file

from conftest import SAMPLES
from oracle import layer_cases, layer_reference

EDGES = ["zero", "replicate", "reflect", "symmetric", "wrap"]
STRIPS = [(1, 1), (1, 2), (2, 2), (3, 2), (None, 2)]


def edge_layer_reference(x, w, b, groups, geometry, edge):
    """Every (input, output) pair of a group: the literal loop for zero edges, else the
    per-channel operation with the edge mode (tested against the extended reference)."""
    if edge == "zero":
        return layer_reference(x, w, b, groups, geometry)
    return layer_reference(
        x, w, b, groups, geometry, lambda xi, wij, *g: conv_transpose2d(xi, wij, *g, edge=edge, dtype=np.float64)
    )


#: None: the cost model's way; gemm: the linear map (every output channel in one product);
#: terms, planes, taps: a sum of per-channel plans, each by that method.
LAYER_METHODS = [None, "gemm", "terms", "planes", "taps"]


@pytest.mark.parametrize("method", LAYER_METHODS)
@pytest.mark.parametrize("strip_rows, threads", STRIPS)
@settings(max_examples=25, deadline=None)
@given(st.tuples(layer_cases(), st.sampled_from(EDGES)).map(lambda ce: (*ce[0], ce[1])))
def test_layer_strips_equal_the_whole_reference(method, strip_rows, threads, case):
    ((h, w), (kh, kw), s, p, a, d, seed), groups, c_in, cog, with_bias, edge = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((h, w, c_in))
    weight = rng.standard_normal((c_in, cog, kh, kw))
    bias = rng.standard_normal(cog * groups) if with_bias else None
    axes = Geometry.of(s, p, a, d).axes((h, w), (kh, kw))
    strips = plan_layer(
        x, weight, bias, axes, groups, edge=Edge.of(edge), dtype=np.float64, method=method, strip_rows=strip_rows,
        threads=threads,
    )  # fmt: skip
    if method is not None:
        assert strips.method == method and isinstance(strips, engine.Sum) == (method != "gemm")
    got = strips.compute()
    want = edge_layer_reference(x, weight, bias, groups, (s, p, a, d), edge)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", LAYER_METHODS)
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_layer_strips_with_a_crop_are_the_whole_result_cut(groups, method):
    rng = np.random.default_rng(groups)
    x = rng.random((13, 11, 4)).astype(np.float32) * 255
    weight = rng.standard_normal((4, 4 // groups, 5, 3))
    bias = rng.standard_normal(4)
    axes = Geometry.of(3, 1, 2, (1, 2)).axes((13, 11), (5, 3))
    whole = plan_layer(x, weight, bias, axes, groups, edge=Edge.reflect, dtype=np.float64).compute()
    for rows, threads in STRIPS:
        got = plan_layer(
            x, weight, bias, axes, groups, edge=Edge.reflect, dtype=np.float64, crop=(2, 3, 4, 1), offset=7.5,
            method=method, strip_rows=rows, threads=threads,
        ).compute()  # fmt: skip
        np.testing.assert_allclose(got, whole[2:-3, 4:-1] + 7.5, rtol=1e-12, atol=1e-9)


def test_the_shipped_layer_is_one_linear_map_and_a_depthwise_one_a_sum():
    """The cost model takes the one product for a mixing layer (3 -> 3, 6x6) and the sum of
    cheap per-channel plans for a depthwise one, where the product would be mostly zeros."""
    x = np.zeros((400, 300, 3), np.uint8)
    axes = Geometry.of(2, 2).axes((400, 300), (6, 6))
    rng = np.random.default_rng(2)
    mixing = plan_layer(x, rng.random((3, 3, 6, 6)), None, axes, 1, edge=Edge.zero, dtype=None)
    assert isinstance(mixing, engine.Plan) and mixing.method == "gemm" and mixing.shape == (800, 600, 3)
    depthwise = plan_layer(x, rng.random((3, 1, 6, 6)), None, axes, 3, edge=Edge.zero, dtype=None)
    assert isinstance(depthwise, engine.Sum)


def two_pass_whole(x, k, axes, edge, clip, dtype):
    """The two passes on whole arrays, the whole intermediate rounded half up and clipped."""
    u, v = separable_factors(k)
    rows_ax, cols_ax = axes
    if abs(v.sum()) > 1e-12 * np.abs(v).max():
        c = v.sum() / cols_ax.stride
        u, v = u * c, v / c
    rows = plan(x, v[None, :], (identity_axis("rows", rows_ax.n_in), cols_ax), edge=edge, dtype=dtype).compute_image()
    rows = np.clip(np.floor(rows + 0.5), *clip).astype(rows.dtype)
    down = (rows_ax, identity_axis("cols", cols_ax.kept))
    return plan(rows, u[:, None], down, edge=edge, dtype=dtype).compute_image()


@pytest.mark.parametrize("strip_rows, threads", STRIPS)
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("edge", ["renormalize", *EDGES])
@pytest.mark.parametrize("name, stride", [("bicubic", 2), ("lanczos3", 3), ("bilinear", 5)])
def test_two_pass_strips_equal_the_whole_passes_to_the_bit(strip_rows, threads, bits, edge, name, stride):
    top = 2**bits - 1
    rng = np.random.default_rng(bits + stride)
    x = ((rng.random((17, 13, 3)) > 0.5) * top).astype(np.uint8 if bits == 8 else np.uint16)  # hard edges: clipping
    k = make_kernel(name, stride)
    axes = Geometry.of(stride, (k.shape[0] - stride) // 2 + 1, 1, 1).axes(x.shape[:2], k.shape)
    clip = (0.0, float(top))
    want = two_pass_whole(x, k, axes, Edge.of(edge), clip, np.float32)
    p = plan_two_pass(
        x, separable_factors(k), axes, edge=Edge.of(edge), clip=clip, dtype=np.float32, strip_rows=strip_rows,
        threads=threads,
    )  # fmt: skip
    got = p.compute_image()
    np.testing.assert_array_equal(got, want)
    if name != "bilinear":  # negative lobes: the intermediate was clipped, unlike the exact operation's
        assert np.abs(got - conv_transpose2d(x, k, stride, axes[0].padding, 1, edge=edge)).max() > 1
    cut = plan_two_pass(
        x, separable_factors(k), axes, edge=Edge.of(edge), clip=clip, dtype=np.float32, crop=(3, 1, 2, 5),
        offset=-4.0, strip_rows=strip_rows, threads=threads,
    ).compute_image()  # fmt: skip
    np.testing.assert_array_equal(cut, want[3:-1, 2:-5] - 4.0)


def test_two_pass_of_a_grey_image_stays_2d():
    x = np.arange(35, dtype=np.float64).reshape(5, 7) * 7
    k = make_kernel("bicubic", 2)
    axes = Geometry.of(2, 3).axes((5, 7), k.shape)
    got = plan_two_pass(x, separable_factors(k), axes, edge=Edge.zero, clip=(0, 255), dtype=None, strip_rows=1)
    assert got.compute_image().shape == (10, 14)
    np.testing.assert_array_equal(got.compute_image(), two_pass_whole(x, k, axes, Edge.zero, (0, 255), None))


@pytest.mark.parametrize("strip_rows", [1, 3, None])
@pytest.mark.parametrize("alpha", [None, (3, 255.0)])
def test_offset_strips_add_it_to_every_channel_but_alpha(strip_rows, alpha):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (9, 8, 4)).astype(np.uint8)
    k = rng.random((3, 4))
    g = Geometry.of(2, 1)
    whole = plan(x, k, g, edge="replicate", alpha=alpha).compute_image()
    got = plan(x, k, g, edge="replicate", alpha=alpha, offset=12.25, strip_rows=strip_rows, threads=2).compute_image()
    want = whole.copy()
    want[..., : 3 if alpha else 4] += np.float32(12.25)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------- the pipeline


@pytest.fixture
def photo(tmp_path):
    with Image.open(SAMPLES / "astronaut.png") as im:
        im.crop((100, 80, 100 + 61, 80 + 47)).save(tmp_path / "p.png")  # odd sizes
    return tmp_path / "p.png"


def _layer_file(tmp_path, c_out=3, groups=1):
    rng = np.random.default_rng(11)
    w = (rng.random((3, c_out // groups if groups > 1 else c_out, 6, 6)) / 9).astype(np.float32)
    b = np.linspace(-0.1, 0.1, c_out).astype(np.float32)
    save_file({"weight": w, "bias": b}, str(tmp_path / "layer.safetensors"))
    return tmp_path / "layer.safetensors", w.astype(np.float64), b.astype(np.float64)


@pytest.mark.parametrize("ext", [".png", ".npy"])
@pytest.mark.parametrize("edge", ["zero", "replicate", "wrap"])
def test_pipeline_layer_writes_the_reference(photo, tmp_path, monkeypatch, ext, edge):
    monkeypatch.setenv("DECONV_THREADS", "2")
    layer, w, b = _layer_file(tmp_path)
    out = tmp_path / f"o{ext}"
    spec = f"{layer}:weight"
    outcome = upsample_file(photo, out, kernel=spec, bias=f"{layer}:bias", stride=2, padding=2, edge=edge)
    x = np.asarray(Image.open(photo), np.float64)
    want = edge_layer_reference(x, w, b * 255, 1, ((2, 2), (2, 2), (0, 0), (1, 1)), edge)
    assert outcome.out_shape == want.shape
    if ext == ".npy":
        np.testing.assert_allclose(np.load(out), want, rtol=1e-5, atol=2e-3)
    else:
        got = load_image(out).array.astype(np.int64)
        stored = np.clip(np.floor(want + 0.5), 0, 255)
        assert np.abs(got - stored).max() <= 1 and (got != stored).mean() < 1e-3  # float32 vs float64 at .5


def test_pipeline_one_channel_layer_npy_keeps_its_channel_axis(photo, tmp_path):
    np.save(tmp_path / "to1.npy", np.ones((3, 1, 2, 2)) / 3)
    upsample_file(photo, tmp_path / "o.npy", kernel=str(tmp_path / "to1.npy"), groups=1, stride=2)
    assert np.load(tmp_path / "o.npy").shape == (94, 122, 1)


@pytest.mark.parametrize("depth", [8, 16])
def test_pipeline_two_pass_with_a_crop_writes_the_whole_passes_cut(tmp_path, depth):
    x = (np.add.outer(np.arange(41), np.arange(37)) % 2 * (255 if depth == 8 else 65535)).astype(
        np.uint8 if depth == 8 else np.uint16
    )
    Image.fromarray(x).save(tmp_path / "g.png")
    out = tmp_path / "o.npy"
    outcome = upsample_file(
        tmp_path / "g.png", out, kernel="lanczos3", stride=2, padding=0, two_pass=True, crop="3,1,2,4"
    )
    k = make_kernel("lanczos3", 2)
    axes = Geometry.of(2, 0).axes(x.shape, k.shape)
    want = two_pass_whole(x, k, axes, Edge.zero, (0.0, float(x.max())), np.float32)[3:-1, 2:-4]
    np.testing.assert_array_equal(np.load(out), want)
    assert outcome.out_shape == want.shape


def test_pipeline_mat_offset_writes_the_convolution_plus_offset(photo, tmp_path):
    (tmp_path / "k.mat").write_text("2 2 4 -30\n1 1\n1 1\n")
    out = tmp_path / "o.png"
    upsample_file(photo, out, kernel=str(tmp_path / "k.mat"), stride=2)
    x = np.asarray(Image.open(photo), np.float32)
    want = np.clip(np.floor(conv_transpose2d(x, np.ones((2, 2)) / 4, 2) - 30 + 0.5), 0, 255)
    np.testing.assert_array_equal(load_image(out).array, want)


@pytest.mark.parametrize("mode", ["layer", "two-pass", "offset"])
def test_pipeline_peak_memory_stays_far_below_one_float_output(tmp_path, monkeypatch, mode):
    """No full-size float copy of the output (nor a full-size intermediate) exists in any mode:
    the peak of Python-tracked allocations stays under half the float32 result's size (the
    strips' buffers are a few MB per thread whatever the image's size; a layer's parts share them)."""
    monkeypatch.setenv("DECONV_THREADS", "2")
    y, x = np.mgrid[0:1500, 0:1500]
    src = tmp_path / "big.png"
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(src, compress_level=1)
    float_output = 3000 * 3000 * 3 * 4
    options: dict = {"stride": 2, "padding": 1}
    if mode == "layer":
        layer, _, _ = _layer_file(tmp_path)
        options.update(kernel=f"{layer}:weight", bias=f"{layer}:bias", padding=2, edge="replicate")
    elif mode == "two-pass":
        options.update(kernel="bicubic", padding="same", edge="renormalize", two_pass=True)
    else:
        (tmp_path / "k.mat").write_text("4 4 16 10\n" + "1 3 3 1\n" * 4)
        options.update(kernel=str(tmp_path / "k.mat"))
    tracemalloc.start()
    try:
        upsample_file(src, tmp_path / "big_x2.png", **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < float_output / 2, (peak, float_output)
    assert load_image(tmp_path / "big_x2.png").array.shape == (3000, 3000, 3)


# ---------------------------------------------------------------------------- a batch


def test_a_batch_reads_the_layer_once_and_sends_it_to_the_workers(photo, tmp_path):
    """The layer is read when the settings are made; the workers get its arrays: with the file
    gone before the run starts, every image is still computed with it."""
    from deconv_cli.batch import plan as plan_batch
    from deconv_cli.batch.runner import run_batch

    layer, w, b = _layer_file(tmp_path)
    s = Settings.of(f"{layer}:weight", bias=f"{layer}:bias", stride=2, padding=2, edge="replicate")
    layer.unlink()
    srcs = []
    for n in range(3):
        srcs.append(tmp_path / f"in{n}.png")
        with Image.open(photo) as im:
            im.rotate(90 * n, expand=True).save(srcs[-1])
    (tmp_path / "out").mkdir()
    jobs = plan_batch([str(p) for p in srcs], out_dir=str(tmp_path / "out"), name="{stem}.npy", output=None, settings=s)
    counts = run_batch(jobs, s, workers=2)
    assert counts == {"ok": 3, "skipped": 0, "failed": 0}
    for p in srcs:
        x = np.asarray(Image.open(p), np.float64)
        want = edge_layer_reference(x, w, b * 255, 1, ((2, 2), (2, 2), (0, 0), (1, 1)), "replicate")
        np.testing.assert_allclose(np.load(tmp_path / "out" / f"{p.stem}.npy"), want, rtol=1e-5, atol=2e-3)
