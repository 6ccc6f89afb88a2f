"""httpx's command line, loaded when it is used rather than with httpx.

`import httpx` imports its own command line (`httpx._main`: click, rich's console and syntax,
pygments) whenever click is installed, which any of the `mcp`, `ray` and `dbos` extras brings:
~50-60 ms of a run's 0.35 s cold start for a client that never uses it (`benchmarks/bench.py`
figure 4; upstream, encode/httpx#3547 moves that import). `defer()` puts a stand-in for
`httpx._main` in `sys.modules` before httpx is imported: httpx's `from ._main import main`
takes the stand-in's `main`, which imports the real command line when called, and the
stand-in leaves `sys.modules` at that moment, so a later `import httpx._main` loads the real
module. Nothing changes when httpx was imported already, or once httpx has been imported.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__all__ = ["defer"]

_NAME = "httpx._main"


def defer() -> None:
    """Have httpx load its command line on first use (see the module docstring)."""
    if "httpx" not in sys.modules and _NAME not in sys.modules:
        sys.modules[_NAME] = _StandIn(_NAME)


def main(*args: Any, **kwargs: Any) -> Any:
    """`httpx.main`, the `httpx` command: the real one, imported now."""
    return _real().main(*args, **kwargs)


def _real() -> ModuleType:
    if isinstance(sys.modules.get(_NAME), _StandIn):
        del sys.modules[_NAME]
    return importlib.import_module(_NAME)


class _StandIn(ModuleType):
    """`httpx._main` while httpx is being imported: asked for `main` (httpx's own import),
    it hands over the lazy `main` and steps aside; asked for anything else, the real module's
    (but what the import system probes, `__path__` and the like: a module's own)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "main":
            if sys.modules.get(_NAME) is self:
                del sys.modules[_NAME]
            return main
        return getattr(_real(), name)
