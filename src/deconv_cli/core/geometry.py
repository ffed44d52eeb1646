"""Size math and geometry: the per-axis parameters, validated once, and the output size they give.

Plain Python (no numpy). Every geometric parameter is a ``(rows, cols)``
pair. :class:`Geometry` holds the parameters of one run and refuses what
PyTorch refuses when it is made; :meth:`Geometry.axes` gives, for one input
and kernel size, the :class:`AxisSize` of each axis with every term of
``N_out = (N_in - 1)*s - 2p + d*(k - 1) + a + 1``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import SupportsIndex

from ..errors import DeconvError
from ..modes import SamePadding, did_you_mean

AXES = ("rows", "cols")
SIDES = ("top", "bottom", "left", "right")

Pair = tuple[int, int]
#: (top, bottom, left, right)
Box = tuple[int, int, int, int]

# One number of a per-axis parameter written as text: plain ASCII decimal digits, an optional minus
# (refused by the range checks with the numbers named). int() would also take 1_0, +2 and non-ASCII
# digits such as the Arabic-Indic three or a fullwidth two.
_INTEGER = re.compile(r"-?[0-9]+")
_SPACE = " \t\r\n\f\v"


def as_pair(value: object, name: str) -> Pair:
    """Read one int, a ``(rows, cols)`` pair, or a string ``"2"``/``"2,3"``.

    The coercion of the Python API and the command line's parser for per-axis
    parameters; it checks the form, not the range (see :class:`Geometry`). In a
    string each number is plain ASCII decimal digits with an optional leading
    minus: no ``1_0``, no ``+2``, no non-ASCII digits.

    ``"2x3"`` is refused: image sizes are written WIDTHxHEIGHT, so a pair with an ``x`` would
    read as the opposite order of what a per-axis parameter means.

    >>> as_pair(2, "stride"), as_pair("2,3", "stride"), as_pair((1, 4), "padding")
    ((2, 2), (2, 3), (1, 4))
    """
    nums: list[int]
    if isinstance(value, str):
        if re.fullmatch(r"\s*-?[0-9]+\s*[xX×]\s*-?[0-9]+\s*", value):
            a, b = (p.strip() for p in re.split(r"[xX×]", value))
            raise DeconvError(
                f"{name} {value!r}: a per-axis pair is ROWS,COLS with a comma ({a},{b} is {a} for the rows and "
                f"{b} for the columns); WIDTHxHEIGHT is only for image sizes",
                usage=True,
            )
        parts = [p.strip(_SPACE) for p in value.strip(_SPACE).split(",")]
        try:
            if not all(_INTEGER.fullmatch(p) for p in parts):
                raise ValueError
            nums = [int(p) for p in parts]  # ValueError beyond Python's digit limit (4300)
        except ValueError:
            shown = repr(value) if len(value) <= 40 else f"{value[:40]!r}..."
            raise DeconvError(
                f"{name} {shown} is not an integer or a rows,cols pair of integers (e.g. 2 or 2,3)",
                usage=True,
            ) from None
    elif isinstance(value, bool):
        raise DeconvError(f"{name} {value!r} is not an int or a (rows, cols) pair", usage=True)
    elif isinstance(value, SupportsIndex):
        nums = [operator.index(value)]
    else:
        try:
            items = list(value)  # type: ignore[call-overload]  # anything iterable; refused below if not
            nums = [int(v) for v in items]
        except (TypeError, ValueError):
            raise DeconvError(f"{name} {value!r} is not an int or a (rows, cols) pair", usage=True) from None
        if any(int(v) != v for v in items):
            raise DeconvError(f"{name} {value!r} must hold integers", usage=True)
    if len(nums) == 1:
        return (nums[0], nums[0])
    if len(nums) == 2:
        return (nums[0], nums[1])
    raise DeconvError(f"{name} {value!r} must be one integer or a rows,cols pair, not {len(nums)} numbers", usage=True)


def check_axis(axis: str, stride: int, padding: int, output_padding: int, dilation: int) -> None:
    """PyTorch's rules for the parameters of one axis, whatever the sizes."""
    where = f" ({axis})" if axis else ""
    limits = (
        ("stride", stride, 1),
        ("dilation", dilation, 1),
        ("padding", padding, 0),
        ("output_padding", output_padding, 0),
    )
    for name, val, low in limits:
        if val < low:
            raise DeconvError(f"{name}{where} must be >= {low}, got {val}", usage=True)
    if output_padding >= stride and output_padding >= dilation:
        raise DeconvError(
            f"output_padding{where} must be smaller than the stride or the dilation, "
            f"got output_padding={output_padding}, stride={stride}, dilation={dilation}",
            usage=True,
        )


