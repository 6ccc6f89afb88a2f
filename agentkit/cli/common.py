"""What every `agentkit` command shares: credentials and online/offline choice, the offline
server, running an action with errors turned into exit codes, finding a recipe in the registry
of `agentkit.workflows` and checking its inputs.

Below `main`, `chat` and `batch`, which all import from here (never the reverse). Cheap to
import (the parser uses `EXIT_CODES`, `DEFAULT_MODEL` and `key_value`): the display, clients
and workflows are imported by the functions that use them.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentkit import (
    AgentkitError,
    APIStatusError,
    LimitExceeded,
    RunError,
    UsageError,
)

from .resolve import is_recipe_path, load_recipe, model_problem

if TYPE_CHECKING:  # imported where used: `agentkit --help` loads none of them
    from agentkit import AsyncClient, Toolset
    from agentkit.workflows import Recipe

    from .display import Display

__all__ = [
    "CREDENTIALS",
    "DEFAULT_MODEL",
    "EXIT_CODES",
    "MCP_EXTRA",
    "check_model",
    "choose_online",
    "client_source",
    "describe",
    "fail",
    "find_recipe",
    "guarded",
    "has_credentials",
    "jsonable",
    "key_value",
    "limit_advice",
    "mcp_toolsets",
    "online_for",
]

EXIT_CODES = """\
exit codes:
  0    success
  1    the run failed (API or network error, model misbehaviour); batch: an item failed
  2    bad usage: unknown recipe or option, bad input file, --online without credentials
  3    a limit (turns, tokens, cost, time) stopped the run; the usage so far is printed
  130  interrupted (Ctrl-C)"""

CREDENTIALS = (
    "set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN for a bearer token; add "
    "ANTHROPIC_BASE_URL to go through a gateway)"
)
DEFAULT_MODEL = "claude-sonnet-4-6"
"""A current (active) model of the table that takes every thinking setting."""
MCP_EXTRA = 'the MCP support is not installed: pip install "agentkit[mcp]"'
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


# -- shared -------------------------------------------------------------------------------------


def has_credentials() -> bool:
    """Whether the environment lets `AsyncClient()` call the API (a key, or a loopback URL)."""
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        return True
    return urlsplit(os.environ.get("ANTHROPIC_BASE_URL", "")).hostname in _LOOPBACK


def fail(message: str) -> None:
    """Print an error on stderr."""
    from .console import make_console

    make_console(stderr=True).print(f"error: {message}", style="red", markup=False)


def choose_online(args: argparse.Namespace, display: Display) -> bool | None:
    """Online or offline for this command; None (after saying why) when --online can't be."""
    if args.online and not has_credentials():
        fail(f"--online needs credentials: {CREDENTIALS}. Or drop --online to run offline.")
        return None
    online = bool(args.online or (not args.offline and has_credentials()))
    display.offline = not online
    if not online:
        reason = "--offline" if args.offline else "no ANTHROPIC_API_KEY set"
        display.note(f"offline ({reason}): a scripted model answers, not Claude")
    return online


def client_source(online: bool) -> tuple[AbstractContextManager[Any], Callable[[], AsyncClient]]:
    """A context serving the offline model (nothing when online) and a client factory.

    The factory is called inside each event loop: a client is bound to the loop it runs in.
    """
    from agentkit import AsyncClient

    if online:
        return nullcontext(), AsyncClient
    from agentkit.testing import FakeServer, tool_model
    from agentkit.workflows.recipe import loopback_transport

    server = FakeServer(tool_model, record=False)
    return server, lambda: AsyncClient(api_key="offline", base_url=server.base_url,
                                       transport=loopback_transport())


def guarded(
    display: Display, action: Callable[[], Any], *, interrupted: str = "interrupted"
) -> tuple[int, Any]:
    """Run `action`; turn the errors a run ends in into a message and an exit code
    (`interrupted`: what a Ctrl-C is told)."""
    try:
        return 0, action()
    except KeyboardInterrupt:
        display.release()
        display.end_line()
        fail(interrupted)
        return 130, None
    except LimitExceeded as exc:
        display.release()  # what other runs did before this one failed
        display.end_line()
        fail(limit_advice(exc.limit))
        if exc.usage is not None:
            display.usage(exc.usage, prefix="so far: ")
        return 3, None
    except UsageError as exc:
        display.release()  # what other runs did before this one failed
        display.end_line()
        fail(str(exc))
        return 2, None
    except AgentkitError as exc:
        display.release()  # what other runs did before this one failed
        display.end_line()
        fail(describe(exc))
        return 1, None


