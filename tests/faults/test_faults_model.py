"""Fault suite, the model misbehaving: each case ends with the run going on or a typed error.

What the model can be told about (an unknown tool, bad input) becomes an `is_error` tool
result and the run goes on; what cannot be used at all (unparsable tool input) is re-issued,
then ends in a `RunError` that keeps the conversation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fault_helpers import (
    BOTH,
    agent_for,
    continue_both_ways,
    failed_but_continuable,
    scripted_client,
)

from agentkit import (
    APIError,
    APIStreamError,
    LimitExceeded,
    Limits,
    RunError,
    tool,
    validate_conversation,
)
from agentkit._api.streaming import accumulate
from agentkit._errors import MalformedStreamError
from agentkit.testing import Fault, reply, tool_reply
from agentkit.testing._replies import encode_sse, message_dict, message_to_events


@BOTH
@pytest.mark.asyncio
async def test_an_unknown_tool_gets_an_error_result_naming_the_real_ones(stream: bool) -> None:
    client, transport, _ = scripted_client(
        [tool_reply("subtract", {"a": 1}), tool_reply("add", {"a": 1, "b": 1}), "2"]
    )
    result = await agent_for(client, stream=stream).run("1 - 1?")
    assert result.text == "2"
    first = transport.requests[1].messages[-1]["content"][0]
    assert first["is_error"] is True
    assert "Unknown tool 'subtract'" in first["content"] and "add" in first["content"]
    assert transport.requests[2].messages[-1]["content"][0]["content"] == "2"
    assert result.usage.tool_calls == 1  # only the real tool ran
    validate_conversation(result.messages)


@BOTH
@pytest.mark.asyncio
async def test_tool_input_failing_validation_is_reported_and_the_tool_not_run(
    stream: bool,
) -> None:
    ran: list[Any] = []

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        ran.append((a, b))
        return a + b

    client, transport, _ = scripted_client([tool_reply("add", {"a": "one", "c": 2}), "sorry"])
    result = await agent_for(client, stream=stream, tools=[add]).run("1 + 2?")
    assert result.text == "sorry" and ran == []
    block = transport.requests[1].messages[-1]["content"][0]
    assert block["is_error"] is True
    assert "a" in block["content"] and "b" in block["content"]
    validate_conversation(result.messages)


def _sse_with_tool_json(partial_jsons: list[str]) -> Fault:
    """A streamed `add` call whose input arrives as these `input_json_delta`s."""
    msg = message_dict(tool_reply("add", {"a": 1, "b": 2}))
    msg["model"] = "claude-sonnet-4-5"
    events = [e for e in message_to_events(msg) if e.get("delta", {}).get("type") is None]
    at = next(i for i, e in enumerate(events) if e["type"] == "content_block_stop")
    deltas = [
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "input_json_delta", "partial_json": p}}
        for p in partial_jsons
    ]
    events[at:at] = deltas
    return Fault.raw(encode_sse(events), content_type="text/event-stream")


@pytest.mark.asyncio
async def test_the_fake_streams_valid_tool_json_the_way_the_test_below_breaks_it() -> None:
    client, _, _ = scripted_client([_sse_with_tool_json(['{"a": 1,', ' "b": 2}']), "3"])
    result = await agent_for(client, stream=True).run("1 + 2?")
    assert result.messages[2]["content"][0]["content"] == "3"


@pytest.mark.asyncio
async def test_invalid_json_in_input_json_delta_re_issues_the_request() -> None:
    client, transport, _ = scripted_client(
        [_sse_with_tool_json(['{"a": 1,', ' "b": 2']), tool_reply("add", {"a": 1, "b": 2}), "3"]
    )
    result = await agent_for(client, stream=True).run("1 + 2?")
    assert result.text == "3" and len(transport.requests) == 3
    assert transport.requests[0].body == transport.requests[1].body
    assert result.usage.tool_calls == 1
    validate_conversation(result.messages)


@pytest.mark.asyncio
async def test_invalid_tool_json_every_time_ends_in_a_typed_error_and_nothing_runs() -> None:
    bad = _sse_with_tool_json(['{"a": 1,', " b: 2}"])
    client, transport, _ = scripted_client(["hello", bad, bad])
    agent = agent_for(client, stream=True, model_retries=1)
    first = await agent.run("hi")
    with pytest.raises(RunError) as caught:
        await agent.run("1 + 2?", history=first.messages)
    failed_but_continuable(caught.value, APIStreamError, turns=0)
    assert caught.value.__cause__.error_type == "malformed_stream"
    assert caught.value.usage.tool_calls == 0
    assert len(transport.requests) == 3
    await continue_both_ways(caught.value, stream=True)


@pytest.mark.asyncio
async def test_tool_input_that_is_not_an_object_in_a_json_body_is_an_api_error() -> None:
    msg = message_dict(tool_reply("add", {"a": 1, "b": 2}))
    msg["content"][0]["input"] = '{"a": 1'
    client, transport, _ = scripted_client([Fault.raw(json.dumps(msg).encode())])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=False).run("1 + 2?")
    failed_but_continuable(caught.value, APIError, turns=0)
    assert len(transport.requests) == 1
    await continue_both_ways(caught.value, stream=False)


@BOTH
@pytest.mark.asyncio
async def test_empty_content_ends_the_run_with_no_empty_turn_stored(stream: bool) -> None:
    empty = reply(stop_reason="end_turn")
    client, _, _ = scripted_client([tool_reply("add", {"a": 1, "b": 2}), empty])
    result = await agent_for(client, stream=stream).run("1 + 2?")
    assert result.text == "" and result.stop_reason == "end_turn"
    assert [m["role"] for m in result.messages] == ["user", "assistant", "user"]
    assert all(m["content"] for m in result.messages)
    assert result.usage.requests == 2
    validate_conversation(result.messages)
    client2, transport2, _ = scripted_client(["more"])
    more = await agent_for(client2, stream=stream).run("go on", history=result.messages)
    assert more.text == "more"
    last = transport2.requests[0].messages[-1]["content"]
    assert last[0]["type"] == "tool_result" and last[-1] == {"type": "text", "text": "go on"}


@BOTH
@pytest.mark.asyncio
async def test_tool_use_blocks_with_stop_reason_end_turn_are_still_answered(
    stream: bool,
) -> None:
    odd = reply("let me add", tool_calls=[("add", {"a": 4, "b": 5})], stop_reason="end_turn")
    client, transport, _ = scripted_client([odd, "9"])
    result = await agent_for(client, stream=stream).run("4 + 5?")
    assert result.text == "9" and len(transport.requests) == 2
    assert transport.requests[1].messages[-1]["content"][0]["content"] == "9"
    validate_conversation(result.messages)


@BOTH
@pytest.mark.asyncio
async def test_a_model_that_never_stops_calling_tools_hits_max_turns(stream: bool) -> None:
    client, transport, _ = scripted_client([tool_reply("add", {"a": 1, "b": 1})] * 3)
    agent = agent_for(client, stream=stream, limits=Limits(max_turns=3))
    with pytest.raises(LimitExceeded) as caught:
        await agent.run("loop")
    assert caught.value.limit == "max_turns" and len(transport.requests) == 3
    validate_conversation(caught.value.messages)
    assert caught.value.usage.tool_calls == 3


# -- output limit in the middle of a tool input ------------------------------------------------


def _cut_by_max_tokens(stop_reason: str = "max_tokens") -> list[dict[str, Any]]:
    """A streamed text + `add` call whose input JSON stops short, as at the output limit."""
    msg = message_dict(tool_reply("add", {"a": 1, "b": 2}, text="Let me add."))
    msg["model"], msg["stop_reason"] = "claude-sonnet-4-5", stop_reason
    events = message_to_events(msg, chunk_size=5)
    last = max(
        i for i, e in enumerate(events) if e.get("delta", {}).get("type") == "input_json_delta"
    )
    del events[last]
    return events


@pytest.mark.parametrize("stop", ["max_tokens", "model_context_window_exceeded"])
def test_the_reducer_keeps_a_tool_call_cut_by_the_output_limit(stop: str) -> None:
    message = accumulate(_cut_by_max_tokens(stop))
    assert message.stop_reason == stop and message.text == "Let me add."
    assert message.tool_uses[0].input == {}


def test_the_reducer_still_rejects_broken_tool_json_when_the_reply_was_not_cut() -> None:
    with pytest.raises(MalformedStreamError, match="not a JSON object") as caught:
        accumulate(_cut_by_max_tokens("tool_use"))
    assert caught.value.index == 1 and caught.value.partial is not None


@pytest.mark.asyncio
async def test_a_streamed_tool_call_cut_by_max_tokens_is_answered_not_run_nor_retried() -> None:
    ran: list[Any] = []

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        ran.append((a, b))
        return a + b

    cut = Fault.raw(encode_sse(_cut_by_max_tokens()), content_type="text/event-stream")
    client, transport, sleeps = scripted_client([cut])
    result = await agent_for(client, stream=True, tools=[add]).run("1 + 2?")
    assert len(transport.requests) == 1 and sleeps.delays == [] and ran == []
    assert result.stop_reason == "max_tokens" and result.text == "Let me add."
    answer = result.messages[-1]["content"][0]
    assert answer["is_error"] is True and "cut off (stop_reason max_tokens)" in answer["content"]
    validate_conversation(result.messages)
