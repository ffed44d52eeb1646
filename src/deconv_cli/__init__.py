"""deconv: image upsampling by transpose convolution.

>>> import numpy as np
>>> from deconv_cli import conv_transpose2d, output_size
>>> output_size(3, 3, stride=1)
(5, 5)
>>> conv_transpose2d(np.ones((3, 3)), np.ones((3, 3))).shape
(5, 5)

The public names are loaded on first use, so importing the package (and
starting the command line) does not pay for numpy or Pillow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import DeconvError
from .lazy import exports
from .version import __version__

_EXPORTS = {
    "conv_transpose2d": "core",
    "conv_transpose2d_layer": "core",
    "upsample": "core",
    "output_size": "core",
    "size_math": "core",
    "phase_sums": "core",
    "coverage": "core",
    "plan": "core",
    "Geometry": "core",
    "load_kernel": "kernels",
    "open_kernel": "kernels",
    "make_kernel": "kernels",
    "load_image": "imageio",
    "save_image": "imageio",
    "ImageData": "imageio",
    "Settings": "pipeline",
    "upsample_file": "pipeline",
    "inspect_image": "pipeline",
}

__all__ = [
    "DeconvError",
    "Geometry",
    "ImageData",
    "Settings",
    "__version__",
    "conv_transpose2d",
    "conv_transpose2d_layer",
    "coverage",
    "inspect_image",
    "load_image",
    "load_kernel",
    "make_kernel",
    "open_kernel",
    "output_size",
    "phase_sums",
    "plan",
    "save_image",
    "size_math",
    "upsample",
    "upsample_file",
]

if TYPE_CHECKING:
    from .core import (
        Geometry,
        conv_transpose2d,
        conv_transpose2d_layer,
        coverage,
        output_size,
        phase_sums,
        plan,
        size_math,
        upsample,
    )
    from .imageio import ImageData, load_image, save_image
    from .kernels import load_kernel, make_kernel, open_kernel
    from .pipeline import Settings, inspect_image, upsample_file


def main() -> None:
    """The ``deconv`` command. ``deconv --version`` alone is answered before Typer (about 60 ms
    of imports) is loaded; everything else goes to :func:`deconv_cli.cli.main`, and the process
    then ends without the interpreter's teardown (:func:`deconv_cli.leave.leave`)."""
    import sys

    if sys.argv[1:] == ["--version"]:
        print(f"deconv {__version__}")
        return
    try:
        from .cli import main as cli_main

        cli_main()
        code = 0
    except KeyboardInterrupt:  # Ctrl-C before the command's own handling is set up (Typer's start)
        sys.stderr.write("deconv: interrupted\n")
        code = 130
    except SystemExit as e:
        if e.code is not None and not isinstance(e.code, int):
            raise  # a message for Python's exit to print
        code = e.code or 0
    from .leave import leave

    leave(code)  # without the interpreter's teardown: 40-60 ms


__getattr__ = exports(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(__all__)
