"""Built-in interpolation kernels, generated for any stride.

Every built-in is a continuous, symmetric function ``f(x)`` of the distance
``x`` in *input* pixels, with a support ``R`` (``f(x) = 0`` for ``|x| >= R``).
For a stride ``s`` it is sampled at half-pixel centres, the way Pillow's
resize places output pixels: output pixel ``o`` sits at input coordinate
``(o + 0.5) / s - 0.5``, so the taps of the kernel are at the distances

    x_u = (u - (k - 1) / 2) / s,        u = 0 .. k - 1,

with ``k`` the number of such positions inside the support (``|x_u| < R``),
which is ``k = 2 R s - s % 2`` whenever ``R s`` is an integer. The taps are
then divided, one stride phase at a time (taps ``u, u + s, u + 2s, ...``),
by their sum: every phase sums to 1, a constant image comes out flat (no
checkerboard) and the whole 1-D kernel sums to ``s``. The 2-D kernel is the
outer product of the kernels for the row and the column stride.

Because ``k`` has the parity of ``s``, the padding ``(k - s) / 2`` is an
integer and gives exactly ``s`` times the input on each side alike:
``(N - 1) s - (k - s) + k = N s``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core import Pair, as_pair
from ..errors import DeconvError
from .limits import MAX_KERNEL_TAPS
from .source import SHOWN_NAME, parse_number, show, show_name

#: Below this sigma the Gaussian's support is nearest's 0.5, one tap per stride phase (see _gaussian_log).
_NEAREST_SIGMA = 1 / 6


def _box(x: np.ndarray, p: dict[str, float]) -> np.ndarray:
    return (np.abs(x) <= 0.5).astype(np.float64)


def _triangle(x: np.ndarray, p: dict[str, float]) -> np.ndarray:
    return np.maximum(0.0, 1.0 - np.abs(x))


def _keys_cubic(x: np.ndarray, p: dict[str, float]) -> np.ndarray:
    a, x = p["a"], np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _lanczos(a: int) -> Callable[[np.ndarray, dict[str, float]], np.ndarray]:
    def f(x: np.ndarray, p: dict[str, float]) -> np.ndarray:
        return np.where(np.abs(x) < a, np.sinc(x) * np.sinc(x / a), 0.0)

    return f


def _gaussian_log(x: np.ndarray, p: dict[str, float]) -> np.ndarray:
    # For sigma <= 1/6 the support is max(3 sigma, 0.5) = 0.5: every stride phase holds a single tap,
    # normalised to 1 whatever its weight. Computing the weights with sigma >= 1/6 then gives the same
    # kernel, exactly, without (x / sigma)**2 overflowing for a tiny sigma such as 1e-300.
    return -0.5 * (x / max(p["sigma"], _NEAREST_SIGMA)) ** 2


@dataclass(frozen=True)
class Filter:
    """One built-in kernel: its continuous function of ``|x|`` (input pixels), support and parameters.

    ``weights(x, params)`` gives ``f(x)``; when ``log`` is True it gives
    ``log f(x)`` instead (the Gaussian), so that phases far out in the tail
    are normalised without underflow.
    """

    name: str
    weights: Callable[[np.ndarray, dict[str, float]], np.ndarray]
    support: Callable[[dict[str, float]], float]
    defaults: dict[str, float]
    log: bool = False

    def check(self, params: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            takes = f"takes {', '.join(sorted(self.defaults))}" if self.defaults else "takes no parameters"
            raise DeconvError(
                f"kernel {self.name}: unknown parameter {show(unknown[0], SHOWN_NAME)}; {self.name} {takes}", usage=True
            )
        for key, value in params.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise DeconvError(f"kernel {self.name}: {key} must be a number, got {type(value).__name__}", usage=True)
            if not math.isfinite(value):
                raise DeconvError(f"kernel {self.name}: {key} must be a finite number, got {value}", usage=True)
        full = {**self.defaults, **{key: float(value) for key, value in params.items()}}
        if self.name == "gaussian" and not full["sigma"] > 0:
            raise DeconvError(f"kernel gaussian: sigma must be > 0, got {full['sigma']:g}", usage=True)
        return full


FILTERS: dict[str, Filter] = {
    f.name: f
    for f in [
        Filter("nearest", _box, lambda p: 0.5, {}),  # each input pixel copied into its s x s cell
        Filter("bilinear", _triangle, lambda p: 1.0, {}),  # 1 - |x|: the FCN/Caffe bilinear filter
        Filter("bicubic", _keys_cubic, lambda p: 2.0, {"a": -0.5}),  # Keys; a = -0.5 is Pillow's BICUBIC
        Filter("lanczos2", _lanczos(2), lambda p: 2.0, {}),  # sinc(x) sinc(x/2)
        Filter("lanczos3", _lanczos(3), lambda p: 3.0, {}),  # sinc(x) sinc(x/3): Pillow's LANCZOS
        # exp(-x^2 / 2 sigma^2), sigma in input pixels, cut at 3 sigma but never narrower than nearest's 0.5
        Filter("gaussian", _gaussian_log, lambda p: max(3.0 * p["sigma"], 0.5), {"sigma": 0.5}, log=True),
    ]
}
BUILTIN = tuple(FILTERS)


def parse_builtin(spec: str) -> tuple[Filter, dict[str, float]] | None:
    """``name`` or ``name:key=value[,key=value]`` -> (filter, all parameters); None if not a built-in name.

    Values are plain ASCII decimal numbers, each key given once.

    >>> f, p = parse_builtin("Gaussian:sigma=1.2")
    >>> f.name, p
    ('gaussian', {'sigma': 1.2})
    >>> parse_builtin("kernels/k.npy") is None
    True
    """
    name, sep, rest = spec.strip().partition(":")
    f = FILTERS.get(name.strip().lower())
    if f is None:
        return None
    params: dict[str, float] = {}
    for item in filter(None, (i.strip() for i in rest.split(","))) if sep else ():
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        number = parse_number(value.strip())
        if not eq or not key or number is None:
            raise DeconvError(
                f"kernel {show(spec)}: parameters are written name:key=value (e.g. gaussian:sigma=1.2), "
                f"got {show(item, SHOWN_NAME)}",
                usage=True,
            )
        if key in params:
            raise DeconvError(f"kernel {show(spec)}: parameter {show_name(key)} is given twice", usage=True)
        if not math.isfinite(number):
            raise DeconvError(f"kernel {show(spec)}: {key} must be a finite number", usage=True)
        params[key] = number
    return f, f.check(params)


def _resolve(name: str, params: dict[str, float]) -> tuple[Filter, dict[str, float]]:
    found = parse_builtin(name)
    if found is None:
        raise DeconvError(f"unknown built-in kernel {name!r}; built-ins are: {', '.join(BUILTIN)}", usage=True)
    f, p = found
    return f, f.check({**p, **params})


def tap_count(support: float, stride: int) -> int:
    """Number of taps at half-pixel centres strictly inside ``support`` input pixels, with the parity of ``stride``.

    >>> [tap_count(2.0, s) for s in (1, 2, 3, 4, 5)]   # bicubic: 4s - s % 2
    [3, 8, 11, 16, 19]
    >>> tap_count(0.5, 4), tap_count(0.5, 3)           # nearest: s
    (4, 3)
    """
    reach = round(support * stride, 9)  # in output pixels; rounded so that 3 * 0.7 * 5 counts as 10.5
    if not reach <= MAX_KERNEL_TAPS:  # also inf and NaN: a support no kernel can have
        raise DeconvError(
            f"a support of {support:g} input pixels at stride {stride} needs more than {MAX_KERNEL_TAPS} taps "
            "a side; use a smaller stride or parameter",
            usage=True,
        )
    if stride % 2:
        return 2 * (math.ceil(reach) - 1) + 1
    return 2 * math.ceil(reach - 0.5)


def kernel_1d(name: str, stride: int, **params: float) -> np.ndarray:
    """The 1-D built-in kernel for one axis: sampled at half-pixel centres, every stride phase summing to 1.

    Parameters
    ----------
    name : str
        A built-in name, optionally with parameters (``gaussian:sigma=1.2``).
    stride : int
    **params : float
        Parameters, overriding those in ``name``.

    Returns
    -------
    taps : (k,) ndarray of float64
        ``k = tap_count(support, stride)``.

    Examples
    --------
    >>> kernel_1d("bilinear", 2).tolist()
    [0.25, 0.75, 0.75, 0.25]
    >>> np.round(kernel_1d("bicubic", 2), 6).tolist()
    [-0.023438, -0.070312, 0.226562, 0.867188, 0.867188, 0.226562, -0.070312, -0.023438]
    """
    f, p = _resolve(name, params)
    if stride < 1:
        raise DeconvError(f"stride must be >= 1 to build a kernel, got {stride}", usage=True)
    return _taps_1d(name, f, p, stride)


def _taps_1d(name: str, f: Filter, p: dict[str, float], stride: int) -> np.ndarray:
    """:func:`kernel_1d` of a resolved filter for a stride >= 1."""
    k = tap_count(f.support(p), stride)
    if k * k > MAX_KERNEL_TAPS:
        raise DeconvError(
            f"kernel {show_name(name)}: at stride {stride} it needs {k}x{k} taps, "
            f"more than the {MAX_KERNEL_TAPS} allowed; use a smaller stride or parameter",
            usage=True,
        )
    x = np.abs(np.arange(k) - (k - 1) / 2) / stride  # every function is even: |x| keeps the taps symmetric
    out = np.empty(k)
    try:
        # a parameter far out of the ordinary (bicubic:a=1e308) overflows: an error here, never a warning
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            w = f.weights(x, p)
            for r in range(stride):
                phase = w[r::stride]
                if f.log:  # exp(log w - max) then normalise: exact, and no underflow far out in the tail
                    phase = np.exp(phase - phase.max())
                total = phase.sum()
                if not abs(total) > 1e-9 * float(np.abs(phase).sum()):
                    raise DeconvError(
                        f"kernel {show_name(name)}: stride phase {r} of {stride} sums to 0 and cannot be normalised",
                        usage=True,
                    )
                out[r::stride] = phase / total
            return (out + out[::-1]) / 2  # mirrored phases are normalised by sums added in another order
    except FloatingPointError:
        raise DeconvError(
            f"kernel {show_name(name)}: at stride {stride} its weights overflow and cannot be normalised; "
            "give a parameter of ordinary size",
            usage=True,
        ) from None


def bilinear_1d(stride: int) -> np.ndarray:
    """The FCN / Caffe bilinear upsampling filter for one axis, size ``2s - s % 2``.

    Every stride phase sums to 1, so a constant image comes out flat, and
    with padding ``s // 2`` the output is exactly ``s`` times the input.

    >>> bilinear_1d(2).tolist()
    [0.25, 0.75, 0.75, 0.25]
    >>> np.round(bilinear_1d(3) * 3).tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    return kernel_1d("bilinear", stride)


