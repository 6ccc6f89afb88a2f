"""Tests of `agentkit._api.streaming`: the pure reducer of SSE events into one `Message`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from agentkit._api.sse import iter_sse_events
from agentkit._api.streaming import MessageAccumulator, accumulate, message_from_sse
from agentkit._api.wire import (
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    WebSearchToolResultBlock,
)
from agentkit._errors import APIStreamError, IncompleteStreamError, MalformedStreamError

Loader = Callable[[str], dict[str, Any]]


def sse_bytes(exchange: dict[str, Any]) -> bytes:
    return exchange["response"]["sse"].encode("utf-8")


# -- MessageAccumulator: building blocks ----------------------------------------------------


def start(**usage: Any) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 1},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str = "end_turn", **usage: Any) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": usage or {"output_tokens": 7},
    }


END = {"type": "message_stop"}


def tool_events(*parts: str) -> list[dict[str, Any]]:
    return [
        start(),
        block_start(0, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        *(delta(0, type="input_json_delta", partial_json=p) for p in parts),
        stop(0),
        message_delta("tool_use"),
        END,
    ]


def test_text_deltas_are_joined() -> None:
    msg = accumulate(
        [
            start(),
            block_start(0, {"type": "text", "text": ""}),
            {"type": "ping"},
            delta(0, type="text_delta", text="Hel"),
            delta(0, type="text_delta", text="lo"),
            stop(0),
            message_delta(),
            END,
        ]
    )
    assert msg.content == [TextBlock(text="Hello")]
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 10
    assert msg.usage.output_tokens == 7


def test_tool_input_json_is_accumulated_and_parsed_at_block_stop() -> None:
    msg = accumulate(tool_events("", '{"city": "Par', 'is", "days"', ": 3}"))
    (call,) = msg.tool_uses
    assert call.input == {"city": "Paris", "days": 3}
    assert call.name == "get_weather"
    assert msg.stop_reason == "tool_use"


@pytest.mark.parametrize("parts", [("",), (), (" ", "")], ids=["empty", "no-deltas", "blank"])
def test_empty_tool_input_means_empty_object(parts: tuple[str, ...]) -> None:
    msg = accumulate(tool_events(*parts))
    assert msg.tool_uses[0].input == {}


def test_malformed_tool_input_names_the_block_tool_and_json() -> None:
    acc = MessageAccumulator()
    events = tool_events('{"city": "Par', "is")
    with pytest.raises(MalformedStreamError) as info:
        for event in events:
            acc.apply(event)
    err = info.value
    assert err.index == 0
    assert "content block 0" in str(err)
    assert "'get_weather'" in str(err)
    assert '{"city": "Paris' in str(err)
    assert err.partial is not None
    assert err.partial.id == "msg_1"


def test_tool_input_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedStreamError, match="expected an object"):
        accumulate(tool_events("[1, 2]"))


def test_long_malformed_json_is_shown_as_a_snippet() -> None:
    junk = "x" * 5000
    with pytest.raises(MalformedStreamError) as info:
        accumulate(tool_events(junk))
    assert len(str(info.value)) < 600


def test_thinking_with_empty_delta_and_signature() -> None:
    msg = accumulate(
        [
            start(),
            block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
            delta(0, type="thinking_delta", thinking="Let me "),
            delta(0, type="thinking_delta", thinking="think."),
            delta(0, type="thinking_delta", thinking=""),
            delta(0, type="signature_delta", signature="EqSig=="),
            stop(0),
            block_start(1, {"type": "text", "text": ""}),
            delta(1, type="text_delta", text="Done."),
            stop(1),
            message_delta(),
            END,
        ]
    )
    assert msg.content == [
        ThinkingBlock(thinking="Let me think.", signature="EqSig=="),
        TextBlock(text="Done."),
    ]


def test_blocks_arriving_whole_are_kept_as_is() -> None:
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgB..."}
    result = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [{"type": "web_search_result", "url": "https://x", "title": "X"}],
    }
    msg = accumulate(
        [start(), block_start(0, redacted), stop(0), block_start(1, result), stop(1), END]
    )
    assert isinstance(msg.content[0], RedactedThinkingBlock)
    assert isinstance(msg.content[1], WebSearchToolResultBlock)
    assert msg.to_param()["content"] == [redacted, result]


def test_citations_deltas_append_to_the_block() -> None:
    first = {"type": "web_search_result_location", "url": "https://a", "cited_text": "a"}
    second = {"type": "web_search_result_location", "url": "https://b", "cited_text": "b"}
    msg = accumulate(
        [
            start(),
            block_start(0, {"type": "text", "text": "", "citations": []}),
            delta(0, type="citations_delta", citation=first),
            delta(0, type="text_delta", text="cited"),
            delta(0, type="citations_delta", citation=second),
            stop(0),
            block_start(1, {"type": "text", "text": ""}),
            delta(1, type="citations_delta", citation=first),
            stop(1),
            END,
        ]
    )
    blocks = msg.to_param()["content"]
    assert blocks[0] == {"type": "text", "text": "cited", "citations": [first, second]}
    assert blocks[1] == {"type": "text", "text": "", "citations": [first]}


def test_unknown_delta_is_kept_aside_and_the_block_is_untouched() -> None:
    acc = MessageAccumulator()
    odd = {"type": "sparkle_delta", "sparkle": "✨"}
    for event in [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="hi"),
        delta(0, **odd),
        stop(0),
        END,
    ]:
        acc.apply(event)
    assert acc.unknown_deltas == [(0, odd)]
    assert acc.message().to_param()["content"] == [{"type": "text", "text": "hi"}]


def test_unknown_block_and_unknown_events_pass_through() -> None:
    block = {"type": "future_block", "payload": {"a": [1, None]}, "note": "kept"}
    msg = accumulate(
        [start(), {"type": "future_event", "x": 1}, block_start(0, block), stop(0), END]
    )
    assert msg.to_param()["content"] == [block]


def test_message_delta_merges_usage_and_keeps_extra_fields() -> None:
    msg = accumulate(
        [
            start(
                input_tokens=20,
                output_tokens=1,
                cache_read_input_tokens=0,
                service_tier="standard",
            ),
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "refusal",
                    "stop_sequence": None,
                    "stop_details": {"type": "refusal", "category": "cyber"},
                },
                "usage": {
                    "input_tokens": 25,
                    "cache_read_input_tokens": None,
                    "output_tokens": 9,
                    "gateway_cost": 0.5,
                },
            },
            END,
        ]
    )
    assert msg.stop_reason == "refusal"
    wire = msg.to_wire()
    assert wire["stop_details"] == {"type": "refusal", "category": "cyber"}
    assert wire["usage"] == {
        "input_tokens": 25,
        "output_tokens": 9,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
        "gateway_cost": 0.5,
    }


def test_later_message_delta_wins() -> None:
    msg = accumulate(
        [start(), message_delta("max_tokens", output_tokens=3), message_delta(output_tokens=8), END]
    )
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 8


def test_error_event_raises_with_the_partial_message() -> None:
    acc = MessageAccumulator(request_id="req_1")
    for event in [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="so far"),
    ]:
        acc.apply(event)
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(APIStreamError) as info:
        acc.apply(error)
    err = info.value
    assert err.error_type == "overloaded_error"
    assert err.retryable
    assert err.body == error
    assert err.request_id == "req_1"
    assert "Overloaded" in str(err)
    assert err.partial is not None
    assert err.partial.text == "so far"
    assert not acc.done


def test_an_error_event_holding_a_lone_surrogate_is_raised_when_redacting() -> None:
    # Redaction re-encodes the event: UTF-8 cannot carry the surrogate as it is.
    acc = MessageAccumulator(redact=lambda body: body.replace(b"sk-1", b"<redacted>"))
    acc.apply(start())
    error = {"type": "error", "error": {"type": "api_error", "message": "sk-1 a\ud800b"}}
    with pytest.raises(APIStreamError) as info:
        acc.apply(error)
    assert info.value.body == {"type": "error", "error": {"type": "api_error",
                                                          "message": "<redacted> a\ud800b"}}


def test_stream_cut_before_message_stop_raises_incomplete_with_partial() -> None:
    acc = MessageAccumulator()
    for event in tool_events('{"city": "Par')[:3]:
        acc.apply(event)
    assert not acc.done
    with pytest.raises(IncompleteStreamError, match="before message_stop") as info:
        acc.message()
    partial = info.value.partial
    assert partial is not None
    # Incomplete tool input keeps its starting value rather than half-parsed JSON.
    assert partial.tool_uses[0].input == {}


def test_stream_with_nothing_raises_incomplete_without_partial() -> None:
    with pytest.raises(IncompleteStreamError, match="before message_start") as info:
        accumulate([])
    assert info.value.partial is None


def test_events_before_message_start_are_malformed() -> None:
    with pytest.raises(MalformedStreamError, match="before message_start"):
        accumulate([block_start(0, {"type": "text", "text": ""})])


def test_delta_for_a_block_never_started_is_malformed() -> None:
    with pytest.raises(MalformedStreamError, match="content block 2") as info:
        accumulate([start(), delta(2, type="text_delta", text="x")])
    assert info.value.index == 2


def test_missing_block_index_is_reported_at_message_stop() -> None:
    with pytest.raises(MalformedStreamError, match=r"index \[0\]"):
        accumulate([start(), block_start(1, {"type": "text", "text": "x"}), stop(1), END])


def test_partial_and_snapshot_show_progress_without_changing_state() -> None:
    acc = MessageAccumulator()
    assert acc.partial() is None
    assert acc.snapshot_dict() is None
    for event in [start(), block_start(0, {"type": "text", "text": ""})]:
        acc.apply(event)
    acc.apply(delta(0, type="text_delta", text="one "))
    snapshot = acc.snapshot_dict()
    assert snapshot is not None
    assert snapshot["content"] == [{"type": "text", "text": "one "}]
    acc.apply(delta(0, type="text_delta", text="two"))
    partial = acc.partial()
    assert partial is not None
    assert partial.text == "one two"
    for event in [stop(0), END]:
        acc.apply(event)
    assert acc.done
    assert acc.message().text == "one two"
    assert acc.partial() is acc.message()


def test_reducer_does_not_mutate_the_event_dicts() -> None:
    events = tool_events('{"a": 1}')
    events.insert(2, block_start(1, {"type": "text", "text": "", "citations": []}))
    events.insert(3, delta(1, type="citations_delta", citation={"type": "x"}))
    events.insert(4, stop(1))
    snapshot = json.loads(json.dumps(events))
    accumulate(events)
    assert events == snapshot


def test_padded_real_stream_reduces(load_real: Loader) -> None:
    msg = message_from_sse(load_real("stream_text_padded")["response"]["sse"])
    assert msg.text == "2"
    assert msg.usage.output_tokens == 5
    assert msg.to_wire()["usage"]["inference_geo"] == "not_available"


def test_real_tool_stream_with_chunked_input(load_real: Loader) -> None:
    msg = message_from_sse(sse_bytes(load_real("vendor_fixtures/stream_tool_use_sdk_fixture")))
    (call,) = msg.tool_uses
    assert isinstance(call, ToolUseBlock)
    assert call.input == {"location": "Paris"}
    assert call.to_wire()["caller"] == {"type": "direct"}


def test_a_stream_cut_anywhere_is_incomplete_never_malformed(load_real: Loader) -> None:
    body = sse_bytes(load_real("vendor_fixtures/stream_tool_use_sdk_fixture"))
    complete = message_from_sse(body)
    last_brace = body.rindex(b"}") + 1
    for cut in range(len(body)):
        if cut >= last_brace:
            assert message_from_sse(body[:cut]) == complete
            continue
        with pytest.raises(IncompleteStreamError):
            message_from_sse(body[:cut])


def test_a_cut_final_event_is_dropped_but_earlier_bad_json_is_not() -> None:
    body = b"event: a\ndata: {bad\n\nevent: b\ndata: {}\n\n"
    with pytest.raises(MalformedStreamError):
        list(iter_sse_events([body]))
    assert list(iter_sse_events([b'event: a\ndata: {}\n\nevent: b\ndata: {"ty'])) == [{}]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "content_block_delta", "index": 0},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}},
        {"type": "content_block_start", "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_stop", "index": "0"},
        {"type": "message_delta", "delta": "end_turn"},
    ],
    ids=["no-delta", "no-text", "no-index", "str-index", "str-delta"],
)
def test_known_event_with_missing_or_wrong_fields_is_malformed(event: dict[str, Any]) -> None:
    acc = MessageAccumulator()
    for first in [start(), block_start(0, {"type": "text", "text": "kept"})]:
        acc.apply(first)
    with pytest.raises(MalformedStreamError, match=repr(event["type"])) as info:
        acc.apply(event)
    assert info.value.partial is not None
    assert info.value.partial.text == "kept"


def test_a_message_start_that_is_not_a_message_is_malformed_at_message_stop() -> None:
    acc = MessageAccumulator()
    acc.apply({"type": "message_start", "message": {"content": [], "usage": {}}})
    assert acc.partial() is None
    with pytest.raises(MalformedStreamError, match="not form a valid Message"):
        acc.apply(END)
