"""Fault suite, network and HTTP: every fault ends retried-and-succeeded or in a typed error.

A typed error is a `RunError` chaining the API error, whose conversation is valid and whose
usage counts the turns that completed; a fresh script then continues it. Each fault strikes
on the second model request, after a tool turn, so "the conversation so far" is not empty.
Retry sleeps are recorded, not slept (`fault_helpers.Sleeps`).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fault_helpers import (
    add,
    agent_for,
    assert_tool_turn_kept,
    continue_both_ways,
    failed_but_continuable,
    first_turn,
    scripted_client,
)

from agentkit import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    LimitExceeded,
    Limits,
    OverloadedError,
    RateLimitError,
    RunError,
    RunState,
    validate_conversation,
)
from agentkit._errors import InternalServerError, RequestTooLargeError
from agentkit.testing import (
    FakeClock,
    FakeServer,
    Fault,
    text_reply,
)

BOTH = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


# -- HTTP status faults ----------------------------------------------------------------------


@BOTH
@pytest.mark.asyncio
async def test_429_waits_exactly_the_retry_after_it_was_given(stream: bool) -> None:
    client, transport, sleeps = scripted_client(
        [first_turn(), Fault.rate_limit(retry_after=0.25), text_reply("done")]
    )
    result = await agent_for(client, stream=stream).run("add 2 and 3")
    assert result.text == "done"
    assert sleeps.delays == [0.25]
    assert len(transport.requests) == 3
    assert transport.requests[1].body == transport.requests[2].body
    assert result.usage.requests == 2
    validate_conversation(result.messages)
    transport.assert_consumed()


@pytest.mark.parametrize(
    "fault",
    [Fault.overloaded(), Fault.server_error(500), Fault.server_error(503)],
    ids=["529", "500", "503"],
)
@BOTH
@pytest.mark.asyncio
async def test_transient_statuses_are_retried_with_jittered_backoff(
    fault: Fault, stream: bool
) -> None:
    client, transport, sleeps = scripted_client([first_turn(), fault, fault, text_reply("done")])
    result = await agent_for(client, stream=stream).run("add 2 and 3")
    assert result.text == "done"
    assert len(transport.requests) == 4
    assert len(sleeps.delays) == 2
    assert 0.375 <= sleeps.delays[0] <= 0.5 and 0.75 <= sleeps.delays[1] <= 1.0
    assert_tool_turn_kept(result.messages)
    transport.assert_consumed()


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Fault.rate_limit(retry_after=0.01), RateLimitError),
        (Fault.overloaded(), OverloadedError),
        (Fault.server_error(503), InternalServerError),
    ],
    ids=["429", "529", "503"],
)
@BOTH
@pytest.mark.asyncio
async def test_spent_retries_end_in_a_run_error_that_can_be_continued(
    fault: Fault, cause: type[Exception], stream: bool
) -> None:
    client, transport, sleeps = scripted_client([first_turn(), fault, fault, fault])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=stream).run("add 2 and 3")
    result = failed_but_continuable(caught.value, cause, turns=1)
    assert len(transport.requests) == 4 and len(sleeps.delays) == 2
    assert result.usage.tool_calls == 1
    assert_tool_turn_kept(caught.value.messages)
    await continue_both_ways(caught.value, stream=stream)


@BOTH
@pytest.mark.asyncio
async def test_x_should_retry_false_is_obeyed_even_on_a_5xx(stream: bool) -> None:
    fault = Fault.error(500, should_retry=False)
    client, transport, sleeps = scripted_client([first_turn(), fault])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=stream).run("add 2 and 3")
    failed_but_continuable(caught.value, InternalServerError, turns=1)
    assert len(transport.requests) == 2 and sleeps.delays == []
    await continue_both_ways(caught.value, stream=stream)


@BOTH
@pytest.mark.asyncio
async def test_x_should_retry_true_retries_even_a_400(stream: bool) -> None:
    fault = Fault.error(400, should_retry=True)
    client, transport, sleeps = scripted_client([fault, text_reply("done")])
    result = await agent_for(client, stream=stream).run("hi")
    assert result.text == "done" and len(transport.requests) == 2 and len(sleeps.delays) == 1


@pytest.mark.parametrize(
    ("fault", "low", "high"),
    [
        (Fault.rate_limit(retry_after=120), 0.375, 0.5),  # over 60 s: ignored, backoff used
        (Fault.rate_limit(retry_after=None), 0.375, 0.5),  # a spend cap names no delay
        (Fault.error(429, headers={"retry-after-ms": "30"}), 0.03, 0.03),
        (Fault.error(408), 0.375, 0.5),
        (Fault.server_error(504), 0.375, 0.5),
    ],
    ids=["retry-after-120", "no-retry-after", "retry-after-ms", "408", "504"],
)
@pytest.mark.asyncio
async def test_retry_delays_follow_the_headers_within_bounds(
    fault: Fault, low: float, high: float
) -> None:
    client, transport, sleeps = scripted_client([fault, text_reply("done")])
    result = await agent_for(client, stream=False).run("hi")
    assert result.text == "done" and len(transport.requests) == 2
    assert len(sleeps.delays) == 1 and low <= sleeps.delays[0] <= high


@BOTH
@pytest.mark.asyncio
async def test_a_413_is_not_retried(stream: bool) -> None:
    client, transport, sleeps = scripted_client([first_turn(), Fault.error(413)])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=stream).run("add 2 and 3")
    failed_but_continuable(caught.value, RequestTooLargeError, turns=1)
    assert "32 MB" in str(caught.value) and sleeps.delays == []
    assert len(transport.requests) == 2


# -- connection faults -----------------------------------------------------------------------


@BOTH
@pytest.mark.asyncio
async def test_connection_reset_before_the_response_is_retried(stream: bool) -> None:
    client, transport, sleeps = scripted_client([first_turn(), Fault.reset(), text_reply("ok")])
    result = await agent_for(client, stream=stream).run("add 2 and 3")
    assert result.text == "ok" and len(transport.requests) == 3 and len(sleeps.delays) == 1
    transport.assert_consumed()


@BOTH
@pytest.mark.asyncio
async def test_resets_past_the_retries_end_in_a_connection_error(stream: bool) -> None:
    client, transport, _ = scripted_client([first_turn(), *[Fault.reset()] * 3])
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=stream).run("add 2 and 3")
    failed_but_continuable(caught.value, APIConnectionError, turns=1)
    assert len(transport.requests) == 4
    assert not isinstance(caught.value.__cause__, APITimeoutError)
    await continue_both_ways(caught.value, stream=stream)


@BOTH
@pytest.mark.asyncio
async def test_a_reply_slower_than_the_read_timeout_is_retried(stream: bool) -> None:
    client, transport, sleeps = scripted_client(
        [first_turn(), Fault.slow(30), text_reply("ok")], read_timeout=5
    )
    result = await agent_for(client, stream=stream).run("add 2 and 3")
    assert result.text == "ok" and len(transport.requests) == 3 and len(sleeps.delays) == 1


@BOTH
@pytest.mark.asyncio
async def test_replies_always_slower_than_the_timeout_end_in_a_timeout_error(
    stream: bool,
) -> None:
    client, _, _ = scripted_client([first_turn(), *[Fault.slow(30)] * 3], read_timeout=5)
    with pytest.raises(RunError) as caught:
        await agent_for(client, stream=stream).run("add 2 and 3")
    failed_but_continuable(caught.value, APITimeoutError, turns=1)
    await continue_both_ways(caught.value, stream=stream)


# -- the same faults over a real socket ------------------------------------------------------


@BOTH
@pytest.mark.asyncio
async def test_over_a_real_socket_reset_cut_and_slow_replies_are_retried(stream: bool) -> None:
    steps = [
        first_turn(),
        Fault.reset(),
        Fault.cut(text_reply("half")),
        Fault.slow(1.0),
        text_reply("done"),
    ]
    with FakeServer(steps) as server:
        async with AsyncClient(
            api_key="sk-test", base_url=server.base_url, read_timeout=0.2
        ) as client:
            # Three failures of one model call: one budget of three retries covers them all.
            agent = agent_for(
                client, stream=stream, tools=[add], clock=FakeClock(), model_retries=3
            )
            result = await agent.run("add 2 and 3")
    assert result.text == "done"
    assert len(server.requests) == 5
    validate_conversation(result.messages)


@pytest.mark.asyncio
async def test_over_a_real_socket_a_reset_is_a_connection_error_not_a_timeout() -> None:
    with FakeServer([Fault.reset()]) as server:
        async with AsyncClient(base_url=server.base_url) as client:
            with pytest.raises(RunError) as caught:
                await agent_for(client, stream=False, model_retries=0).run("hi")
    failed_but_continuable(caught.value, APIConnectionError, turns=0)
    assert not isinstance(caught.value.__cause__, APITimeoutError)



# -- iterated runs fail the same way ---------------------------------------------------------


@BOTH
@pytest.mark.asyncio
async def test_an_iterated_run_that_fails_raises_the_run_error_itself(stream: bool) -> None:
    client, _, _ = scripted_client([first_turn(), Fault.error(500, should_retry=False)])
    seen: list[str] = []
    with pytest.raises(RunError) as caught:
        async with agent_for(client, stream=stream).iter("add 2 and 3") as run:
            async for event in run:
                seen.append(type(event).__name__)
    failed_but_continuable(caught.value, InternalServerError, turns=1)
    assert "ToolCallFinished" in seen and run.result is None


@pytest.mark.asyncio
async def test_an_error_raised_in_the_iter_block_comes_out_as_itself() -> None:
    client, _, _ = scripted_client([first_turn(), text_reply("never read")])
    with pytest.raises(KeyError, match="mine"):
        async with agent_for(client, stream=True).iter("add 2 and 3") as run:
            async for _ in run:
                raise KeyError("mine")
    assert run.state.stop_reason == "cancelled"
    validate_conversation(run.state.messages)


# -- the run's own clock and cancellation during a request -----------------------------------


@BOTH
@pytest.mark.asyncio
async def test_the_run_timeout_during_a_slow_request_ends_in_limit_exceeded(stream: bool) -> None:
    client, transport, _ = scripted_client([first_turn(), Fault.slow(30)])
    agent = agent_for(client, stream=stream, limits=Limits(timeout=0.1))
    with pytest.raises(LimitExceeded) as caught:
        await agent.run("add 2 and 3")
    assert caught.value.limit == "timeout" and caught.value.result.stop_reason == "timeout"
    assert caught.value.usage.requests == 1 and len(transport.requests) == 2
    assert_tool_turn_kept(caught.value.messages)
    validate_conversation(caught.value.messages)


@pytest.mark.asyncio
async def test_cancelling_mid_stream_over_a_socket_appends_nothing() -> None:
    events: list[Any] = []
    state = RunState(messages=[{"role": "user", "content": "hi"}])
    with FakeServer([text_reply("a long reply " * 40)], chunk_delay=0.01) as server:
        async with AsyncClient(base_url=server.base_url) as client:
            agent = agent_for(client, stream=True)
            with anyio.CancelScope() as scope:

                def on_event(event: Any) -> None:
                    events.append(event)
                    if len(events) == 4:  # the request and a few text chunks are out
                        scope.cancel()

                await agent.run(state=state, on_event=on_event)
    assert scope.cancelled_caught and len(events) >= 4
    assert state.messages == [{"role": "user", "content": "hi"}]
    assert state.stop_reason == "cancelled" and state.usage.requests == 0


def test_run_sync_retries_and_fails_the_same_way() -> None:
    client, transport, sleeps = scripted_client([Fault.overloaded(), text_reply("ok")])
    assert agent_for(client, stream=True).run_sync("hi").text == "ok"
    assert len(transport.requests) == 2 and len(sleeps.delays) == 1

    client, _, _ = scripted_client([first_turn(), Fault.error(500, should_retry=False)])
    with pytest.raises(RunError) as caught:
        agent_for(client, stream=False).run_sync("add 2 and 3")
    failed_but_continuable(caught.value, InternalServerError, turns=1)
