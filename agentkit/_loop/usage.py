"""Token usage and cost, per turn and per run.

This module owns `TurnUsage` (one response's usage and cost) and `RunUsage` (the run's totals
and its list of turns). Rules it keeps:

- It reads the **wire** `usage` dict leniently: missing or null counts are 0, unknown keys
  (gateways add their own) are ignored, `server_tool_use` counters are summed by name.
- `input_tokens` is only the uncached remainder of the prompt; the prompt size is
  `input + cache writes + cache reads` (`total_input_tokens`, pitfalls §1.14).
- Cost uses the capability table's prices: cache writes at the 5-minute or 1-hour price (the
  `cache_creation` split when reported, else all at the 5-minute price, the default TTL),
  cache reads at the read price, web searches per 1,000, and price tiers (Haiku 5.5 bills
  every token at the higher rate when the prompt exceeds 100K). Web fetch is free; other
  server-tool fees are not in the table and are not costed.
- A turn whose price is unknown (unknown model) has `cost_usd` None, and so does the run from
  then on: a partial sum would look like a real total. `known_cost_usd` keeps the priced part.
- With server-side compaction a response's `usage.iterations` is what is billed: the turn
  counts their sum (the top-level counts leave the summary out).
- Everything converts to and from plain JSON data (`to_dict`/`from_dict`), since runs are
  saved and resumed as data. `add_turn` is a handful of dict reads and additions: it runs
  once per model response.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any, cast

from .capabilities import Prices, PriceTier, model_caps

__all__ = ["RunUsage", "TurnUsage", "turn_cost"]

_PER_MTOK = 1_000_000

_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
_SPLIT = ("cache_write_5m_input_tokens", "cache_write_1h_input_tokens")
"""The cache-write split: a turn leaves it None when the response did not report it."""


def _int(value: Any) -> int:
    return value if type(value) is int else 0


class _Counters:
    """The token counters `TurnUsage` and `RunUsage` share, and the totals made of them."""

    __slots__ = ()
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    server_tool_use: dict[str, int]
    tool_calls: int

    @property
    def total_input_tokens(self) -> int:
        """The whole prompt: uncached input plus cache writes plus cache reads."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @property
    def total_tokens(self) -> int:
        """Prompt plus output tokens."""
        return self.total_input_tokens + self.output_tokens


def _counts_to_dict(usage: _Counters) -> dict[str, Any]:
    """The token counters `TurnUsage` and `RunUsage` share, as plain JSON data."""
    data: dict[str, Any] = {name: getattr(usage, name) for name in _COUNTS + _SPLIT}
    data["server_tool_use"] = dict(usage.server_tool_use)
    data["tool_calls"] = usage.tool_calls
    return data


def _counts_from_dict(data: Mapping[str, Any], *, split_unknown: bool) -> dict[str, Any]:
    """The shared counters read back leniently; with `split_unknown`, a missing split is None."""
    counts: dict[str, Any] = {name: _int(data.get(name)) for name in _COUNTS}
    for name in _SPLIT:
        value = data.get(name)
        counts[name] = None if split_unknown and value is None else _int(value)
    counts["server_tool_use"] = dict(data.get("server_tool_use") or {})
    counts["tool_calls"] = _int(data.get("tool_calls"))
    return counts


@dataclass(slots=True)
class TurnUsage(_Counters):
    """Usage and cost of one model response."""

    model: str
    input_tokens: int = 0
    """Uncached prompt tokens (after the last cache breakpoint)."""
    output_tokens: int = 0
    """Output tokens, thinking included."""
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_5m_input_tokens: int | None = None
    """The 5-minute part of the cache writes, when the response reported the split."""
    cache_write_1h_input_tokens: int | None = None
    """The 1-hour part of the cache writes, when the response reported the split."""
    server_tool_use: dict[str, int] = field(default_factory=dict[str, int])
    """Server tool counters as reported, e.g. `{"web_search_requests": 1}`."""
    tool_calls: int = 0
    """Client tool calls this response asked for: its `tool_use` blocks, known as soon as it
    arrives (some may then be denied, unknown or never run; `RunUsage.tool_calls` counts the
    calls run)."""
    cost_usd: float | None = None
    """This response's cost, or None when the model's prices are unknown."""
    applied_edits: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """Server-side context edits applied to this request (`context_management.applied_edits`)."""

    def to_dict(self) -> dict[str, Any]:
        """This record as plain JSON data."""
        data = {"model": self.model, **_counts_to_dict(self), "cost_usd": self.cost_usd}
        if self.applied_edits:
            data["applied_edits"] = self.applied_edits
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnUsage:
        """Rebuild a record saved with `to_dict`."""
        return cls(
            model=str(data.get("model", "")),
            **_counts_from_dict(data, split_unknown=True),
            cost_usd=data.get("cost_usd"),
            applied_edits=list(data.get("applied_edits") or ()),
        )


