"""`agentkit chat`: one conversation over many turns, read line by line from stdin.

Owns the chat loop, its slash commands (`CHAT_COMMANDS`), the tool families `--tools` names,
and asking y/N before a call that needs approval. Rules: a turn that fails is not kept (the
conversation stays as it was before it); file writes, shell and python ask first; parsing,
online/offline and exit codes are `_cli`'s, imported from there. The parser needs only
`CHAT_COMMANDS`: the rest is imported by the functions that use it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from agentkit import AgentkitError, UsageError

from .common import check_model, choose_online, client_source, fail, guarded, mcp_toolsets

if TYPE_CHECKING:  # imported where used: `agentkit --help` loads none of them
    from agentkit import Agent, AsyncClient, Deny, RunUsage, Toolset

    from .display import Display

__all__ = ["CHAT_COMMANDS", "cmd_chat"]

CHAT_COMMANDS = """\
  /reset        start a new conversation
  /save FILE    save the conversation as JSON
  /load FILE    continue a conversation saved with /save
  /usage        tokens and cost so far
  /help         this list
  /exit         leave (Ctrl-D too)"""

SAFE_FAMILIES = ("files", "http", "calculator", "clock")
"""What `--tools all` means: shell and python must be named to be enabled."""


def read_line(prompt: str) -> str | None:
    """One line from stdin (with the prompt and line editing on a terminal); None at EOF."""
    if sys.stdin.isatty():
        try:
            return input(prompt)
        except EOFError:
            return None
    line = sys.stdin.readline()
    return None if not line else line.rstrip("\r\n")


def chat_tools(spec: str, root: str, db: str | None) -> list[Toolset]:
    """The toolsets named in `--tools` (comma-separated families, or `all`).

    Raises:
        UsageError: an unknown family, or sqlite without --db.
    """
    import agentkit_tools as kit

    from agentkit import Toolset

    builders: dict[str, Callable[[], Toolset]] = {
        "files": lambda: _ask_before_writing(kit.files_toolset(root)),
        "shell": lambda: kit.shell_toolset(root, enabled=True),
        "http": kit.http_toolset,
        "python": kit.python_toolset,
        "sqlite": lambda: kit.sqlite_toolset(db) if db else _needs_db(),
        "calculator": lambda: Toolset([kit.calculator]),
        "clock": lambda: Toolset([kit.current_datetime]),
    }
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if "all" in names:
        names = [n for n in names if n != "all"] + [n for n in SAFE_FAMILIES if n not in names]
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise UsageError(
            f"no tool family {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(builders)} or all (run `agentkit tools` to see them)"
        )
    return [builders[n]() for n in names]


def _ask_before_writing(files: Toolset) -> Toolset:
    # In a chat the model edits the user's own directory: each write is shown and asked first.
    from agentkit import Toolset

    writes = ("write_file", "edit_file")
    return Toolset([t.replace(requires_approval=True) if t.name in writes else t for t in files])


def _needs_db() -> Toolset:
    raise UsageError("the sqlite tools need a database: pass --db FILE")


def ask_approval(
    display: Display, *, terminal_only: bool = False
) -> Callable[[Any, dict[str, Any]], bool | Deny]:
    """An `approve=` callback asking y/N on stderr, read from the terminal (or, unless
    `terminal_only`, the next piped line). Code to run (a `code` input) is shown whole.
    With `terminal_only` and no terminal, every call is refused, saying how to allow it."""
    from agentkit import Deny

    from .display import preview

    def approve(ctx: Any, call: dict[str, Any]) -> bool | Deny:
        args: object = call["input"]
        code = cast("dict[str, object]", args).get("code") if isinstance(args, dict) else None
        if isinstance(code, str):
            display.info(f"? {call['name']} wants to run this code:", style="yellow")
            display.info("\n".join("    " + line for line in code.splitlines()))
        else:
            display.info(f"? {call['name']} wants to run {preview(args, 300)}", style="yellow")
        if terminal_only and not sys.stdin.isatty():
            display.warn(
                f"refused {call['name']}: it needs approval and stdin is not a terminal to ask "
                "at; pass --yes to allow every such call"
            )
            return Deny("the call needs the user's approval and the user could not be asked")
        sys.stderr.write("allow? [y/N] ")
        sys.stderr.flush()
        answer = read_line("")
        if answer is not None and answer.strip().lower() in ("y", "yes"):
            return True
        return Deny("the user refused this call")

    return approve


def cmd_chat(args: argparse.Namespace) -> int:
    """`agentkit chat`: one conversation over many turns, kept until /reset or exit."""
    from agentkit import Agent, RunUsage
    from agentkit._run.loop import run_loop

    from .display import Display

    display = Display()
    try:
        tools = chat_tools(args.tools, args.root, args.db) if args.tools else []
        tools += mcp_toolsets(args.mcp)
    except UsageError as exc:
        fail(str(exc))
        return 2
    online = choose_online(args, display)
    if online is None:
        return 2
    thinking: Any = args.thinking
    if thinking is not None and thinking != "adaptive":
        thinking = int(thinking) if thinking.isdigit() else thinking
    serving, new_client = client_source(online)
    history: list[dict[str, Any]] = []
    total = RunUsage()
    approve = ask_approval(display)
    tty = sys.stdin.isatty()
    if tty:
        display.note("type a message, or /help for commands")

    def agent(client: AsyncClient | None) -> Agent[Any]:
        return Agent(
            args.model, tools=tools, system=args.system, max_tokens=args.max_tokens,
            thinking=thinking, stream=True, client=client, approve=approve,
        )

    try:
        agent(None)  # a bad setting (e.g. --thinking) fails now, not at the first message
    except UsageError as exc:
        fail(str(exc))
        return 2
    if not check_model(args.model, display):
        return 2

    async def turn(prompt: str) -> Any:
        # The agent's block closes what its tools opened (MCP servers) in this turn's loop.
        async with new_client() as client, agent(client) as turn_agent:
            return await turn_agent.run(prompt, history=history, on_event=display)

    exit_code = 0  # 1 once a turn failed, 130 when interrupted (as `EXIT_CODES` says)
    with serving:
        while True:
            try:
                line = read_line("you> ")
            except KeyboardInterrupt:
                display.end_line()
                exit_code = 130
                break
            if line is None or line.strip() in ("/exit", "/quit"):
                break
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                history = chat_command(text, history, total, display, args.model)
                continue
            code, result = guarded(display, lambda text=text: run_loop(turn, text))
            if result is None:
                if code in (2, 130):
                    exit_code = code
                    break
                exit_code = 1
                display.note("that turn was not kept; the conversation is as it was before it")
                continue
            history = result.messages
            total.merge(result.usage)
            display.usage(result.usage)
    if total.requests:
        display.usage(total, prefix="session: ")
    return exit_code


def chat_command(
    text: str, history: list[dict[str, Any]], total: RunUsage, display: Display, model: str
) -> list[dict[str, Any]]:
    """Carry out one slash command; returns the conversation to go on with."""
    from agentkit import validate_conversation

    command, _, arg = text.partition(" ")
    arg = arg.strip()
    if command == "/reset":
        display.note("new conversation")
        return []
    if command == "/usage":
        display.usage(total, prefix="session: ")
    elif command == "/save" and arg:
        try:
            with open(arg, "w", encoding="utf-8") as file:
                json.dump({"model": model, "messages": history}, file, indent=2)
        except OSError as exc:
            fail(f"could not save to {arg}: {exc.strerror or exc}")
        else:
            display.note(f"saved {len(history)} messages to {arg}")
    elif command == "/load" and arg:
        try:
            with open(arg, encoding="utf-8") as file:
                data: object = json.load(file)
            if isinstance(data, dict):
                data = cast("dict[str, object]", data).get("messages")
            if not isinstance(data, list):
                raise ValueError("expected a JSON list of messages or {\"messages\": [...]}")
            messages = cast("list[dict[str, Any]]", data)  # checked just below
            validate_conversation(messages)
        except (OSError, ValueError, AgentkitError) as exc:
            fail(f"could not load {arg}: {exc}")
        else:
            display.note(f"loaded {len(messages)} messages from {arg}")
            return messages
    elif command == "/help":
        display.line(CHAT_COMMANDS)
    else:
        display.note(f"unknown command or missing FILE: {text}\n{CHAT_COMMANDS}")
    return history
