"""`agentkit runs`: the durable runs kept in a run store file.

`list` shows a table of the runs a user started, each with how many sub-runs it has (the
runs of its agents used as tools: `journal.sub_run_id`), listed under it with `--sub-runs`;
`show ID` one run's conversation as it was journaled (`runs_show`); both show a run
stored as running whose process stopped (no process holds its journal) as interrupted, as
`agentkit ui` does; `list` shows a run whose journal cannot be read as unreadable, with its
header's figures and the error (`show` fails with it);
`resume ID` continues a run with the agent that started it (`--agent module:attribute`, which
the command imports); `rm ID` deletes a run and its sub-runs, after a confirmation unless
`--yes`, and refuses before asking a sub-run whose top-level run is unfinished (exit 2: its
resume would start the sub-agent over). Rules: a missing store file is an error (never created
by a typo), said to be gone when its journals folder is there (put it back); the runs of
journals no row names (a store file put back from a copy older than them) are runs like any
other, the store adopting them at its first use (`_durable/adopt.py`), and a journal no run can
be told from is named by `list` in a warning; the store's errors are one message and an exit
code, as everywhere in the CLI.
Uses public names only (and the store's `runs_command`, the command lines its errors suggest,
`check_deletable`, its rule for deleting a sub-run, and where its journals are: `journals`,
`folder.keys`); the store and the display are imported by `cmd_runs`, not by the parser.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING, Any, cast

from .common import fail, guarded, jsonable
from .runs_show import show, shown, when

if TYPE_CHECKING:  # imported where used: `agentkit --help` loads none of them
    from agentkit import Agent, SQLiteStore
    from agentkit._durable.journal import RunHeader, RunStatus

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
    if args.action == "rebuild":
        return _rebuild(args.db)
    if not os.path.isfile(args.db):
        fail(_missing(args.db))
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
            if not args.id:
                fail(f"runs {args.action} needs a run id")
                return 2
            return _no_run(args)
        if args.action == "show":
            return _reading(args.db, lambda reader: show(store, reader, Display(), args.id))
        if args.action == "rm":
            return _remove(store, Display(), args.id, header.entries, yes=args.yes)
        return _resume(store, Display(), args)


def _missing(db: str) -> str:
    """Why there is no store file at `db`: none was ever there, or it is gone (deleted or
    moved) from beside its journals."""
    from agentkit._durable.folder import keys
    from agentkit._durable.schema import journals
    from agentkit.errors import StoreError

    try:
        folder = journals(db)
    except StoreError as exc:  # journals beside a symlink to the missing file
        return str(exc)
    if not os.path.isdir(folder):
        return f"no run store at {db}; give the --db of a store that durable runs wrote"
    held = len(keys(folder))
    runs = f"the journals of {held} run{'s' * (held != 1)}"
    return (
        f"the run store file {db} is missing, but its journals folder {folder} is there "
        f"(holding {runs}): the store file was deleted or moved, and a run is its row there "
        "and its journal here. Put the file back (from a backup if it was deleted), or make "
        f"it again from the journals (`agentkit runs rebuild --db {db}`), then run the "
        "command again; nothing was changed"
    )


def _rebuild(db: str) -> int:
    """`runs rebuild`: make a deleted store file again from its journals (`adopt.rebuild`)."""
    from agentkit import SQLiteStore
    from agentkit._durable.adopt import rebuild
    from agentkit._durable.folder import keys
    from agentkit._durable.schema import journals
    from agentkit.errors import StoreError

    if os.path.isfile(db) and os.path.getsize(db):
        fail(f"the run store file {db} is there: nothing to rebuild (a run whose row it lost "
             f"is taken back from its journal when the store is used: `agentkit runs list "
             f"--db {db}`)")
        return 2
    stale = [f"{db}{end}" for end in ("-wal", "-shm", "-journal") if os.path.exists(f"{db}{end}")]
    if stale:  # opened with a new file, SQLite would take their pages for the new file's
        fail(f"{', '.join(stale)} {'is' if len(stale) == 1 else 'are'} left of the deleted store "
             f"file {db}: move {'it' if len(stale) == 1 else 'them'} out of the folder (the "
             "journals hold every run), then rebuild; nothing was changed")
        return 2
    try:
        folder = journals(db)
        if not keys(folder):
            fail(f"nothing to rebuild {db} from: no journals folder {folder} holding journals; "
                 "give the --db of a store that durable runs wrote")
            return 2
        rebuild(db, folder)
        with SQLiteStore(db) as store:  # its first use adopts the journals' runs
            count = len(store.runs(limit=-1))
    except StoreError as exc:
        fail(str(exc))
        return 2
    print(f"rebuilt {db} from its journals: {count} run{'s' * (count != 1)}")
    return 0


def _no_run(args: argparse.Namespace) -> int:
    """No run `args.id` in the store (nor a journal of it that no row named: the store adopted
    those when it was first used)."""
    fail(f"no run {args.id!r} in {args.db}; `agentkit runs list --db {args.db}` shows the runs")
    return 2


def _unnamed(reader: RunReader, display: Display, db: str) -> None:
    """A warning naming the journals no run of the store names, if any: those the store did
    not adopt (`_durable/adopt.py`), as no run can be told from them."""
    lost = reader.unnamed()
    if lost:
        n = len(lost)
        display.warn(
            f"{n} journal{'s' * (n > 1)} in {os.path.dirname(lost[0])} belong{'s' * (n == 1)} "
            f"to no run of {db} ({', '.join(os.path.basename(p) for p in lost[:5])}"
            f"{', …' * (n > 5)}): no run can be told from {'them' if n > 1 else 'it'} (a "
            "start naming no run, written by an agentkit before journals named theirs; a "
            "journal that cannot be read; or one of a run the store has under another "
            "journal, an older agentkit's delete cut short). Kept as "
            f"{'they are' if n > 1 else 'it is'}; nothing runs from {'them' if n > 1 else 'it'}"
        )


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


def _listed(
    store: SQLiteStore, reader: RunReader, status: str | None, limit: int
) -> list[tuple[RunHeader, str]]:
    """The runs to list (not the sub-runs of a run in the store) with their shown status,
    latest first, filtered by the shown one."""
    if status not in ("running", "interrupted"):
        runs = store.runs(status=cast("RunStatus | None", status), limit=limit, top_level=True)
        return [(r, shown(reader, r)) for r in runs]
    # Running or interrupted as shown: every run stored as running is one or the other.
    stored = store.runs(status="running", limit=sys.maxsize, top_level=True)
    if status == "interrupted":
        stored += store.runs(status="interrupted", limit=limit, top_level=True)
    chosen = [(r, now) for r in stored if (now := shown(reader, r)) == status]
    chosen.sort(key=lambda pair: (-pair[0].updated, pair[0].run_id))
    return chosen[:limit]


_Row = tuple["RunHeader", str, int, int]
"""A run as listed: its header, its shown status, its depth (0: a run a user started; 1: its
own sub-run; …) and how many sub-runs it has."""


def _list(
    store: SQLiteStore, reader: RunReader, display: Display, args: argparse.Namespace
) -> int:
    from rich import box
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    from .display import printable

    listed: list[_Row] = []
    for r, status in _listed(store, reader, args.status, args.limit):
        subs = store.sub_runs(r.run_id)
        listed.append((r, status, 0, len(subs)))
        if args.sub_runs:  # each after its caller
            listed += _under(store, reader, r.run_id, subs)
    if not listed:
        display.note(f"no {args.status} runs in {args.db} (leave out --status to list them "
                     "all)" if args.status else f"no runs in {args.db}")
        _unnamed(reader, display, args.db)
        return 0
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    ids = [("  " * (depth - 1) + "└ " if depth else "") + printable(r.run_id, one_line=True)
           for r, _, depth, _ in listed]
    table.add_column("id", no_wrap=True, min_width=max(len(i) for i in ids))
    counted = any(subs for *_, subs in listed)  # a column only where sub-agents ran
    titles = ["status", "model", "turns", "tokens", "cost", "updated"]
    for title in [*titles, "sub-runs"] if counted else titles:
        right = title in ("turns", "tokens", "cost", "sub-runs")
        # The model may wrap; the rest is short and must stay whole.
        table.add_column(title, no_wrap=title != "model", justify="right" if right else "left")
    for (r, status, _, subs), run_id in zip(listed, ids, strict=True):
        if r.unreadable is not None:  # listed with its header's figures, the error below
            status = "unreadable"
        cells: list[str | Text] = [  # ids and models are anyone's text: never markup nor
            Text(run_id), status, Text(printable(r.model, one_line=True)),  # terminal controls
            str(r.turns), f"{r.input_tokens + r.output_tokens:,}", f"${r.cost_usd:.4f}",
            when(r.updated)[:16],
        ]
        table.add_row(*cells, *([f"{subs:,}" if subs else ""] if counted else []))
    console = display.console
    need = Measurement.get(console, console.options.update(max_width=sys.maxsize), table)
    # An id longer than the terminal is wide: rich would drop the other columns; and into a
    # pipe, a cut model ("claude-sonn…") would not be found. Print all, let lines wrap.
    if need.minimum > console.width or not console.is_terminal:
        console.width = max(need.maximum, console.width)
    console.print(table)
    for r, *_ in listed:
        if r.unreadable is not None:
            display.warn(f"run {printable(r.run_id, one_line=True)}: {printable(r.unreadable)}")
    _unnamed(reader, display, args.db)
    return 0


def _under(store: SQLiteStore, reader: RunReader, run_id: str, subs: list[str]) -> list[_Row]:
    """The sub-runs `subs` (oldest first) of the listed run `run_id`, each after its caller
    (or, its caller gone, the nearest one still there)."""
    from agentkit._durable.journal import SUB_RUN_MARK

    children: dict[str, list[str]] = {}
    for sub in subs:
        caller = sub.rpartition(SUB_RUN_MARK)[0]
        while caller != run_id and caller not in subs:
            caller = caller.rpartition(SUB_RUN_MARK)[0]
        children.setdefault(caller, []).append(sub)
    rows: list[_Row] = []

    def add(caller: str, depth: int) -> None:
        for sub in children.get(caller, []):
            header = store.header(sub)
            if header is not None:  # else deleted since it was listed
                nested = sum(s.startswith(sub + SUB_RUN_MARK) for s in subs)
                rows.append((header, shown(reader, header), depth, nested))
            add(sub, depth + 1)

    add(run_id, 1)
    return rows


def _remove(store: SQLiteStore, display: Display, run_id: str, entries: int, *, yes: bool) -> int:
    from agentkit._durable.subruns import check_deletable

    # A sub-run its unfinished caller would run again is refused before the question (the
    # store refuses it too), and its sub-agents' runs (`{run_id}›{tool_use_id}`) go with it.
    code, _ = guarded(display, lambda: check_deletable(run_id, store.header))
    if code:
        return code
    subs = len(store.sub_runs(run_id))
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

    from agentkit._durable.journal import runs_command, shell_word

    again = [f"--agent {shell_word(args.agent)}"]
    again += [f"--approve {shell_word(i)}" for i in args.approve or ()]
    again += [f"--deny {shell_word(i)}" for i in args.deny or ()]
    stopped = (f"interrupted: run {args.id!r} was stopped (Ctrl-C), kept as of its last "
               "checkpoint; the same command goes on from there: "
               f"{runs_command('resume', args.id, args.db, *again)}")
    code, result = guarded(display, resume, interrupted=stopped)
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


def add_runs(sub: Any, command: Any) -> None:
    """The `runs` subcommand; `command` is `main._command` (help, examples, exit codes)."""
    runs: argparse.ArgumentParser = command(
        sub, "runs", "list, show, resume or delete durable runs",
        "The durable runs in a run store file (agent.run(run_id=..., store=SQLiteStore(PATH))): "
        "list them, show one's conversation, resume one with its agent, or delete one.",
        ["agentkit runs list --db runs.db",
         "agentkit runs list --db runs.db --sub-runs",
         "agentkit runs show orders-2026-12-06 --db runs.db",
         "agentkit runs resume orders-2026-12-06 --db runs.db --agent myapp.agents:orders",
         "agentkit runs rm orders-2026-12-06 --db runs.db --yes",
         "agentkit runs rebuild --db runs.db"],
        cmd_runs, modes=False,
        notes="notes:\n  An ID that begins with '-' goes last, after the options and --:\n"
        "  agentkit runs --db runs.db show -- -x7Gq",
    )
    runs.add_argument("action", choices=("list", "show", "resume", "rm", "rebuild"),
                      help="what to do (rebuild: a deleted store file, from its journals)")
    runs.add_argument("id", nargs="?", metavar="ID", help="the run id (show, resume, rm)")
    runs.add_argument("--db", required=True, metavar="PATH", help="the run store file")
    runs.add_argument("--status", choices=("running", "paused", "finished", "failed",
                                           "interrupted"), help="list: only runs in this state")
    runs.add_argument("--limit", type=_positive, default=50, metavar="N",
                      help="list: at most N runs, latest first (default: 50)")
    runs.add_argument("--sub-runs", action="store_true",
                      help="list: each run's sub-runs too (its agents used as tools), under it")
    runs.add_argument("--agent", metavar="MODULE:ATTR", help="resume: the Agent to run it with")
    runs.add_argument("--approve", action="append", metavar="TOOL_USE_ID",
                      help="resume: approve a pending call (repeatable)")
    runs.add_argument("--deny", action="append", metavar="TOOL_USE_ID",
                      help="resume: deny a pending call (repeatable)")
    runs.add_argument("--yes", "-y", action="store_true", help="rm: do not ask for confirmation")
