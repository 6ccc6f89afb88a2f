"""What each Claude model accepts and costs, read from a data table.

This module owns `ModelCaps` and the lookup `model_caps(model)`. Rules it keeps:

- Model facts are **data**, not code: they live in `agentkit/_data/models.json` (shipped in the
  wheel) and change roughly monthly. Code here only reads them; `None` in a field means
  "unknown", and callers must then apply only the universal API rules.
- The table is loaded lazily, once, on the first lookup (import time matters), and lookups are
  memoised, so calling `model_caps` every turn costs a dict hit.
- Matching is tolerant but never guesses a family: exact id or alias first, then a gateway
  spelling (`anthropic/claude-…`, Vertex `claude-…@20250929`, Bedrock
  `us.anthropic.claude-…-v1:0`), then a dated or `-latest` id of a known id or alias.
- Retired models stay in the table: their prices are needed to cost replayed traffic.

Refreshing the table: the rich, sourced table is `shared/docs/models.json` (with
`shared/docs/models.md`). Each row of our lean copy maps its fields one to one —
`context_window_tokens`→`context_window`, `thinking_types_accepted/rejected`→`thinking_*`,
`interleaved_thinking_beta_header` "required…"/"works with enabled…"→`interleaved_needs_beta`
true, the models `models.md` §2 says bind thinking blocks to their prefix→`thinking_binds_prefix`
true, `tool_choice_with_thinking` modes allowing any+tool→`forced_tool_choice_with_thinking`,
`sampling_params` "non-default … rejected"→`"defaults_only"` / "accepted when thinking is off…"→
`"restricted_with_thinking"`, `price_*_per_mtok`→`prices`, `price_tiers`→`price_tiers`
(`above_prompt_tokens` plus the higher prices). Update `facts_read_on`, then run
`tests/test_capabilities.py`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

__all__ = ["ModelCaps", "PriceTier", "Prices", "known_models", "model_caps", "table_facts"]

# No pathlib: import time. The table lives in agentkit/_data/, shipped in the wheel.
_DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_data", "models.json")

ThinkingDefault = Literal["off", "on", "always_on"]
Sampling = Literal["defaults_only", "restricted_with_thinking"]


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens (web search: USD per 1,000 searches; None = unknown)."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    web_search_per_1000: float | None = None


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Higher prices billed for every token of a request whose prompt exceeds a threshold."""

    above_prompt_tokens: int
    """Prompt size (input + cache writes + cache reads) above which `prices` apply."""
    prices: Prices


@dataclass(frozen=True, slots=True)
class ModelCaps:
    """One model's capabilities, limits and prices. `None` fields are unknown."""

    id: str
    """The canonical model id (a dated id for pre-4.6 models)."""
    aliases: tuple[str, ...] = ()
    lifecycle: str = "active"
    """`active`, `legacy`, `deprecated` or `retired` (retired models fail every request)."""
    replacement: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    """The largest `max_tokens` the model accepts (non-batch)."""
    thinking_accepted: frozenset[str] | None = None
    """Thinking `type`s the model accepts (`enabled`, `adaptive`, `disabled`, …)."""
    thinking_rejected: frozenset[str] | None = None
    """Thinking `type`s the model answers with a 400."""
    thinking_default: ThinkingDefault | None = None
    """Thinking state when `thinking` is omitted; `always_on` cannot be turned off."""
    interleaved_needs_beta: bool | None = None
    """Whether interleaved thinking with `enabled` needs `interleaved-thinking-2025-05-14`."""
    thinking_binds_prefix: bool | None = None
    """Whether the model binds its thinking blocks to the request prefix before them (system,
    tools, earlier turns): any change there is a 400 unless the request asks to drop the
    blocks that no longer match (`thinking.block_binding`, a beta)."""
    forced_tool_choice_with_thinking: frozenset[str] | None = None
    """Thinking `type`s under which `tool_choice` `any`/`tool` is accepted."""
    forced_tool_choice_always_rejected: bool | None = None
    """The model rejects `tool_choice` `any`/`tool` on every request."""
    sampling: Sampling | None = None
    """`defaults_only`: non-default temperature/top_p/top_k → 400 on every request;
    `restricted_with_thinking`: free with thinking off, limited with thinking on."""
    effort_levels: tuple[str, ...] | None = None
    """`output_config.effort` levels the model accepts; empty: it takes no effort setting."""
    disabled_thinking_effort_cap: str | None = None
    """Highest `output_config.effort` accepted while thinking is off (None = no cap)."""
    prices: Prices | None = None
    price_tiers: tuple[PriceTier, ...] = ()
    context_management: frozenset[str] | None = None
    """Server-side context strategies the model supports (`clear_tool_uses_20250919`,
    `clear_thinking_20251015`, `compact_20260112`); None = unknown."""

    @property
    def always_thinks(self) -> bool:
        """Whether thinking cannot be turned off on this model."""
        return self.thinking_default == "always_on"