@dataclass(frozen=True)
class AxisSize:
    """The size math of one axis, every term kept for reports.

    ``n_out`` is the size the formula gives; ``trim_start`` and ``trim_end``
    are rows (or columns) cut at the start and at the end on top of the
    padding, where a ``--padding same`` cut has no PyTorch padding and output
    padding (see :func:`same_padding`); ``kept`` is what is left.

    >>> AxisSize.compute("rows", 3, 3, stride=1).n_out
    5
    """

    axis: str
    n_in: int
    kernel: int
    stride: int
    padding: int
    output_padding: int
    dilation: int
    n_out: int
    trim_end: int = 0
    trim_start: int = 0

    @classmethod
    def compute(
        cls,
        axis: str,
        n_in: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        output_padding: int = 0,
        dilation: int = 1,
    ) -> AxisSize:
        """Validate one axis as PyTorch does and compute its output size."""
        check_axis(axis, stride, padding, output_padding, dilation)
        return _axis(axis, n_in, kernel, stride, padding, output_padding, dilation)

    @property
    def full(self) -> int:
        """Size before padding is cut and output_padding added: ``(N_in - 1)*s + d*(k - 1) + 1``."""
        return (self.n_in - 1) * self.stride + self.dilation * (self.kernel - 1) + 1

    @property
    def kept(self) -> int:
        """Size after ``trim_start`` and ``trim_end``: the size of the result."""
        return self.n_out - self.trim_start - self.trim_end

    @property
    def cut(self) -> tuple[int, int]:
        """(start, end): rows cut from each end of the full output (:attr:`full`) to give the
        result; a negative end is rows of the output padding added beyond it.

        >>> AxisSize.compute("rows", 4, 3, stride=2, padding=1, output_padding=1).cut
        (1, 0)
        """
        return self.padding + self.trim_start, self.padding - self.output_padding + self.trim_end

    def pytorch(self) -> str:
        """The ``conv_transpose2d`` arguments that give this axis in PyTorch, or, where no
        single call does, the call to make and the rows to drop from its result.

        >>> AxisSize.compute("rows", 4, 3, stride=2, padding=1, output_padding=1).pytorch()
        'padding=1, output_padding=1'
        >>> AxisSize("cols", 4, 3, 2, 0, 0, 1, 9, trim_end=1).pytorch()
        'no single PyTorch call: padding=0, output_padding=0, then drop the last column'
        """
        call = f"padding={self.padding}, output_padding={self.output_padding}"
        drops = self.dropped()
        return f"no single PyTorch call: {call}, then drop {drops}" if drops else call

    def dropped(self) -> str:
        """The trims in words: ``the first row``, ``the last column``, ``the first row and the
        last row``, ``the last 2 rows``; ``""`` when there are none."""
        unit = "column" if self.axis == "cols" else "row"
        parts = [
            f"the {where} {unit}" if n == 1 else f"the {where} {n} {unit}s"
            for where, n in (("first", self.trim_start), ("last", self.trim_end))
            if n
        ]
        return " and ".join(parts)

    def formula(self) -> str:
        """The formula with this axis' numbers filled in (and the rows a same padding drops).

        >>> AxisSize.compute("rows", 3, 3, stride=1).formula()
        'N_out = (3 - 1) x 1 - 2x0 + 3 = 5'
        >>> AxisSize.compute("rows", 4, 3, stride=2, padding=1, output_padding=1, dilation=2).formula()
        'N_out = (4 - 1) x 2 - 2x1 + 2x(3 - 1) + 1 + 1 = 10'
        >>> AxisSize("rows", 4, 3, 2, 0, 0, 1, 9, trim_end=1).formula()
        'N_out = (4 - 1) x 2 - 2x0 + 3 = 9, minus the last row = 8'
        """
        head = f"N_out = ({self.n_in} - 1) x {self.stride} - 2x{self.padding}"
        if self.dilation == 1 and self.output_padding == 0:
            text = f"{head} + {self.kernel} = {self.n_out}"
        else:
            text = f"{head} + {self.dilation}x({self.kernel} - 1) + {self.output_padding} + 1 = {self.n_out}"
        drops = self.dropped()
        return f"{text}, minus {drops} = {self.kept}" if drops else text

    def as_dict(self) -> dict[str, object]:
        start, end = self.cut
        return {
            "axis": self.axis,
            "input": self.n_in,
            "kernel": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "dilation": self.dilation,
            "output": self.n_out,
            "trim_start": self.trim_start,
            "trim_end": self.trim_end,
            "kept": self.kept,
            "full": self.full,
            "cut": {"start": start, "end": end},
            "pytorch": self.pytorch(),
            "terms": {
                "(N_in - 1)*s": (self.n_in - 1) * self.stride,
                "-2p": -2 * self.padding,
                "d*(k - 1)": self.dilation * (self.kernel - 1),
                "a": self.output_padding,
                "+1": 1,
            },
            "formula": self.formula(),
        }