def turn_cost(
    turn: TurnUsage, prices: Prices | None, tiers: tuple[PriceTier, ...] = ()
) -> float | None:
    """Return the USD cost of `turn` at `prices` (and `tiers`), or None if a price is unknown."""
    if prices is None:
        return None
    prompt = turn.total_input_tokens
    for tier in tiers:
        if prompt > tier.above_prompt_tokens:
            prices = tier.prices
            break
    split_5m = turn.cache_write_5m_input_tokens or 0
    split_1h = turn.cache_write_1h_input_tokens or 0
    # Writes the split does not account for were made at the default (5-minute) TTL.
    rest = max(turn.cache_creation_input_tokens - split_5m - split_1h, 0)
    cost = (
        turn.input_tokens * prices.input
        + turn.output_tokens * prices.output
        + (split_5m + rest) * prices.cache_write_5m
        + split_1h * prices.cache_write_1h
        + turn.cache_read_input_tokens * prices.cache_read
    ) / _PER_MTOK
    searches = turn.server_tool_use.get("web_search_requests", 0)
    if searches:
        if prices.web_search_per_1000 is None:
            return None
        cost += searches * prices.web_search_per_1000 / 1000
    return cost


def _summed(iterations: list[object]) -> dict[str, int]:
    """The token counts of `usage.iterations`, summed (each a compaction or a message)."""
    sums: dict[str, int] = {}
    for item in iterations:
        if isinstance(item, Mapping):
            entry = cast("Mapping[str, Any]", item)
            for name in _COUNTS:
                if name in entry:
                    sums[name] = sums.get(name, 0) + _int(entry.get(name))
    return sums


