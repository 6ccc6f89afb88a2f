"""`agentkit runs`: the durable runs kept in a run store file.

`list` shows a table of the runs; `show ID` one run's conversation as it was journaled (the
calls agentkit answered itself, which leave no journal entry, marked so); both show a run
stored as running whose process stopped (no process holds its journal) as interrupted, as
`agentkit ui` does; `list` shows a run whose journal cannot be read as unreadable, with its
header's figures and the error (`show` fails with it);
`resume ID` continues a run with the agent that started it (`--agent module:attribute`, which
the command imports); `rm ID` deletes a run, after a confirmation unless `--yes`. Rules: a
missing store file is an error (never created by a typo); the store's errors are one message
and an exit code, as everywhere in the CLI. Uses public names only (and the store's
`runs_command`, the command lines its errors suggest); the store and the display are imported
by `cmd_runs`, not by the parser.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from .common import fail, guarded, jsonable

if TYPE_CHECKING:  # imported where used: `agentkit --help` loads none of them
    from agentkit import Agent, SQLiteStore
    from agentkit._durable.journal import Entry, RunHeader, RunStatus

    from .display import Display
    from .viewer import RunReader

__all__ = ["add_runs", "cmd_runs"]


def cmd_runs(args: argparse.Namespace) -> int:
    """`agentkit runs list | show ID | resume ID | rm ID --db PATH`."""
    from agentkit import SQLiteStore
    from agentkit.errors import StoreError

    from .display import Display

    if os.path.isdir(args.db):  # often the store's journals folder, given for the store
        store_file = args.db.rstrip(os.sep).removesuffix(".journals")
        fail(f"{args.db} is a folder, not a run store file; give the --db of the store file "
             + (f"beside it: --db {store_file}" if os.path.isfile(store_file) and
                store_file != args.db.rstrip(os.sep) else "that durable runs wrote (runs.db)"))
        return 2
    if not os.path.isfile(args.db):
        fail(f"no run store at {args.db}; give the --db of a store that durable runs wrote")
        return 2
    try:
        store = SQLiteStore(args.db)
    except StoreError as exc:
        fail(str(exc))
        return 2
    with store:
        if args.action == "list":
            return _reading(args.db, lambda reader: _list(store, reader, Display(), args))
        header = store.header(args.id) if args.id else None
        if header is None:
            fail(f"no run {args.id!r} in {args.db}; `agentkit runs list --db {args.db}` "
                 "shows the runs" if args.id else f"runs {args.action} needs a run id")
            return 2
        if args.action == "show":
            return _reading(args.db, lambda reader: _show(store, reader, Display(), args.id))
        if args.action == "rm":
            return _remove(store, Display(), args.id, header.entries, yes=args.yes)
        return _resume(store, Display(), args)


def _reading(path: str, action: Callable[[RunReader], int]) -> int:
    """`action` with the store at `path` read as `agentkit ui` reads it (which process holds
    which run); opened after the `SQLiteStore`, which moved an older format on."""
    from agentkit.errors import StoreError

    from .viewer import RunReader

    try:
        reader = RunReader(path, clock=time.time)
    except StoreError as exc:
        fail(str(exc))
        return 2
    with closing(reader):
        return action(reader)


def _shown(reader: RunReader, header: RunHeader) -> str:
    """The run's status to show: a run stored as running whose journal no process holds any
    more is interrupted (its process stopped without recording an end), as in `agentkit ui`."""
    version = reader.version(header.run_id) if header.status == "running" else None
    return header.status if version is None else version[1]


def _listed(
    store: SQLiteStore, reader: RunReader, status: str | None, limit: int
) -> list[tuple[RunHeader, str]]:
    """The runs to list with their shown status, latest first, filtered by the shown one."""
    if status not in ("running", "interrupted"):
        runs = store.runs(status=cast("RunStatus | None", status), limit=limit)
        return [(r, _shown(reader, r)) for r in runs]
    # Running or interrupted as shown: every run stored as running is one or the other.
    stored = store.runs(status="running", limit=sys.maxsize)
    if status == "interrupted":
        stored += store.runs(status="interrupted", limit=limit)
    chosen = [(r, shown) for r in stored if (shown := _shown(reader, r)) == status]
    chosen.sort(key=lambda pair: (-pair[0].updated, pair[0].run_id))
    return chosen[:limit]


def _list(
    store: SQLiteStore, reader: RunReader, display: Display, args: argparse.Namespace
) -> int:
    from rich import box
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    from .display import printable

    listed = _listed(store, reader, args.status, args.limit)
    runs = [r for r, _ in listed]
    if not runs:
        display.note(f"no {args.status} runs in {args.db} (leave out --status to list them "
                     "all)" if args.status else f"no runs in {args.db}")
        return 0
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    ids = [printable(r.run_id, one_line=True) for r in runs]
    table.add_column("id", no_wrap=True, min_width=max(len(i) for i in ids))
    for title in ("status", "model", "turns", "tokens", "cost", "updated"):
        right = title in ("turns", "tokens", "cost")
        # The model may wrap; the rest is short and must stay whole.
        table.add_column(title, no_wrap=title != "model", justify="right" if right else "left")
    for (r, status), run_id in zip(listed, ids, strict=True):
        if r.unreadable is not None:  # listed with its header's figures, the error below
            status = "unreadable"
        table.add_row(  # ids and models are anyone's text: never markup nor terminal controls
            Text(run_id), status, Text(printable(r.model, one_line=True)), str(r.turns),
            f"{r.input_tokens + r.output_tokens:,}", f"${r.cost_usd:.4f}", _when(r.updated)[:16],
        )
    console = display.console
    need = Measurement.get(console, console.options.update(max_width=sys.maxsize), table)
    if need.minimum > console.width:  # an id longer than the terminal is wide: rich would
        console.width = need.maximum  # drop the other columns; print all, let lines wrap
    console.print(table)
    for r in runs:
        if r.unreadable is not None:
            display.warn(f"run {printable(r.run_id, one_line=True)}: {printable(r.unreadable)}")
    return 0


def _show(store: SQLiteStore, reader: RunReader, display: Display, run_id: str) -> int:
    """The journal, readably: the prompt, each reply's text and calls, results, the end.
    Everything in it is anyone's text: shown with its terminal controls escaped."""
    from agentkit._durable.journal import SUB_RUN_MARK, runs_command, shell_word
    from agentkit.errors import StoreError

    from .display import preview, printable

    try:
        read = _journal_of(store, run_id)
    except StoreError as exc:  # written by a newer agentkit, or unreadable
        fail(str(exc))
        return 1
    if read is None:
        fail(f"run {run_id!r} was deleted while it was being read (`agentkit runs rm`, by "
             "another process); nothing to show")
        return 1
    header, journal = read
    status = _shown(reader, header)
    display.line(f"run {printable(run_id, one_line=True)}: {status}, "
                 f"{printable(header.model, one_line=True)}, "
                 f"{header.turns} turns, "
                 f"{header.input_tokens + header.output_tokens:,} tokens, "
                 f"${header.cost_usd:.4f}, updated {_when(header.updated)}", style="bold")
    names: dict[str, str] = {}
    unanswered: list[str] = []  # the last reply's calls with no result in the journal yet
    awaiting: list[str] = []  # the calls the last pause waits on

    def answered_by_agentkit() -> None:
        # The engine answers some calls itself and journals nothing for them: a replay makes
        # the same answer (output and stop-after tools, unknown tools, denied calls, calls a
        # run ended without).
        for call in unanswered:
            display.note(f"← {printable(names.get(call, call))}: answered by agentkit itself "
                         "(no journal entry)")
        unanswered.clear()

    if not journal and header.entries:
        fail(f"the journal of run {run_id!r} is missing, though the store counts "
             f"{header.entries} entries: a store is {store.path} and its folder "
             f"{store.path}.journals; copy both")
        return 1
    if journal and journal[-1].seq < header.entries:  # a power loss at synchronous="NORMAL"
        display.warn(f"the journal ends at entry {journal[-1].seq}, though the store counted "
                     f"{header.entries}: its last checkpoints were lost, and a resume repeats "
                     "what followed them")
    for entry in journal:
        payload = entry.payload
        if entry.kind == "start":
            for message in cast("list[Mapping[str, Any]]", payload["messages"]):
                _message(display, message, names)
        elif entry.kind == "reply":
            answered_by_agentkit()
            content = cast("list[dict[str, Any]]", payload["content"])
            _message(display, {"role": "assistant", "content": content}, names)
            unanswered.extend(b["id"] for b in content if b.get("type") == "tool_use")
        elif entry.kind == "tool_started":
            started = ", ".join(names.get(i, i) for i in cast("list[str]", payload["ids"]))
            display.note(printable(f"· started {started}"))
        elif entry.kind == "tool_result":
            if payload.get("tool_use_id") in unanswered:
                unanswered.remove(cast(str, payload["tool_use_id"]))
            _message(display, {"role": "user", "content": [payload]}, names)
        elif entry.kind == "decisions":
            decided = cast("dict[str, object]", payload["decisions"])
            text = ", ".join(f"{names.get(k, k)}: {_decision(v)}" for k, v in decided.items())
            display.line(f"decisions: {printable(text)}", style="yellow")
        elif entry.kind == "status":
            if payload.get("status") == "finished":  # others' open calls go on when resumed
                answered_by_agentkit()
            why = payload.get("reason")
            display.note(printable(f"· {payload['status']}" + (f" ({why})" if why else "")))
            awaiting = [str(i) for i in cast("list[object]", payload.get("awaiting") or [])]
        elif entry.kind == "attempt":  # an observed process's span: for tracing, not reading
            continue
        elif entry.kind == "usage":  # merged in from outside the replies: a sub-agent's
            tokens = _int(payload.get("input_tokens")) + _int(payload.get("output_tokens"))
            display.note(f"· usage merged in (a sub-agent's): {_int(payload.get('requests'))} "
                         f"requests, {tokens:,} tokens")
        else:  # a context policy's input or decision (a token count, a trim), or a newer kind
            display.note(printable(f"· {entry.kind}: {preview(payload)}"))
    if status == "paused" and awaiting:
        calls = ", ".join(f"{names.get(i, '?')} ({i})" for i in awaiting)
        display.line(printable(f"awaiting a decision: {calls}"), style="yellow")
        if SUB_RUN_MARK in run_id:  # no one can decide for it: its caller's call is answered
            caller = run_id.rsplit(SUB_RUN_MARK, 1)[0]
            display.note(printable(
                f"a sub-agent's run: its caller {caller} was told these calls were not run, and "
                "nothing resumes it (give the sub-agent an approve callback, Agent(approve=...), "
                "for it to run such calls)"))
            return 0
        approve = [f"--approve {shell_word(i)}" for i in awaiting]
        line = runs_command("resume", run_id, store.path, "--agent MODULE:ATTR", *approve)
        display.note(printable(
            f"decide with: {line} (or --deny ID), with the agent that started the run"))
    return 0


