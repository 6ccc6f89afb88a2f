"""Every context policy over JSON and SSE, against the strict fake with a small window."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from research import research_agent, researcher

from agentkit import Message, RunError, UsageError, validate_conversation
from agentkit.context import Auto, Compaction, ServerCompaction, ServerEditing, Trim
from agentkit.events import AgentEvent, ContextEdited, ModelRequest, TurnFinished
from agentkit.testing import FunctionModel, ScriptedTransport, reply

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
SERVER_MODEL = "claude-opus-4-6"
"""A model the capability table gives `compact_20260112` (a 1M window)."""


def _run(agent: Any, prompt: str = "Research the answer.") -> tuple[Any, list[ContextEdited]]:
    seen: list[AgentEvent] = []
    result = agent.run_sync(prompt, on_event=seen.append)
    return result, [e for e in seen if isinstance(e, ContextEdited)]


def _sizes(transport: ScriptedTransport) -> list[int]:
    return [len(str(r.body)) // 4 for r in transport.requests if r.path.endswith("/v1/messages")]


@STREAM
def test_without_a_policy_a_long_run_fails_with_an_error_naming_context(stream: bool) -> None:
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    agent = research_agent(transport, stream=stream)
    with pytest.raises(RunError, match=r"prompt is too long.*context=Auto\(\)"):
        agent.run_sync("Research the answer.")


@STREAM
def test_trim_clears_old_tool_results_and_the_run_finishes(stream: bool) -> None:
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    agent = research_agent(transport, stream=stream, context=Trim(trigger_tokens=12_000))
    result, changes = _run(agent)
    assert result.text == "Read 30 pages: the answer is 42."
    assert {c.kind for c in changes} == {"trim"}
    assert all(c.tokens_after is not None and c.tokens_after < c.tokens_before for c in changes)
    validate_conversation(result.messages)
    results = [b for m in result.messages for b in m["content"] if b.get("type") == "tool_result"]
    assert len(results) == 30  # every call still answered, old ones by the placeholder
    assert "cleared to keep the conversation" in results[0]["content"]
    assert results[-1]["content"].startswith("page 29: ")


@STREAM
def test_compaction_summarizes_older_turns_by_a_model_call(stream: bool) -> None:
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    agent = research_agent(
        transport, stream=stream, context=Compaction(trigger_tokens=12_000, keep_turns=2)
    )
    result, changes = _run(agent)
    assert result.text == "Read 30 pages: the answer is 42."
    assert changes and {c.kind for c in changes} == {"compaction"}
    summaries = [r for r in transport.requests if r.body.get("tool_choice") == {"type": "none"}]
    assert len(summaries) == len(changes)
    assert "continuation summary" in str(summaries[0].body["messages"][-1])
    first = result.messages[0]["content"]
    assert first[0]["text"] == "Research the answer."  # the first prompt is kept
    assert "Read pages 0 to 30" in first[-1]["text"]
    assert "<summary>" not in first[-1]["text"]
    validate_conversation(result.messages)
    assert result.usage.requests == 31 + len(summaries)


@STREAM
def test_server_editing_sends_the_edits_and_reports_applied_edits(stream: bool) -> None:
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    policy = ServerEditing(trigger_tokens=12_000, keep_tool_uses=2, clear_at_least=1000)
    agent = research_agent(transport, stream=stream, context=policy)
    result, changes = _run(agent)
    assert result.text == "Read 30 pages: the answer is 42."
    sent = transport.requests[0]
    assert sent.headers["anthropic-beta"] == "context-management-2025-06-27"
    assert sent.body["context_management"] == {
        "edits": [
            {
                "type": "clear_tool_uses_20250919",
                "trigger": {"type": "input_tokens", "value": 12_000},
                "keep": {"type": "tool_uses", "value": 2},
                "clear_at_least": {"type": "input_tokens", "value": 1000},
            }
        ]
    }
    edited = [t for t in result.usage.turns if t.applied_edits]
    assert edited and edited[0].applied_edits[0]["type"] == "clear_tool_uses_20250919"
    assert {c.kind for c in changes} == {"server_edits"}
    # The history is the client's: untouched.
    assert all(
        not str(b.get("content", "")).startswith("[cleared")
        for m in result.messages
        for b in m["content"]
    )


@STREAM
def test_server_compaction_defaults_to_the_table_and_an_overflow_is_rescued(stream: bool) -> None:
    transport = ScriptedTransport(researcher(16), context_window=60_000)
    agent = research_agent(
        transport, model=SERVER_MODEL, stream=stream, page_chars=16_000, context=ServerCompaction()
    )
    result, changes = _run(agent)
    assert result.text == "Read 16 pages: the answer is 42."
    assert transport.requests[0].headers["anthropic-beta"] == "compact-2026-01-12"
    edit = transport.requests[0].body["context_management"]["edits"][0]
    assert edit["type"] == "compact_20260112" and edit["trigger"]["value"] == 750_000
    # 750k (3/4 of opus-4-6's 1M) is past this fake's 60k window: its 400 is rescued by
    # one client-side compaction.
    assert [c.kind for c in changes] == ["overflow", "compaction"]


@STREAM
@pytest.mark.parametrize("pause", [False, True])
def test_server_compaction_keeps_the_block_and_bills_every_iteration(
    stream: bool, pause: bool
) -> None:
    transport = ScriptedTransport(researcher(16), context_window=60_000)
    policy = ServerCompaction(trigger_tokens=50_000, pause_after_compaction=pause)
    agent = research_agent(
        transport, model=SERVER_MODEL, stream=stream, page_chars=16_000, context=policy
    )
    result, changes = _run(agent)
    assert result.text == "Read 16 pages: the answer is 42."
    assert [c.kind for c in changes] == ["server_compaction"]
    block = result.messages[1]["content"][0]
    assert block["type"] == "compaction" and block["content"].startswith("Summary of")
    assert "encrypted_content" not in block  # null optional fields are not sent back
    later = transport.requests[-1].body["messages"]
    assert later[1]["content"][0] == block  # sent back exactly, first in its turn
    compacted_turn = next(t for t in result.usage.turns if t.input_tokens > 50_000)
    assert compacted_turn.input_tokens > 50_000  # the summarizer's input is billed too
    assert max(_sizes(transport)[-3:]) < 50_000
    validate_conversation(result.messages)


@STREAM
def test_auto_uses_server_compaction_where_the_table_says_so(stream: bool) -> None:
    transport = ScriptedTransport(researcher(16), context_window=60_000)
    agent = research_agent(
        transport,
        stream=stream,
        model="claude-opus-4-6",
        page_chars=16_000,
        context=Auto(trigger_tokens=50_000),
    )
    result, changes = _run(agent)
    assert result.text == "Read 16 pages: the answer is 42."
    assert [c.kind for c in changes] == ["server_compaction"]


@STREAM
def test_auto_falls_back_to_client_compaction(stream: bool) -> None:
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    agent = research_agent(transport, stream=stream, context=Auto(trigger_tokens=12_000))
    result, changes = _run(agent)  # sonnet-4-5: no server compaction in the table
    assert result.text == "Read 30 pages: the answer is 42."
    assert {c.kind for c in changes} == {"compaction"}
    assert "context_management" not in transport.requests[0].body


@STREAM
def test_auto_falls_back_when_the_gateway_does_not_know_the_beta(stream: bool) -> None:
    transport = ScriptedTransport(researcher(16), context_window=60_000, betas=())
    agent = research_agent(
        transport,
        stream=stream,
        model="claude-opus-4-6",
        page_chars=16_000,
        context=Auto(trigger_tokens=50_000),
    )
    result, changes = _run(agent)
    assert result.text == "Read 16 pages: the answer is 42."
    assert changes[0].kind == "fallback" and "anthropic-beta" in changes[0].details["error"]
    assert "compaction" in {c.kind for c in changes}
    assert "context_management" not in transport.requests[-1].body


@STREAM
def test_a_prompt_too_long_is_compacted_and_retried_once(stream: bool) -> None:
    # The trigger is never reached by the estimate; the API's 400 is what says so.
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    agent = research_agent(transport, stream=stream, context=Compaction(trigger_tokens=500_000))
    result, changes = _run(agent)
    assert result.text == "Read 30 pages: the answer is 42."
    kinds = [c.kind for c in changes]
    assert kinds[:2] == ["overflow", "compaction"]
    assert "prompt is too long" in changes[0].details["error"]


def test_an_overflow_the_policy_cannot_fix_fails_naming_the_trigger() -> None:
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    agent = research_agent(
        transport, page_chars=100_000, context=Trim(trigger_tokens=500_000, keep_tool_results=1)
    )
    with pytest.raises(RunError, match="lower its trigger_tokens"):
        agent.run_sync("Research the answer.")


@STREAM
def test_a_reply_that_hits_the_window_is_compacted_and_retried(stream: bool) -> None:
    model = researcher(8)
    hit = iter([True])

    def answer(body: dict[str, Any]) -> Any:
        if len(body["messages"]) > 9 and next(hit, False):
            return reply("cut", stop_reason="model_context_window_exceeded")
        return model(body)

    transport = ScriptedTransport(FunctionModel(answer))
    agent = research_agent(transport, stream=stream, context=Compaction())
    result, changes = _run(agent)
    assert result.text == "Read 8 pages: the answer is 42."
    assert [c.kind for c in changes] == ["overflow", "compaction"]
    assert all("cut" not in str(m) for m in result.messages[1:])


def test_count_tokens_is_asked_only_near_the_trigger() -> None:
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    agent = research_agent(transport, context=Trim(trigger_tokens=12_000))
    agent.run_sync("Research the answer.")
    counts = [r for r in transport.requests if r.path.endswith("/count_tokens")]
    messages = [r for r in transport.requests if r.path.endswith("/v1/messages")]
    assert 0 < len(counts) < len(messages) / 3
    assert set(counts[0].body) <= {"model", "messages", "system", "tools", "thinking"}


def test_agent_count_tokens_counts_the_request_a_run_would_send() -> None:
    transport = ScriptedTransport([])
    agent = research_agent(transport, system="Be brief.")
    history = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
    ]
    n = anyio_run(agent.count_tokens("Read page 1.", history=history))
    body = transport.requests[0].body
    assert transport.requests[0].path.endswith("/v1/messages/count_tokens")
    assert body["system"] == "Be brief." and body["tools"][0]["name"] == "fetch"
    assert body["messages"][-1]["content"][0]["text"] == "Read page 1."
    assert "max_tokens" not in body
    assert n > 0


def anyio_run(coro: Any) -> Any:
    import anyio

    async def main() -> Any:
        return await coro

    return anyio.run(main)


@STREAM
@pytest.mark.parametrize(
    "policy",
    [
        ServerCompaction(trigger_tokens=50_000),
        ServerCompaction(trigger_tokens=50_000, pause_after_compaction=True),
        Compaction(),
    ],
    ids=["server", "server-paused", "client"],
)
def test_thinking_turns_survive_compaction(stream: bool, policy: Any) -> None:
    transport = ScriptedTransport(researcher(16, thinking=True), context_window=60_000)
    agent = research_agent(
        transport,
        model=SERVER_MODEL,
        stream=stream,
        page_chars=16_000,
        thinking=2048,
        max_tokens=4096,
        context=policy,
    )
    result, changes = _run(agent)
    assert result.text == "Read 16 pages: the answer is 42."
    assert {"compaction", "server_compaction"} & {c.kind for c in changes}
    validate_conversation(result.messages, thinking="enabled")
    thinking = [
        b for m in result.messages[1:] for b in m["content"] if b.get("type") == "thinking"
    ]
    assert thinking and all(b["signature"] for b in thinking)  # kept whole, never edited


def test_a_summary_call_that_gives_no_summary_falls_back_to_trimming() -> None:
    model = researcher(30)

    def answer(body: dict[str, Any]) -> Any:
        if body.get("tool_choice") == {"type": "none"}:
            return reply("I can't.", stop_reason="refusal")
        return model(body)

    transport = ScriptedTransport(FunctionModel(answer), context_window=20_000)
    agent = research_agent(transport, context=Compaction(trigger_tokens=12_000))
    result, changes = _run(agent)
    assert result.text == "Read 30 pages: the answer is 42."
    trims = [c for c in changes if c.kind == "trim"]
    assert trims and trims[0].details["reason"] == "no summary"
    assert "compaction" not in {c.kind for c in changes}
    validate_conversation(result.messages)


def _summaries(transport: ScriptedTransport) -> list[dict[str, Any]]:
    return [r.body for r in transport.requests if r.body.get("tool_choice") == {"type": "none"}]


@STREAM
def test_a_summary_with_its_own_max_tokens_fits_the_thinking_budget_below_it(
    stream: bool,
) -> None:
    # The run thinks with 4096 of 8192 tokens; its summaries get 2000: sent with the run's
    # budget they were a 400 ("`max_tokens` must be greater than `thinking.budget_tokens`").
    transport = ScriptedTransport(researcher(30, thinking=True), context_window=20_000)
    agent = research_agent(
        transport,
        stream=stream,
        thinking=4096,
        max_tokens=8192,
        context=Compaction(trigger_tokens=12_000, max_tokens=2000),
    )
    result, _ = _run(agent)
    assert result.text == "Read 30 pages: the answer is 42."
    summaries = _summaries(transport)
    assert summaries and all(b["max_tokens"] == 2000 for b in summaries)
    assert all(b["thinking"] == {"type": "enabled", "budget_tokens": 1024} for b in summaries)
    others = [r.body for r in transport.requests if r.body not in summaries]
    assert all(b["thinking"]["budget_tokens"] == 4096 for b in others if "messages" in b)


@STREAM
def test_a_summary_on_another_model_sends_no_thinking_it_could_not_take(stream: bool) -> None:
    # The run thinks adaptively on claude-opus-4-8; claude-haiku-4-5 refuses adaptive
    # thinking (a 400), and the blocks opus signed are not its to read.
    transport = ScriptedTransport(researcher(30, thinking=True), context_window=20_000)
    agent = research_agent(
        transport,
        stream=stream,
        model="claude-opus-4-8",
        thinking="adaptive",
        max_tokens=4096,
        context=Compaction(trigger_tokens=12_000, model="claude-haiku-4-5"),
    )
    result, _ = _run(agent)
    assert result.text == "Read 30 pages: the answer is 42."
    summaries = _summaries(transport)
    assert summaries and all(b["model"] == "claude-haiku-4-5" for b in summaries)
    for body in summaries:
        assert "thinking" not in body
        kinds = {b.get("type") for m in body["messages"] for b in m["content"]}
        assert not kinds & {"thinking", "redacted_thinking"}
        validate_conversation(body["messages"])
    thinking = [b for m in result.messages for b in m["content"] if b.get("type") == "thinking"]
    assert thinking and all(b["signature"] for b in thinking)  # the run's history keeps them


def test_a_compaction_max_tokens_without_room_for_the_thinking_is_refused_when_made() -> None:
    with pytest.raises(UsageError, match=r"Compaction\(max_tokens=1000\) leaves no room"):
        research_agent(
            ScriptedTransport([]),
            thinking=2048,
            max_tokens=4096,
            context=Compaction(max_tokens=1000),
        )
    # Another model summarizes without thinking; a model with only adaptive thinking has no
    # budget to fit.
    research_agent(
        ScriptedTransport([]),
        thinking=2048,
        max_tokens=4096,
        context=Compaction(max_tokens=1000, model="claude-haiku-4-5"),
    )
    research_agent(
        ScriptedTransport([]),
        model="claude-opus-4-8",
        thinking=2048,
        max_tokens=4096,
        context=Compaction(max_tokens=1000),
    )


def _carries_compaction(body: dict[str, Any]) -> bool:
    return any(
        b.get("type") == "compaction"
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
    )


@STREAM
def test_a_rescue_after_a_server_compaction_sends_the_block_with_its_beta(stream: bool) -> None:
    # After the server compacted, a reply hits the window: the client-side rescue (its summary
    # call and the request after it carry no `context_management`) still sends the block back,
    # so it needs the compaction beta, or the API refuses the block (400).
    model = researcher(20)
    carried = itertools.count()

    def answer(body: dict[str, Any]) -> Any:
        # The third request after the compaction: enough turns since to summarize.
        if _carries_compaction(body) and body.get("tool_choice") is None and next(carried) == 2:
            return reply("Partial", stop_reason="model_context_window_exceeded")
        return model(body)

    transport = ScriptedTransport(FunctionModel(answer), context_window=60_000)
    policy = ServerCompaction(trigger_tokens=50_000)
    agent = research_agent(
        transport, model=SERVER_MODEL, stream=stream, page_chars=16_000, context=policy
    )
    result, changes = _run(agent)
    assert result.text == "Read 20 pages: the answer is 42."
    assert [c.kind for c in changes] == ["server_compaction", "overflow", "compaction"]
    carrying = [r for r in transport.requests if _carries_compaction(r.body)]
    assert any(r.body.get("tool_choice") == {"type": "none"} for r in carrying)  # the summary
    assert all(r.headers["anthropic-beta"] == "compact-2026-01-12" for r in carrying)
    validate_conversation(result.messages)


def test_a_history_holding_a_compaction_block_is_sent_with_its_beta_without_a_policy() -> None:
    transport = ScriptedTransport(researcher(16), context_window=60_000)
    policy = ServerCompaction(trigger_tokens=50_000)
    agent = research_agent(transport, model=SERVER_MODEL, page_chars=16_000, context=policy)
    first = agent.run_sync("Research.")
    assert _carries_compaction({"messages": first.messages})
    plain = research_agent(ScriptedTransport(FunctionModel(lambda body: "Done.")))
    result = plain.run_sync("Go on.", history=first.messages)
    assert result.text == "Done."


@STREAM
def test_a_failed_server_compaction_keeps_the_conversation(stream: bool) -> None:
    # The server's summarizer failed (a `compaction` block with null content, as when it
    # called a tool): the block is a no-op, so nothing before it may be dropped.
    model = researcher(8)
    served = itertools.count()

    def answer(body: dict[str, Any]) -> Any:
        answer = model(body)
        if next(served) == 5:
            wire = answer.to_wire()
            failed = {"type": "compaction", "content": None, "encrypted_content": None}
            return Message.from_wire({**wire, "content": [failed, *wire["content"]]})
        return answer

    transport = ScriptedTransport(FunctionModel(answer), context_window=60_000)
    policy = ServerCompaction(trigger_tokens=50_000)
    agent = research_agent(transport, model=SERVER_MODEL, stream=stream, context=policy)
    result, changes = _run(agent)
    assert result.text == "Read 8 pages: the answer is 42."
    assert changes == []  # nothing changed what the model sees
    fetched = [b for m in result.messages for b in m["content"] if b.get("type") == "tool_result"]
    assert len(fetched) == 8  # every page read is still in the conversation
    sent = [len(r.body["messages"]) for r in transport.requests]
    assert sent == sorted(sent)  # and every request sent the whole of it
    assert result.state.context.get("compactions") is None
    validate_conversation(result.messages)


@STREAM
def test_a_summary_reply_finishes_the_turn_its_request_was_numbered_as(stream: bool) -> None:
    # The summary call (and a reply that hit the window) is a model turn of its own in the
    # events: its `TurnFinished` carries the number its `ModelRequest` and chunks had, not
    # the number of the turn before it (which a consumer would see finish twice).
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    agent = research_agent(transport, stream=stream, context=Compaction(trigger_tokens=12_000))
    seen: list[AgentEvent] = []
    agent.run_sync("Research the answer.", on_event=seen.append)
    turns = [(type(e).__name__, e.turn) for e in seen if isinstance(e, ModelRequest | TurnFinished)]
    assert any(isinstance(e, ContextEdited) and e.kind == "compaction" for e in seen)
    asked = [t for name, t in turns if name == "ModelRequest"]
    finished = [t for name, t in turns if name == "TurnFinished"]
    assert finished == asked  # each request's reply finishes the turn it was sent as
