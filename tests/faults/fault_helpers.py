"""Shared pieces of the fault suite: clients over the fakes, and the outcome checks.

Imported by the test modules beside it (`from fault_helpers import ...`); this folder's
`conftest.py` puts it on `sys.path` (pytest runs in importlib mode).

Every fault case ends in one of two exact outcomes:
- retried and succeeded: the test asserts the result, the requests the fake saw and the
  retry delays recorded by `Sleeps`;
- a typed error, checked by `failed_but_continuable`: a `RunError` whose cause is the
  expected error, whose conversation is valid and whose usage counts the turns that
  completed; `continue_both_ways` then continues it on fresh scripts, from `.result.state`
  (saved as JSON and loaded back) and from `.messages` as `history=`.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from typing import Any

from agentkit import (
    Agent,
    AsyncClient,
    Message,
    RunError,
    RunResult,
    RunState,
    tool,
    validate_conversation,
)
from agentkit.testing import FakeClock, ScriptedTransport, Step, text_reply, tool_reply

__all__ = [
    "KEY",
    "MODEL",
    "Sleeps",
    "add",
    "agent_for",
    "assert_tool_turn_kept",
    "continue_both_ways",
    "failed_but_continuable",
    "first_turn",
    "scripted_client",
]

MODEL = "claude-sonnet-4-5"
KEY = "sk-ant-api03-FAULTSUITE-secret-0123456789abcdefghijklmnopqrstuvwxyz"
"""A key shaped like a real one; the secrets tests look for it everywhere."""


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


class Sleeps(FakeClock):
    """A run's retry sleeps, recorded instead of slept (`Agent(clock=...)`), so retry tests
    take no time."""

    @property
    def delays(self) -> list[float]:
        return self.sleeps


_CLOCKS: weakref.WeakKeyDictionary[AsyncClient, Sleeps] = weakref.WeakKeyDictionary()


def scripted_client(
    steps: Iterable[Step], **options: Any
) -> tuple[AsyncClient, ScriptedTransport, Sleeps]:
    """An `AsyncClient` over a `ScriptedTransport`, and the clock that `agent_for` gives the
    agents using it (retry sleeps recorded, not slept)."""
    transport = ScriptedTransport(steps)
    client = AsyncClient(
        api_key=KEY, base_url="http://127.0.0.1:9", transport=transport, **options
    )
    sleeps = _CLOCKS[client] = Sleeps()
    return client, transport, sleeps


def agent_for(client: AsyncClient, *, stream: bool, **options: Any) -> Agent[Any]:
    """The agent every case uses: one `add` tool unless `tools=` says otherwise, and the
    client's recorded clock from `scripted_client` unless `clock=` says otherwise."""
    options.setdefault("tools", [add])
    options.setdefault("clock", _CLOCKS.get(client))
    return Agent(MODEL, client=client, stream=stream, **options)


async def continue_both_ways(error: RunError, *, stream: bool, **options: Any) -> None:
    """A failed run's state resumes (saved as JSON and loaded back, as a real resume would),
    and its messages continue as history, on fresh scripts."""
    saved = json.dumps(error.result.state.to_dict())
    state = RunState.from_dict(json.loads(saved))
    state_client, state_transport, _ = scripted_client([text_reply("resumed")])
    resumed = await agent_for(state_client, stream=stream, **options).run(state=state)
    assert resumed.text == "resumed"
    assert state_transport.requests[0].messages == error.messages
    validate_conversation(resumed.messages)
    state_transport.assert_consumed()

    history_client, history_transport, _ = scripted_client([text_reply("continued")])
    continued = await agent_for(history_client, stream=stream, **options).run(
        "go on", history=error.messages
    )
    assert continued.text == "continued"
    validate_conversation(continued.messages)
    sent = history_transport.requests[0].messages
    assert sent[: len(error.messages) - 1] == error.messages[:-1]


def first_turn() -> Message:
    """The turn each fault follows: a call to `add(2, 3)`, so the history is not empty."""
    return tool_reply("add", {"a": 2, "b": 3})


def assert_tool_turn_kept(messages: list[dict[str, Any]]) -> None:
    """The first turn (a call to `add` and its result 5) is in the conversation."""
    assert messages[1]["content"][0]["name"] == "add"
    assert messages[2]["content"][0]["content"] == "5"


def failed_but_continuable(
    error: RunError, cause: type[BaseException], *, turns: int
) -> RunResult[Any]:
    """Check a failed run: the cause is chained, nothing is lost, the history is valid."""
    assert isinstance(error.__cause__, cause), repr(error.__cause__)
    assert error.result is not None and error.messages is error.result.messages
    validate_conversation(error.messages)
    assert error.usage is error.result.usage
    assert error.usage.requests == turns
    assert error.result.state.turns == turns
    assert "resume" in str(error)
    return error.result
