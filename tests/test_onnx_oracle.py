"""Cross-check against ONNX Runtime's ``ConvTranspose`` operator, an implementation written
independently of this package, of PyTorch and of tests/oracle.py.

Each case builds a one-node ONNX model in memory (weight and bias as initializers), runs it on
ONNX Runtime's CPU provider in float32 and compares it with the package computed in float64 on the
same float32-representable inputs, so the only expected difference is ORT's float32 rounding.

Coverage: 350 random cases (seeded, deterministic; 10 seeds x 20 for conv_transpose2d, 10 seeds x 15
for conv_transpose2d_layer): image 1..16 x 1..16, kernel 1..7 x 1..7, stride 1..4, dilation 1..3 and
symmetric padding drawn per axis (rows and columns independently), output_padding < stride, 1..4
channels, 2-D images, shared and per-channel kernels, groups 1 / C_in / a divisor in between, with
and without bias, image magnitudes from 0.1 to ~300.

Measured once (onnx 1.23.2, onnxruntime 1.32.0, numpy 2.4.6, x86-64 CPU), over the 350 cases:
largest absolute difference 2.5e-04 (on an output of magnitude 2.4e+03, i.e. 1.0e-07 of it); largest
relative difference, max|ours - ort| / max|ort| per case, 2.4e-07, which is also the largest
max|ours - ort| / max(1, max|ort|), so TOLERANCE has a ~40x margin. In test_the_check_has_teeth (86
mutations over 30 cases) the smallest error of a dropped kernel tap or a one-pixel shift was ~2e+04
times the tolerance. The whole file runs in ~2 s.

Where ONNX Runtime and PyTorch differ, only the common ground is tested: ORT refuses
output_padding >= stride at run time ("output_padding may be too large for stride") although
PyTorch allows it below the dilation and onnx.checker accepts the model, so those cases are left
out (test_output_padding_at_or_above_the_stride accepts either ORT refusing or ORT agreeing).
"""

from __future__ import annotations

import numpy as np
import pytest

from deconv_cli import DeconvError, conv_transpose2d
from deconv_cli.core import conv_transpose2d_layer

from oracle import reference

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

OPSET = 17  # ConvTranspose-11 semantics (opset 22 only added bfloat16); every ORT since 1.12 loads opset 17
IR_VERSION = 8  # the IR version onnx 1.12 wrote for opset 17: old and new onnxruntime releases accept it
TOLERANCE = 1e-5  # of max(1, max|ort|); float32 sums of <= 4 x 49 taps measured ~40x below it


