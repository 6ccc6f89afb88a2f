"""The run state handed to tools, hooks and per-turn tool preparation.

Owns `RunContext` and the one rule of an idempotency key (`idempotency_key`). Rules: it is a
plain dataclass (no validation, built once per run and cheaply copied per tool call with
`dataclasses.replace`); it imports only `RunUsage` from the layer below, so every layer above
can use it.

A key is printable ASCII with no space at either end, so it goes into an HTTP header as it is
(httpx encodes header values as ASCII, h11 refuses a value that starts or ends with a space,
other libraries strip it); it is injective, two (run id, call) pairs never sharing one, since a
service that deduplicates would drop the second call; and a run id that is printable ASCII
without `%` keeps the key it always had, `"{run_id}:{tool_use_id}"`, so a run in flight across
an upgrade sends the same key when it repeats a call. Every other character of the run id
(non-ASCII such as a sub-run's `›`, control characters, `%` itself, a leading space) is
percent-encoded as UTF-8: such a key holds a `%`, which a kept id's never does. The call's part
escapes `:` too (the API's ids never hold one), so the key's last `:` is where the run id ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .._loop.usage import RunUsage

__all__ = ["DepsT", "RunContext", "idempotency_key"]

DepsT = TypeVar("DepsT")

_KEPT = frozenset(map(chr, range(0x20, 0x7F))) - {"%"}
"""The characters a key's run id part keeps as they are: printable ASCII but `%`, which begins
an escape (so an escaped id never reads as a kept one)."""
_KEPT_IN_CALL = _KEPT - {":"}
"""What the call's part keeps: no `:` either, so the key's last `:` ends the run id."""


@dataclass
class RunContext(Generic[DepsT]):
    """What a tool can see of the run that called it.

    A tool parameter annotated `RunContext` (or `RunContext[MyDeps]`) is left out of the tool's
    schema and receives this object, so tools reach shared resources (`deps`) without globals.
    """

    deps: DepsT
    """The user's dependencies passed to the run (a DB handle, an HTTP client, settings, …)."""

    messages: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """The conversation so far, as wire-form message dicts. Read it; don't mutate it."""

    usage: RunUsage = field(default_factory=RunUsage)
    """The run's usage so far (empty in a context made by hand, e.g. in a test)."""

    model: str = ""
    """The model the run talks to."""

    turn: int = 0
    """How many model turns the run has taken so far."""

    tool_use_id: str | None = None
    """The `id` of the `tool_use` block being answered (set for tool calls only)."""

    tool_name: str | None = None
    """The name of the tool being called (set for tool calls only)."""

    run_id: str | None = None
    """The durable run's id (`agent.run(run_id=...)`), None for a run that is not stored."""

    @property
    def idempotency_key(self) -> str | None:
        """A key for this tool call that stays the same when a durable run resumes after a
        crash: `"{run_id}:{tool_use_id}"`, the run id percent-encoded unless it is printable
        ASCII without `%` (the `tool_use_id` alone outside a durable run; see
        `idempotency_key`). Always printable ASCII: pass it to an API that deduplicates
        requests (an `Idempotency-Key` header as it is), so a repeated call takes effect once."""
        if self.tool_use_id is None:
            return None
        return idempotency_key(self.run_id, self.tool_use_id)


def idempotency_key(run_id: str | None, tool_use_id: str) -> str:
    """The key of call `tool_use_id` in run `run_id`, header-safe and injective (the module's
    rules). Without a run id it is the `tool_use_id` as it is when that is header-safe already
    (the API's ids are; so is the key an agentkit MCP client sends, which a served call takes
    as its `tool_use_id`), else encoded as a run id is."""
    if run_id is None:
        if _safe(tool_use_id):
            return tool_use_id
        return _unspaced(_escaped(tool_use_id, _KEPT))
    return _unspaced(f"{_escaped(run_id, _KEPT)}:{_escaped(tool_use_id, _KEPT_IN_CALL)}")


def _safe(text: str) -> bool:
    """`text` can be a header's value as it is: printable ASCII, no space at either end."""
    return text.isascii() and text.isprintable() and text == text.strip(" ")


def _escaped(text: str, kept: frozenset[str]) -> str:
    """`text` with each character not in `kept` percent-encoded as its UTF-8 bytes (a lone
    surrogate as the three bytes it would be, so no text is refused)."""
    if kept.issuperset(text):
        return text
    return "".join(
        char if char in kept
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in text
    )


def _unspaced(key: str) -> str:
    """`key` with the spaces at either end encoded (`%20`): a header library strips or
    refuses them, and the key would then be another's."""
    body = key.strip(" ")
    if body == key:
        return key
    lead = len(key) - len(key.lstrip(" "))
    trail = len(key) - len(key.rstrip(" ")) if body else 0
    return "%20" * lead + body + "%20" * trail