def make_kernel(name: str, stride: int | Pair | str = 2, **params: float) -> np.ndarray:
    """Generate a built-in kernel for a stride.

    Parameters
    ----------
    name : str
        ``nearest``, ``bilinear``, ``bicubic`` (``bicubic:a=-0.75`` for
        OpenCV's and PyTorch's cubic), ``lanczos2``, ``lanczos3`` or
        ``gaussian`` (``gaussian:sigma=1.2``); see :data:`FILTERS`.
    stride : int or (int, int)
    **params : float
        Parameters, overriding those written in ``name``.

    Returns
    -------
    kernel : (kh, kw) ndarray of float64
        The outer product of :func:`kernel_1d` for the row and the column
        stride. Every stride phase sums to 1, the kernel to ``sy * sx``.

    Examples
    --------
    >>> make_kernel("nearest", (1, 2)).shape
    (1, 2)
    >>> make_kernel("bilinear", 2).shape, float(make_kernel("bilinear", 2).sum())
    ((4, 4), 4.0)
    >>> make_kernel("lanczos3", (2, 3)).shape
    (12, 17)
    >>> make_kernel("gaussian", 2, sigma=1.0).shape
    (12, 12)
    """
    sy, sx = as_pair(stride, "stride")
    if sy < 1 or sx < 1:
        raise DeconvError(f"stride must be >= 1 to build a kernel, got {sy},{sx}", usage=True)
    return build(name, (sy, sx), **params)