def _axis(
    axis: str,
    n_in: int,
    kernel: int,
    stride: int,
    padding: int,
    output_padding: int,
    dilation: int,
    trim_start: int = 0,
    trim_end: int = 0,
) -> AxisSize:
    """The size math of one axis whose parameters are known to be valid; refuses sizes below 1."""
    where = f" ({axis})" if axis else ""
    for name, val in (("input size", n_in), ("kernel size", kernel)):
        if val < 1:
            raise DeconvError(f"{name}{where} must be >= 1, got {val}", usage=True)
    spread = (n_in - 1) * stride + dilation * (kernel - 1) + output_padding + 1
    n_out = spread - 2 * padding
    if n_out <= 0:
        raise DeconvError(
            f"padding={padding}{where} is too large: N_out = {spread} - 2x{padding} = {n_out} <= 0; "
            f"the padding term -2p removes all {spread} pixels that (N_in - 1)*s + d*(k - 1) + a + 1 "
            f"spreads, so use padding <= {(spread - 1) // 2}",
            usage=True,
        )
    return AxisSize(axis, n_in, kernel, stride, padding, output_padding, dilation, n_out, trim_end, trim_start)


def same_padding(
    kernel_size: int, stride: int, dilation: int = 1, mode: SamePadding | str = SamePadding.same_upper
) -> tuple[int, int, int, int]:
    """(padding, output_padding, trim_start, trim_end) giving exactly ``stride x`` the input.

    The full output ``(N - 1)*s + d*(k - 1) + 1`` is ``t = d*(k - 1) + 1 - s``
    rows longer than ``s*N``. ``same`` (TensorFlow/Keras ``'same'``, ONNX
    ``SAME_UPPER``) cuts ``t // 2`` at the start and the rest at the end;
    ``same-lower`` (ONNX ``SAME_LOWER``) the larger half at the start. An even t
    is ``padding = t/2``. An odd t under ``same-lower`` is ``padding = (t + 1)/2``
    with one row given back at the end by ``output_padding = 1``, which PyTorch
    allows when ``s > 1`` or ``d > 1`` (else ``padding = (t - 1)/2`` and the first
    row trimmed); under ``same`` it is ``padding = (t - 1)/2`` and the last row
    trimmed, as PyTorch's padding cannot cut more at the end than at the start.
    A negative t (kernel shorter than the stride) is, under both, ``-t`` zero
    rows at the end: ``output_padding = -t``, as TensorFlow does.

    >>> same_padding(4, 2), same_padding(3, 2), same_padding(3, 2, mode="same-lower"), same_padding(1, 4)
    ((1, 0, 0, 0), (0, 0, 0, 1), (1, 1, 0, 0), (0, 3, 0, 0))
    >>> same_padding(2, 1), same_padding(2, 1, mode="same-lower")
    ((0, 0, 0, 1), (0, 0, 1, 0))
    """
    lower = SamePadding.of(mode, "padding") is SamePadding.same_lower
    t = dilation * (kernel_size - 1) + 1 - stride
    if t < 0:
        return 0, -t, 0, 0
    if t % 2 == 0:
        return t // 2, 0, 0, 0
    if not lower:
        return (t - 1) // 2, 0, 0, 1
    if stride > 1 or dilation > 1:
        return (t + 1) // 2, 1, 0, 0
    return (t - 1) // 2, 0, 1, 0


