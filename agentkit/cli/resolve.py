"""What a user names on the command line, checked before anything runs: a model (against the
capability table) and a recipe given by module path or file (a user's own, not installed).

Rules: model facts come from the table (`agentkit/_data/models.json`), never from code here;
an unknown model is a warning (the table may predate a new model: it is sent as given), a
deprecated one a warning naming its successor, a retired one an error (every request to it
fails); the suggestion is the nearest current (active) model. A user's recipe is a `Recipe`
instance: `pkg.module` (its `RECIPE`), `pkg.module:name`, or a `.py` file (optionally
`file.py:name`); a registered name is never read as a module (`name:RECIPE` is); modules
are found from the current directory too, as `python -m` would.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import re
import sys
from typing import TYPE_CHECKING

from agentkit import UsageError

if TYPE_CHECKING:
    from agentkit._loop.capabilities import ModelCaps
    from agentkit.workflows import Recipe

__all__ = ["is_recipe_path", "load_recipe", "model_problem"]


def _current(table: dict[str, ModelCaps]) -> list[str]:
    """The names (ids and aliases) of the active models."""
    return sorted(name for name, caps in table.items() if caps.lifecycle == "active")


def _successor(caps: ModelCaps, table: dict[str, ModelCaps]) -> str | None:
    """The current model that replaces `caps`: its replacement chain, else the nearest name."""
    seen = {caps.id}
    step = caps
    while step.replacement and step.replacement not in seen:
        seen.add(step.replacement)
        following = table.get(step.replacement)
        if following is None:
            break
        if following.lifecycle == "active":
            return following.id
        step = following
    return nearest(caps.id, table)


def nearest(name: str, table: dict[str, ModelCaps] | None = None) -> str | None:
    """The active model whose name is closest to `name` (None when nothing is close)."""
    from agentkit._loop.capabilities import known_models  # lazily: `--help` stays fast

    table = table if table is not None else known_models()
    close = difflib.get_close_matches(name.lower(), _current(table), n=1, cutoff=0.6)
    return close[0] if close else None


def model_problem(model: str) -> tuple[str, str] | None:
    """What is wrong with the model name `model`: `("warning"|"error", message)`, or None.

    Unknown and deprecated models are warnings; retired ones errors.
    """
    from agentkit._loop.capabilities import known_models, model_caps

    table = known_models()
    caps = model_caps(model)
    if caps is None:
        guess = nearest(model, table)
        hint = f"did you mean {guess!r}? " if guess else ""
        return "warning", (
            f"unknown model {model!r}: agentkit's model table does not list it; {hint}"
            "it is sent as given (a model newer than the table works; `agentkit models "
            "--online` lists what the API serves)"
        )
    if caps.lifecycle == "retired":
        instead = _successor(caps, table)
        use = f"; use {instead!r} instead" if instead else ""
        return "error", f"model {model!r} is retired: the API rejects every request to it{use}"
    if caps.lifecycle == "deprecated":
        instead = _successor(caps, table)
        use = f"; use {instead!r}" if instead else ""
        return "warning", f"model {model!r} is deprecated and will be retired{use}"
    return None


# -- a user's own recipe ------------------------------------------------------------------------


_RECIPE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def is_recipe_path(spec: str) -> bool:
    """Whether `spec` names a recipe by module or file rather than by its registered name
    (lower-case words joined by hyphens; `pkg.module`, `my_recipes` or `x.py` are not)."""
    return not _RECIPE_NAME.match(spec)


def load_recipe(spec: str) -> Recipe:
    """The `Recipe` that `spec` names: `pkg.module[:name]` or `path/to/file.py[:name]`.

    Raises:
        UsageError: the module or file cannot be found or imported, or the name is missing
            or is not a `Recipe`.
    """
    from agentkit.workflows import Recipe

    target, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "RECIPE")
    attr = attr or "RECIPE"
    if target.endswith(".py") or os.sep in target or "/" in target:
        module = _load_file(target)
    else:
        module = _import(target)
    found = getattr(module, attr, None)
    if found is None:
        raise UsageError(
            f"{target} has no {attr!r}: define `{attr} = Recipe(name=..., description=..., "
            "run=..., offline_model=...)` there, or name it as MODULE:NAME"
        )
    if not isinstance(found, Recipe):
        raise UsageError(
            f"{target}:{attr} is a {type(found).__name__}, not an agentkit Recipe (make one "
            "with agentkit.workflows.Recipe(name=..., description=..., run=..., offline_model=...))"
        )
    return found


def _import(name: str) -> object:
    # As `python -m` would: modules in the current directory are found too.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise UsageError(
                f"no module named {name!r} (looked in the current directory and the installed "
                "packages); give a module path like mypkg.recipes:RECIPE or a file like "
                "./my_recipe.py"
            ) from None
        raise UsageError(f"could not import {name}: {exc}") from exc
    except Exception as exc:
        raise UsageError(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc


def _load_file(path: str) -> object:
    if not os.path.isfile(path):
        raise UsageError(f"no recipe file {path!r}")
    name = "agentkit_user_recipe_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path!r} as Python (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UsageError(f"running {path} failed: {type(exc).__name__}: {exc}") from exc
    return module
