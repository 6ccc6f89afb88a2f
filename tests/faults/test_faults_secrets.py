"""Fault suite, secrets: with a key set, nothing the framework shows or saves contains it.

Checked under faults, where leaks happen: no DEBUG log line (any logger), no repr or str, no
exception in the chain (message, args, body, traceback text), and no saved conversation or
`RunState.to_dict()` JSON holds the API key or the bearer token, even when a gateway echoes
the key back in its error body.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from fault_helpers import KEY, add, agent_for, scripted_client

from agentkit import AsyncClient, RunError
from agentkit.testing import FakeClock, FakeServer, Fault, text_reply, tool_reply
from agentkit.testing._replies import encode_sse, message_dict, message_to_events

TOKEN = "sk-ant-oat01-FAULTSUITE-bearer-token-abcdefghijklmnopqrstuvwxyz012345"


def echoing(secret: str) -> Fault:
    """A gateway's 401 that quotes the credential it was sent."""
    error = {"type": "authentication_error", "message": f"invalid credential: {secret}"}
    return Fault.raw(json.dumps({"type": "error", "error": error}).encode(), status=401)


FAULTS = {
    "401_echoing_the_key": echoing(KEY),
    "500": Fault.error(500, should_retry=False),
    "reset": Fault.reset(),
    "slow": Fault.slow(30),
    "stream_error": Fault.stream_error(error_type="invalid_request_error"),
    "malformed": Fault.malformed(),
}


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """Every exception reachable from `exc`: causes, contexts and group members."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [e for e in (item.__cause__, item.__context__) if e is not None]
        if isinstance(item, BaseExceptionGroup):
            todo += list(item.exceptions)


def everything_shown(exc: BaseException) -> str:
    """All the text an exception chain can show: messages, args, bodies, partials, traceback."""
    parts = ["".join(traceback.format_exception(exc))]
    for item in exception_chain(exc):
        parts += [str(item), repr(item), repr(item.args)]
        parts += [repr(getattr(item, name, None)) for name in ("body", "partial", "request")]
        parts += [repr(vars(item)) if hasattr(item, "__dict__") else ""]
    return "\n".join(parts)


def assert_no_secret(text: str) -> None:
    assert KEY not in text and TOKEN not in text
    # Nor a recognisable piece of either (e.g. a key cut by a length limit).
    assert KEY[14:40] not in text and TOKEN[14:40] not in text


def assert_saved_state_clean(error: RunError) -> None:
    assert_no_secret(json.dumps(error.messages))
    assert_no_secret(json.dumps(error.result.state.to_dict()))
    assert_no_secret(repr(error.result.state))
    assert_no_secret(repr(error.usage))


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.asyncio
async def test_no_exception_log_or_saved_state_holds_the_key(
    fault: Fault, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, transport, _ = scripted_client(
        [tool_reply("add", {"a": 1, "b": 2}), fault, fault, fault], read_timeout=5
    )
    agent = agent_for(client, stream=stream, model_retries=0)
    with pytest.raises(RunError) as caught:
        await agent.run("1 + 2?")
    assert_no_secret(everything_shown(caught.value))
    assert_saved_state_clean(caught.value)
    assert_no_secret(caplog.text)
    assert_no_secret("\n".join(repr(r.__dict__) for r in caplog.records))
    assert_no_secret(repr(client) + str(client) + repr(agent))
    assert_no_secret(repr(transport.requests))


@pytest.mark.parametrize("auth", ["api_key", "auth_token"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.asyncio
async def test_over_a_real_socket_no_debug_log_line_holds_the_key_or_token(
    auth: str, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    steps: list[Any] = [
        tool_reply("add", {"a": 1, "b": 2}),
        Fault.overloaded(),
        Fault.reset(),
        text_reply("done"),
        echoing(KEY if auth == "api_key" else TOKEN),
    ]
    with FakeServer(steps) as server:
        credentials = {"api_key": KEY} if auth == "api_key" else {"auth_token": TOKEN}
        async with AsyncClient(base_url=server.base_url, **credentials) as client:
            agent = agent_for(client, stream=stream, tools=[add], clock=FakeClock())
            result = await agent.run("1 + 2?")
            with pytest.raises(RunError) as caught:
                await agent.run("again", history=result.messages)
    sent = server.requests[0].headers
    assert sent.get("x-api-key", sent.get("authorization", "")).endswith("<redacted>")
    assert caplog.records, "DEBUG logging produced nothing: the check would be empty"
    assert_no_secret(caplog.text)
    assert_no_secret(everything_shown(caught.value))
    assert_saved_state_clean(caught.value)
    assert_no_secret(json.dumps(result.state.to_dict()))
    assert_no_secret(repr(client) + str(client))
    assert "401" in str(caught.value)



def _error_event_echoing_the_key(after: int) -> Fault:
    msg = message_dict(text_reply("hello there, this is a reply"))
    msg["model"] = "claude-sonnet-4-5"
    error = {"type": "error", "error": {"type": "invalid_request_error",
                                         "message": f"bad credential {KEY}"}}
    return Fault.raw(
        encode_sse([*message_to_events(msg)[:after], error]), content_type="text/event-stream"
    )


@pytest.mark.parametrize("after", [0, 3], ids=["first-event", "mid-stream"])
@pytest.mark.asyncio
async def test_an_sse_error_event_echoing_the_key_is_redacted(after: int) -> None:
    client, _, _ = scripted_client([_error_event_echoing_the_key(after)])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=True, model_retries=0).run("hi")
    assert "bad credential <redacted>" in str(caught.value)
    assert_no_secret(everything_shown(caught.value))
    assert_saved_state_clean(caught.value)
