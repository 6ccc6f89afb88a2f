"""What a durable run is, independent of where it is kept: the journal's entries, the run's
header, the lease, and `RunStore`, the protocol every backend implements.

The journal records the engine's inputs, in order, one entry per checkpoint:

- `start`: the initial messages (or prompt), the seed of the back-off jitter, and the run's
  `run_id` and `fingerprint` (which run the journal is: `expect_run`);
- `reply`: one model reply, as wire JSON;
- `tool_started`: the `tool_use` ids of non-idempotent calls, committed before they run (an
  agent used as a tool has none: its sub-run is a run of its own, `sub_run_id`);
- `tool_result`: one `tool_result` block, committed as soon as it exists;
- `decisions`: approval decisions given to a paused run;
- `status`: the run became paused, finished, failed or interrupted, with a reason (a paused
  run's also lists the calls awaiting a decision);
- `context`: an input of the context policy that is not a reply (a token count, a prompt too
  long, a beta the gateway does not know), so a replay takes the same decisions;
- `usage`: usage merged into the run that none of its replies holds (a sub-agent's, as
  `RunUsage.to_dict`), with the checkpoint after it, so a replay counts it once;
- `attempt`: an observed process took the run up again: its run span's `traceparent`, with its
  first commit (a process killed with SIGKILL leaves no `status`), for the next one to link to.

A store keeps payloads as opaque JSON objects and interprets none but the `start`'s `run_id`
and `fingerprint`, which it checks when it claims a stored run (`expect_run`). Only a lease
holder can append; every append keeps the lease alive (afterwards at least half its time is
left), and a long wait between appends (a slow tool) calls for `renew`. Summary columns (status,
turns, tokens, cost) are absolute values set with an append, so a repeated write never counts
usage twice.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, cast, get_args

import orjson

from agentkit._errors import StoreError, UsageError

__all__ = [
    "KINDS",
    "STATUSES",
    "SUB_RUN_MARK",
    "Claim",
    "Entry",
    "EntryKind",
    "Holder",
    "Lease",
    "Payload",
    "RunHeader",
    "RunStatus",
    "RunStore",
    "Summary",
    "check_named",
    "check_run_id",
    "check_store",
    "expect_run",
    "runs_command",
    "shell_word",
    "sub_run_id",
]

Payload = Mapping[str, object] | orjson.Fragment
"""An entry's payload: a JSON object, or one already encoded (`orjson.Fragment`: a reply's
bytes as they came), stored as it is."""

EntryKind = Literal[
    "start",
    "reply",
    "tool_started",
    "tool_result",
    "decisions",
    "status",
    "context",
    "usage",
    "attempt",
]
KINDS: tuple[EntryKind, ...] = get_args(EntryKind)
"""`EntryKind`'s values, in order: spelled once, there."""
RunStatus = Literal["running", "paused", "finished", "failed", "interrupted"]
STATUSES: tuple[RunStatus, ...] = ("running", "paused", "finished", "failed", "interrupted")


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry of a run."""

    seq: int
    """Position in the run's journal: 1, 2, 3, … with no gaps."""
    kind: EntryKind
    payload: dict[str, object]
    """The JSON object given to `append`, as it was stored."""
    at: float
    """When it was committed (Unix seconds, the store's clock)."""


@dataclass(frozen=True, slots=True)
class Holder:
    """The process holding (or last holding) a run's lease."""

    host: str
    pid: int
    expires: float
    """Unix seconds after which the lease is free even if the holder still runs."""


@dataclass(frozen=True, slots=True)
class RunHeader:
    """A run's header: who it is, how far it got, what it cost."""

    run_id: str
    fingerprint: str
    """Of the prompt and the agent; resuming with another fingerprint is refused."""
    model: str
    agent: str
    status: RunStatus
    turns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    created: float
    updated: float
    """Unix seconds of the run's creation and of the header's last change (a claim, a summary,
    a lease renewal)."""
    entries: int
    """How many journal entries the run has (its last `seq`)."""
    holder: Holder | None
    """The lease holder, or None when the lease was released (an expired lease is shown)."""
    unreadable: str | None = None
    """Why the run's journal cannot be read (its permissions, a folder in its place), or None.
    The status and totals are then the header's as last stored; reading the entries or
    resuming the run raises that `StoreError`."""


@dataclass(frozen=True, slots=True)
class Lease:
    """This process's right to append to a run, returned by `claim` and `renew`."""

    run_id: str
    token: str
    """Random, per claim: an append with a token the run no longer has is refused."""
    expires: float
    """As of `claim` or `renew`; appends may extend it in the store."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What `claim` gives: the run's header, this process's lease, and whether the run is new."""

    run: RunHeader
    lease: Lease
    created: bool


