"""The `agentkit` command line: run recipes, chat, list models and ready tools, run batches.

Owns argument parsing, `main`, the run, models and tools commands, the helpers every command
shares (choosing online or offline, the offline server, errors to exit codes), and exit codes;
the chat command is `_cli_chat`'s, the batch command `_cli_batch`'s, and how things look is
`_display`'s. Rules: argparse over public names only (recipes and ready tools are imported
lazily, so `--help` stays fast); offline is the default without credentials, and offline means
the loopback `FakeServer` of `agentkit.testing`, so every command works end to end with no
key; an expected failure is one message on stderr saying what to do, with an exit code from
`EXIT_CODES`, never a traceback. The command modules import their shared helpers from here,
so this module imports them only inside `build_parser`, never at import time.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import anyio

from agentkit import (
    AgentkitError,
    APIStatusError,
    AsyncClient,
    LimitExceeded,
    RunError,
    UsageError,
    __version__,
)

from ._display import Display, make_console, models_table, preview, tool_listing

__all__ = ["EXIT_CODES", "main"]

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
DEFAULT_MODEL = "claude-sonnet-4-5"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


# -- shared -------------------------------------------------------------------------------------


def has_credentials() -> bool:
    """Whether the environment lets `AsyncClient()` call the API (a key, or a loopback URL)."""
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        return True
    return urlsplit(os.environ.get("ANTHROPIC_BASE_URL", "")).hostname in _LOOPBACK


def fail(message: str) -> None:
    """Print an error on stderr."""
    make_console(stderr=True).print(f"error: {message}", style="red", markup=False)


def choose_online(args: argparse.Namespace, display: Display) -> bool | None:
    """Online or offline for this command; None (after saying why) when --online can't be."""
    if args.online and not has_credentials():
        fail(f"--online needs credentials: {CREDENTIALS}. Or drop --online to run offline.")
        return None
    online = bool(args.online or (not args.offline and has_credentials()))
    if not online:
        reason = "--offline" if args.offline else "no ANTHROPIC_API_KEY set"
        display.note(f"offline ({reason}): a scripted model answers, not Claude")
    return online


def client_source(online: bool) -> tuple[AbstractContextManager[Any], Callable[[], AsyncClient]]:
    """A context serving the offline model (nothing when online) and a client factory.

    The factory is called inside each event loop: a client is bound to the loop it runs in.
    """
    if online:
        return nullcontext(), AsyncClient
    from agentkit.testing import FakeServer, tool_model

    server = FakeServer(tool_model, record=False)
    return server, lambda: AsyncClient(api_key="offline", base_url=server.base_url)


def guarded(display: Display, action: Callable[[], Any]) -> tuple[int, Any]:
    """Run `action`; turn the errors a run ends in into a message and an exit code."""
    try:
        return 0, action()
    except KeyboardInterrupt:
        display.end_line()
        fail("interrupted")
        return 130, None
    except LimitExceeded as exc:
        display.end_line()
        fail(str(exc))
        if exc.usage is not None:
            display.usage(exc.usage, prefix="so far: ")
        return 3, None
    except UsageError as exc:
        display.end_line()
        fail(str(exc))
        return 2, None
    except AgentkitError as exc:
        display.end_line()
        fail(describe(exc))
        return 1, None


def describe(exc: AgentkitError) -> str:
    """What went wrong, for a person: a failed run is told by its cause (the API's error)."""
    cause = exc.__cause__ if isinstance(exc, RunError) and exc.__cause__ is not None else exc
    text = str(cause) if cause is exc else f"the run failed: {cause}"
    if isinstance(cause, APIStatusError) and cause.status_code in (401, 403):
        text += f". Check the credentials: {CREDENTIALS}"
    return text


def jsonable(value: Any) -> Any:
    """`value` as JSON data: pydantic models dumped, dataclasses as dicts, the rest as is."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


# -- run ----------------------------------------------------------------------------------------


def recipe_api() -> tuple[Callable[[], dict[str, Any]], Callable[..., Any]]:
    """`(recipes, run_recipe)`: a seam, so tests can add recipes of their own."""
    from agentkit import recipes, run_recipe

    return recipes, run_recipe


def find_recipe(name: str) -> tuple[Any, Callable[..., Any]] | None:
    """The recipe called `name` and `run_recipe`; None (after listing the recipes) if none."""
    recipes, run_recipe = recipe_api()
    table = recipes()
    if name not in table:
        fail(f"no recipe named {name!r}; the recipes are: {', '.join(sorted(table))}")
        return None
    return table[name], run_recipe


def key_value(text: str) -> tuple[str, str]:
    """Parse `--input key=value`."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value


