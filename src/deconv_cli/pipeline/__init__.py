"""One file in, one file out: the settings of a run (:mod:`.settings`), an upsample
(:mod:`.upsample`) and an inspection (:mod:`.inspect`)."""

from .inspect import (
    INSPECT_MAX_PIXELS,
    SYNTHETIC_MAX_SIDE,
    SYNTHETIC_VALUE,
    Inspection,
    inspect,
    inspect_image,
    parse_size,
)
from .settings import Settings
from .upsample import Outcome, default_output, output_suffix, process, upsample_file

__all__ = [
    "INSPECT_MAX_PIXELS",
    "SYNTHETIC_MAX_SIDE",
    "SYNTHETIC_VALUE",
    "Inspection",
    "Outcome",
    "Settings",
    "default_output",
    "inspect",
    "inspect_image",
    "output_suffix",
    "parse_size",
    "process",
    "upsample_file",
]