_LIMITS = {
    "max_turns": "it needed more model turns than allowed",
    "max_cost": "it would have cost more than allowed",
    "timeout": "it ran out of time",
}


def limit_advice(limit: str) -> str:
    """A limit that stopped a run, told to someone at the command line (no `.result` here)."""
    why = _LIMITS.get(limit, "it reached a configured limit")
    return (
        f"the run stopped at its {limit} limit before it finished: {why}. The limits are set "
        "where the agent is made (the recipe's `Limits(...)`): raise them there, or ask for "
        "something smaller"
    )


def check_model(model: str, display: Display) -> bool:
    """Warn about an unknown or deprecated model, naming the nearest current one; False
    (after saying why) for a retired model, which every request would fail on."""
    problem = model_problem(model)
    if problem is None:
        return True
    kind, message = problem
    if kind == "error":
        fail(message)
        return False
    display.warn(message)
    return True


def describe(exc: AgentkitError) -> str:
    """What went wrong, for a person: a failed run is told by its cause (the API's error)."""
    cause = exc.__cause__ if isinstance(exc, RunError) and exc.__cause__ is not None else exc
    text = str(cause) if cause is exc else f"the run failed: {cause}"
    if isinstance(cause, APIStatusError) and cause.status_code in (401, 403):
        text += f". Check the credentials: {CREDENTIALS}"
    return text


def jsonable(value: Any) -> Any:
    """`value` as JSON data: pydantic models dumped, dataclasses as dicts, the rest as is
    (as batch records hold outputs)."""
    from agentkit.workflows._runners import jsonable as as_json

    return as_json(value)


# -- recipes ---------------------------------------------------------------------------------------


def find_recipe(name: str) -> Recipe | None:
    """The recipe called `name` in the registry, or a user's own by module path or file
    (`pkg.module:RECIPE`, `my_recipe.py`); None (after saying what is wrong) if none."""
    from agentkit.workflows import recipe as registry

    try:
        if is_recipe_path(name):
            return load_recipe(name)
        return registry.find_recipe(name)
    except UsageError as exc:
        fail(str(exc))
        return None


def online_for(
    recipe: Recipe, runs: Iterable[Mapping[str, object]], args: argparse.Namespace,
    display: Display,
) -> bool | None:
    """Online or offline for `recipe` on each of `runs` (their inputs); None, after saying
    why, when an input is not the recipe's or --online can't be."""
    from agentkit.workflows.recipe import resolve_inputs

    try:
        for inputs in runs:
            resolve_inputs(recipe, inputs)
    except UsageError as exc:
        fail(str(exc))
        return None
    return choose_online(args, display)


def key_value(text: str) -> tuple[str, str]:
    """Parse `--input key=value`: `key=@FILE` reads the value from FILE (`@@` for a literal
    `@`); an empty value is refused (it would only fail later, at the API)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    if value.startswith("@@"):
        value = value[1:]
    elif value.startswith("@"):
        path = value[1:]
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as file:
                value = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise argparse.ArgumentTypeError(
                f"{key}=@{path}: cannot read {path!r}: {why}"
            ) from None
    if not value.strip():
        raise argparse.ArgumentTypeError(
            f"input {key!r} is empty: give it a value ({key}=TEXT), or {key}=@FILE to read it "
            "from a file"
        )
    return key, value


# -- MCP servers -------------------------------------------------------------------------------


def mcp_toolsets(specs: Sequence[str] | None) -> list[Toolset]:
    """A toolset per `--mcp`: a URL (streamable HTTP) or a command line (stdio).

    Raises:
        UsageError: an empty spec, or the MCP extra is missing.
    """
    if not specs:
        return []
    try:
        from agentkit.mcp import MCPToolset
    except ModuleNotFoundError as exc:
        raise UsageError(MCP_EXTRA) from exc
    toolsets: list[Toolset] = []
    for spec in specs:
        if spec.startswith(("http://", "https://")):
            toolsets.append(MCPToolset.http(spec))
            continue
        argv = shlex.split(spec)
        if not argv:
            raise UsageError("--mcp needs a server: a command line (\"python -m "
                             "mcp_server_time\") or an http(s):// URL")
        toolsets.append(MCPToolset.stdio(argv[0], argv[1:]))
    return toolsets
