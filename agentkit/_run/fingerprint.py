"""A durable run's fingerprint: which agent and which prompt a stored run belongs to, so that a
`run_id` reused by another agent or with another prompt is refused (`RunMismatchError`) rather
than resumed as someone else's run. Shared by the embedded store's runs and DBOS workflows.

The agent half covers what the journal's replay depends on: the model, the system prompt, the
tool names, the output tool, and the context policy's kind and the settings that decide its
steps (`_DECIDING`). An agent without a context policy hashes exactly what it did before
policies were covered, so the runs stored without one keep their fingerprints; the runs an
agent with one stored before are found by the fingerprint they were given then (`former`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import orjson

from .._api.jsonbytes import stdlib_json
from .._loop.capabilities import model_caps
from .._loop.context.policies import (
    Auto,
    Compaction,
    ContextPolicy,
    ServerCompaction,
    ServerEditing,
    Trim,
    trigger_for,
)
from .._loop.engine import EngineConfig

__all__ = ["fingerprint", "former"]


def fingerprint(config: EngineConfig, tool_names: Iterable[str], messages: object) -> str:
    """`<agent>-<prompt>`: hashes of the agent (model, system prompt, tool names, server tool
    names, output tool, context policy) and of the run's initial messages. A run is resumed
    only by the same agent and prompt."""
    return f"{_halves(config, tuple(tool_names))[0]}-{_digest(messages)}"


def former(config: EngineConfig, tool_names: Iterable[str], given: str) -> str | None:
    """The fingerprint agentkit gave the agent and prompt of `given` (this agent's fingerprint
    of a prompt) before context policies were fingerprinted: the agent half without the
    policy. None for an agent without a policy, whose fingerprint never changed. A run stored
    with it by that agentkit is this agent's: its claim accepts it once and moves the run on to
    `given` (`RunStore.claim(former=...)`); DBOS workflows are found by it."""
    old = _halves(config, tuple(tool_names))[1]
    return None if old is None else f"{old}-{given.rpartition('-')[2]}"


def _halves(config: EngineConfig, names: tuple[str, ...]) -> tuple[str, str | None]:
    """The agent's half of its fingerprints, and the one it had before context policies were
    fingerprinted (None: the same, no policy); hashed once per agent."""
    known = _AGENTS.get((id(config), names))
    if known is not None and known[0] is config:
        return known[1]
    output = config.output_tool["name"] if config.output_tool else None
    servers = [str(t.get("name")) for t in config.server_tools]
    agent: dict[str, object] = {
        "model": config.model,
        "system": config.system,
        "tools": sorted([*names, *servers]),
        "output": output,
    }
    old = None
    if config.context is not None:  # absent without a policy: those runs' hash is unchanged
        old = _digest(agent)
        agent["context"] = _policy(config.context, config.model)
    halves = (_digest(agent), old)
    if len(_AGENTS) >= 256:
        _AGENTS.clear()
    _AGENTS[id(config), names] = (config, halves)
    return halves


_AGENTS: dict[tuple[int, tuple[str, ...]], tuple[EngineConfig, tuple[str, str | None]]] = {}
"""The agent halves of fingerprints, per config (kept alive here, so its id is not reused) and
tool names: a config is frozen, and each durable run would hash its system prompt again."""

_DECIDING: dict[type[ContextPolicy], tuple[str, ...]] = {
    Trim: ("trigger_tokens", "keep_tool_results", "exclude_tools", "placeholder"),
    Compaction: ("trigger_tokens", "keep_turns"),
    ServerEditing: ("keep_tool_uses", "exclude_tools"),
    ServerCompaction: (),
    Auto: ("trigger_tokens", "keep_turns"),
}
"""Per policy, the settings a replay depends on: when the history is trimmed or summarized,
and what it becomes (a placeholder's length moves every later estimate). An overflow falls
back to `Trim(keep_tool_results=keep_tool_uses, exclude_tools=...)` under `ServerEditing` and
to a `Compaction` of the last 2 turns under `ServerCompaction`; `Auto` picks its side by the
trigger. The others may change between resumes: they shape only requests (a summary's prompt,
model and `max_tokens`; the server's edits, trigger and instructions), whose replies are
journaled as they came, and a replay sends none. A trigger left out is hashed as the share of
the model's window it stands for: the window is a model fact (`models.json`), which an
upgrade may change."""


def _policy(policy: ContextPolicy, model: str) -> dict[str, object]:
    """What a context policy contributes to the agent's hash: its kind and `_DECIDING`."""
    kind = next(k for k in type(policy).__mro__ if k in _DECIDING)  # a subclass: its base's
    hashed = {name: getattr(policy, name) for name in _DECIDING[kind]}
    if "trigger_tokens" in hashed:
        hashed["trigger_tokens"] = trigger_for(policy, model_caps(model))
    return {"kind": kind.__name__, **hashed}


def _digest(value: object) -> str:
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a lone surrogate (a history's reply held one escaped), a big integer
        data = stdlib_json(value, sort_keys=True)
    return hashlib.sha256(data).hexdigest()[:16]