@dataclass(frozen=True)
class SidePadding:
    """Padding given per side, as ONNX's ``ConvTranspose`` gives it.

    Either ``box``, the (top, bottom, left, right) rows and columns cut from the full output
    (ONNX ``pads``, which may differ at the two ends of an axis), or ``size``, the (rows, cols) the
    output must have (ONNX ``output_shape``): its cut is ``full + output_padding - size`` per axis,
    the larger half of an odd cut at the start when ``extra_at_start`` (ONNX ``NOTSET`` and
    ``SAME_LOWER``, as ONNX Runtime does), else at the end (``SAME_UPPER``). Either way the
    output padding adds its rows at the end before the cut.

    >>> SidePadding((1, 2, 0, 3)).cuts(0, 9), SidePadding(size=(6, 6)).cuts(1, 7)
    ((1, 2), (1, 0))
    """

    box: Box = (0, 0, 0, 0)
    size: Pair | None = None
    extra_at_start: bool = True

    def __post_init__(self) -> None:
        if min(self.box) < 0:
            raise DeconvError(f"pads {list(self.box)} (top, bottom, left, right) must be >= 0", usage=True)
        if self.size is not None and min(self.size) < 1:
            raise DeconvError(f"output_shape {list(self.size)} must be >= 1", usage=True)

    def cuts(self, i: int, spread: int) -> tuple[int, int]:
        """(start, end) cut from axis ``i`` (0 rows, 1 cols) whose full output plus output padding is
        ``spread`` rows; refuses an ``output_shape`` larger than ``spread``."""
        if self.size is None:
            return self.box[2 * i], self.box[2 * i + 1]
        total = spread - self.size[i]
        if total < 0:
            raise DeconvError(
                f"output_shape {AXES[i]} {self.size[i]} is larger than the {spread} the layer gives this input; "
                "give the input size the model was made for",
                usage=True,
            )
        big, small = total - total // 2, total // 2
        return (big, small) if self.extra_at_start else (small, big)

    @property
    def text(self) -> str:
        """As reports show it: ``pads 1,2,0,3 (top,bottom,left,right)`` or ``output_shape 6,6``."""
        if self.size is not None:
            where = "start" if self.extra_at_start else "end"
            return f"output_shape {self.size[0]},{self.size[1]} (an odd cut's extra row at the {where})"
        return f"pads {','.join(map(str, self.box))} (top,bottom,left,right)"


