"""Every agentkit error survives pickling (multiprocessing, Ray and task queues move errors
between processes that way): its type, message and attributes, though most of them take
keyword-only arguments that pickle's default leaves out."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import agentkit.errors as errors
import agentkit.testing as testing

_STATUS = {"status_code": 429, "body": {"error": {"type": "x"}}, "request_id": "req_1",
           "error_type": "x", "retry_after": 3.0, "should_retry": True}

MADE: dict[str, Any] = {
    "AgentkitError": lambda c: c("base"),
    "APIError": lambda c: c("failed", body={"a": 1}, request_id="req_1", error_type="t"),
    "APIConnectionError": lambda c: c("reset", request_id="req_1"),
    "APITimeoutError": lambda c: c("timed out"),
    "IncompleteStreamError": lambda c: c("cut", partial={"content": []}, request_id="req_1"),
    "APIStreamError": lambda c: c("overloaded", error_type="overloaded_error", partial=[1]),
    "ConversationError": lambda c: c("two user turns", index=3, rule="alternation"),
    "ModelBehaviorError": lambda c: c("unusable"),
    "MalformedStreamError": lambda c: c("bad json", index=2, partial="{"),
    "ToolError": lambda c: c([{"type": "text", "text": "no"}]),
    "RunError": lambda c: c("failed", messages=[{"role": "user", "content": "hi"}]),
    "LimitExceeded": lambda c: c("too many turns", limit="max_turns", usage={"requests": 2}),
    "UsageError": lambda c: c("wrong"),
    "ResultsWriteError": lambda c: c("/tmp/out.jsonl", OSError(28, "No space left on device")),
    "WorkflowError": lambda c: c("broke"),
    "StoreError": lambda c: c("store"),
    "StoreFormatError": lambda c: c("newer", path="/tmp/runs.db", problem="newer"),
    "RunLockedError": lambda c: c("run-1", host="h", pid=12, expires=1.5e9),
    "RunMismatchError": lambda c: c("run-1", stored="a", given="b", fix="use another id"),
    "RunNotFoundError": lambda c: c("run-1", path="/tmp/runs.db"),
    "ScriptError": lambda c: c("script"),
    "CassetteError": lambda c: c("cassette"),
}


def _classes() -> dict[str, type[BaseException]]:
    found = {name: getattr(module, name)
             for module in (errors, testing) for name in module.__all__}
    return {n: c for n, c in found.items() if isinstance(c, type) and issubclass(c, BaseException)}


def _make(name: str, cls: type[BaseException]) -> BaseException:
    if issubclass(cls, errors.APIStatusError):
        return cls("refused", **_STATUS)
    return MADE[name](cls)


def test_every_error_class_is_covered() -> None:
    status = {n for n, c in _classes().items() if issubclass(c, errors.APIStatusError)}
    assert set(_classes()) - status == set(MADE)


@pytest.mark.parametrize("name", sorted(_classes()))
def test_an_error_survives_pickling(name: str) -> None:
    error = _make(name, _classes()[name])
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error) and back.args == error.args
    assert repr(vars(back)) == repr(vars(error))


@pytest.mark.asyncio
async def test_a_run_s_limit_crosses_with_its_conversation_and_usage() -> None:
    from agentkit import Agent, AsyncClient, Limits, tool
    from agentkit.testing import ScriptedTransport, text_reply, tool_reply

    @tool
    def ping(n: int) -> str:
        """Ping."""
        return f"pong {n}"

    transport = ScriptedTransport([tool_reply("ping", {"n": 1}), text_reply("done")])
    async with AsyncClient(api_key="k", transport=transport) as client:
        agent = Agent("claude-sonnet-4-5", tools=[ping], client=client, limits=Limits(max_turns=1))
        with pytest.raises(errors.LimitExceeded) as raised:
            await agent.run("go")
    back = pickle.loads(pickle.dumps(raised.value))
    assert back.limit == "max_turns" and back.usage == raised.value.usage
    assert back.result is not None and back.result.messages == raised.value.result.messages
