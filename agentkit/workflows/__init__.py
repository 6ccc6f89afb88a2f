"""Workflows built from agent runs: recipes (named, runnable, offline by default) and the
helpers that compose runs (`chain`, `parallel_map`, `vote`, `refine`).

Above the core: a recipe run offline uses the fakes of `agentkit.testing`.
"""

from .._errors import WorkflowError
from .._public import present_as
from .compose import Refinement, Vote, chain, parallel_map, refine, vote
from .recipe import Recipe, RecipeContext, RecipeResult, recipes, run_recipe

__all__ = [
    "Recipe",
    "RecipeContext",
    "RecipeResult",
    "Refinement",
    "Vote",
    "WorkflowError",
    "chain",
    "parallel_map",
    "recipes",
    "refine",
    "run_recipe",
    "vote",
]

present_as(__name__, [n for n in __all__ if n != "WorkflowError"], globals())
