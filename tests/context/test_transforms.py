"""The transforms' guarantees under random conversations (hypothesis): whatever is trimmed or
compacted still passes `validate_conversation`, calls keep their results, thinking is never
edited, the first prompt is kept."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import validate_conversation
from agentkit._loop.context.transforms import (
    after_compaction,
    compacted,
    cut_index,
    estimate_tokens,
    summary_request,
    trim_tool_results,
    without_thinking,
)

Conversation = tuple[list[dict[str, Any]], bool]


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    thinking = draw(st.booleans())
    ids = itertools.count()
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "task"}]}
    ]
    for r in range(draw(st.integers(1, 12))):
        blocks: list[dict[str, Any]] = []
        if thinking:
            blocks.append({"type": "thinking", "thinking": f"think {r}", "signature": f"sig{r}"})
        tools = draw(st.integers(0, 3))
        if not tools or draw(st.booleans()):
            blocks.append({"type": "text", "text": f"reply {r}"})
        calls = [
            {
                "type": "tool_use",
                "id": f"toolu_{next(ids)}",
                "name": draw(st.sampled_from(["fetch", "memory"])),
                "input": {"n": r},
            }
            for _ in range(tools)
        ]
        messages.append({"role": "assistant", "content": blocks + calls})
        answer: list[dict[str, Any]] = [
            {
                "type": "tool_result",
                "tool_use_id": c["id"],
                "content": "x" * draw(st.integers(1, 40)),
            }
            | ({"is_error": True} if draw(st.booleans()) else {})
            for c in calls
        ]
        if not calls or draw(st.booleans()):
            answer.append({"type": "text", "text": f"user {r}"})
        messages.append({"role": "user", "content": answer})
    return messages, thinking


def _kind(thinking: bool) -> str | bool:
    return "enabled" if thinking else False


def _assistants(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["role"] == "assistant"]


@settings(max_examples=150, deadline=None)
@given(conversations(), st.integers(0, 4), st.sampled_from([(), ("memory",)]))
def test_trimming_keeps_the_conversation_valid(
    convo: Conversation, keep: int, exclude: tuple[str, ...]
) -> None:
    messages, thinking = convo
    validate_conversation(messages, thinking=_kind(thinking))
    trimmed, cleared = trim_tool_results(messages, keep=keep, placeholder="[gone]", exclude=exclude)
    validate_conversation(trimmed, thinking=_kind(thinking))
    assert len(trimmed) == len(messages)
    assert _assistants(trimmed) == _assistants(messages)  # calls and thinking untouched
    assert trimmed[0] == messages[0]
    results = [b for m in trimmed for b in m["content"] if b["type"] == "tool_result"]
    before = [b for m in messages for b in m["content"] if b["type"] == "tool_result"]
    assert [b["tool_use_id"] for b in results] == [b["tool_use_id"] for b in before]
    assert [b.get("is_error") for b in results] == [b.get("is_error") for b in before]
    if keep:
        assert results[-keep:] == before[-keep:]
    assert cleared == sum(1 for b in results if b["content"] == "[gone]")
    again, more = trim_tool_results(trimmed, keep=keep, placeholder="[gone]", exclude=exclude)
    assert more == 0 and again == trimmed  # stable: a second trim changes nothing


@settings(max_examples=150, deadline=None)
@given(conversations(), st.integers(1, 4))
def test_compaction_keeps_the_conversation_valid(convo: Conversation, keep: int) -> None:
    messages, thinking = convo
    cut = cut_index(messages, keep)
    if cut is None:
        assert len(_assistants(messages)) <= keep
        return
    assert messages[cut]["role"] == "assistant"
    assert len(_assistants(messages[cut:])) == keep
    ask = summary_request(messages, cut, "Summarize. Do not call tools.")
    validate_conversation(ask, thinking=_kind(thinking))
    assert ask[-1]["content"][-1]["text"] == "Summarize. Do not call tools."
    after = compacted(messages, cut, "the summary")
    validate_conversation(after, thinking=_kind(thinking))
    assert after[1:] == messages[cut:]  # the kept turns, verbatim
    assert after[0]["content"][0] == messages[0]["content"][0]  # the first prompt
    assert "the summary" in after[0]["content"][-1]["text"]
    assert estimate_tokens(after) <= estimate_tokens(messages) + 60


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_without_thinking_keeps_everything_else_and_the_conversation_valid(
    convo: Conversation,
) -> None:
    messages, _ = convo
    bare = without_thinking(messages)
    validate_conversation(bare)
    kept = [[b for b in m["content"] if b["type"] != "thinking"] for m in messages]
    assert [m["content"] for m in bare] == kept
    assert without_thinking(bare) == bare


def test_without_thinking_drops_a_turn_of_thinking_only_and_merges_the_user_turns() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    messages = [
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f",
                                           "input": {}}]},
        {"role": "user", "content": [result]},
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "abc"}]},
        {"role": "user", "content": "and now?"},
    ]  # fmt: skip
    bare = without_thinking(messages)
    validate_conversation(bare)
    assert bare[:2] == messages[:2]
    assert bare[2:] == [{"role": "user", "content": [result, {"type": "text", "text": "and now?"}]}]
    assert messages[2]["content"] == [result]  # the input is not edited


def test_after_a_server_compaction_only_the_block_and_what_follows_are_kept() -> None:
    block = {"type": "compaction", "content": "S"}
    messages = [
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}]},
        {"role": "user", "content": "more"},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "b"}, block, {"type": "text", "text": "c"}],
        },
    ]
    assert after_compaction(messages) == [
        messages[0],
        {"role": "assistant", "content": [block, {"type": "text", "text": "c"}]},
    ]


def test_a_failed_server_compaction_block_cuts_nothing() -> None:
    # A `compaction` block with null content is a compaction that failed: a no-op the API
    # reads past, so what precedes it is still the conversation (cut at the last good one).
    failed = {"type": "compaction", "content": None}
    good = {"type": "compaction", "content": "S"}
    messages = [
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": [good, {"type": "text", "text": "a"}]},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": [failed, {"type": "text", "text": "b"}]},
    ]
    assert after_compaction(messages) == messages
    assert after_compaction([messages[0], *messages[2:]]) == [messages[0], *messages[2:]]
