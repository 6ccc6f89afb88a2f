"""Workflows built from agent runs: recipes (named, runnable, offline by default), the
helpers that compose runs (`chain`, `parallel_map`, `vote`, `refine`), and batches
(`run_batch`, locally or on a Ray cluster with `RayEngine`, durable on DBOS with
`DurableRunner`).

Above the core: a recipe run offline uses the fakes of `agentkit.testing`. Each name is
loaded from its module on first use (PEP 562), so running one recipe (`agentkit run`)
imports neither the batch machinery nor the Ray plumbing (`tests/test_startup.py`).
"""

import importlib as _importlib
import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from .._errors import WorkflowError
from .._public import present_as as _present_as

if _TYPE_CHECKING:  # what `__getattr__` below serves, spelled out for type checkers
    from ._durable import DurableRunner as DurableRunner
    from ._ray import RayEngine as RayEngine
    from ._runners import FunctionRunner as FunctionRunner
    from ._runners import ItemRunner as ItemRunner
    from ._runners import RecipeRunner as RecipeRunner
    from .batch import BatchProgress as BatchProgress
    from .batch import BatchReport as BatchReport
    from .batch import Engine as Engine
    from .batch import LocalEngine as LocalEngine
    from .batch import read_jsonl as read_jsonl
    from .batch import run_batch as run_batch
    from .compose import Refinement as Refinement
    from .compose import Vote as Vote
    from .compose import chain as chain
    from .compose import parallel_map as parallel_map
    from .compose import refine as refine
    from .compose import vote as vote
    from .recipe import Recipe as Recipe
    from .recipe import RecipeContext as RecipeContext
    from .recipe import RecipeResult as RecipeResult
    from .recipe import recipes as recipes
    from .recipe import run_recipe as run_recipe

__all__ = [
    "BatchProgress",
    "BatchReport",
    "DurableRunner",
    "Engine",
    "FunctionRunner",
    "ItemRunner",
    "LocalEngine",
    "RayEngine",
    "Recipe",
    "RecipeContext",
    "RecipeResult",
    "RecipeRunner",
    "Refinement",
    "Vote",
    "WorkflowError",
    "chain",
    "parallel_map",
    "read_jsonl",
    "recipes",
    "refine",
    "run_batch",
    "run_recipe",
    "vote",
]

_MODULES = {
    "_durable": "DurableRunner",
    "_ray": "RayEngine",
    "_runners": "FunctionRunner ItemRunner RecipeRunner",
    "batch": "BatchProgress BatchReport Engine LocalEngine read_jsonl run_batch",
    "compose": "Refinement Vote chain parallel_map refine vote",
    "recipe": "Recipe RecipeContext RecipeResult recipes run_recipe",
}
_HOME = {name: module for module, names in _MODULES.items() for name in names.split()}


def __getattr__(name: str) -> _Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'agentkit.workflows' has no attribute {name!r}")
    _importlib.import_module(f"{__name__}.{home}")
    # Every loaded module's names become plain globals, presented as `agentkit.workflows.X`.
    for module, names in _MODULES.items():
        loaded = _sys.modules.get(f"{__name__}.{module}")
        if loaded is not None:
            values = {n: getattr(loaded, n) for n in names.split()}
            _present_as(__name__, values, values)
            globals().update(values)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
