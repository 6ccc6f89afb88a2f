"""Prompt-cache breakpoints: `Agent(cache=True)` never sends more than the API's four."""

from __future__ import annotations

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
    sent, system, tools_sent = place_breakpoints(messages, "Be brief.", tools, used=1)
    # 2 nested + 1 top-level leave one: the latest turn's last block gets it.
    assert sent[-1]["content"][-1]["cache_control"] == CACHE
    assert system == "Be brief." and tools_sent == tools
    assert count_breakpoints(sent) == 3


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
