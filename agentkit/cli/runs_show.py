"""`agentkit runs show ID`: one durable run's conversation as it was journaled, readably.

The prompt, each reply's text and calls, results, decisions, the end; the calls agentkit
answered itself, which leave no journal entry, marked so; everything in it is anyone's text,
shown with its terminal controls escaped. A call of an agent used as a tool names the sub-run
that did its work and the line that shows it; a sub-run's header names its caller. Also what
`list` shares: the status a run is shown with (`shown`) and a time (`when`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from .common import fail

if TYPE_CHECKING:  # imported where used: `agentkit --help` loads none of them
    from agentkit import SQLiteStore
    from agentkit._durable.journal import Entry, RunHeader

    from .display import Display
    from .viewer import RunReader

__all__ = ["show", "shown", "when"]


def shown(reader: RunReader, header: RunHeader) -> str:
    """The run's status to show: a run stored as running whose journal no process holds any
    more is interrupted (its process stopped without recording an end), as in `agentkit ui`."""
    version = reader.version(header.run_id) if header.status == "running" else None
    return header.status if version is None else version[1]


def show(store: SQLiteStore, reader: RunReader, display: Display, run_id: str) -> int:
    """The journal, readably: the prompt, each reply's text and calls, results, the end.
    Everything in it is anyone's text: shown with its terminal controls escaped."""
    from agentkit._durable.journal import runs_command, shell_word
    from agentkit._durable.subruns import caller_of
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
    status = shown(reader, header)
    subs = store.sub_runs(run_id)
    display.line(f"run {printable(run_id, one_line=True)}: {status}, "
                 f"{printable(header.model, one_line=True)}, "
                 f"{header.turns} turns, "
                 f"{header.input_tokens + header.output_tokens:,} tokens, "
                 f"${header.cost_usd:.4f}, updated {when(header.updated)}"
                 + (f", {len(subs)} sub-run{'s' if len(subs) > 1 else ''}" if subs else ""),
                 style="bold")
    caller = caller_of(run_id)
    if caller is not None:  # an agent used as a tool: its caller's call made it
        there = store.header(caller[0]) is not None
        display.line(printable(
            f"sub-run of run {caller[0]}, made by its call {caller[1]}"
            + (f": {runs_command('show', caller[0], store.path)}" if there
               else " (that run is no longer in the store)"), one_line=True), style="dim")
    linked: dict[str, str] = {}  # the line naming the sub-run each agent's call made
    for sub in subs:
        made = caller_of(sub)
        if made is not None and made[0] == run_id:
            linked[made[1]] = printable(
                f"  ↳ sub-run {sub}: {runs_command('show', sub, store.path)}", one_line=True)
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
                _message(display, message, names, linked)
        elif entry.kind == "reply":
            answered_by_agentkit()
            content = cast("list[dict[str, Any]]", payload["content"])
            _message(display, {"role": "assistant", "content": content}, names, linked)
            unanswered.extend(b["id"] for b in content if b.get("type") == "tool_use")
        elif entry.kind == "tool_started":
            started = ", ".join(names.get(i, i) for i in cast("list[str]", payload["ids"]))
            display.note(printable(f"· started {started}"))
        elif entry.kind == "tool_result":
            if payload.get("tool_use_id") in unanswered:
                unanswered.remove(cast(str, payload["tool_use_id"]))
            _message(display, {"role": "user", "content": [payload]}, names, linked)
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
        if caller is not None:  # no one can decide for it: its caller's call is answered
            display.note(printable(
                f"a sub-agent's run: its caller {caller[0]} was told these calls were not run, "
                "and nothing resumes it (give the sub-agent an approve callback, "
                "Agent(approve=...), for it to run such calls)"))
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


def _message(
    display: Display, message: Mapping[str, Any], names: dict[str, str],
    linked: Mapping[str, str],
) -> None:
    """A message's blocks, one line each; `linked`: the line to add under a call that made a
    sub-run (an agent's call), by call id."""
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
            if block["id"] in linked:
                display.line(linked[block["id"]], style="dim cyan")
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



def when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M:%S")
