"""A package's names imported from its submodules when first asked for (PEP 562), so that
importing the package costs nothing until one is used."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def exports(package: str, where: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: name -> ``getattr(package.where[name], name)``,
    kept in ``namespace`` (the package's globals) once imported.

    >>> namespace = {}
    >>> getattr_ = exports("json", {"JSONEncoder": "encoder"}, namespace)
    >>> import json.encoder
    >>> getattr_("JSONEncoder") is json.encoder.JSONEncoder, list(namespace)
    (True, ['JSONEncoder'])
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    return __getattr__