# -- loading -----------------------------------------------------------------------------------


def _price(raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key)
    return default if value is None else float(value)


def _prices(raw: dict[str, Any] | None) -> Prices | None:
    # Missing cache prices fall back to Anthropic's standard multipliers of the input price.
    if not raw or raw.get("input") is None or raw.get("output") is None:
        return None
    base = float(raw["input"])
    search = raw.get("web_search_per_1000")
    return Prices(
        input=base,
        output=float(raw["output"]),
        cache_write_5m=_price(raw, "cache_write_5m", base * 1.25),
        cache_write_1h=_price(raw, "cache_write_1h", base * 2.0),
        cache_read=_price(raw, "cache_read", base * 0.1),
        web_search_per_1000=None if search is None else float(search),
    )


def _frozen(value: list[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def _caps(row: dict[str, Any]) -> ModelCaps:
    base = _prices(row.get("prices"))
    tiers: list[PriceTier] = []
    for tier in row.get("price_tiers") or ():
        tier_prices = _prices(
            {"web_search_per_1000": base.web_search_per_1000 if base else None, **tier}
        )
        if tier_prices is not None:
            tiers.append(PriceTier(int(tier["above_prompt_tokens"]), tier_prices))
    effort = row.get("effort_levels")
    return ModelCaps(
        id=row["id"],
        aliases=tuple(row.get("aliases") or ()),
        lifecycle=row.get("lifecycle") or "active",
        replacement=row.get("replacement"),
        context_window=row.get("context_window"),
        max_output_tokens=row.get("max_output_tokens"),
        thinking_accepted=_frozen(row.get("thinking_accepted")),
        thinking_rejected=_frozen(row.get("thinking_rejected")),
        thinking_default=row.get("thinking_default"),
        interleaved_needs_beta=row.get("interleaved_needs_beta"),
        thinking_binds_prefix=row.get("thinking_binds_prefix"),
        forced_tool_choice_with_thinking=_frozen(row.get("forced_tool_choice_with_thinking")),
        forced_tool_choice_always_rejected=row.get("forced_tool_choice_always_rejected"),
        sampling=row.get("sampling"),
        effort_levels=None if effort is None else tuple(effort),
        disabled_thinking_effort_cap=row.get("disabled_thinking_effort_cap"),
        prices=base,
        # Sorted highest threshold first so the first match is the tier that applies.
        price_tiers=tuple(sorted(tiers, key=lambda t: -t.above_prompt_tokens)),
        context_management=_frozen(row.get("context_management")),
    )


_table: dict[str, ModelCaps] | None = None
_facts: dict[str, str] = {}


def _load() -> dict[str, ModelCaps]:
    global _table
    if _table is None:
        with open(_DATA, encoding="utf-8") as file:
            raw = json.load(file)
        table: dict[str, ModelCaps] = {}
        for row in raw["models"]:
            caps = _caps(row)
            table[caps.id] = caps
            for alias in caps.aliases:
                table.setdefault(alias, caps)
        _facts.update(facts_read_on=raw.get("facts_read_on", ""), source=raw.get("source", ""))
        _table = table
    return _table


def known_models() -> dict[str, ModelCaps]:
    """Every model of the table, by id and by alias (to suggest a name for an unknown one)."""
    return dict(_load())


def table_facts() -> dict[str, str]:
    """The table's `facts_read_on` date and `source` note (for diagnostics and `--version`)."""
    _load()
    return dict(_facts)


# -- lookup ------------------------------------------------------------------------------------

_VERSION_SUFFIX = re.compile(r"-v\d+(?::\d+)?$")
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|latest)$")


@lru_cache(maxsize=256)
def model_caps(model: str) -> ModelCaps | None:
    """Return what `model` accepts and costs, or None for a model the table does not know.

    Accepts an exact id or alias, a gateway spelling (`anthropic/claude-opus-4-8`,
    `claude-sonnet-4-5@20250929`, `us.anthropic.claude-sonnet-4-5-20250929-v1:0`) and a dated
    or `-latest` form of a known id (`claude-opus-4-8-20270101`). Unknown models get None:
    send the user's settings as given.
    """
    table = _load()
    caps = table.get(model)
    if caps is not None:
        return caps
    name = model.lower()
    start = name.find("claude-")
    if start > 0:
        name = name[start:]
    name = _VERSION_SUFFIX.sub("", name.replace("@", "-"))
    caps = table.get(name)
    if caps is not None:
        return caps
    undated = _DATE_SUFFIX.sub("", name)
    return table.get(undated) if undated != name else None
