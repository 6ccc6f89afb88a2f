"""A durable run's fingerprint: which agent and which prompt a stored run belongs to, so that a
`run_id` reused by another agent or with another prompt is refused (`RunMismatchError`) rather
than resumed as someone else's run. Shared by the embedded store's runs and DBOS workflows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import orjson

from .._api.jsonbytes import stdlib_json
from .._loop.engine import EngineConfig

__all__ = ["fingerprint"]


def fingerprint(config: EngineConfig, tool_names: Iterable[str], messages: object) -> str:
    """`<agent>-<prompt>`: hashes of the agent (model, system prompt, tool names, server tool
    names, output tool) and of the run's initial messages. A run is resumed only by the same
    agent and prompt."""
    names = tuple(tool_names)
    known = _AGENTS.get((id(config), names))
    if known is not None and known[0] is config:  # an agent's half, once per agent
        return f"{known[1]}-{_digest(messages)}"
    output = config.output_tool["name"] if config.output_tool else None
    servers = [str(t.get("name")) for t in config.server_tools]
    agent = {
        "model": config.model,
        "system": config.system,
        "tools": sorted([*names, *servers]),
        "output": output,
    }
    digest = _digest(agent)
    if len(_AGENTS) >= 256:
        _AGENTS.clear()
    _AGENTS[id(config), names] = (config, digest)
    return f"{digest}-{_digest(messages)}"


_AGENTS: dict[tuple[int, tuple[str, ...]], tuple[EngineConfig, str]] = {}
"""The agent halves of fingerprints, per config (kept alive here, so its id is not reused) and
tool names: a config is frozen, and each durable run would hash its system prompt again."""


def _digest(value: object) -> str:
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a lone surrogate (a history's reply held one escaped), a big integer
        data = stdlib_json(value, sort_keys=True)
    return hashlib.sha256(data).hexdigest()[:16]
