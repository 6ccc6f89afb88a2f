"""Tiny builders of wire messages and blocks, for the tests of the conversation rules."""

from __future__ import annotations

from typing import Any

Msg = dict[str, Any]


def user(*blocks: Any) -> Msg:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: Any) -> Msg:
    return {"role": "assistant", "content": list(blocks)}


def text(t: str = "hi") -> Msg:
    return {"type": "text", "text": t}


def call(id: str, name: str = "f") -> Msg:
    return {"type": "tool_use", "id": id, "name": name, "input": {}}


def result(id: str, content: str = "ok") -> Msg:
    return {"type": "tool_result", "tool_use_id": id, "content": content}


def think(sig: str = "sig") -> Msg:
    return {"type": "thinking", "thinking": "hmm", "signature": sig}