class Summary(NamedTuple):
    """Summary columns to set with an append; None leaves a column as it is. (A named tuple:
    a durable run makes one per model reply, a third of the cost of a frozen dataclass.)"""

    status: RunStatus | None = None
    turns: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class RunStore(Protocol):
    """Where durable runs are kept. Synchronous and thread-safe, so a driver can call it from
    a worker thread. Implementations: `SQLiteStore`; Postgres or DBOS later."""

    fsyncs: bool
    """Whether a commit must reach the disk before what depends on it goes on. Then a driver
    passes `append_many` a `then`, and awaits the news before what depends on the commit."""

    def claim(
        self, run_id: str, *, fingerprint: str, model: str, agent: str, former: str | None = None
    ) -> Claim:
        """Create the run if it is new, or load it; either way take its lease. A run stored
        with `former` (the fingerprint an older agentkit gave the same agent and prompt) is
        claimed as one stored with `fingerprint`, and its header moved on to `fingerprint`.

        Raises `RunLockedError` when another live process holds the lease,
        `RunMismatchError` when the run is stored with another fingerprint, and
        `StoreFormatError` when the run was written by a newer agentkit.
        """
        ...

    def append(
        self,
        lease: Lease,
        kind: EntryKind,
        payload: Payload,
        *,
        summary: Summary | None = None,
    ) -> int:
        """Commit one entry (and `summary`, in the same transaction), keep the lease alive, and
        return the entry's `seq`. Raises `RunLockedError` if the lease was taken over and
        `RunNotFoundError` if the run was deleted."""
        ...

    def append_many(
        self,
        lease: Lease,
        entries: Sequence[tuple[EntryKind, Payload]],
        *,
        summary: Summary | None = None,
        then: Callable[[StoreError | None], None] | None = None,
    ) -> int:
        """Commit several entries in order in one transaction (all or none), as `append` does
        one; return the last one's `seq`. One commit for checkpoints that exist together.

        With `then`, a store that fsyncs may return before the disk has the commit, and calls
        `then` (from any thread, once) with None when it has, or with the `StoreError` saying
        why it has not (never None for a commit the disk may not have). Without, it returns
        once the disk has it."""
        ...

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease; raises as `append` does."""
        ...

    def release(self, lease: Lease) -> bool:
        """Give the lease up so another process can claim the run at once; False (and nothing
        done) when this lease no longer holds the run."""
        ...

    def entries(self, run_id: str, *, after: int = 0) -> list[Entry]:
        """The run's entries with `seq > after`, in order (empty for an unknown run)."""
        ...

    def header(self, run_id: str) -> RunHeader | None:
        """The run's header, or None if there is no such run."""
        ...

    def runs(
        self, *, status: RunStatus | None = None, limit: int = 50, offset: int = 0,
        top_level: bool = False,
    ) -> list[RunHeader]:
        """Headers of the stored runs, most recently updated first, optionally one status, and
        with `top_level` not the sub-runs (`sub_run_id`) of a run in the store; a run whose
        journal cannot be read is listed too (`RunHeader.unreadable`)."""
        ...

    def sub_runs(self, run_id: str) -> list[str]:
        """The ids of the run's sub-runs (`sub_run_id`), nested ones too, oldest first."""
        ...

    def delete(self, run_id: str) -> bool:
        """Delete a run and its journal, and its sub-runs (`sub_run_id`); False if there was
        none. Raises `RunLockedError` while another live process holds its lease, and
        `UsageError` for a sub-run alone while its top-level run is unfinished (a resume would
        start the sub-agent over: `subruns.check_deletable`)."""
        ...

    def close(self) -> None:
        """Release the store's resources; the store cannot be used afterwards."""
        ...


def check_run_id(run_id: object) -> str:
    """`run_id` if it can name a durable run: a string with something in it, no NUL and no
    lone surrogate, which a store cannot keep (the id is how a user, a log line or `agentkit
    runs show ID` finds the run again), and no `SUB_RUN_MARK` unless `sub_run_id` made it.
    Raises `UsageError` otherwise, before anything is stored."""
    if not isinstance(run_id, str):
        raise UsageError(
            f"run_id={run_id!r} is not a string ({type(run_id).__name__}): a durable run's id "
            "is a string (a name you choose, e.g. 'orders-2026-12-06')"
            + (f"; pass str({run_id!r}) if that is the id you mean" if isinstance(run_id, int)
               else "")
        )
    if not run_id.strip() or "\0" in run_id:
        raise UsageError(
            f"run_id={run_id!r}: a durable run's id must have something in it besides spaces "
            "and no NUL character (a name you choose, e.g. 'orders-2026-12-06')"
        )
    if not run_id.isascii():
        try:
            run_id.encode()
        except UnicodeEncodeError as exc:  # a lone surrogate: a file name's undecodable byte
            raise UsageError(
                f"run_id={run_id!r}: a durable run's id is kept as UTF-8 text, which cannot "
                f"hold the lone surrogate {run_id[exc.start]!r} at position {exc.start} (a "
                "byte that was not UTF-8, decoded with 'surrogateescape'); make the id from "
                "text without it, e.g. run_id.encode(errors='backslashreplace').decode(). "
                "Nothing was stored"
            ) from None
        if SUB_RUN_MARK in run_id and not isinstance(run_id, _SubRunId):
            raise _reserved(run_id)
    if not run_id.isprintable():  # a plain id costs this one test
        _check_shown(run_id)
    return run_id