@dataclass(frozen=True)
class Geometry:
    """The per-axis parameters of a transpose convolution, validated when made.

    ``padding`` is a (rows, cols) pair, or a :class:`~deconv_cli.modes.SamePadding`:
    the padding (and output padding, and a one-row trim at the start or the end
    where no PyTorch padding gives the cut) that makes the output exactly
    ``stride x`` the input, chosen per kernel size by :func:`same_padding` in
    :meth:`axes`; or a :class:`SidePadding` (ONNX ``pads`` that differ at the two
    ends of an axis, or an ``output_shape``): the smaller end's cut is the PyTorch
    padding and the rest a trim at the other end. A Geometry that exists is valid, so it travels through
    batches and workers without being checked again.

    >>> g = Geometry(stride=(2, 2), padding=(1, 1))
    >>> [ax.n_out for ax in g.axes((3, 4), (4, 4))]
    [6, 8]
    >>> [ax.cut for ax in Geometry((2, 2), SamePadding.same_upper).axes((3, 3), (3, 3))]
    [(0, 1), (0, 1)]
    >>> lower = Geometry((2, 2), SamePadding.same_lower)
    >>> [(ax.padding, ax.output_padding, ax.cut) for ax in lower.axes((3, 3), (3, 3))]
    [(1, 1, (1, 0)), (1, 1, (1, 0))]
    """

    stride: Pair = (1, 1)
    padding: Pair | SamePadding | SidePadding = (0, 0)
    output_padding: Pair = (0, 0)
    dilation: Pair = (1, 1)

    def __post_init__(self) -> None:
        if isinstance(self.padding, SamePadding):
            if self.output_padding != (0, 0):
                raise DeconvError(
                    f"--padding {self.padding} chooses the output_padding itself; drop --output-padding", usage=True
                )
            pad: Pair = (0, 0)
        elif isinstance(self.padding, SidePadding):
            pad = (0, 0)
        else:
            pad = self.padding
        for i, axis in enumerate(AXES):
            check_axis(axis, self.stride[i], pad[i], self.output_padding[i], self.dilation[i])

    @classmethod
    def of(cls, stride: object = 1, padding: object = 0, output_padding: object = 0, dilation: object = 1) -> Geometry:
        """The Python API's and the command line's boundary: ints, pairs or strings, ``"same"`` or
        ``"same-lower"`` (any case; or a :class:`~deconv_cli.modes.SamePadding`) for the padding.

        >>> Geometry.of("2,3", "same").stride, Geometry.of(2, "same").same, Geometry.of(2, "Same-Lower").same_mode
        ((2, 3), True, <SamePadding.same_lower: 'same-lower'>)
        """
        return cls(
            as_pair(stride, "stride"),
            padding_of(padding),
            as_pair(output_padding, "output_padding"),
            as_pair(dilation, "dilation"),
        )

    @property
    def same(self) -> bool:
        """True under either same mode (``same`` or ``same-lower``)."""
        return isinstance(self.padding, SamePadding)

    @property
    def same_mode(self) -> SamePadding | None:
        """The same mode, or None for a numeric padding."""
        return self.padding if isinstance(self.padding, SamePadding) else None

    @property
    def label(self) -> str:
        """The stride as output names show it: ``2``, or ``2x3`` (rows x cols) when the axes differ."""
        sy, sx = self.stride
        return str(sy) if sy == sx else f"{sy}x{sx}"

    def params(self, axes: tuple[AxisSize, AxisSize]) -> dict[str, object]:
        """The parameters as reports give them, for the size math ``axes`` of this geometry.

        ``padding`` and ``output_padding`` are PyTorch's (as chosen under a same
        mode); ``trim_start`` and ``trim_end`` the rows and columns dropped on top of
        them; ``cut`` the rows and columns cut from each side of the full output
        ``(N_in - 1)*s + d*(k - 1) + 1`` (negative: zero rows added by the output
        padding); ``pytorch`` the call that gives each axis, or what to do where no
        single call does.

        >>> g = Geometry.of(2, "same")
        >>> p = g.params(g.axes((4, 4), (3, 3)))
        >>> p["same_mode"], p["cut"]
        ('same', {'top': 0, 'bottom': 1, 'left': 0, 'right': 1})
        >>> print(p["pytorch"]["rows"])
        no single PyTorch call: padding=0, output_padding=0, then drop the last row
        """
        rows, cols = axes
        mode = self.same_mode
        side = self.padding if isinstance(self.padding, SidePadding) else None
        return {
            "stride": list(self.stride),
            "side_padding": None if side is None else side.text,
            "padding": [rows.padding, cols.padding],
            "output_padding": [rows.output_padding, cols.output_padding],
            "dilation": list(self.dilation),
            "same": self.same,
            "same_mode": None if mode is None else mode.value,
            "trim_start": [rows.trim_start, cols.trim_start],
            "trim_end": [rows.trim_end, cols.trim_end],
            "cut": dict(zip(SIDES, (*rows.cut, *cols.cut), strict=True)),
            "pytorch": {ax.axis: ax.pytorch() for ax in axes},
        }

    def axes(self, n_in: Pair, kernel: Pair) -> tuple[AxisSize, AxisSize]:
        """The size math of both axes for an input of ``n_in`` (rows, cols) and a kernel of ``kernel``.

        Raises :class:`DeconvError` (usage) when a size is below 1 or the padding leaves no output.
        """
        out = []
        for i, axis in enumerate(AXES):
            s, d = self.stride[i], self.dilation[i]
            if isinstance(self.padding, SamePadding):
                p, a, trim_start, trim_end = same_padding(kernel[i], s, d, self.padding)
            elif isinstance(self.padding, SidePadding):
                a = self.output_padding[i]
                spread = (n_in[i] - 1) * s + d * (kernel[i] - 1) + 1 + a
                start, end = self.padding.cuts(i, spread)
                if spread - start - end < 1:
                    raise DeconvError(
                        f"{self.padding.text} leaves no output ({axis}): the layer gives {spread} for an input of "
                        f"{n_in[i]} and the pads cut {start} + {end}",
                        usage=True,
                    )
                p = min(start, end)
                trim_start, trim_end = start - p, end - p
            else:
                p, a, trim_start, trim_end = self.padding[i], self.output_padding[i], 0, 0
            out.append(_axis(axis, n_in[i], kernel[i], s, p, a, d, trim_start, trim_end))
        return out[0], out[1]


def padding_of(value: object) -> Pair | SamePadding | SidePadding:
    """A padding as :meth:`Geometry.of` reads it: a :class:`~deconv_cli.modes.SamePadding`, one of
    its names as a string (any case), or what :func:`as_pair` reads.

    >>> padding_of(" SAME "), padding_of("1,2")
    (<SamePadding.same_upper: 'same'>, (1, 2))
    """
    if isinstance(value, (SamePadding, SidePadding)):
        return value
    if isinstance(value, str):
        text = value.strip(_SPACE).lower()
        if text in SamePadding.values():
            return SamePadding(text)
        try:
            return as_pair(value, "padding")
        except DeconvError as e:
            maybe = did_you_mean(value, SamePadding.values())
            raise DeconvError(f"{e}, nor one of {', '.join(SamePadding.values())}{maybe}", usage=True) from None
    return as_pair(value, "padding")