def check_inputs(recipe: Any, inputs: dict[str, Any]) -> str | None:
    """An error message if `inputs` names an input the recipe does not take."""
    known = dict(recipe.inputs or {})
    unknown = sorted(set(inputs) - set(known))
    if not unknown:
        return None
    takes = ", ".join(sorted(known)) or "no inputs"
    names = ", ".join(map(repr, unknown))
    return f"recipe {recipe.name!r} has no input {names}; it takes: {takes}"


def cmd_run(args: argparse.Namespace) -> int:
    """`agentkit run [RECIPE]`: run one recipe with the live display, or list them."""
    display = Display()
    if args.recipe is None:
        recipes, _ = recipe_api()
        for name, recipe in sorted(recipes().items()):
            display.line(f"{name:<22} {recipe.description}", style="bold")
            for key, default in (recipe.inputs or {}).items():
                display.line(f"{'':<22} --input {key}=…  (default: {preview(default, 50)})",
                             style="dim")
        return 0
    found = find_recipe(args.recipe)
    if found is None:
        return 2
    recipe, run_recipe = found
    inputs = dict(args.input or ())
    problem = check_inputs(recipe, inputs)
    if problem:
        fail(problem)
        return 2
    online = choose_online(args, display)
    if online is None:
        return 2
    call = partial(run_recipe, recipe, inputs, online=online, model=args.model, on_event=display)
    code, result = guarded(display, lambda: anyio.run(call))
    if result is None:
        return code
    output = result.output
    if isinstance(output, str):
        if not display.text_seen:  # not streamed as it was made: show it now
            display.line(output)
    elif output is not None:
        display.line(json.dumps(jsonable(output), indent=2, ensure_ascii=False, default=str))
    display.usage(result.usage)
    return 0


# -- models, tools ------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    """`agentkit models`: `GET /v1/models` as a table (or JSON)."""
    display = Display()
    online = choose_online(args, display)
    if online is None:
        return 2
    serving, new_client = client_source(online)

    async def fetch() -> list[Any]:
        async with new_client() as client:
            return [model async for model in client.list_models()]

    with serving:
        code, models = guarded(display, lambda: anyio.run(fetch))
    if models is None:
        return code
    if args.json:
        display.line(json.dumps([m.model_dump(mode="json") for m in models], indent=2))
    else:
        models_table(display.console, models)
    return 0


def tool_families() -> list[Any]:
    """The ready tool families (`agentkit_tools.catalog()`)."""
    import agentkit_tools

    return list(agentkit_tools.catalog())


