"""The ``deconv`` command: parses once into typed values, calls the library, formats, exits.

:mod:`.app` holds the Typer apps and what every command shares; each command module
registers its commands on them when imported.

The modules that define commands evaluate their annotations when they are defined (no ``from
__future__ import annotations``): Typer reads every command's signature at each start, and
evaluates string annotations twice (``get_type_hints`` and ``inspect.signature``), 15-20 ms of
every command's start for deconv's 20 commands (tests/test_startup.py holds this).
"""

from . import commands, layers, upsample  # noqa: F401  (registers the commands)
from .app import app, kernel_app, main, use_deconv_commands

use_deconv_commands(app, kernel_app)

__all__ = ["app", "kernel_app", "main"]