def _reserved(run_id: str) -> UsageError:
    """The refusal of a chosen id holding `SUB_RUN_MARK`."""
    return UsageError(
        f"run_id={run_id!r} holds {SUB_RUN_MARK!r}, which marks a sub-run's id (an agent used "
        f"as a tool in a durable run is stored as '{{caller's run_id}}{SUB_RUN_MARK}"
        "{tool_use_id}'): agentkit makes those, so an id you choose cannot hold it. Choose "
        "another id; a sub-run resumes with its caller (the run named before the first "
        f"{SUB_RUN_MARK!r}). Nothing was stored"
    )


SUB_RUN_MARK = "\u203a"
"""'›': what joins a sub-run's id to its caller's (`sub_run_id`), and no id a user chooses
holds (`check_run_id`), so a sub-run's id is never a user's run's."""


class _SubRunId(str):
    """An id `sub_run_id` made: the one kind `check_run_id` lets hold `SUB_RUN_MARK`."""

    __slots__ = ()


def sub_run_id(caller: str, tool_use_id: str) -> str:
    """The id of the durable sub-run a call of an agent used as a tool (`Agent.as_tool`) makes
    in the durable run `caller`: `"{caller}›{tool_use_id}"`, the same for the same call
    whichever process makes it (so a resumed caller finds the sub-run again), and nested for a
    sub-run's own sub-runs."""
    return _SubRunId(f"{caller}{SUB_RUN_MARK}{tool_use_id}")


_STORE_METHODS = ("claim", "header", "entries", "append_many", "release", "delete")
"""What a durable run calls on its store."""


def check_store(store: object) -> RunStore:
    """`store` if it can keep durable runs (it has `RunStore`'s methods). Raises `UsageError`
    otherwise, before anything is run: a path given for the store (`store="runs.db"`) would
    fail on the first method called, naming no setting."""
    missing = [m for m in _STORE_METHODS if not callable(getattr(store, m, None))]
    if not missing and isinstance(getattr(store, "fsyncs", None), bool):
        return cast(RunStore, store)
    if isinstance(store, str | os.PathLike):
        path = os.fspath(cast("str | os.PathLike[str]", store))
        what, advice = "a path", f"store=SQLiteStore({path!r}) keeps the runs in that file"
    else:
        what = f"a {type(store).__name__} without {', '.join(missing) or 'fsyncs'}"
        advice = "pass a run store, e.g. store=SQLiteStore('runs.db')"
    raise UsageError(
        f"store={store!r} is {what}, not a run store: {advice}. Nothing was run or stored"
    )


_HIDDEN = {"Cc": "a control character", "Cf": "an invisible formatting character",
           "Zl": "a line separator", "Zp": "a paragraph separator"}
"""The Unicode categories an id cannot hold: a terminal obeys them or shows nothing."""


def _check_shown(run_id: str) -> None:
    """Refuse an id holding a character of `_HIDDEN`: a listing could not show it as it is
    (an escape sequence is obeyed, a right-to-left override makes one id look like another:
    "Trojan Source") and a command line could not take it as typed."""
    import unicodedata

    for at, char in enumerate(run_id):
        what = _HIDDEN.get(unicodedata.category(char))
        if what is not None:
            name = unicodedata.name(char, "")
            raise UsageError(
                f"run_id={run_id!r} holds {char!r} (U+{ord(char):04X}{' ' + name if name else ''}"
                f") at position {at}, {what}: a durable run's id is shown in listings and typed "
                "in commands (`agentkit runs show ID`), where such a character is obeyed or "
                "invisible (a bidirectional override can make one id look like another). Make "
                "the id from visible characters, e.g. 'orders-2026-12-06'. Nothing was stored"
            )


def shell_word(word: str) -> str:
    """`word` as a shell reads it back: `shlex.quote`d, or, when it holds a character a
    terminal would not show as it is (a control, a bidirectional override: a run id an older
    agentkit stored, a path), in `$'...'` with that character escaped (bash, zsh, ksh; POSIX
    sh since 2024), so the line shown is the line to paste. A lone surrogate (a file name's
    byte that is not UTF-8) is written back as that byte."""
    if word.isprintable():
        return shlex.quote(word)
    out: list[str] = []
    for char in word:
        code = ord(char)
        if char in "\\'":
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif 0xDC80 <= code <= 0xDCFF:  # surrogateescape's byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "$'" + "".join(out) + "'"