@dataclass(slots=True)
class RunUsage(_Counters):
    """Totals of a run (sub-agent runs merged in), with one `TurnUsage` per response."""

    requests: int = 0
    """Model responses counted."""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_5m_input_tokens: int = 0
    """Cache writes reported as 5-minute writes (responses that gave the split)."""
    cache_write_1h_input_tokens: int = 0
    """Cache writes reported as 1-hour writes (responses that gave the split)."""
    server_tool_use: dict[str, int] = field(default_factory=dict[str, int])
    tool_calls: int = 0
    """Client tool calls run (counted as each result arrives; the engine counts them, since
    a turn's `tool_calls` are only asked for)."""
    known_cost_usd: float = 0.0
    """Summed cost of the turns whose prices are known."""
    unpriced_requests: int = 0
    """Responses from models without known prices (their cost is not in `known_cost_usd`)."""
    turns: list[TurnUsage] = field(default_factory=list[TurnUsage])
    merged: list[RunUsage] | None = field(default=None, init=False, compare=False, repr=False)
    """When a list, `merge` also appends what it merges there: a durable run's journal sets
    one, since usage merged in (a sub-agent's) comes from none of the run's replies, and
    records it at its next checkpoint. None (the default): nothing is kept."""

    @property
    def cost_usd(self) -> float | None:
        """Total cost in USD, or None when any response's price is unknown."""
        return None if self.unpriced_requests else self.known_cost_usd

    def called_tools(self) -> bool:
        """Whether a response of this run asked for a client tool call."""
        return any(turn.tool_calls for turn in self.turns)

    def add_turn(self, usage: Mapping[str, Any], model: str, *, tool_calls: int = 0) -> TurnUsage:
        """Count one response's wire `usage` dict for `model`, cost it, and record the turn.

        `tool_calls` is the number of client `tool_use` blocks in the response; it is the
        turn's count only, since the run counts the calls it actually runs. With
        `usage.iterations` (server-side compaction) the top-level counts leave the summary
        out: the turn is billed as the sum of the iterations.
        """
        iterations = usage.get("iterations")
        if isinstance(iterations, list) and iterations:
            usage = {**usage, **_summed(cast("list[object]", iterations))}
        split = usage.get("cache_creation")
        w5m = w1h = None
        if isinstance(split, Mapping):
            split = cast("Mapping[str, Any]", split)
            w5m = _int(split.get("ephemeral_5m_input_tokens"))
            w1h = _int(split.get("ephemeral_1h_input_tokens"))
        servers: dict[str, int] = {}
        raw_servers = usage.get("server_tool_use")
        if isinstance(raw_servers, Mapping):
            for key, value in cast("Mapping[object, object]", raw_servers).items():
                if type(value) is int:
                    servers[str(key)] = value
        turn = TurnUsage(
            model=model,
            input_tokens=_int(usage.get("input_tokens")),
            output_tokens=_int(usage.get("output_tokens")),
            cache_creation_input_tokens=_int(usage.get("cache_creation_input_tokens")),
            cache_read_input_tokens=_int(usage.get("cache_read_input_tokens")),
            cache_write_5m_input_tokens=w5m,
            cache_write_1h_input_tokens=w1h,
            server_tool_use=servers,
            tool_calls=tool_calls,
        )
        caps = model_caps(model)
        if caps is not None:
            turn.cost_usd = turn_cost(turn, caps.prices, caps.price_tiers)
        self._count(turn)
        self.turns.append(turn)
        return turn

    def _count(self, turn: TurnUsage) -> None:
        self.requests += 1
        self.input_tokens += turn.input_tokens
        self.output_tokens += turn.output_tokens
        self.cache_creation_input_tokens += turn.cache_creation_input_tokens
        self.cache_read_input_tokens += turn.cache_read_input_tokens
        self.cache_write_5m_input_tokens += turn.cache_write_5m_input_tokens or 0
        self.cache_write_1h_input_tokens += turn.cache_write_1h_input_tokens or 0
        for key, value in turn.server_tool_use.items():
            self.server_tool_use[key] = self.server_tool_use.get(key, 0) + value
        if turn.cost_usd is None:
            self.unpriced_requests += 1
        else:
            self.known_cost_usd += turn.cost_usd

    def restore(self, data: Mapping[str, Any]) -> None:
        """Set these totals back to `data` (their `to_dict()` of before), in place: whoever
        holds this object (a journal's `merged` list kept) sees them."""
        before = RunUsage.from_dict(data)
        for name in _RESTORED:
            setattr(self, name, getattr(before, name))

    def merge(self, other: RunUsage) -> None:
        """Add `other` (e.g. a sub-agent's usage) into this run, turns included."""
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.cache_write_5m_input_tokens += other.cache_write_5m_input_tokens
        self.cache_write_1h_input_tokens += other.cache_write_1h_input_tokens
        for key, value in other.server_tool_use.items():
            self.server_tool_use[key] = self.server_tool_use.get(key, 0) + value
        self.tool_calls += other.tool_calls
        self.known_cost_usd += other.known_cost_usd
        self.unpriced_requests += other.unpriced_requests
        self.turns.extend(other.turns)
        if self.merged is not None:
            self.merged.append(other)
        noting = _NOTING.get()
        if noting is not None and noting[0] is self:
            noting[1].append(other)

    def __add__(self, other: object) -> RunUsage:
        """A new `RunUsage` holding both runs; neither operand changes."""
        if not isinstance(other, RunUsage):
            return NotImplemented
        total = RunUsage()
        total.merge(self)
        total.merge(other)
        return total

    def to_dict(self) -> dict[str, Any]:
        """The totals and every turn as plain JSON data (`cost_usd` included for readers)."""
        return {
            "requests": self.requests,
            **_counts_to_dict(self),
            "cost_usd": self.cost_usd,
            "known_cost_usd": self.known_cost_usd,
            "unpriced_requests": self.unpriced_requests,
            "turns": [turn.to_dict() for turn in self.turns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunUsage:
        """Rebuild a `RunUsage` saved with `to_dict` (totals are taken as saved)."""
        return cls(
            requests=_int(data.get("requests")),
            **_counts_from_dict(data, split_unknown=False),
            known_cost_usd=float(data.get("known_cost_usd") or 0.0),
            unpriced_requests=_int(data.get("unpriced_requests")),
            turns=[TurnUsage.from_dict(t) for t in data.get("turns") or ()],
        )


_RESTORED = tuple(f.name for f in fields(RunUsage) if f.name != "merged")

_NOTING: ContextVar[tuple[RunUsage, list[RunUsage]] | None] = ContextVar(
    "agentkit_noting_merges", default=None
)


@contextmanager
def merges_into(usage: RunUsage) -> Generator[list[RunUsage]]:
    """What this task (and the tasks it starts) merges into `usage` while inside, noted in the
    list it yields; merges into other runs' usage (a sub-agent's own sub-agents) are not. A
    workflow step that ran a sub-agent records its usage with the step's result this way,
    since a replay hands back the result without running the step."""
    noted: list[RunUsage] = []
    token = _NOTING.set((usage, noted))
    try:
        yield noted
    finally:
        _NOTING.reset(token)
