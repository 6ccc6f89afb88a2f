"""httpx's command line, loaded when it is used rather than with httpx.

`import httpx` imports its own command line (`httpx._main`: click, rich's console and syntax,
pygments) whenever click is installed, which any of the `mcp`, `ray` and `dbos` extras brings:
~50-60 ms of a run's 0.35 s cold start for a client that never uses it (`benchmarks/bench.py`
figure 4; upstream, encode/httpx#3547 moves that import). `defer()` puts a finder first on
`sys.meta_path` that answers the next import of `httpx._main` (httpx's own `from ._main
import main`) with a stand-in, then leaves: httpx takes the stand-in's `main`, which imports
the real command line when called, and the stand-in leaves `sys.modules` at that moment, so a
later `import httpx._main` loads the real module. Nothing is loaded or put in `sys.modules`
before httpx is imported, and nothing changes when httpx was imported already.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # importlib.abc costs ~30 ms to import; a loader is anything with its methods
    from importlib.abc import Loader

__all__ = ["defer"]

_NAME = "httpx._main"


def defer() -> None:
    """Have httpx load its command line on first use (see the module docstring)."""
    if "httpx" not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def main(*args: Any, **kwargs: Any) -> Any:
    """`httpx.main`, the `httpx` command: the real one, imported now."""
    return _real().main(*args, **kwargs)


def _real() -> ModuleType:
    if isinstance(sys.modules.get(_NAME), _StandIn):
        del sys.modules[_NAME]
    return importlib.import_module(_NAME)


class _Finder:
    """Finds `httpx._main` once, as the stand-in; every other name is left to the others."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != _NAME:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        return ModuleSpec(name, cast("Loader", _Loader()))


class _Loader:
    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return _StandIn(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        pass


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