def cmd_tools(args: argparse.Namespace) -> int:
    """`agentkit tools [FAMILY ...]`: the ready tools, their descriptions and schemas."""
    display = Display()
    families = tool_families()
    names = [f.name for f in families]
    unknown = [n for n in args.family if n not in names]
    if unknown:
        listed = ", ".join(map(repr, unknown))
        fail(f"no tool family {listed}; the families are: {', '.join(names)}")
        return 2
    chosen = [f for f in families if not args.family or f.name in args.family]
    if not args.json:
        tool_listing(display.console, chosen)
        return 0
    data = [
        {"family": f.name, "summary": f.summary, "usage": f.usage,
         "tools": [t.to_param() for t in f.example()]}
        for f in chosen
    ]
    display.line(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


# -- the parser ---------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples and the exit-code table in epilogs as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # Descriptions are prose: wrap them. Epilogs are laid out by hand: keep them.
        if text.startswith(("commands:", "examples:")):
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, min(width, 88), indent)


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _command(
    sub: Any, name: str, summary: str, description: str, examples: Sequence[str],
    handler: Callable[[argparse.Namespace], int], *, modes: bool = True, notes: str = "",
) -> argparse.ArgumentParser:
    """Add one subcommand with its examples, the exit codes and (by default) --online/--offline."""
    epilog = "examples:\n" + "".join(f"  {e}\n" for e in examples) + "\n" + EXIT_CODES
    if notes:
        epilog = f"{notes}\n\n{epilog}"
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description, epilog=epilog, formatter_class=_Formatter
    )
    parser.set_defaults(handler=handler)
    if modes:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--online", action="store_true",
                           help="call the API (needs ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN)")
        group.add_argument("--offline", action="store_true",
                           help="use the scripted offline model even when a key is set")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The `agentkit` argument parser: every subcommand with its help and examples."""
    # Imported here, not at the top: these modules import the shared helpers from this one.
    from ._cli_batch import cmd_batch
    from ._cli_chat import CHAT_COMMANDS, cmd_chat

    parser = argparse.ArgumentParser(
        prog="agentkit",
        description="Autonomous agents on the Anthropic Messages API. Without an API key, "
        "every command runs offline against a scripted model.",
        epilog="examples:\n  agentkit run\n  agentkit chat --tools calculator,clock\n"
        "  agentkit models --online\n\n" + EXIT_CODES,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"agentkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = _command(
        sub, "run", "run a recipe, showing what the agent does as it happens",
        "Run a recipe: stream its text, thinking (dimmed) and tool calls, then usage and cost. "
        "Without RECIPE, list the recipes and their inputs.",
        ["agentkit run", "agentkit run RECIPE --input topic=tides",
         "agentkit run RECIPE --online --model claude-haiku-4-5"], cmd_run,
    )
    run.add_argument("recipe", nargs="?", metavar="RECIPE", help="recipe name (omit to list)")
    run.add_argument("--input", "-i", action="append", type=key_value, metavar="KEY=VALUE",
                     help="a recipe input (repeatable)")
    run.add_argument("--model", "-m", metavar="MODEL", help="model to use instead of the recipe's")

    chat = _command(
        sub, "chat", "talk with an agent, with tools if you like",
        "An interactive session with the run display, reading lines from stdin (a pipe works). "
        "shell, python and file writes ask y/N before each call. Offline, the scripted model "
        "echoes you, and calls the tools your message names.",
        ["agentkit chat", "agentkit chat --tools files,calculator --root ./notes",
         "agentkit chat --tools shell --system 'You are a careful sysadmin.' --online",
         "printf 'hello\\n/save chat.json\\n' | agentkit chat"], cmd_chat,
        notes="commands:\n" + CHAT_COMMANDS,
    )
    chat.add_argument("--tools", "-t", metavar="FAMILIES",
                      help="comma-separated: files, shell, http, python, sqlite, calculator, "
                      "clock, or all (all but shell, python and sqlite)")
    chat.add_argument("--system", "-s", metavar="TEXT", help="system prompt")
    chat.add_argument("--model", "-m", default=DEFAULT_MODEL, metavar="MODEL",
                      help=f"default: {DEFAULT_MODEL}")
    chat.add_argument("--max-tokens", type=_positive, default=4096, metavar="N",
                      help="default: 4096")
    chat.add_argument("--thinking", metavar="BUDGET|adaptive", help="turn on extended thinking")
    chat.add_argument("--root", default=".", metavar="DIR",
                      help="directory for files and shell (default: .)")
    chat.add_argument("--db", metavar="FILE", help="SQLite database for the sqlite tools")

    models = _command(
        sub, "models", "list the models (GET /v1/models)",
        "List the models: id, display name, creation date, input and output token limits.",
        ["agentkit models", "agentkit models --online --json"], cmd_models,
    )
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")

    tools = _command(
        sub, "tools", "list the ready tools and their input schemas",
        "List the ready tool families (agentkit_tools): each tool's name, description and "
        "the input schema the model sees.",
        ["agentkit tools", "agentkit tools files calculator", "agentkit tools --json"],
        cmd_tools, modes=False,
    )
    tools.add_argument("family", nargs="*", help="families to show (default: all)")
    tools.add_argument("--json", action="store_true", help="print the tool definitions as JSON")

    batch = _command(
        sub, "batch", "run a recipe over many inputs (JSONL in, JSONL out)",
        "Run RECIPE once per line of INPUTS (a JSON object of inputs, optionally with an "
        "`id`). Each result is appended to --out as it finishes: id, ok, output or error, "
        "usage, cost_usd. A failed item is recorded and the rest go on; rerunning the same "
        "command skips the ids already recorded with ok=true.",
        ["agentkit batch RECIPE inputs.jsonl --out results.jsonl",
         "agentkit batch RECIPE inputs.jsonl --out results.jsonl --concurrency 16 --online"],
        cmd_batch,
    )
    batch.add_argument("recipe", metavar="RECIPE", help="recipe name")
    batch.add_argument("inputs", metavar="INPUTS", help="JSONL file, one object per line")
    batch.add_argument("--out", "-o", required=True, metavar="FILE",
                       help="JSONL results file (appended to)")
    batch.add_argument("--concurrency", "-c", type=_positive, default=4, metavar="N",
                       help="items run at once (default: 4)")
    batch.add_argument("--model", "-m", help="model to use instead of the recipe's")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `agentkit` command line; returns the exit code (see `EXIT_CODES`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse reported
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)
