"""Fault suite, broken bodies and streams: each ends retried or in a typed, continuable error.

Mid-stream errors, cuts and malformed events re-issue the whole request (after the client's
backoff) and never append a partial reply; a complete 200 JSON body that is no message fails
at once; unknown block, delta and event types are survived, and unknown blocks kept verbatim.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fault_helpers import (
    Sleeps,
    agent_for,
    continue_both_ways,
    failed_but_continuable,
    first_turn,
    scripted_client,
)

from agentkit import (
    APIError,
    APIStreamError,
    APITimeoutError,
    AsyncClient,
    RunError,
    validate_conversation,
)
from agentkit._errors import IncompleteStreamError
from agentkit.testing import Fault, ScriptedTransport, text_reply, tool_reply
from agentkit.testing._replies import encode_sse, message_dict, message_to_events

BOTH = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


# -- broken bodies and streams ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_error_event_mid_stream_re_issues_the_request() -> None:
    client, transport, sleeps = scripted_client(
        [first_turn(), Fault.stream_error(text_reply("lost")), text_reply("kept")]
    )
    result = await agent_for(client, stream=True).run("add 2 and 3")
    assert result.text == "kept" and len(transport.requests) == 3
    assert len(sleeps.delays) == 1 and 0.375 <= sleeps.delays[0] <= 0.5  # backed off
    assert "lost" not in json.dumps(result.messages)  # the partial reply was dropped
    assert transport.requests[1].body == transport.requests[2].body


@pytest.mark.asyncio
async def test_an_error_event_on_a_json_request_is_the_matching_status_and_retried() -> None:
    client, transport, sleeps = scripted_client(
        [first_turn(), Fault.stream_error(), text_reply("kept")]
    )
    result = await agent_for(client, stream=False).run("add 2 and 3")
    assert result.text == "kept" and len(transport.requests) == 3 and len(sleeps.delays) == 1


@pytest.mark.asyncio
async def test_a_non_retryable_error_event_is_not_re_issued() -> None:
    fault = Fault.stream_error(error_type="invalid_request_error", message="bad")
    client, transport, _ = scripted_client([first_turn(), fault])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=True).run("add 2 and 3")
    failed_but_continuable(caught.value, APIStreamError, turns=1)
    assert caught.value.__cause__.error_type == "invalid_request_error"
    assert len(transport.requests) == 2
    await continue_both_ways(caught.value, stream=True)


@pytest.mark.asyncio
async def test_error_events_past_the_model_retries_end_in_a_stream_error() -> None:
    client, transport, sleeps = scripted_client([first_turn(), *[Fault.stream_error()] * 3])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=True, model_retries=2).run("add 2 and 3")
    failed_but_continuable(caught.value, APIStreamError, turns=1)
    assert caught.value.__cause__.partial is not None  # what arrived is not lost
    assert len(transport.requests) == 4
    assert len(sleeps.delays) == 2 and 0.75 <= sleeps.delays[1] <= 1.0
    await continue_both_ways(caught.value, stream=True)


@BOTH
@pytest.mark.asyncio
async def test_a_reply_cut_mid_block_is_re_issued_and_never_appended(stream: bool) -> None:
    client, transport, sleeps = scripted_client(
        [first_turn(), Fault.cut(text_reply("half of this is lost")), text_reply("whole")]
    )
    result = await agent_for(client, stream=stream).run("add 2 and 3")
    assert result.text == "whole" and len(transport.requests) == 3 and len(sleeps.delays) == 1
    assert "half of this" not in json.dumps(result.messages)


@pytest.mark.asyncio
async def test_streams_always_cut_end_in_an_incomplete_stream_error() -> None:
    client, _, _ = scripted_client([first_turn(), *[Fault.cut()] * 3])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=True, model_retries=2).run("add 2 and 3")
    failed_but_continuable(caught.value, IncompleteStreamError, turns=1)
    await continue_both_ways(caught.value, stream=True)


@pytest.mark.asyncio
async def test_a_malformed_json_body_fails_at_once_with_an_api_error() -> None:
    # A complete 200 body that is not JSON is not a transient fault: it is not retried.
    client, transport, sleeps = scripted_client([first_turn(), Fault.malformed()])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=False).run("add 2 and 3")
    failed_but_continuable(caught.value, APIError, turns=1)
    assert "not a valid Message" in str(caught.value.__cause__)
    assert len(transport.requests) == 2 and sleeps.delays == []
    await continue_both_ways(caught.value, stream=False)


@pytest.mark.asyncio
async def test_a_malformed_sse_event_re_issues_the_request() -> None:
    client, transport, _ = scripted_client([first_turn(), Fault.malformed(), text_reply("ok")])
    result = await agent_for(client, stream=True).run("add 2 and 3")
    assert result.text == "ok" and len(transport.requests) == 3


@pytest.mark.asyncio
async def test_malformed_sse_past_the_model_retries_ends_in_a_typed_error() -> None:
    client, _, _ = scripted_client([first_turn(), *[Fault.malformed()] * 2])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=True, model_retries=1).run("add 2 and 3")
    failed_but_continuable(caught.value, APIStreamError, turns=1)
    assert caught.value.__cause__.error_type == "malformed_stream"
    await continue_both_ways(caught.value, stream=True)


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502 Bad Gateway</html>"],
    ids=["empty", "html"],
)
@pytest.mark.asyncio
async def test_a_200_json_body_that_is_no_message_fails_at_once(body: bytes) -> None:
    fault = Fault.raw(body, content_type="text/html")
    client, transport, sleeps = scripted_client([first_turn(), fault])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=False).run("add 2 and 3")
    failed_but_continuable(caught.value, APIError, turns=1)
    assert "Anthropic-compatible" in str(caught.value) and sleeps.delays == []
    assert len(transport.requests) == 2


def _sse(*events: dict[str, Any]) -> Fault:
    return Fault.raw(encode_sse(events), content_type="text/event-stream")


def _events_of(text: str) -> list[dict[str, Any]]:
    msg = message_dict(text_reply(text))
    msg["model"] = "claude-sonnet-4-5"
    return message_to_events(msg)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.raw(b"", content_type="text/event-stream"),
        Fault.raw(b"<html>502 Bad Gateway</html>", content_type="text/html"),
        _sse(*_events_of("no message_stop")[:-1]),
        Fault.stream_error(after=0),
    ],
    ids=["empty", "html", "no-message-stop", "error-first"],
)
@pytest.mark.asyncio
async def test_a_stream_with_no_usable_reply_is_re_issued(fault: Fault) -> None:
    client, transport, sleeps = scripted_client([first_turn(), fault, text_reply("ok")])
    result = await agent_for(client, stream=True).run("add 2 and 3")
    assert result.text == "ok" and len(transport.requests) == 3 and len(sleeps.delays) == 1
    assert "no message_stop" not in json.dumps(result.messages)


# -- unknown types ---------------------------------------------------------------------------


def _with_unknown_block() -> dict[str, Any]:
    msg = message_dict(tool_reply("add", {"a": 2, "b": 3}))
    msg["model"] = "claude-sonnet-4-5"
    msg["usage"]["input_tokens"] = 10
    msg["content"].insert(0, {"type": "future_block", "payload": {"x": [1, 2]}})
    return msg


@pytest.mark.asyncio
async def test_an_unknown_block_type_is_kept_verbatim_and_sent_back() -> None:
    msg = _with_unknown_block()
    client, transport, _ = scripted_client(
        [Fault.raw(json.dumps(msg).encode()), text_reply("done")]
    )
    result = await agent_for(client, stream=False).run("add 2 and 3")
    assert result.text == "done"
    assert transport.requests[1].messages[1]["content"] == msg["content"]
    assert result.messages[2]["content"][0]["content"] == "5"


@pytest.mark.asyncio
async def test_unknown_block_delta_and_event_types_in_a_stream_are_survived() -> None:
    msg = _with_unknown_block()
    events = message_to_events(msg)
    events.insert(2, {"type": "content_block_delta", "index": 0, "delta": {"type": "future_delta"}})
    events.insert(2, {"type": "future_event", "data": 1})
    body = encode_sse(events)
    client, transport, _ = scripted_client(
        [Fault.raw(body, content_type="text/event-stream"), text_reply("done")]
    )
    result = await agent_for(client, stream=True).run("add 2 and 3")
    assert result.text == "done"
    assert transport.requests[1].messages[1]["content"] == msg["content"]

@BOTH
@pytest.mark.asyncio
async def test_thinking_blocks_survive_retries_byte_for_byte(stream: bool) -> None:
    thought = tool_reply("add", {"a": 2, "b": 3}, thinking="I should add these.")
    client, transport, _ = scripted_client(
        [thought, Fault.overloaded(), Fault.cut(), text_reply("5", thinking="done")]
    )
    agent = agent_for(client, stream=stream, thinking=2048, max_tokens=4096)
    result = await agent.run("add 2 and 3")
    assert result.text == "5" and len(transport.requests) == 4
    sent = message_dict(thought)["content"][0]
    for request in transport.requests[1:]:
        assert request.messages[1]["content"][0] == sent  # signature included
    validate_conversation(result.messages, thinking="enabled")


class _StallingTransport(httpx.AsyncBaseTransport):
    """Serves a script; the first reply streams its first `events`, then stalls (read timeout)."""

    def __init__(self, inner: ScriptedTransport, events: int) -> None:
        self.inner, self.events, self.stalled = inner, events, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.stalled:
            return response
        self.stalled = True
        body = b"".join([chunk async for chunk in response.aiter_raw()])
        head = b"".join(part + b"\n\n" for part in body.split(b"\n\n")[: self.events])
        return httpx.Response(
            200, headers=response.headers, stream=_Stall(head, request), request=request
        )


class _Stall(httpx.AsyncByteStream):
    def __init__(self, head: bytes, request: httpx.Request) -> None:
        self.head, self.request = head, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        raise httpx.ReadTimeout("no data within the read timeout", request=self.request)


@pytest.mark.parametrize("events", [1, 4], ids=["after-message-start", "mid-block"])
@pytest.mark.asyncio
async def test_a_stream_that_stalls_after_it_began_is_re_issued(events: int) -> None:
    steps = [text_reply("this reply stalls part of the way"), text_reply("whole")]
    inner = ScriptedTransport(steps)
    stalling = _StallingTransport(inner, events)
    client = AsyncClient(api_key="sk-test", base_url="http://127.0.0.1:9", transport=stalling)
    sleeps = Sleeps()
    seen: list[Any] = []
    result = await agent_for(client, stream=True, clock=sleeps).run("hi", on_event=seen.append)
    assert result.text == "whole" and len(inner.requests) == 2 and len(sleeps.delays) == 1
    assert "stalls" not in json.dumps(result.messages)


@pytest.mark.asyncio
async def test_streams_that_always_stall_end_in_an_incomplete_stream_error() -> None:
    inner = ScriptedTransport([text_reply("stall")] * 2)

    class AlwaysStalling(_StallingTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.stalled = False
            return await super().handle_async_request(request)

    client = AsyncClient(
        api_key="sk-test", base_url="http://127.0.0.1:9", transport=AlwaysStalling(inner, 4)
    )
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=True, model_retries=1, clock=Sleeps()).run("hi")
    failed_but_continuable(caught.value, IncompleteStreamError, turns=0)
    assert isinstance(caught.value.__cause__.__cause__, APITimeoutError)
    assert "stalled" in str(caught.value)