def runs_command(action: str, run_id: str, db: str, *options: str) -> str:
    """The `agentkit runs` command line that does `action` to run `run_id` in the store file
    `db`, as a shell takes it: the id and the path quoted (`shell_word`), and an id that
    begins with "-" (`secrets.token_urlsafe()` makes one in 32) last, after the options and
    `--`, where the command line cannot take it for an option."""
    given = " ".join(("--db", shell_word(db), *options))
    if run_id.startswith("-"):
        return f"agentkit runs {given} {action} -- {shell_word(run_id)}"
    return f"agentkit runs {action} {shell_word(run_id)} {given}"


def expect_run(
    run_id: str,
    fingerprint: str,
    counted: int,
    where: tuple[str, str, str],
    *,
    former: str | None = None,
) -> Callable[[Sequence[Entry], int], None]:
    """The check a store makes of the journal it keeps for run `run_id`, given its whole
    entries and its last seq, before anything is cut off: that it holds the `counted` entries
    the store's header counted, and that its `start` names that run (id and `fingerprint`, or
    `former`: the start of a run an older agentkit stored keeps the fingerprint it gave). The
    check raises `StoreError` otherwise; `where` is the journal's path, the store's and its
    journals folder's, for the message.

    A journal holding fewer entries than were counted lost some (overwritten, cut short,
    writes a power loss took): resumed from what is left, the run would do again what they
    recorded, a charge among them. A store names a journal by its own key for the run, so a
    store's file paired with another store's journals (one restored from another backup, two
    stores' files swapped) would otherwise resume another run's journal as this one."""
    journal, store, _ = where

    def check(entries: Sequence[Entry], last_seq: int) -> None:
        if last_seq < counted:
            raise StoreError(
                f"the journal of run {run_id!r} ({journal}) holds {last_seq} whole entries, "
                f"but the store counted {counted}: it was overwritten or cut short (damaged, "
                "replaced, or writes lost to a power loss), and resumed from what is left the "
                "run would repeat what it did, so nothing was run or changed. Restore the file "
                f"from a backup, or delete the run (`{runs_command('rm', run_id, store)}`) to "
                "start it afresh"
            )
        named = _named(entries)
        if named is not None and (named[0], named[1]) not in (
            (run_id, None), (run_id, fingerprint), (run_id, former)
        ):
            raise _not_this_run(run_id, fingerprint, named, where, then="resume the run again")

    return check


def check_named(
    run_id: str, fingerprint: str, entries: Sequence[Entry], where: tuple[str, str, str]
) -> None:
    """What a reader checks of the journal it reads as run `run_id`'s (stored with
    `fingerprint`): that its `start`, if it names a run, names that one, with the same prompt.
    Raises `StoreError` (as `expect_run` does) otherwise, so a store's file paired with
    another's journals never shows another run's conversation as this one's.

    Only the prompt half of the fingerprints (`<agent>-<prompt>`) is compared: the header of a
    run stored before its agent's context policy was fingerprinted moves on to the agent's
    new fingerprint at its next claim, while its journal's start keeps naming the old one."""
    named = _named(entries)
    if named is None or (named[0] == run_id and (
        named[1] is None or str(named[1]).rpartition("-")[2] == fingerprint.rpartition("-")[2]
    )):
        return
    raise _not_this_run(run_id, fingerprint, named, where, then="read the run again")


def _named(entries: Sequence[Entry]) -> tuple[object, object] | None:
    """The run id and fingerprint the journal's `start` names; None when it names none
    (written before a journal named its run: there is nothing to check it by)."""
    if not entries:
        return None
    first = entries[0]
    named = first.payload.get("run_id")
    if first.kind != "start" or named is None:
        return None
    return named, first.payload.get("fingerprint")


def _not_this_run(
    run_id: str, fingerprint: str, named: tuple[object, object], where: tuple[str, str, str],
    *, then: str,
) -> StoreError:
    """The error for a journal of run `run_id` whose start names another run (`named`: its id
    and fingerprint); `then` is what to do once the right journals are back."""
    journal, store, folder = where
    return StoreError(
        f"the journal {journal} is not run {run_id!r}'s: it is run {named[0]!r}'s (fingerprint "
        f"{named[1]}), and this store has run {run_id!r} with fingerprint {fingerprint}. The "
        f"store file {store} and its journals folder {folder} do not belong together (one "
        "restored from another backup, or two stores' files swapped); nothing was changed. "
        f"Put back the journals folder saved with this store file, then {then}"
    )
