"""Workflows built from agent runs: recipes (named, runnable, offline by default), the
helpers that compose runs (`chain`, `parallel_map`, `vote`, `refine`), and batches
(`run_batch`, locally or on a Ray cluster with `RayEngine`).

Above the core: a recipe run offline uses the fakes of `agentkit.testing`.
"""

from .._errors import WorkflowError
from .._public import present_as
from ._ray import RayEngine
from ._runners import FunctionRunner, ItemRunner, RecipeRunner
from .batch import BatchProgress, BatchReport, Engine, LocalEngine, read_jsonl, run_batch
from .compose import Refinement, Vote, chain, parallel_map, refine, vote
from .recipe import Recipe, RecipeContext, RecipeResult, recipes, run_recipe

__all__ = [
    "BatchProgress",
    "BatchReport",
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

present_as(__name__, [n for n in __all__ if n != "WorkflowError"], globals())
