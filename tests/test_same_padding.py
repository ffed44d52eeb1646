"""``--padding same`` against TensorFlow's rule, and ``same`` / ``same-lower`` against ONNX Runtime's
``ConvTranspose`` with ``auto_pad=SAME_UPPER`` / ``SAME_LOWER``, for every kernel size 1..9, stride
1..4 and dilation 1..3 (per axis, t = d*(k - 1) + 1 - s rows more than stride x the input).

TensorFlow is not a dependency: its rule is a formula. ``tf.nn.conv2d_transpose(padding='SAME')`` (and
Keras' ``Conv2DTranspose(padding='same')``, whose output is ``N*s``) is the gradient of the forward
``conv2d(padding='SAME')`` whose input is ``N*s`` long; that conv pads ``max(t, 0)`` in all,
``max(t, 0) // 2`` before (tensorflow/core/framework/kernel_shape_util.cc). :func:`tf_same` writes the
transpose as that adjoint, one tap at a time, and is checked against :func:`tf_conv_same` by the
adjoint identity, so it owes nothing to deconv's own size math.

ONNX Runtime (measured with onnxruntime 1.32.0, onnx 1.23.2; ORT switched SAME_UPPER and SAME_LOWER of
ConvTranspose to the ONNX definition in 1.13, microsoft/onnxruntime#12537, and the test extra asks for
>= 1.16): where t >= 0 the output is ``N*s`` and an odd t is cut as the ONNX spec says, SAME_UPPER
``t // 2`` at the start and the larger half at the end, SAME_LOWER the larger half at the start.
Where t < 0 (kernel shorter than the stride) ORT cuts nothing and adds nothing: its output is the
full ``(N - 1)*s + d*(k - 1) + 1``, -t rows short of ``N*s``; deconv (under both modes, as
TensorFlow) is that followed by -t zero rows. Both facts are asserted here, so a change in ORT shows.

The whole file runs in a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deconv_cli import conv_transpose2d

from conftest import run
from oracle import reference

try:
    import onnx
    import onnxruntime as ort
except ImportError:  # the test extra is not installed: the TensorFlow-rule tests still run
    onnx = ort = None

needs_ort = pytest.mark.skipif(ort is None, reason="onnx and onnxruntime (the test extra) are not installed")

KERNELS = range(1, 10)
STRIDES = range(1, 5)
DILATIONS = range(1, 4)
EVERY = [(k, s, d) for k in KERNELS for s in STRIDES for d in DILATIONS]

#: Square grids hide a swapped axis and thin ones test an axis of one pixel.
SHAPES = [(3, 4), (1, 5), (5, 1)]

#: kernel (rows, cols), stride, dilation: differing per axis, with odd, even and negative t mixed.
MIXED = [
    ((3, 4), (2, 1), (1, 2)),  # t = 1, 6
    ((2, 7), (1, 3), (1, 1)),  # t = 1, 4
    ((1, 9), (4, 2), (3, 1)),  # t = -3, 7
    ((5, 2), (3, 4), (2, 3)),  # t = 6, 0
    ((4, 3), (4, 2), (2, 1)),  # t = 3, 1
    ((6, 1), (1, 3), (1, 2)),  # t = 5, -2
]


def t_of(k, s, d):
    return d * (k - 1) + 1 - s


# ---------------------------------------------------------------- TensorFlow's rule, as a formula


def tf_same_pad_before(n_out, k, s, d):
    """TensorFlow's SAME padding before a forward conv of an ``n_out``-long input (GetWindowedOutputSize):
    output ceil(n_out / s), padding needed max(0, (output - 1)*s + d*(k - 1) + 1 - n_out), half of it
    (rounded down) before."""
    out = -(-n_out // s)
    needed = max(0, (out - 1) * s + d * (k - 1) + 1 - n_out)
    return needed // 2


def tf_conv_same(y, k, stride, dilation):
    """``tf.nn.conv2d(y, k, stride, 'SAME', dilations)``: cross-correlation over y padded as TensorFlow does."""
    (sy, sx), (dy, dx) = stride, dilation
    kh, kw = k.shape
    h, w = y.shape
    oh, ow = -(-h // sy), -(-w // sx)
    py, px = tf_same_pad_before(h, kh, sy, dy), tf_same_pad_before(w, kw, sx, dx)
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            for u in range(kh):
                for v in range(kw):
                    r, c = i * sy + u * dy - py, j * sx + v * dx - px
                    if 0 <= r < h and 0 <= c < w:
                        out[i, j] += y[r, c] * k[u, v]
    return out


def tf_same(x, k, stride, dilation):
    """``tf.nn.conv2d_transpose(x, k, output_shape=(H*s, W*s), stride, 'SAME', dilations)``: the adjoint of
    :func:`tf_conv_same` on an ``(H*s, W*s)`` input; x[i, j] * k[u, v] lands on
    (i*s + u*d - pad_before), kept where that is inside the output."""
    (sy, sx), (dy, dx) = stride, dilation
    h, w = x.shape
    kh, kw = k.shape
    oh, ow = h * sy, w * sx
    py, px = tf_same_pad_before(oh, kh, sy, dy), tf_same_pad_before(ow, kw, sx, dx)
    out = np.zeros((oh, ow))
    for i in range(h):
        for j in range(w):
            for u in range(kh):
                for v in range(kw):
                    r, c = i * sy + u * dy - py, j * sx + v * dx - px
                    if 0 <= r < oh and 0 <= c < ow:
                        out[r, c] += x[i, j] * k[u, v]
    return out


def onnx_spec_same(x, k, stride, dilation, auto_pad):
    """The ONNX spec's ConvTranspose ``auto_pad``: output ``N*s``, the full output cut by
    total = (N - 1)*s + d*(k - 1) + 1 - N*s, SAME_UPPER ``total // 2`` at the start, SAME_LOWER
    ``total - total // 2``; where total < 0 nothing is cut and the rows beyond the full output are
    zeros (TensorFlow's answer; the spec leaves that case open)."""
    full = reference(x, k, stride, (0, 0), (0, 0), dilation)
    out = np.zeros((x.shape[0] * stride[0], x.shape[1] * stride[1]))
    starts = []
    for n, kk, s, d in zip(x.shape, k.shape, stride, dilation, strict=True):
        total = (n - 1) * s + d * (kk - 1) + 1 - n * s
        starts.append(0 if total < 0 else total // 2 if auto_pad == "SAME_UPPER" else total - total // 2)
    part = full[starts[0] : starts[0] + out.shape[0], starts[1] : starts[1] + out.shape[1]]
    out[: part.shape[0], : part.shape[1]] = part
    return out


def draw(rng, shape, kernel):
    """A float32-representable image and kernel (ONNX Runtime sees exactly what deconv sees)."""
    x = rng.standard_normal(shape).astype(np.float32).astype(np.float64)
    k = rng.standard_normal(kernel).astype(np.float32).astype(np.float64)
    return x, k


def test_tf_reference_hand_checked():
    # x = [1, 2], k = [1, 1, 1], stride 2: full output [1, 1, 3, 2, 2]; t = 1, cut 0 before, 1 after
    x, k = np.array([[1.0, 2.0]]), np.ones((1, 3))
    assert tf_same(x, k, (1, 2), (1, 1)).tolist() == [[1, 1, 3, 2]]
    # k = [1, 1, 1, 1]: full [1, 1, 3, 3, 2, 2], t = 2, one cut on each side
    assert tf_same(x, np.ones((1, 4)), (1, 2), (1, 1)).tolist() == [[1, 3, 3, 2]]
    # k = [1], stride 3: t = -2, full [1, 0, 0, 2], then two zeros
    assert tf_same(x, np.ones((1, 1)), (1, 3), (1, 1)).tolist() == [[1, 0, 0, 2, 0, 0]]


@pytest.mark.parametrize(
    "case", [((3, 2), 2, 1), ((4, 3), 3, 2), ((2, 5), 4, 1), ((1, 4), 1, 3), ((3, 3), (3, 2), (2, 1))]
)
def test_tf_reference_is_the_adjoint_of_tf_forward_same_conv(case):
    """<conv(y), x> = <y, conv_transpose(x)>: what makes conv2d_transpose the gradient of conv2d."""
    shape, s, d = case
    stride, dilation = (s, s) if isinstance(s, int) else s, (d, d) if isinstance(d, int) else d
    rng = np.random.default_rng(sum(shape))
    for kernel in [(1, 1), (2, 3), (3, 2), (5, 4), (7, 7)]:
        x, k = draw(rng, shape, kernel)
        y = rng.standard_normal((shape[0] * stride[0], shape[1] * stride[1]))
        lhs = float(np.sum(tf_conv_same(y, k, stride, dilation) * x))
        rhs = float(np.sum(y * tf_same(x, k, stride, dilation)))
        assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------- deconv against TensorFlow's rule


@pytest.mark.parametrize("k, s, d", EVERY)
def test_same_is_tensorflow_same(k, s, d):
    rng = np.random.default_rng(100 * k + 10 * s + d)
    for shape in SHAPES:
        x, kern = draw(rng, shape, (k, k))
        ours = conv_transpose2d(x, kern, s, "same", dilation=d)
        assert ours.shape == (shape[0] * s, shape[1] * s)
        np.testing.assert_allclose(ours, tf_same(x, kern, (s, s), (d, d)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k, s, d", EVERY)
def test_same_lower_is_the_onnx_spec_and_tensorflow_unless_t_is_odd(k, s, d):
    """same-lower cuts the larger half of an odd t at the start; for an even or a negative t there is
    no larger half and it is TensorFlow's 'same' too."""
    rng = np.random.default_rng(200 * k + 10 * s + d)
    t = t_of(k, s, d)
    for shape in SHAPES:
        x, kern = draw(rng, shape, (k, k))
        ours = conv_transpose2d(x, kern, s, "same-lower", dilation=d)
        assert ours.shape == (shape[0] * s, shape[1] * s)
        np.testing.assert_allclose(ours, onnx_spec_same(x, kern, (s, s), (d, d), "SAME_LOWER"), rtol=1e-12, atol=1e-12)
        if t < 0 or t % 2 == 0:
            np.testing.assert_allclose(ours, tf_same(x, kern, (s, s), (d, d)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, stride, dilation", MIXED)
def test_per_axis_parameters_follow_the_rule_on_each_axis(kernel, stride, dilation):
    rng = np.random.default_rng(sum(kernel) + 10 * sum(stride))
    for shape in SHAPES:
        x, k = draw(rng, shape, kernel)
        want = (shape[0] * stride[0], shape[1] * stride[1])
        same = conv_transpose2d(x, k, stride, "same", dilation=dilation)
        lower = conv_transpose2d(x, k, stride, "same-lower", dilation=dilation)
        assert same.shape == lower.shape == want
        np.testing.assert_allclose(same, tf_same(x, k, stride, dilation), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(same, onnx_spec_same(x, k, stride, dilation, "SAME_UPPER"), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lower, onnx_spec_same(x, k, stride, dilation, "SAME_LOWER"), rtol=1e-12, atol=1e-12)


def test_the_reference_check_has_teeth():
    """The other half of an odd t, or a padding of (t + 1)/2 on both sides, fails the comparison."""
    rng = np.random.default_rng(5)
    x, k = draw(rng, (3, 4), (3, 3))  # stride 2: t = 1
    tf = tf_same(x, k, (2, 2), (1, 1))
    lower = conv_transpose2d(x, k, 2, "same-lower")
    assert np.abs(lower - tf).max() > 1e-3
    full = conv_transpose2d(x, k, 2)
    assert np.abs(full[1:, 1:] - tf).max() > 1e-3
    np.testing.assert_allclose(full[:-1, :-1], tf, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- ONNX Runtime's auto_pad

OPSET = 17  # ConvTranspose-11 semantics
IR_VERSION = 8
TOLERANCE = 1e-5  # of max(1, max|ort|): ORT computes in float32


def ort_same(x, k, stride, dilation, auto_pad):
    """ONNX Runtime's ConvTranspose with ``auto_pad`` (no pads, no output_shape) on a 2-D float32 image."""
    helper, tp = onnx.helper, onnx.TensorProto
    node = helper.make_node(
        "ConvTranspose",
        ["X", "W"],
        ["Y"],
        kernel_shape=list(k.shape),
        strides=list(stride),
        dilations=list(dilation),
        auto_pad=auto_pad,
    )
    graph = helper.make_graph(
        [node],
        "same",
        [helper.make_tensor_value_info("X", tp.FLOAT, [1, 1, *x.shape])],
        [helper.make_tensor_value_info("Y", tp.FLOAT, [1, 1, "H_out", "W_out"])],
        initializer=[onnx.numpy_helper.from_array(np.asarray(k, np.float32)[None, None], "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"X": np.asarray(x, np.float32)[None, None]})
    return y[0, 0].astype(np.float64)


def close(ours, ref, what):
    err = float(np.abs(ours - ref).max())
    assert err <= TOLERANCE * max(1.0, float(np.abs(ref).max())), f"{what}: max |diff| {err:.3g}"


@needs_ort
def test_ort_cuts_an_odd_t_as_the_onnx_spec_says():
    """What ORT itself does, against the full output and nothing of deconv: kernel 3, stride 2 (t = 1),
    SAME_UPPER drops the last row and column, SAME_LOWER the first."""
    rng = np.random.default_rng(9)
    x, k = draw(rng, (3, 4), (3, 3))
    full = reference(x, k, (2, 2), (0, 0), (0, 0), (1, 1))  # 7 x 9
    close(ort_same(x, k, (2, 2), (1, 1), "SAME_UPPER"), full[:-1, :-1], "SAME_UPPER")
    close(ort_same(x, k, (2, 2), (1, 1), "SAME_LOWER"), full[1:, 1:], "SAME_LOWER")


@needs_ort
def test_ort_returns_the_full_output_where_the_kernel_is_shorter_than_the_stride():
    """Kernel 1, stride 4 (t = -3): ORT's output is (N - 1)*s + d*(k - 1) + 1 = 9 x 13, not 12 x 16."""
    rng = np.random.default_rng(10)
    x, k = draw(rng, (3, 4), (1, 1))
    full = reference(x, k, (4, 4), (0, 0), (0, 0), (1, 1))
    for auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        y = ort_same(x, k, (4, 4), (1, 1), auto_pad)
        assert y.shape == full.shape == (9, 13)
        close(y, full, auto_pad)


@needs_ort
@pytest.mark.parametrize("mode, auto_pad", [("same", "SAME_UPPER"), ("same-lower", "SAME_LOWER")])
@pytest.mark.parametrize("k, s, d", EVERY)
def test_same_modes_match_ort_auto_pad(k, s, d, mode, auto_pad):
    """Equal where t >= 0; where t < 0, ORT's shorter output followed by -t zero rows and columns."""
    rng = np.random.default_rng(300 * k + 10 * s + d)
    x, kern = draw(rng, (3, 4), (k, k))
    ours = conv_transpose2d(x, kern, s, mode, dilation=d)
    ref = ort_same(x, kern, (s, s), (d, d), auto_pad)
    t = t_of(k, s, d)
    short = max(0, -t)
    what = f"{mode} / {auto_pad}, k={k} s={s} d={d} t={t}"
    assert ref.shape == (3 * s - short, 4 * s - short), what
    assert ours.shape == (3 * s, 4 * s), what
    close(ours[: ref.shape[0], : ref.shape[1]], ref, what)
    assert not ours[ref.shape[0] :].any() and not ours[:, ref.shape[1] :].any(), what


@needs_ort
@pytest.mark.parametrize("kernel, stride, dilation", MIXED)
def test_per_axis_parameters_match_ort(kernel, stride, dilation):
    rng = np.random.default_rng(sum(kernel) * sum(dilation))
    x, k = draw(rng, (3, 4), kernel)
    for mode, auto_pad in (("same", "SAME_UPPER"), ("same-lower", "SAME_LOWER")):
        ours = conv_transpose2d(x, k, stride, mode, dilation=dilation)
        ref = ort_same(x, k, stride, dilation, auto_pad)
        shorts = [max(0, -t_of(*a)) for a in zip(kernel, stride, dilation, strict=True)]
        assert ref.shape == (3 * stride[0] - shorts[0], 4 * stride[1] - shorts[1])
        close(ours[: ref.shape[0], : ref.shape[1]], ref, mode)
        assert not ours[ref.shape[0] :].any() and not ours[:, ref.shape[1] :].any(), mode


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("mode", ["same", "same-lower"])
def test_cli_same_modes_give_the_api_result(tmp_path, mode):
    """``deconv upsample -p same`` / ``-p same-lower``, kernel 3, stride 2 (odd t): the API's array."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, (3, 4)).astype(np.uint8)
    Image.fromarray(x).save(tmp_path / "g.png")
    k = rng.standard_normal((3, 3))
    np.save(tmp_path / "k.npy", k)
    out = tmp_path / "o.npy"
    args = ["-k", tmp_path / "k.npy", "-s", 2, "-p", mode, "--dtype", "float64", "-o", out, "-q"]
    r = run("upsample", tmp_path / "g.png", *args)
    assert r.exit_code == 0, r.stderr
    got = np.load(out)
    assert got.shape == (6, 8)
    np.testing.assert_array_equal(got, conv_transpose2d(x, k, 2, mode, dtype="float64"))
    xf = x.astype(np.float64)
    want = tf_same(xf, k, (2, 2), (1, 1)) if mode == "same" else onnx_spec_same(xf, k, (2, 2), (1, 1), "SAME_LOWER")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
