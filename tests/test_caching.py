"""Prompt-cache breakpoints: `Agent(cache=True)` never sends more than the API's four."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentkit import Agent, AsyncClient, tool
from agentkit._loop.caching import MAX_BREAKPOINTS, count_breakpoints, place_breakpoints
from agentkit.testing import ScriptedTransport, text_reply
from agentkit.testing._strict import check_request

MODEL = "claude-sonnet-4-5"
CACHE = {"type": "ephemeral"}


@tool
def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: The key.
    """
    return key


def marked(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": CACHE}


def request_breakpoints(body: dict[str, Any]) -> int:
    system = body.get("system")
    return (
        count_breakpoints(body["messages"])
        + count_breakpoints(body.get("tools", []))
        + (count_breakpoints(system) if isinstance(system, list) else 0)
    )


@pytest.mark.asyncio
async def test_breakpoints_on_earlier_turns_count_toward_the_limit_of_four() -> None:
    history = [
        {"role": "user", "content": [marked("Here is a long document.")]},
        {"role": "assistant", "content": [{"type": "text", "text": "Read it."}]},
        {"role": "user", "content": [marked("And a second one.")]},
        {"role": "assistant", "content": [{"type": "text", "text": "Read that too."}]},
    ]
    transport = ScriptedTransport([text_reply("Summary.")], strict=False)
    async with AsyncClient(api_key="k", transport=transport) as client:
        agent = Agent(
            MODEL, tools=[lookup], system=[marked("You summarise.")], cache=True, client=client
        )
        result = await agent.run("Summarise both.", history=history)
    body = transport.requests[0].body
    assert request_breakpoints(body) == MAX_BREAKPOINTS
    # The one free slot goes to the latest turn, which caches the most.
    assert body["messages"][-1]["content"][-1]["cache_control"] == CACHE
    assert "cache_control" not in body["tools"][-1]
    assert "cache_control" not in result.messages[-2]["content"][-1]  # stored copy untouched


@pytest.mark.asyncio
async def test_a_conversation_already_at_four_gets_no_more() -> None:
    history = [
        {"role": "user", "content": [marked("one"), marked("two")]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        {
            "role": "user",
            "content": [{"type": "text", "text": "three"}, marked("four")],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]
    transport = ScriptedTransport([text_reply("Done.")])  # strict: five would be a 400
    async with AsyncClient(api_key="k", transport=transport) as client:
        agent = Agent(MODEL, tools=[lookup], system="Be brief.", cache=True, client=client)
        await agent.run("Go on.", history=history)
    assert request_breakpoints(transport.requests[0].body) == MAX_BREAKPOINTS


def test_breakpoints_inside_tool_results_and_a_top_level_one_are_counted() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [marked("a"), marked("b")]}
            ],
        },
    ]
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    assert count_breakpoints(messages) == 2
    sent, system, tools_sent = place_breakpoints(messages, "Be brief.", tools, top=CACHE)
    # 2 nested + 1 top-level leave one; the top-level one marks the latest turn already, so
    # the last tool gets it.
    assert sent == messages
    assert tools_sent[-1]["cache_control"] == CACHE and system == "Be brief."
    sent, system, tools_sent = place_breakpoints(messages, "Be brief.", tools)
    assert sent[-1]["content"][-1]["cache_control"] == CACHE  # without it, the latest turn
    assert count_breakpoints(sent) == 3 and tools_sent[-1]["cache_control"] == CACHE


def test_the_strict_fake_rejects_a_fifth_breakpoint_in_the_apis_words() -> None:
    body = {
        "model": MODEL,
        "max_tokens": 10,
        "system": [marked("s")],
        "tools": [{"name": "x", "input_schema": {"type": "object"}, "cache_control": CACHE}],
        "messages": [{"role": "user", "content": [marked("a"), marked("b"), marked("c")]}],
    }
    problem = check_request(body, {"anthropic-version": "2023-06-01"})
    assert problem == "A maximum of 4 blocks with cache_control may be provided. Found 5."
    body["messages"][0]["content"].pop()
    assert check_request(body, {"anthropic-version": "2023-06-01"}) is None


HOUR = {"type": "ephemeral", "ttl": "1h"}


@pytest.mark.asyncio
async def test_breakpoints_placed_before_a_users_one_hour_breakpoint_last_an_hour_too(
    load_real: Callable[[str], dict[str, Any]],
) -> None:
    # A recorded request whose system prompt the user cached for an hour. A 5-minute
    # breakpoint on the tools (which come first) was the API's 400: "a ttl='1h'
    # cache_control block must not come after a ttl='5m' cache_control block".
    system = load_real("wild/ho_cache_write_1h_ttl")["request"]["body"]["system"]
    assert system[-1]["cache_control"] == HOUR
    transport = ScriptedTransport([text_reply("Done.")])  # strict: checks the order
    async with AsyncClient(api_key="k", transport=transport) as client:
        agent = Agent(MODEL, tools=[lookup], system=system, cache=True, client=client)
        await agent.run("Go.")
    body = transport.requests[0].body
    assert body["tools"][-1]["cache_control"] == HOUR
    assert body["system"] == system
    assert body["messages"][-1]["content"][-1]["cache_control"] == CACHE  # after: 5 minutes


def test_the_placed_breakpoints_follow_a_one_hour_one_later_in_the_request() -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    history = [
        {"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": HOUR}]}
    ]
    _, system, tools_sent = place_breakpoints(history, [{"type": "text", "text": "s"}], tools)
    assert isinstance(system, list)
    assert system[-1]["cache_control"] == HOUR and tools_sent[-1]["cache_control"] == HOUR
    _, system, tools_sent = place_breakpoints([], "s", tools, top=HOUR)  # the top-level one
    assert isinstance(system, list)
    assert system[-1]["cache_control"] == HOUR and tools_sent[-1]["cache_control"] == HOUR
    _, system, tools_sent = place_breakpoints([], "s", tools)
    assert isinstance(system, list)
    assert system[-1]["cache_control"] == CACHE and tools_sent[-1]["cache_control"] == CACHE


def test_the_strict_fake_rejects_a_one_hour_breakpoint_after_a_five_minute_one() -> None:
    headers = {"anthropic-version": "2023-06-01"}
    tool = {"name": "x", "input_schema": {"type": "object"}, "cache_control": CACHE}
    body = {"model": MODEL, "max_tokens": 10, "tools": [tool], "system": [marked("s")],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "a",
                                                       "cache_control": HOUR}]}]}  # fmt: skip
    assert check_request(body, headers) == (
        "messages.0.content.0.cache_control.ttl: a ttl='1h' cache_control block must not come "
        "after a ttl='5m' cache_control block. Note that blocks are processed in the following "
        "order: `tools`, `system`, `messages`."
    )
    tool["cache_control"] = body["system"][0]["cache_control"] = HOUR
    assert check_request(body, headers) is None  # 1h, 1h, 1h
    body["messages"][0]["content"][0]["cache_control"] = CACHE
    assert check_request(body, headers) is None  # 1h, 1h, then 5m