def _journal_of(store: SQLiteStore, run_id: str) -> tuple[RunHeader, list[Entry]] | None:
    """The run's header and its journal, read as one run's: the header read again after the
    journal, so a run deleted meanwhile (None), or deleted and started again (read again), is
    not taken for a run whose journal was lost."""
    header = store.header(run_id)
    for _ in range(3):
        if header is None:
            return None
        journal = store.entries(run_id)
        now = store.header(run_id)
        if now is not None and now.created == header.created:
            return header, journal
        header = now
    return None


def _message(display: Display, message: Mapping[str, Any], names: dict[str, str]) -> None:
    from .display import preview, printable

    content = message["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    who = "you" if message["role"] == "user" else "claude"
    for block in cast("list[Mapping[str, Any]]", content):
        kind = block.get("type")
        if kind == "text":
            display.line(printable(f"{who}: {block['text']}"),
                         style=None if who == "claude" else "bold")
        elif kind == "thinking":
            display.line(f"{who} (thinking): {preview(block.get('thinking', ''))}",
                         style="dim italic")
        elif kind == "tool_use":
            names[block["id"]] = block["name"]
            display.line(f"→ {printable(block['name'])} {preview(block.get('input'))}",
                         style="cyan")
        elif kind == "tool_result":
            error = bool(block.get("is_error"))
            name = names.get(block["tool_use_id"], "tool")
            label = "error" if error else "result"
            display.line(f"← {printable(name)} {label}: {preview(block.get('content'))}",
                         style="red" if error else "dim")
        elif kind == "server_tool_use":
            display.line(f"→ {printable(str(block.get('name')))} (server tool) "
                         f"{preview(block.get('input'))}", style="cyan")
        else:  # an image, a document, a server tool's result: named, never dropped
            source = cast("Mapping[str, Any]", block.get("source") or {})
            media = source.get("media_type")
            what = f"{kind} {media}" if media else str(kind)
            display.line(printable(f"{who}: [{what}]"), style="dim")


def _int(value: object) -> int:
    """A count from a journal's payload (0 when it is not one)."""
    return value if type(value) is int else 0


def _decision(value: object) -> str:
    return "approved" if value is True else f"denied ({value})" if value else "denied"


def _remove(store: SQLiteStore, display: Display, run_id: str, entries: int, *, yes: bool) -> int:
    from agentkit._durable.journal import SUB_RUN_MARK

    # Its sub-agents' runs (`{run_id}›{tool_use_id}`) go with it: nothing else resumes them.
    subs = sum(r.run_id.startswith(run_id + SUB_RUN_MARK) for r in store.runs(limit=sys.maxsize))
    also = f" and its {subs} sub-run{'s' if subs > 1 else ''}" if subs else ""
    if not yes:
        try:
            display.console.print(f"delete run {run_id!r} and its {entries} journal entries"
                                  f"{',' + also if also else ''}? [y/N] ", end="", markup=False)
            answer = sys.stdin.readline().strip().lower()
        except KeyboardInterrupt:
            display.end_line()
            fail("interrupted: nothing deleted")
            return 130
        if answer not in ("y", "yes"):
            display.note("nothing deleted")
            return 1
    from .display import printable

    code, _ = guarded(display, lambda: store.delete(run_id))
    if code == 0:
        display.line(f"deleted run {printable(run_id, one_line=True)}{printable(also)}")
    return code


def _resume(store: SQLiteStore, display: Display, args: argparse.Namespace) -> int:
    if not args.agent:
        fail("runs resume needs the agent that started the run: --agent module:attribute "
             "(e.g. --agent myapp.agents:orders), importable from the current directory")
        return 2
    agent = _import_agent(args.agent)
    if agent is None:
        return 2
    from agentkit import UsageError
    from agentkit.errors import RunMismatchError

    both = sorted(set(args.approve or ()) & set(args.deny or ()))
    if both:
        fail(f"{', '.join(both)}: given to both --approve and --deny; give each call one "
             "decision (nothing was run)")
        return 2
    decisions: dict[str, bool | str] = {}
    for item in args.approve or ():
        decisions[item] = True
    for item in args.deny or ():
        decisions[item] = "the user denied this call"

    def resume() -> Any:
        # run_sync, not a loop of our own: it closes the pool the agent's client (the user's,
        # made at import) bound to the loop, which ends with it ("Unclosed client session").
        try:
            return agent.run_sync(run_id=args.id, store=store, decisions=decisions or None,
                                  on_event=display)
        except RunMismatchError as exc:  # the store's advice (a new id) is not for a resume
            raise UsageError(
                f"--agent {args.agent} is not the agent that started run {args.id!r}: its "
                "model, system prompt, tool names, output type or context policy differ "
                f"(fingerprints {exc.stored} stored, {exc.given} given); nothing was run. "
                "Pass the agent that started the run"
            ) from None

    code, result = guarded(display, resume)
    if result is None:
        return code
    if result.pending_approvals:
        ids = " ".join(c["id"] for c in result.pending_approvals)
        display.note(f"paused for approval of {ids}: resume with --approve ID or --deny ID")
    elif result.output is not None and not isinstance(result.output, str):
        display.line(json.dumps(jsonable(result.output), indent=2, ensure_ascii=False))
    elif not display.text_seen:
        display.line(result.text)
    display.usage(result.usage)
    return 0


def _import_agent(spec: str) -> Agent[Any] | None:
    from agentkit import Agent

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        fail(f"--agent {spec!r}: write module:attribute, e.g. myapp.agents:orders")
        return None
    if module_name.startswith(".") or module_name.endswith(".py") or "/" in module_name:
        name = module_name.removesuffix(".py").lstrip("./").replace("/", ".")
        fail(f"--agent {spec!r}: name a module, not a file: {name}:{attribute} for "
             f"{module_name}, run from the folder it is importable from")
        return None
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the current directory's modules
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        fail(f"--agent {spec!r}: cannot import {module_name!r} ({exc})")
        return None
    except Exception as exc:  # the module's own code failed (a missing setting, a typo)
        fail(f"--agent {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
             " (nothing was run)")
        return None
    agent = getattr(module, attribute, None)
    if not isinstance(agent, Agent):
        kind = type(agent).__name__
        what = "nothing" if agent is None else f"{'an' if kind[0] in 'aeiouAEIOU' else 'a'} {kind}"
        fail(f"--agent {spec!r}: {module_name}.{attribute} is {what}, not an agentkit Agent")
        return None
    return cast("Agent[Any]", agent)


def _positive(text: str) -> int:
    """An argparse type: how many runs to list, at least one."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of runs from 1, got {text!r}")
    return min(int(text), sys.maxsize)  # SQLite's LIMIT is 64 bits: more is "all" anyway


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def add_runs(sub: Any, command: Any) -> None:
    """The `runs` subcommand; `command` is `main._command` (help, examples, exit codes)."""
    runs: argparse.ArgumentParser = command(
        sub, "runs", "list, show, resume or delete durable runs",
        "The durable runs in a run store file (agent.run(run_id=..., store=SQLiteStore(PATH))): "
        "list them, show one's conversation, resume one with its agent, or delete one.",
        ["agentkit runs list --db runs.db",
         "agentkit runs show orders-2026-12-06 --db runs.db",
         "agentkit runs resume orders-2026-12-06 --db runs.db --agent myapp.agents:orders",
         "agentkit runs rm orders-2026-12-06 --db runs.db --yes"],
        cmd_runs, modes=False,
        notes="notes:\n  An ID that begins with '-' goes last, after the options and --:\n"
        "  agentkit runs --db runs.db show -- -x7Gq",
    )
    runs.add_argument("action", choices=("list", "show", "resume", "rm"), help="what to do")
    runs.add_argument("id", nargs="?", metavar="ID", help="the run id (show, resume, rm)")
    runs.add_argument("--db", required=True, metavar="PATH", help="the run store file")
    runs.add_argument("--status", choices=("running", "paused", "finished", "failed",
                                           "interrupted"), help="list: only runs in this state")
    runs.add_argument("--limit", type=_positive, default=50, metavar="N",
                      help="list: at most N runs, latest first (default: 50)")
    runs.add_argument("--agent", metavar="MODULE:ATTR", help="resume: the Agent to run it with")
    runs.add_argument("--approve", action="append", metavar="TOOL_USE_ID",
                      help="resume: approve a pending call (repeatable)")
    runs.add_argument("--deny", action="append", metavar="TOOL_USE_ID",
                      help="resume: deny a pending call (repeatable)")
    runs.add_argument("--yes", "-y", action="store_true", help="rm: do not ask for confirmation")
