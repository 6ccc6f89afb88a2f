"""Tests of `agentkit._api.wire`: nothing that comes in is dropped, nothing bad goes out."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from agentkit._api.wire import (
    KNOWN_STOP_REASONS,
    CacheControl,
    ContentBlock,
    ErrorBody,
    Message,
    MessageCreateParams,
    MessageParam,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
    Usage,
    parse_block,
    union_tags,
)

FUTURE_BLOCK: dict[str, Any] = {
    "type": "code_execution_tool_result",
    "tool_use_id": "srvtoolu_9",
    "content": {"type": "code_execution_result", "stdout": "4\n", "return_code": 0},
    "cache_control": None,
    "nested": [{"deep": {"x": [1, 2.5, None, True]}}],
}


def reply(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    body.update(overrides)
    return body


# -- unknown types are preserved verbatim ---------------------------------------------------


def test_unknown_block_is_kept_verbatim() -> None:
    block = parse_block(copy.deepcopy(FUTURE_BLOCK))
    assert isinstance(block, UnknownBlock)
    assert block.type == "code_execution_tool_result"
    assert block.to_wire() == FUTURE_BLOCK


def test_unknown_block_round_trips_inside_message_param_and_tool_result() -> None:
    message = reply(content=[FUTURE_BLOCK, {"type": "text", "text": "done"}])
    parsed = Message.model_validate(copy.deepcopy(message))
    assert isinstance(parsed.content[0], UnknownBlock)
    assert parsed.to_wire() == message
    assert parsed.to_param() == {"role": "assistant", "content": message["content"]}

    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [FUTURE_BLOCK]}
    param = {"role": "user", "content": [result]}
    assert MessageParam.model_validate(copy.deepcopy(param)).to_wire() == param


def test_the_block_union_knows_each_tag_it_lists() -> None:
    tags = union_tags(ContentBlock)
    assert {"text", "tool_use", "web_search_tool_result", "unknown"} <= tags
    block = parse_block({"type": "redacted_thinking", "data": "x"})
    assert not isinstance(block, UnknownBlock) and block.type in tags


def test_known_type_with_a_new_field_keeps_the_field() -> None:
    raw = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}, "caller": {"x": 1}}
    block = parse_block(dict(raw))
    assert isinstance(block, ToolUseBlock)
    assert block.to_wire() == raw


# -- extras (gateways, newer API versions) are kept -----------------------------------------


def test_usage_keeps_gateway_and_new_keys() -> None:
    raw = {
        "input_tokens": 5,
        "output_tokens": 7,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "inference_geo": "not_available",
        "pydantic_ai_gateway": {"cost_estimate": 0.0001},
        "output_tokens_details": {"thinking_tokens": 3},
    }
    usage = Usage.model_validate(copy.deepcopy(raw))
    assert usage.input_tokens == 5
    assert usage.to_wire() == raw


def test_message_keeps_top_level_extras() -> None:
    raw = reply(stop_details={"type": "refusal", "category": "cyber"}, container=None)
    assert Message.model_validate(copy.deepcopy(raw)).to_wire() == raw


def test_request_params_pass_unknown_fields_through() -> None:
    raw = {
        "model": "claude-test",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"effort": "high"},
        "inference_geo": "us",
    }
    assert MessageCreateParams.model_validate(copy.deepcopy(raw)).to_wire() == raw


def test_request_params_reject_a_zero_max_tokens() -> None:
    with pytest.raises(ValidationError, match="max_tokens"):
        MessageCreateParams.model_validate({"model": "m", "max_tokens": 0, "messages": []})


# -- what we construct goes out clean -------------------------------------------------------


def test_constructed_blocks_send_no_null() -> None:
    wire = MessageCreateParams(
        model="claude-test",
        max_tokens=100,
        messages=[
            MessageParam(role="user", content=[TextBlock(text="hi")]),
            MessageParam(
                role="assistant",
                content=[
                    ThinkingBlock(thinking="t", signature="s"),
                    ToolUseBlock(id="toolu_1", name="f", input={"a": 1}),
                ],
            ),
            MessageParam(
                role="user", content=[ToolResultBlock(tool_use_id="toolu_1", content="ok")]
            ),
        ],
    ).to_wire()

    def nulls(value: Any, path: str = "") -> list[str]:
        if isinstance(value, dict):
            return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
        if isinstance(value, list):
            return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
        return [path] if value is None else []

    assert nulls(wire) == []
    assert "system" not in wire
    assert "tools" not in wire


def test_constructed_blocks_carry_their_type() -> None:
    assert TextBlock(text="hi").to_wire() == {"type": "text", "text": "hi"}
    assert ToolUseBlock(id="toolu_1", name="f").to_wire() == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "f",
        "input": {},
    }
    assert CacheControl().to_wire() == {"type": "ephemeral"}


def test_parsed_none_values_are_sent_back_as_received() -> None:
    # Round-trip exactness beats null-stripping for what the API itself sent us.
    raw = {"type": "text", "text": "x", "citations": None}
    assert parse_block(dict(raw)).to_wire() == raw


# -- stop reasons and error bodies ----------------------------------------------------------


def test_stop_reasons_known_and_unknown() -> None:
    assert {"end_turn", "tool_use", "max_tokens", "pause_turn", "refusal"} <= KNOWN_STOP_REASONS
    message = Message.model_validate(reply(stop_reason="context_compacted"))
    assert message.stop_reason == "context_compacted"
    assert message.stop_reason not in KNOWN_STOP_REASONS
    assert message.to_wire()["stop_reason"] == "context_compacted"


def test_error_body_parses_and_keeps_unknown_types_and_fields() -> None:
    raw = {
        "type": "error",
        "error": {"type": "quota_exhausted_error", "message": "Out of quota.", "hint": "wait"},
        "request_id": "req_011",
    }
    body = ErrorBody.model_validate(copy.deepcopy(raw))
    assert body.error.type == "quota_exhausted_error"
    assert body.error.message == "Out of quota."
    assert body.request_id == "req_011"
    assert body.to_wire() == raw


def test_error_body_requires_the_error_object() -> None:
    with pytest.raises(ValidationError, match="error"):
        ErrorBody.model_validate({"type": "error"})


def test_message_helpers_read_text_and_tool_calls() -> None:
    message = Message.model_validate(
        reply(
            content=[
                {"type": "thinking", "thinking": "hidden", "signature": "s"},
                {"type": "text", "text": "Let me "},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
                {"type": "text", "text": "check."},
            ]
        )
    )
    assert message.text == "Let me check."
    assert [call.id for call in message.tool_uses] == ["toolu_1"]


def test_tool_result_is_the_one_constructor_of_a_result_block() -> None:
    from agentkit._api.wire import tool_result

    assert tool_result("t1", "ok") == {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
    assert tool_result("t1", None) == {"type": "tool_result", "tool_use_id": "t1"}
    assert tool_result("t1", "no", is_error=True)["is_error"] is True