def build(name: str, stride: Pair, **params: float) -> np.ndarray:
    """:func:`make_kernel` for a stride already checked (a run's :class:`~deconv_cli.core.Geometry`)."""
    sy, sx = stride
    f, p = _resolve(name, params)
    rows = _taps_1d(name, f, p, sy)
    cols = rows if sx == sy else _taps_1d(name, f, p, sx)
    if rows.size * cols.size > MAX_KERNEL_TAPS:
        raise DeconvError(
            f"kernel {show_name(name)}: at stride {sy},{sx} it needs {rows.size}x{cols.size} taps, "
            f"more than the {MAX_KERNEL_TAPS} allowed",
            usage=True,
        )
    return np.outer(rows, cols)


def intended_padding(name: str, stride: int | Pair | str, **params: float) -> Pair:
    """The padding with which a built-in kernel gives exactly ``stride x`` the input: ``(k - s) / 2`` per axis.

    It is what ``--padding same`` chooses for these kernels (the tap count
    has the parity of the stride, so no output padding is needed).

    >>> intended_padding("bilinear", 2), intended_padding("bilinear", 3), intended_padding("nearest", 4)
    ((1, 1), (1, 1), (0, 0))
    >>> intended_padding("bicubic", (2, 3)), intended_padding("lanczos3", 4)
    ((3, 4), (10, 10))
    """
    f, p = _resolve(name, params)
    pads = []
    for s in as_pair(stride, "stride"):
        if s < 1:
            raise DeconvError(f"stride must be >= 1 to build a kernel, got {s}", usage=True)
        pads.append((tap_count(f.support(p), s) - s) // 2)
    return pads[0], pads[1]
