"""Tests of `agentkit._api.stream_events`: typed streaming events, unknown ones kept verbatim."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agentkit._api.stream_events import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ErrorEvent,
    MessageDeltaEvent,
    MessageStartEvent,
    PingEvent,
    UnknownDelta,
    UnknownEvent,
    parse_event,
)

FUTURE_BLOCK: dict[str, Any] = {"type": "code_execution_tool_result", "nested": [{"x": None}]}
MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [],
    "stop_reason": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}


def test_unknown_delta_is_kept_verbatim() -> None:
    raw = {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "compaction_delta", "content": "…", "extra": [1]},
    }
    event = parse_event(copy.deepcopy(raw))
    assert isinstance(event, ContentBlockDeltaEvent)
    assert isinstance(event.delta, UnknownDelta)
    assert event.to_wire() == raw


def test_unknown_event_is_kept_verbatim() -> None:
    raw = {"type": "message_progress", "percent": 40, "detail": {"phase": "search"}}
    event = parse_event(dict(raw))
    assert isinstance(event, UnknownEvent)
    assert event.to_wire() == raw


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"type": "ping"}, PingEvent),
        ({"type": "message_start", "message": MESSAGE}, MessageStartEvent),
        (
            {"type": "content_block_start", "index": 0, "content_block": FUTURE_BLOCK},
            ContentBlockStartEvent,
        ),
        (
            {
                "type": "message_delta",
                "delta": {"stop_reason": "refusal", "stop_details": {"type": "refusal"}},
                "usage": {"output_tokens": 4, "gateway_key": "x"},
            },
            MessageDeltaEvent,
        ),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Over"}}, ErrorEvent),
    ],
)
def test_known_events_parse_to_their_type_and_round_trip(
    raw: dict[str, Any], kind: type[Any]
) -> None:
    event = parse_event(copy.deepcopy(raw))
    assert isinstance(event, kind)
    assert event.to_wire() == raw


@pytest.mark.parametrize(
    "delta",
    [
        {"type": "text_delta", "text": "a"},
        {"type": "input_json_delta", "partial_json": ""},
        {"type": "thinking_delta", "thinking": ""},
        {"type": "signature_delta", "signature": "Eq=="},
        {"type": "citations_delta", "citation": {"type": "char_location", "cited_text": "c"}},
    ],
)
def test_known_deltas_parse_typed_and_round_trip(delta: dict[str, Any]) -> None:
    raw = {"type": "content_block_delta", "index": 0, "delta": delta}
    event = parse_event(copy.deepcopy(raw))
    assert not isinstance(event.delta, UnknownDelta)
    assert event.delta.type == delta["type"]
    assert event.to_wire() == raw
