"""The ``deconv`` command: parses once into typed values, calls the library, formats, exits.

:mod:`.app` holds the Typer apps and what every command shares; each command module
registers its commands on them when imported.
"""

from . import commands, layers, upsample  # noqa: F401  (registers the commands)
from .app import app, kernel_app, main, use_deconv_commands

use_deconv_commands(app, kernel_app)

__all__ = ["app", "kernel_app", "main"]
