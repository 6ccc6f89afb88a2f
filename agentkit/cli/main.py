"""The `agentkit` command line: run recipes, chat, list models and ready tools, run batches,
manage durable runs.

Owns argument parsing, `main`, the run, models and tools commands, and exit codes; the chat
command is `chat`'s, the batch command `batch`'s, the runs command `runs`', and how things
look is `display`'s. Rules: argparse over public names and the recipe registry of
`agentkit.workflows`; building the parser imports nothing a command needs to run (each
command module imports its implementation inside its `cmd_*`: `--help` loads no event
loop, HTTP stack, pydantic, rich or run store; `tests/test_startup.py` checks it);
offline is the default without credentials, and offline means the loopback `FakeServer` of
`agentkit.testing`, so every command works end to end with no key; an expected failure is one
message on stderr saying what to do, with an exit code from `EXIT_CODES`, never a traceback.
The shared helpers live in `common`.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, cast

from agentkit import __version__

from .batch import add_batch_options, cmd_batch
from .chat import CHAT_COMMANDS, ask_approval, cmd_chat
from .common import (
    DEFAULT_MODEL,
    EXIT_CODES,
    check_model,
    choose_online,
    client_source,
    fail,
    find_recipe,
    guarded,
    jsonable,
    key_value,
    mcp_toolsets,
    online_for,
)
from .mcp import add_mcp, add_mcp_option
from .runs import add_runs
from .ui import add_ui

if TYPE_CHECKING:
    from .display import Display

__all__ = ["EXIT_CODES", "main"]

def cmd_run(args: argparse.Namespace) -> int:
    """`agentkit run [RECIPE]`: run one recipe with the live display, or list them."""
    from agentkit._run.loop import run_loop
    from agentkit.workflows import recipe as registry

    from .display import Display, preview

    display = Display()
    if args.recipe is None:
        for name, listed in registry.recipes().items():
            display.line(f"{name:<22} {listed.description}", style="bold")
            for key, default in listed.inputs.items():
                display.line(f"{'':<22} --input {key}=…  (default: {preview(default, 50)})",
                             style="dim")
        return 0
    recipe = find_recipe(args.recipe)
    if recipe is None:
        return 2
    inputs: dict[str, str] = dict(args.input or ())
    if not check_model(args.model or recipe.model, display):
        return 2
    online = online_for(recipe, [inputs], args, display)
    if online is None:
        return 2
    code, tools = guarded(display, lambda: mcp_toolsets(args.mcp))
    if tools is None:
        return code
    # Redirected stdout gets the answer only: the live text of every agent goes to stderr.
    display.text_to_status = not display.console.is_terminal
    show_inputs(display, recipe.name, registry.resolve_inputs(recipe, inputs))
    # Online, risky tool calls (model-written code) are asked about; offline the scripted
    # model's calls are the recipe's own, and --yes allows every call.
    approve = ask_approval(display, terminal_only=True) if online and not args.yes else None

    async def call() -> Any:
        try:
            return await registry.run_recipe(recipe, inputs, online=online, model=args.model,
                                             on_event=display, tools=tools, approve=approve)
        finally:
            for toolset in tools:  # MCP servers: stopped in the loop that started them
                await toolset.aclose()

    code, result = guarded(display, lambda: run_loop(call))
    if result is None:
        return code
    output = result.output
    if isinstance(output, str):
        if not display.text_seen:  # not streamed to stdout as it was made: show it now
            display.line(output)
    elif output is not None:
        display.line(json.dumps(jsonable(output), indent=2, ensure_ascii=False, default=str))
    display.usage(result.usage)
    return 0


def show_inputs(display: Display, name: str, inputs: dict[str, str]) -> None:
    """What the recipe is about to work on (the question first), on stderr."""
    from .display import preview

    for key in sorted(inputs, key=lambda k: (k != "question", k)):
        display.info(f"{name} · {key}: {preview(inputs[key], 300)}", style="bold")


# -- models, tools ------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    """`agentkit models`: `GET /v1/models` as a table (or JSON)."""
    from agentkit._run.loop import run_loop

    from .display import Display, models_table

    display = Display()
    online = choose_online(args, display)
    if online is None:
        return 2
    serving, new_client = client_source(online)

    async def fetch() -> list[Any]:
        async with new_client() as client:
            return [model async for model in client.list_models()]

    with serving:
        code, models = guarded(display, lambda: run_loop(fetch))
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
    from .console import make_console, tool_listing  # not `display`: no run events here

    console = make_console()
    families = tool_families()
    names = [f.name for f in families]
    unknown = [n for n in args.family if n not in names]
    if unknown:
        listed = ", ".join(map(repr, unknown))
        fail(f"no tool family {listed}; the families are: {', '.join(names)}")
        return 2
    chosen = [f for f in families if not args.family or f.name in args.family]
    if not args.json:
        tool_listing(console, chosen)
        return 0
    data = [
        {"family": f.name, "summary": f.summary, "usage": f.usage,
         "tools": [t.to_param() for t in f.example()]}
        for f in chosen
    ]
    console.print(json.dumps(data, indent=2, ensure_ascii=False), markup=False)
    return 0


# -- the parser ---------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples and the exit-code table in epilogs as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # Descriptions are prose: wrap them. Epilogs are laid out by hand: keep them.
        if text.startswith(("commands:", "examples:", "notes:")):
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
    _add_run(sub)
    _add_chat(sub)
    _add_models(sub)
    _add_tools(sub)
    _add_batch(sub)
    add_runs(sub, _command)
    add_ui(sub, _command)
    add_mcp(sub, _command)
    return parser


def _add_run(sub: Any) -> None:
    """The `run` subcommand."""
    run = _command(
        sub, "run", "run a recipe, showing what the agent does as it happens",
        "Run a recipe: stream its text, thinking (dimmed) and tool calls, then usage and cost. "
        "Without RECIPE, list the recipes and their inputs.",
        ["agentkit run", "agentkit run RECIPE --input topic=tides",
         "agentkit run RECIPE --input question=@question.txt",
         "agentkit run RECIPE --online --model claude-haiku-5-5",
         "agentkit run my_recipes.py:RECIPE > answer.txt"], cmd_run,
        notes="notes:\n  The answer goes to stdout; the offline banner, progress, tool calls and "
        "usage to stderr.\n  Online, tools that run model-written code (data-analyst's "
        "python) ask y/N first, showing\n  the code; without a terminal they are refused "
        "unless --yes.",
    )
    run.add_argument("recipe", nargs="?", metavar="RECIPE",
                     help="recipe name, or your own: pkg.module[:NAME] or file.py[:NAME] "
                     "(NAME defaults to RECIPE); omit to list the recipes")
    run.add_argument("--input", "-i", action="append", type=key_value, metavar="KEY=VALUE",
                     help="a recipe input (repeatable); KEY=@FILE reads it from FILE")
    run.add_argument("--model", "-m", metavar="MODEL", help="model to use instead of the recipe's")
    add_mcp_option(run)
    run.add_argument("--yes", "-y", action="store_true",
                     help="allow every tool call that would ask for approval")


def _add_chat(sub: Any) -> None:
    """The `chat` subcommand."""
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
    add_mcp_option(chat)


def _add_models(sub: Any) -> None:
    """The `models` subcommand."""
    models = _command(
        sub, "models", "list the models (GET /v1/models)",
        "List the models: id, display name, creation date, input and output token limits.",
        ["agentkit models", "agentkit models --online --json"], cmd_models,
    )
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_tools(sub: Any) -> None:
    """The `tools` subcommand."""
    tools = _command(
        sub, "tools", "list the ready tools and their input schemas",
        "List the ready tool families (agentkit_tools): each tool's name, description and "
        "the input schema the model sees.",
        ["agentkit tools", "agentkit tools files calculator", "agentkit tools --json"],
        cmd_tools, modes=False,
    )
    tools.add_argument("family", nargs="*", help="families to show (default: all)")
    tools.add_argument("--json", action="store_true", help="print the tool definitions as JSON")


def _add_batch(sub: Any) -> None:
    """The `batch` subcommand."""
    batch = _command(
        sub, "batch", "run a recipe over many inputs (JSONL in, JSONL out)",
        "Run RECIPE once per line of INPUTS (a JSON object of inputs, optionally with an "
        "`id`). Each result is appended to --out as it finishes: id, ok, output or error, "
        "usage, cost_usd, worker (host:pid), seconds. A failed item is recorded and the rest "
        "go on; rerunning the same command skips the ids already recorded with ok=true. "
        "Inputs are read as a stream; requests are paced by --rpm/--itpm/--otpm and by the "
        "API's rate-limit headers. With --durable each item's runs are checkpointed, so a "
        "rerun after a crash resumes them instead of starting over.",
        ["agentkit batch RECIPE inputs.jsonl --out results.jsonl",
         "agentkit batch RECIPE inputs.jsonl --out results.jsonl --concurrency 16 --online",
         "agentkit batch RECIPE inputs.jsonl --out results.jsonl --engine ray --address auto",
         "agentkit batch RECIPE inputs.jsonl --out results.jsonl --durable --db postgresql://..."],
        cmd_batch,
    )
    batch.add_argument("recipe", metavar="RECIPE",
                       help="recipe name, or your own: pkg.module[:NAME] or file.py[:NAME]")
    batch.add_argument("inputs", metavar="INPUTS", help="JSONL file, one object per line")
    batch.add_argument("--out", "-o", required=True, metavar="FILE",
                       help="JSONL results file (appended to)")
    batch.add_argument("--concurrency", "-c", type=_positive, default=4, metavar="N",
                       help="items run at once (default: 4)")
    batch.add_argument("--model", "-m", help="model to use instead of the recipe's")
    add_batch_options(batch)


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
    with _escaping_output():
        return handler(args)


@contextmanager
def _escaping_output() -> Generator[None]:
    """stdout and stderr write a character their encoding cannot carry as its escape instead of
    failing the command. Whatever is shown (answer text, a tool result, a journal, JSON output)
    may hold a lone surrogate: a reply's escaped `"\\ud800"`, a file name decoded with
    `surrogateescape`. UTF-8 cannot carry it (Python's stdout refuses it, or in a C locale
    writes a byte that is not UTF-8); `\\ud800` is JSON's own spelling of it. Put back after.
    """
    from agentkit._api.jsonbytes import ESCAPE  # after parsing: `--help` loads no pydantic

    changed: list[tuple[io.TextIOWrapper[Any], str | None]] = []
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors != ESCAPE:
            wrapper = cast("io.TextIOWrapper[Any]", stream)
            changed.append((wrapper, wrapper.errors))
            wrapper.reconfigure(errors=ESCAPE)
    try:
        yield
    finally:
        for stream, errors in changed:
            with suppress(ValueError):  # closed meanwhile
                stream.reconfigure(errors=errors)
