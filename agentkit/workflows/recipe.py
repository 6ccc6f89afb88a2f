"""Recipes: named, runnable workflows that run offline against a scripted model by default.

Owns `Recipe` (a workflow plus the scripted model that plays Claude for it offline),
`RecipeContext` (what the workflow gets: inputs, a client, and usage that every run merges
into), `RecipeResult`, the one registry of recipes (`recipes()`, discovery in the installed
`agentkit_recipes` package, and `find_recipe`; the command line reads it too), input checks and
`run_recipe`. Rules: a recipe's workflow code is the same online and offline, only the
client differs (offline: an `agentkit.testing.FakeServer` on 127.0.0.1 serving the recipe's
`offline_model`, so no request leaves the machine); online is chosen only when asked or when
credentials are in the environment; the fake server is always stopped, and its script errors
surface once the workflow succeeded (a failed workflow's own error wins). The offline client
speaks plain HTTP to the fake through httpx's own transport (`loopback_transport`): the
default one's aiohttp and CA bundle cost ~0.1 s of start-up and serve no purpose on loopback.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import ssl
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, overload

import httpx

from .._api.client import AsyncClient
from .._api.jsonbytes import escaped_text
from .._errors import AgentkitError, RunError, UsageError
from .._loop.usage import RunUsage
from .._run import observe
from .._run.agent import Agent
from .._run.events import AgentEvent
from .._run.loop import run_loop
from .._run.result import RunResult
from .._tools.toolset import Toolset

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..testing._model import FunctionModel

__all__ = ["Recipe", "RecipeContext", "RecipeResult", "recipes", "run_recipe"]

OutputT = TypeVar("OutputT")

RECIPES_PACKAGE = "agentkit_recipes"
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """A runnable workflow: `agentkit run <name>` runs it, offline unless asked otherwise."""

    name: str
    """CLI name: lower case words joined by hyphens, e.g. `"codebase-qa"`."""
    description: str
    """One line saying what the recipe does."""
    run: Callable[[RecipeContext], Awaitable[Any]]
    """The workflow; returns its final output (a str, a pydantic model, a dict, …)."""
    offline_model: Callable[[dict[str, str]], FunctionModel]
    """Builds the scripted model that plays Claude offline, given the inputs."""
    inputs: Mapping[str, str] = field(default_factory=dict[str, str])
    """Input name -> default value (each documented in the recipe module's docstring)."""
    model: str = "claude-sonnet-4-6"
    """The model the recipe's agents use unless another is given."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise UsageError(
                f"recipe name {self.name!r} is not valid: use lower-case words joined by "
                "hyphens, e.g. 'codebase-qa'"
            )
        if not self.description or "\n" in self.description:
            raise UsageError(f"recipe {self.name!r} needs a one-line description")

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run this recipe as a script: `name=value` inputs, `--online`, `--model M`.

        What a recipe module's `if __name__ == "__main__":` calls, so it runs with
        `python -m` and no `agentkit` command. Prints the output (models as JSON) on stdout
        and a usage line on stderr; returns the exit code (1 when the recipe failed).
        """
        import argparse

        from pydantic import BaseModel

        parser = argparse.ArgumentParser(prog=f"python -m {_module_of(self.run)}",
                                         description=self.description)
        parser.add_argument("inputs", nargs="*", metavar="name=value", help="recipe inputs")
        parser.add_argument("--online", action="store_true", help="use the real API")
        parser.add_argument("--model", help=f"model (default {self.model})")
        args = parser.parse_args(argv)
        inputs: dict[str, str] = {}
        for item in args.inputs:
            name, sep, value = str(item).partition("=")
            if not sep:
                known = ", ".join(self.inputs)
                parser.error(f"inputs are name=value, got {item!r}; inputs: {known}")
            inputs[name] = value
        online = True if args.online else None
        try:
            result = run_loop(partial(run_recipe, self, inputs, online=online, model=args.model))
        except AgentkitError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        output = result.output
        # A lone surrogate (a reply's escaped "\ud800") as its escape: stdout cannot carry it.
        print(escaped_text(_model_json(output) if isinstance(output, BaseModel) else str(output)))
        usage, mode = result.usage, "online" if result.online else "offline"
        print(f"[{mode}: {usage.requests} requests, {usage.total_tokens} tokens]", file=sys.stderr)
        return 0


def _model_json(output: BaseModel) -> str:
    from pydantic_core import PydanticSerializationError

    try:
        return output.model_dump_json(indent=2)
    except PydanticSerializationError:  # a lone surrogate: the stdlib writes it
        return json.dumps(output.model_dump(mode="json"), indent=2, ensure_ascii=False)


def _module_of(function: Callable[..., object]) -> str:
    """The importable name of `function`'s module, also when it runs as `python -m` it."""
    module = function.__module__
    spec = getattr(sys.modules.get(module), "__spec__", None) if module == "__main__" else None
    return spec.name if spec is not None else module


@dataclass(kw_only=True)
class RecipeContext:
    """What a recipe's workflow gets: its inputs, and agents wired to the right client."""

    inputs: dict[str, str]
    """Every input, defaults filled in."""
    model: str
    client: AsyncClient
    on_event: Callable[[AgentEvent], Any] | None = None
    """Receives the events of every agent run of the recipe (they interleave when parallel)."""
    usage: RunUsage = field(default_factory=RunUsage)
    """The usage of every run made through `run`, merged."""
    online: bool = False
    """Whether requests go to the real API (False: the offline fake). Recipes whose tools
    reach out (fetching web pages) use it to stay on the machine offline."""
    tools: Sequence[Toolset] = ()
    """More tools every agent of the recipe gets (`agentkit run RECIPE --mcp ...`)."""
    approve: Callable[[Any, dict[str, Any]], Any] | None = None
    """Someone who can approve tool calls (the command line asks at the terminal); None when
    the recipe runs unattended. Agents made with `agent` get it as their `approve=`, and
    recipes keep approval on for risky tools (running model-written code) when it is set."""

    @overload
    def agent(self, *, output_type: type[OutputT], **kwargs: Any) -> Agent[OutputT]: ...

    @overload
    def agent(self, *, output_type: None = None, **kwargs: Any) -> Agent[str]: ...

    def agent(self, **kwargs: Any) -> Agent[Any]:
        """An `Agent` on the recipe's model and client; `kwargs` are `Agent`'s (`model=` too).

        Typed: with `output_type=T` its runs' `output` is a `T`, else the answer's text.
        """
        model = kwargs.pop("model", self.model)
        kwargs.setdefault("client", self.client)
        # Someone watching the events gets the text as it is made, not once a turn is done.
        kwargs.setdefault("stream", self.on_event is not None)
        if self.approve is not None:
            kwargs.setdefault("approve", self.approve)
        if self.tools:
            kwargs["tools"] = [*kwargs.get("tools", ()), *self.tools]
        return Agent(model, **kwargs)

    async def run(
        self, agent: Agent[OutputT], prompt: Any = None, **kwargs: Any
    ) -> RunResult[OutputT]:
        """`agent.run(prompt, **kwargs)` with the recipe's `on_event`, its usage merged in.

        A failed run's usage is merged too before its `RunError` propagates.
        """
        kwargs.setdefault("on_event", self.on_event)
        try:
            result = await agent.run(prompt, **kwargs)
        except RunError as exc:
            if isinstance(exc.usage, RunUsage):
                self.usage.merge(exc.usage)
            raise
        self.usage.merge(result.usage)
        return result


@dataclass
class RecipeResult:
    """What `run_recipe` returns."""

    output: Any
    """The workflow's return value."""
    usage: RunUsage
    """Every model call the recipe made, merged."""
    online: bool
    """Whether it ran against the real API."""


def recipes() -> dict[str, Recipe]:
    """Every recipe in the installed `agentkit_recipes` package, by name (sorted).

    Each public module of the package that defines `RECIPE` contributes it. Empty when the
    package is not installed.

    Raises:
        UsageError: two modules define recipes with the same name.
    """
    return discover(RECIPES_PACKAGE)


def find_recipe(name: str) -> Recipe:
    """The installed recipe called `name`.

    Raises:
        UsageError: no recipe has that name (the message lists the recipes).
    """
    table = recipes()
    if name not in table:
        raise UsageError(f"no recipe named {name!r}; the recipes are: {', '.join(table)}")
    return table[name]


def discover(package_name: str) -> dict[str, Recipe]:
    """The `RECIPE` of every public module of `package_name`, by name (see `recipes`)."""
    try:
        package = importlib.import_module(package_name)
    except ModuleNotFoundError as exc:
        if exc.name != package_name:
            raise  # the package is there but is broken: say so
        return {}
    found: dict[str, Recipe] = {}
    origins: dict[str, str] = {}
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        if info.name.startswith("_"):
            continue
        module_name = f"{package_name}.{info.name}"
        recipe = getattr(importlib.import_module(module_name), "RECIPE", None)
        if not isinstance(recipe, Recipe):
            continue
        if recipe.name in found:
            raise UsageError(
                f"two recipes are named {recipe.name!r} ({origins[recipe.name]} and "
                f"{module_name}); rename one"
            )
        found[recipe.name] = recipe
        origins[recipe.name] = module_name
    return dict(sorted(found.items()))


def _has_credentials() -> bool:
    return bool(os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"))


def resolve_inputs(recipe: Recipe, inputs: Mapping[str, object] | None) -> dict[str, str]:
    """The recipe's defaults overridden by `inputs`.

    Raises:
        UsageError: an input the recipe does not take, or a value that is not a string.
    """
    given = dict(inputs or {})
    values = dict(recipe.inputs)
    unknown = sorted(set(given) - set(recipe.inputs))
    if unknown:
        valid = ", ".join(sorted(recipe.inputs)) or "none"
        raise UsageError(
            f"recipe {recipe.name!r} has no input named {', '.join(map(repr, unknown))}; "
            f"its inputs are: {valid}"
        )
    for key, value in given.items():
        if not isinstance(value, str):
            raise UsageError(f"input {key!r} of recipe {recipe.name!r} must be a string")
        values[key] = value
    return values


async def run_recipe(
    recipe: Recipe,
    inputs: Mapping[str, str] | None = None,
    *,
    online: bool | None = None,
    model: str | None = None,
    on_event: Callable[[AgentEvent], Any] | None = None,
    client: AsyncClient | None = None,
    tools: Sequence[Toolset] = (),
    approve: Callable[[Any, dict[str, Any]], Any] | None = None,
) -> RecipeResult:
    """Run `recipe` end to end and return its output and usage.

    `online=None` runs online iff `ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN` is set.
    Offline, a `FakeServer` on 127.0.0.1 serves `recipe.offline_model(inputs)` for the run's
    duration. A `client` you pass is used as is (no fake server is started); `online` then
    only tells the recipe whether its tools may reach out. `tools` are given to every agent
    the recipe makes (e.g. an MCP server's); they are the caller's to close.
    `approve` is `RecipeContext.approve`: who approves risky tool calls (None: unattended).

    Raises:
        UsageError: an unknown input (the message lists the valid ones), or no credentials
            for an online run.
        RunError: an agent run of the recipe failed.
        ScriptError: offline, the scripted model failed or saw a request the API would reject.
    """
    values = resolve_inputs(recipe, inputs)
    is_online = _has_credentials() if online is None else online
    ctx_model = model or recipe.model
    run = partial(_run, recipe, values, ctx_model, on_event=on_event, tools=tools,
                  approve=approve)
    if client is not None:
        return await run(client, is_online)
    if is_online:
        async with AsyncClient() as own:
            return await run(own, True)
    from ..testing import FakeServer  # only offline runs pay for importing the fake

    server = FakeServer(recipe.offline_model(values)).start()
    try:
        async with AsyncClient(api_key="offline", base_url=server.base_url,
                               transport=loopback_transport()) as own:
            result = await run(own, False)
    finally:
        server.stop()
    server.assert_consumed()
    return result


def loopback_transport() -> httpx.AsyncBaseTransport:
    """The transport of a client of the offline fake (plain HTTP on 127.0.0.1): httpx's own,
    whose TLS context trusts nothing (no CA bundle is read: no TLS is ever spoken to it)."""
    return httpx.AsyncHTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


async def _run(
    recipe: Recipe,
    inputs: dict[str, str],
    model: str,
    client: AsyncClient,
    online: bool,
    *,
    on_event: Callable[[AgentEvent], Any] | None,
    tools: Sequence[Toolset],
    approve: Callable[[Any, dict[str, Any]], Any] | None = None,
) -> RecipeResult:
    ctx = RecipeContext(inputs=inputs, model=model, client=client, on_event=on_event,
                        online=online, tools=tools, approve=approve)
    async with observe.workflow(recipe.name):
        output = await recipe.run(ctx)
    return RecipeResult(output=output, usage=ctx.usage, online=online)
