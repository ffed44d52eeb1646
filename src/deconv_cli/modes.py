"""The choices and defaults of deconv, each defined once.

The command line offers these as its choices, the library checks against
them, and the README table test and the error messages list them from here.
Plain Python (no numpy), so that ``deconv --help`` can import it cheaply.
"""

from __future__ import annotations

from enum import Enum

from .errors import DeconvError

#: Default limit on the pixels of an input, and of an output as the size formula predicts it
#: before anything is allocated (16384 x 16384; a float32 RGB result that size takes 3 GiB).
DEFAULT_MAX_PIXELS = 1 << 28

#: Default pixel limit of ``deconv inspect``, applied to its input and to its output: it holds
#: three float64 results and four coverage grids of the output's size in memory, about 130
#: bytes per output pixel for a colour image (2 GiB at this limit).
INSPECT_MAX_PIXELS = 1 << 24

#: Default limit on the work of one file, in seconds of one CPU core as the strip engine's cost
#: model estimates them (on the machine it was fitted on) before anything is computed.
DEFAULT_MAX_WORK = 600.0

#: The command line's default stride and kernel.
DEFAULT_STRIDE = "2"
DEFAULT_KERNEL = "bilinear"


#: Other tools' names for deconv's choices (numpy.pad, scipy.ndimage, OpenCV, PyTorch), so a user
#: coming from them is pointed at ours.
ALIASES = {
    "mirror": "reflect",  # scipy's mirror; said with symmetric beside it, see did_you_mean
    "reflect101": "reflect",
    "reflect_101": "reflect",
    "edge": "replicate",
    "clamp": "replicate",
    "nearest": "replicate",
    "border": "replicate",
    "constant": "zero",
    "zeros": "zero",
    "circular": "wrap",
    "periodic": "wrap",
    "float": "float32",
    "double": "float64",
    "same-upper": "same",  # ONNX's SAME_UPPER is deconv's same
    "same_upper": "same",
    "same_lower": "same-lower",
}


def did_you_mean(value: str, choices: list[str]) -> str:
    """`` (did you mean X?)`` when ``value`` is close to one of ``choices`` or is another tool's
    name for one, else "".

    >>> did_you_mean("replicat", ["zero", "replicate"]), did_you_mean("Wrap", ["zero", "wrap"])
    (" (did you mean 'replicate'?)", " (did you mean 'wrap'?)")
    >>> did_you_mean("mirror", ["zero", "reflect", "symmetric"])
    " (did you mean 'reflect' (scipy's mirror) or 'symmetric' (which repeats the edge pixel)?)"
    >>> did_you_mean("xyz", ["zero", "wrap"])
    ''
    """
    import difflib

    low = value.strip().lower()
    alias = ALIASES.get(low, "")
    if low == "mirror" and {"reflect", "symmetric"} <= set(choices):
        return " (did you mean 'reflect' (scipy's mirror) or 'symmetric' (which repeats the edge pixel)?)"
    if low in choices:
        meant = low
    elif alias in choices:
        meant = alias
    else:
        close = difflib.get_close_matches(low, choices, n=1, cutoff=0.6)
        meant = close[0] if close else ""
    return f" (did you mean '{meant}'?)" if meant else ""


class Choice(str, Enum):
    """A string enumeration whose members are checked with one clear message."""

    @classmethod
    def of(cls, value: str | Choice, what: str | None = None):
        """The member named ``value`` (a member passes through), or a usage error listing the choices.

        >>> Edge.of("wrap") is Edge.wrap, Edge.of(Edge.zero) is Edge.zero
        (True, True)
        """
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            raise DeconvError(
                f"{what or cls.__name__.lower()} must be one of {', '.join(cls.values())}, got {value!r}"
                + did_you_mean(str(value), cls.values()),
                usage=True,
            ) from None

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]

    def __str__(self) -> str:
        return str(self.value)


class Edge(Choice):
    """What lies beyond the image (see :func:`deconv_cli.core.conv_transpose2d`)."""

    zero = "zero"
    replicate = "replicate"
    reflect = "reflect"
    symmetric = "symmetric"
    wrap = "wrap"
    renormalize = "renormalize"

    @property
    def pad_mode(self) -> str | None:
        """numpy's ``np.pad`` mode that extends the input for this edge, or None when nothing is added.

        ``reflect`` mirrors about the edge pixel (numpy ``reflect``, OpenCV ``BORDER_REFLECT_101``,
        PyTorch ``reflect``): ``c b | a b c | b a``; ``symmetric`` mirrors including it (numpy
        ``symmetric``, OpenCV ``BORDER_REFLECT``, scikit-image ``symmetric``): ``b a | a b c | c b``.
        """
        return {"replicate": "edge", "reflect": "reflect", "symmetric": "symmetric", "wrap": "wrap"}.get(self.value)


class Normalize(Choice):
    """How the kernel is rescaled before use (see :func:`deconv_cli.core.normalize.normalize_kernel`)."""

    none = "none"
    phase = "phase"
    sum = "sum"


class SamePadding(Choice):
    """``--padding same`` and ``same-lower``: an output of exactly ``stride x`` the input, and on
    which side an odd trim takes its extra row (see :func:`deconv_cli.core.same_padding`).

    ``same`` is TensorFlow/Keras' ``'same'`` and ONNX's ``SAME_UPPER`` (the extra row cut at the
    bottom/right); ``same-lower`` is ONNX's ``SAME_LOWER`` (cut at the top/left).

    >>> SamePadding.of("same-lower").onnx, str(SamePadding.same_upper)
    ('SAME_LOWER', 'same')
    """

    same_upper = "same"
    same_lower = "same-lower"

    @property
    def onnx(self) -> str:
        """ONNX's name for it: the ``auto_pad`` attribute of ConvTranspose."""
        return {"same": "SAME_UPPER", "same-lower": "SAME_LOWER"}[self.value]


class Alpha(Choice):
    """How an alpha channel is treated."""

    premultiply = "premultiply"
    separate = "separate"


class DType(Choice):
    """Computation precision."""

    float32 = "float32"
    float64 = "float64"


class Depth(Choice):
    """Output bits per channel; ``auto`` keeps the input's."""

    auto = "auto"
    d8 = "8"
    d16 = "16"
    float = "float"

    @property
    def bits(self) -> int | str | None:
        """None (keep the input's), 8, 16 or ``"float"``."""
        return {"auto": None, "8": 8, "16": 16, "float": "float"}[self.value]