def size_math(
    input_size: object,
    kernel_size: object,
    stride: object = 1,
    padding: object = 0,
    output_padding: object = 0,
    dilation: object = 1,
) -> tuple[AxisSize, AxisSize]:
    """Validate the parameters and return the size math of both axes.

    >>> rows, cols = size_math((3, 4), 3, stride=(1, 2))
    >>> rows.n_out, cols.n_out
    (5, 9)
    """
    geometry = Geometry.of(stride, padding, output_padding, dilation)
    return geometry.axes(as_pair(input_size, "input size"), as_pair(kernel_size, "kernel size"))


def output_size(
    input_size: object,
    kernel_size: object,
    stride: object = 1,
    padding: object = 0,
    output_padding: object = 0,
    dilation: object = 1,
) -> Pair:
    """Output ``(H_out, W_out)`` of a transpose convolution, per axis
    ``(N_in - 1)*s - 2p + d*(k - 1) + a + 1``.

    Parameters
    ----------
    input_size, kernel_size : int or (int, int)
        ``N_in`` and ``k`` per axis (rows, cols).
    stride, padding, output_padding, dilation : int or (int, int)
        As in PyTorch's ``conv_transpose2d``; ``padding`` may also be
        ``"same"`` or ``"same-lower"`` (exactly ``stride x`` the input).

    Raises
    ------
    DeconvError
        (``usage=True``) for a parameter PyTorch would refuse or an output of
        size <= 0.

    Examples
    --------
    >>> output_size(3, 3, stride=1)
    (5, 5)
    >>> output_size((512, 384), 4, stride=2, padding=1)
    (1024, 768)
    >>> output_size(3, (2, 3), stride=2, padding="same")
    (6, 6)
    """
    rows, cols = size_math(input_size, kernel_size, stride, padding, output_padding, dilation)
    return rows.kept, cols.kept


def edge_extension(axis: AxisSize) -> tuple[int, int]:
    """Input pixels to add before and after one axis so that every kept output pixel
    receives all the taps an interior pixel of its stride phase receives.

    >>> edge_extension(AxisSize.compute("rows", 10, 4, stride=2, padding=1))
    (1, 1)
    >>> edge_extension(AxisSize.compute("rows", 10, 4, stride=2, padding=3))
    (0, 0)
    """
    reach = axis.dilation * (axis.kernel - 1)
    before = max(0, -((axis.padding - reach) // axis.stride))  # ceil((reach - p) / s)
    after = max(0, (reach + axis.output_padding - axis.padding) // axis.stride)
    return before, after


@dataclass(frozen=True)
class Crop:
    """What is cut from the result: nothing, the deficient border (``auto``), or a box.

    >>> Crop.parse("auto").auto, Crop.parse("2").box, Crop.parse("1,2,3,4").box, Crop.parse(None).mode
    (True, (2, 2, 2, 2), (1, 2, 3, 4), 'none')
    """

    auto: bool = False
    box: Box = (0, 0, 0, 0)

    @classmethod
    def parse(cls, spec: object) -> Crop:
        """``none``, ``auto``, ``N`` (every side) or ``T,B,L,R``; a Crop passes through."""
        if isinstance(spec, Crop):
            return spec
        text = "none" if spec is None else str(spec).strip(" ").lower()
        if len(text) > 200:
            raise DeconvError(
                f"crop {text[:40]!r}...: too long; give none, auto, N or TOP,BOTTOM,LEFT,RIGHT", usage=True
            )
        if text == "none":
            return cls()
        if text == "auto":
            return cls(auto=True)
        parts = [v.strip(" ") for v in text.split(",")]
        nums = [int(v) for v in parts] if all(_INTEGER.fullmatch(v) for v in parts) else []
        if len(nums) == 1:
            nums *= 4
        if len(nums) != 4 or min(nums) < 0:
            raise DeconvError(
                f"crop {spec!r} must be none, auto, N or TOP,BOTTOM,LEFT,RIGHT (integers >= 0)", usage=True
            )
        return cls(box=(nums[0], nums[1], nums[2], nums[3]))

    @property
    def mode(self) -> str:
        """``auto``, ``explicit`` or ``none``."""
        return "auto" if self.auto else ("explicit" if any(self.box) else "none")