def ort_conv_transpose(
    x, weight, bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), group=1, *, quiet=False
):
    """ONNX Runtime's ConvTranspose on a channels-last (H, W, C_in) image with a PyTorch/ONNX
    layout weight (C_in, C_out/group, kh, kw); returns the (H_out, W_out, C_out) float32 result.

    A fresh model and session every call (a few ms): nothing is shared between cases."""
    helper, tp = onnx.helper, onnx.TensorProto
    h, w, c_in = x.shape
    c_out = weight.shape[1] * group
    kh, kw = weight.shape[2:]
    inits = [onnx.numpy_helper.from_array(np.asarray(weight, np.float32), "W")]
    if bias is not None:
        inits.append(onnx.numpy_helper.from_array(np.asarray(bias, np.float32), "B"))
    node = helper.make_node(
        "ConvTranspose",
        ["X", "W"] + (["B"] if bias is not None else []),
        ["Y"],
        kernel_shape=[kh, kw],
        strides=list(stride),
        pads=[padding[0], padding[1], padding[0], padding[1]],  # [top, left, bottom, right]
        output_padding=list(output_padding),
        dilations=list(dilation),
        group=group,
    )
    graph = helper.make_graph(
        [node],
        "conv_transpose",
        [helper.make_tensor_value_info("X", tp.FLOAT, [1, c_in, h, w])],
        [helper.make_tensor_value_info("Y", tp.FLOAT, [1, c_out, "H_out", "W_out"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.log_severity_level = 4 if quiet else 3  # C++ logger: errors only; none when a refusal is expected
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    run_options = ort.RunOptions()
    run_options.log_severity_level = options.log_severity_level
    xin = np.ascontiguousarray(np.moveaxis(np.asarray(x, np.float32), -1, 0)[None])
    (y,) = session.run(None, {"X": xin}, run_options)
    return np.moveaxis(y[0], 0, -1)


def draw_geometry(rng):
    """Per axis: n 1..16, k 1..7, s 1..4, d 1..3, a < s, and symmetric padding with N_out >= 1,
    mostly within the kernel's reach, a quarter of the time anywhere in the legal range."""
    axes = []
    for _ in range(2):
        n, k, s, d = int(rng.integers(1, 17)), int(rng.integers(1, 8)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        # Only a < s: ORT refuses output_padding >= stride even where PyTorch (and deconv) allow it below d.
        a = int(rng.integers(0, s))
        p_max = ((n - 1) * s + d * (k - 1) + a) // 2  # the largest padding leaving N_out >= 1
        p = int(rng.integers(0, (p_max if rng.random() < 0.25 else min(p_max, d * (k - 1))) + 1))
        axes.append((n, k, s, p, a, d))
    (h, kh, sy, py, ay, dy), (w, kw, sx, px, ax, dx) = axes
    return (h, w), (kh, kw), (sy, sx), (py, px), (ay, ax), (dy, dx)


def draw_image(rng, h, w, c):
    """float32-representable values (ORT sees exactly what deconv sees), at magnitudes 0.1 to ~300."""
    scale = 10 ** rng.uniform(-1, 2.5)
    return (rng.standard_normal((h, w, c)) * scale).astype(np.float32).astype(np.float64)


def check(ours, ref, what):
    """Same shape, and within TOLERANCE of the magnitude; returns (max abs diff, max abs diff / max|ref|)."""
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != ORT {ref.shape}"
    err = float(np.abs(ours - ref).max())
    mag = float(np.abs(ref).max())
    assert err <= TOLERANCE * max(1.0, mag), f"{what}: max |diff| {err:.3g} at magnitude {mag:.3g}"
    return err, err / mag if mag else 0.0


def per_channel_case(rng):
    """One random conv_transpose2d case: (x, kernel, params, ours, ORT's, description); channels last or 2-D."""
    (h, w), (kh, kw), s, p, a, d = draw_geometry(rng)
    c = int(rng.integers(1, 5))
    x = draw_image(rng, h, w, c)
    per_channel = bool(rng.random() < 0.5)
    k = rng.standard_normal((c, kh, kw) if per_channel else (kh, kw)).astype(np.float32).astype(np.float64)
    weight = (k if per_channel else np.broadcast_to(k, (c, kh, kw)))[:, None]  # (C, 1, kh, kw), group = C
    ref = ort_conv_transpose(x, weight, None, s, p, a, d, group=c)
    if c == 1 and rng.random() < 0.5:  # a 2-D image gives a 2-D result
        x, ref = x[..., 0], ref[..., 0]
    ours = conv_transpose2d(x, k, s, p, a, d)
    what = f"image {x.shape} kernel {k.shape} stride {s} padding {p} output_padding {a} dilation {d}"
    return x, k, (s, p, a, d), ours, ref, what


def layer_case(rng):
    """One random conv_transpose2d_layer case: groups 1, C_in or a divisor between, bias or not."""
    (h, w), (kh, kw), s, p, a, d = draw_geometry(rng)
    c_in = int(rng.integers(1, 5))
    groups = int(rng.choice([g for g in range(1, c_in + 1) if c_in % g == 0]))
    cog = int(rng.integers(1, 4))
    x = draw_image(rng, h, w, c_in)
    weight = rng.standard_normal((c_in, cog, kh, kw)).astype(np.float32).astype(np.float64)
    bias = rng.standard_normal(cog * groups).astype(np.float32).astype(np.float64) if rng.random() < 0.5 else None
    ref = ort_conv_transpose(x, weight, bias, s, p, a, d, group=groups)
    ours = conv_transpose2d_layer(x, weight, bias, s, p, a, d, groups)
    what = (
        f"image {x.shape} weight {weight.shape} groups {groups} bias {bias is not None} "
        f"stride {s} padding {p} output_padding {a} dilation {d}"
    )
    return ours, ref, what


# ---------------------------------------------------------------- the model builder itself


def test_ort_model_hand_checked_3x3_ones():
    out = ort_conv_transpose(np.ones((3, 3, 1)), np.ones((1, 1, 3, 3)))
    assert out.shape == (5, 5, 1)
    assert out[0, :, 0].tolist() == [1, 2, 3, 2, 1]
    assert out[2, :, 0].tolist() == [3, 6, 9, 6, 3]
    np.testing.assert_array_equal(out[..., 0], conv_transpose2d(np.ones((3, 3)), np.ones((3, 3))))


def test_ort_model_agrees_with_the_reference_loop_on_padding_output_padding_dilation_and_bias():
    # The attribute plumbing (pads order, output_padding at the bottom/right, dilations, bias) against
    # tests/oracle.py, independently of the package.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 5, 1)).astype(np.float32)
    k = rng.standard_normal((3, 2)).astype(np.float32)
    s, p, a, d = (3, 2), (2, 1), (1, 1), (2, 3)
    out = ort_conv_transpose(x, k[None, None], np.array([0.5]), s, p, a, d)
    want = reference(x[..., 0].astype(np.float64), k.astype(np.float64), s, p, a, d) + 0.5
    assert out.shape == (*want.shape, 1)
    np.testing.assert_allclose(out[..., 0], want, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- random cases


@pytest.mark.parametrize("seed", range(10))
def test_conv_transpose2d_matches_ort(seed):
    rng = np.random.default_rng(2000 + seed)
    for _ in range(20):
        *_, ours, ref, what = per_channel_case(rng)
        check(ours, ref, f"seed {seed}: {what}")


@pytest.mark.parametrize("seed", range(10))
def test_conv_transpose2d_layer_matches_ort(seed):
    rng = np.random.default_rng(3000 + seed)
    for _ in range(15):
        ours, ref, what = layer_case(rng)
        check(ours, ref, f"seed {seed}: {what}")


def teeth(rng):
    """For one random case, the errors (in units of the tolerance) of three wrong answers: the result
    shifted one pixel down, one pixel right, and computed with the largest kernel tap dropped.
    None where a mutation cannot show (one row or column; a tap padding crops entirely)."""
    x, k, (s, p, a, d), ours, ref, what = per_channel_case(rng)
    tol = TOLERANCE * max(1.0, float(np.abs(ref).max()))
    o, r = (ours, ref) if ours.ndim == 3 else (ours[..., None], ref[..., None])
    down = float(np.abs(o[1:] - r[:-1]).max()) / tol if r.shape[0] > 1 else None
    right = float(np.abs(o[:, 1:] - r[:, :-1]).max()) / tol if r.shape[1] > 1 else None
    flat = np.abs(k.reshape(-1, *k.shape[-2:])).max(axis=0)
    u, v = np.unravel_index(int(np.argmax(flat)), flat.shape)
    # Does the tap land on a kept output pixel, on both axes? (input i puts it at i*s + tap*d, padding crops p)
    reaches = all(
        np.any((pos >= pd) & (pos < pd + n_out))
        for pos, pd, n_out in (
            (np.arange(x.shape[0]) * s[0] + u * d[0], p[0], r.shape[0]),
            (np.arange(x.shape[1]) * s[1] + v * d[1], p[1], r.shape[1]),
        )
    )
    dropped = None
    if reaches:
        k2 = k.copy()
        k2[..., u, v] = 0
        dropped = float(np.abs(conv_transpose2d(x, k2, s, p, a, d) - ref).max()) / tol
    return what, down, right, dropped


def test_the_check_has_teeth():
    """A dropped kernel tap or a result one pixel off fails the tolerance by orders of magnitude."""
    rng = np.random.default_rng(4000)
    seen = 0
    for _ in range(30):
        what, *ratios = teeth(rng)
        for ratio in ratios:
            if ratio is not None:
                assert ratio > 100, what
                seen += 1
    assert seen >= 60  # most cases can show most mutations


# ---------------------------------------------------------------- where deconv and ORT refuse


def test_both_refuse_an_empty_output():
    # 1x1 image, 2x2 kernel, padding 1: N_out = 0 on both axes.
    with pytest.raises(DeconvError):
        conv_transpose2d(np.ones((1, 1)), np.ones((2, 2)), padding=1)
    with pytest.raises(Exception, match="<= 0"):
        ort_conv_transpose(np.ones((1, 1, 1)), np.ones((1, 1, 2, 2)), padding=(1, 1), quiet=True)


def test_output_padding_at_or_above_the_stride():
    # PyTorch (and deconv) accept output_padding < max(stride, dilation); ONNX Runtime 1.32 refuses
    # output_padding >= stride at run time. Either answer from ORT is acceptable, a wrong one is not.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 3, 2)).astype(np.float32).astype(np.float64)
    k = rng.standard_normal((3, 2)).astype(np.float32).astype(np.float64)
    s, p, a, d = (1, 2), (0, 1), (1, 2), (2, 3)
    ours = conv_transpose2d(x, k, s, p, a, d)
    try:
        ref = ort_conv_transpose(x, np.broadcast_to(k, (2, 1, 3, 2)), None, s, p, a, d, group=2, quiet=True)
    except Exception as e:  # onnxruntime's own exception classes are not public API
        assert "output_padding" in str(e)
    else:
        check(ours, ref, "output_padding >= stride")
