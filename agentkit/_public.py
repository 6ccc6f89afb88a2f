"""How public modules present the names they re-export: as `agentkit.X`, not `agentkit._x.X`.

Tracebacks, reprs and documentation then name the module a user imports from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["present_as"]


def present_as(module: str, names: Iterable[str], namespace: Mapping[str, Any]) -> None:
    """Set `__module__` to `module` on each named class or function defined in a private
    module (one with a dotted part that starts with `_`)."""
    for name in names:
        obj = namespace[name]
        home = getattr(obj, "__module__", None)
        if isinstance(home, str) and any(part.startswith("_") for part in home.split(".")):
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = module
