"""The sans-IO engine, driven by hand: no event loop, no network."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit._api.wire import Message
from agentkit._loop.conversation import validate_conversation
from agentkit._loop.engine import (
    CallModel,
    Engine,
    EngineConfig,
    Finished,
    NeedApproval,
    RunState,
    RunTools,
    Step,
)
from agentkit._loop.limits import Limits
from agentkit._tools.output import OutputSpec

MODEL = "claude-sonnet-4-5"


@dataclass
class FakeTool:
    name: str
    requires_approval: bool = False

    def to_param(self) -> dict[str, Any]:
        return {"name": self.name, "description": "d", "input_schema": {"type": "object"}}


TOOLS = [FakeTool("get_weather"), FakeTool("delete_all", requires_approval=True)]


def msg(
    *blocks: dict[str, Any], stop: str = "end_turn", usage: dict[str, int] | None = None
) -> Message:
    return Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": list(blocks),
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 5},
        }
    )


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def call(id: str, name: str = "get_weather", **input: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def result(id: str, content: str = "ok") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": id, "content": content}


def start(prompt: str = "hi", **config: Any) -> Engine:
    cfg = EngineConfig(model=MODEL, max_tokens=1024, **config)
    return Engine(cfg, RunState(messages=[{"role": "user", "content": [text(prompt)]}]))


def after_one_tool_round(engine: Engine) -> Step:
    """The step after one `get_weather` call was asked for and answered."""
    engine.next_step(TOOLS)
    engine.on_reply(msg(call("t1"), stop="tool_use"))
    engine.next_step(TOOLS)
    engine.on_result(result("t1"))
    return engine.next_step(TOOLS)


def test_end_turn_finishes_with_the_text_and_a_valid_conversation() -> None:
    engine = start()
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    assert step.params["model"] == MODEL and step.params["max_tokens"] == 1024
    assert [t["name"] for t in step.params["tools"]] == ["get_weather", "delete_all"]
    engine.on_reply(msg(text("Hello")))
    done = engine.next_step(TOOLS)
    assert isinstance(done, Finished)
    assert done.state.answer == "Hello" and done.state.stop_reason == "end_turn"
    assert done.state.messages[-1] == {"role": "assistant", "content": [text("Hello")]}
    assert done.state.usage.input_tokens == 10 and done.state.turns == 1
    validate_conversation(done.state.messages)


def test_parallel_tool_calls_are_answered_in_one_user_turn_in_tool_use_order() -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(
        msg(
            text("Let me check."),
            call("t1", city="Paris"),
            call("t2", city="Oslo"),
            stop="tool_use",
        )
    )
    step = engine.next_step(TOOLS)
    assert isinstance(step, RunTools)
    assert [c["id"] for c in step.calls] == ["t1", "t2"]
    # Results arrive out of order; the turn keeps tool_use order.
    engine.on_result(result("t2", "rain"))
    engine.on_result(result("t1", "sun"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    last = step.params["messages"][-1]
    assert last == {"role": "user", "content": [result("t1", "sun"), result("t2", "rain")]}
    assert engine.state.usage.tool_calls == 2


def test_thinking_blocks_go_back_byte_for_byte() -> None:
    thinking = {"type": "thinking", "thinking": "Let me think…", "signature": "EqQBCkYIBxgCKkD=="}
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(thinking, redacted, call("t1"), stop="tool_use"))
    engine.next_step(TOOLS)
    engine.on_result(result("t1"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    sent = step.params["messages"][1]["content"]
    assert json.dumps(sent[:2]) == json.dumps([thinking, redacted])


def test_unknown_tool_gets_an_error_result_naming_the_available_tools() -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(call("t1", "no_such_tool"), stop="tool_use"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    block = step.params["messages"][-1]["content"][0]
    assert block["is_error"] is True
    assert "no_such_tool" in block["content"] and "get_weather" in block["content"]


@pytest.mark.parametrize("stop", ["max_tokens", "refusal", "model_context_window_exceeded"])
def test_truncated_or_refused_tool_calls_are_never_run(stop: str) -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(text("Sure"), call("t1"), stop=stop))
    step = engine.next_step(TOOLS)
    assert isinstance(step, Finished)
    assert step.state.stop_reason == stop
    closing = step.state.messages[-1]["content"][0]
    assert closing["tool_use_id"] == "t1" and closing["is_error"] is True
    validate_conversation(step.state.messages)


def test_pause_turn_resends_the_paused_content_unchanged() -> None:
    paused = [
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {"query": "x"},
        }
    ]
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(*paused, stop="pause_turn"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    assert step.params["messages"][-1] == {"role": "assistant", "content": paused}
    assert len(step.params["messages"]) == 2


def test_max_tokens_text_continues_up_to_the_configured_number() -> None:
    engine = start(max_continuations=1)
    engine.next_step(TOOLS)
    engine.on_reply(msg(text("Part one, "), stop="max_tokens"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    assert step.params["messages"][-1]["role"] == "user"
    engine.on_reply(msg(text("part two "), stop="max_tokens"))
    done = engine.next_step(TOOLS)
    assert isinstance(done, Finished)
    assert done.state.answer == "Part one, part two " and done.state.stop_reason == "max_tokens"


def test_stop_sequence_and_unknown_stop_reasons_are_reported_as_received() -> None:
    engine = start()
    engine.next_step(TOOLS)
    message = msg(text("1, 2, 3"), stop="stop_sequence")
    message.stop_sequence = "4"
    engine.on_reply(message)
    assert isinstance(engine.next_step(TOOLS), Finished)
    assert (engine.state.stop_reason, engine.state.stop_sequence) == ("stop_sequence", "4")

    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(text("?"), stop="some_future_reason"))
    assert isinstance(engine.next_step(TOOLS), Finished)
    assert engine.state.stop_reason == "some_future_reason"


def test_empty_end_turn_stores_no_empty_assistant_turn() -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg())
    assert isinstance(engine.next_step(TOOLS), Finished)
    assert [m["role"] for m in engine.state.messages] == ["user"]


def test_max_turns_ends_the_run_with_a_valid_continuable_conversation() -> None:
    engine = start(limits=Limits(max_turns=1))
    step = after_one_tool_round(engine)
    assert isinstance(step, Finished)
    assert step.state.limit == "max_turns" and step.state.stop_reason == "max_turns"
    assert step.state.messages[-1]["content"] == [result("t1")]
    validate_conversation(step.state.messages)


def test_max_tool_calls_answers_the_calls_it_will_not_run() -> None:
    engine = start(limits=Limits(max_tool_calls=1))
    engine.next_step(TOOLS)
    engine.on_reply(msg(call("t1"), call("t2"), stop="tool_use"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, Finished) and step.state.limit == "max_tool_calls"
    assert all(b["is_error"] for b in step.state.messages[-1]["content"])
    validate_conversation(step.state.messages)


def test_cost_and_token_limits_stop_before_the_next_request() -> None:
    engine = start(limits=Limits(max_output_tokens=5))
    step = after_one_tool_round(engine)
    assert isinstance(step, Finished) and step.state.limit == "max_output_tokens"


def test_custom_predicate_stops_the_run() -> None:
    engine = start(stop_when=lambda s: s.usage.tool_calls >= 1)
    step = after_one_tool_round(engine)
    assert isinstance(step, Finished) and step.state.stop_reason == "stop_condition"
    validate_conversation(step.state.messages)


def test_stop_after_tool_ends_with_its_input_as_output() -> None:
    engine = start(stop_after_tools=frozenset({"get_weather"}))
    engine.next_step(TOOLS)
    engine.on_reply(msg(call("t1", city="Rome"), stop="tool_use"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, Finished)
    assert step.state.output == {"city": "Rome"} and step.state.stop_reason == "stop_after_tool"
    validate_conversation(step.state.messages)


def test_approval_pauses_and_resumes_with_decisions() -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(call("t1", "delete_all"), call("t2"), stop="tool_use"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, NeedApproval) and [c["id"] for c in step.calls] == ["t1"]
    # Saved and restored as plain data, then resumed with a denial.
    state = RunState.from_dict(json.loads(json.dumps(engine.state.to_dict())))
    engine = Engine(engine.config, state)
    engine.on_decisions({"t1": "too dangerous"})
    step = engine.next_step(TOOLS)
    assert isinstance(step, RunTools) and [c["id"] for c in step.calls] == ["t2"]
    engine.on_result(result("t2"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    denied = step.params["messages"][-1]["content"][0]
    assert denied["is_error"] is True and "too dangerous" in denied["content"]


def test_resume_runs_only_the_calls_without_results() -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(call("t1"), call("t2"), stop="tool_use"))
    engine.next_step(TOOLS)
    engine.on_result(result("t1"))  # then the process died
    state = RunState.from_dict(json.loads(json.dumps(engine.state.to_dict())))
    step = Engine(engine.config, state).next_step(TOOLS)
    assert isinstance(step, RunTools) and [c["id"] for c in step.calls] == ["t2"]


def test_abort_answers_open_calls_with_real_results_where_finished() -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(call("t1"), call("t2"), stop="tool_use"))
    engine.next_step(TOOLS)
    engine.on_result(result("t1", "done"))
    engine.abort("cancelled", "Not run: cancelled.")
    content = engine.state.messages[-1]["content"]
    assert content[0] == result("t1", "done")
    assert content[1]["tool_use_id"] == "t2" and content[1]["is_error"] is True
    validate_conversation(engine.state.messages)


class Weather(BaseModel):
    city: str
    celsius: float


def test_structured_output_through_the_output_tool_with_a_bounded_retry() -> None:
    spec = OutputSpec.build(Weather)
    engine = start(output_tool=spec.tool_param, parse_output=spec.parse, output_retries=1)
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    assert step.params["tool_choice"] == {"type": "any"}
    engine.on_reply(msg(call("o1", "final_result", city="Paris", celsius="warm"), stop="tool_use"))
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    error = step.params["messages"][-1]["content"][0]
    assert error["is_error"] is True and "celsius" in error["content"]
    engine.on_reply(msg(call("o2", "final_result", city="Paris", celsius=21.5), stop="tool_use"))
    done = engine.next_step(TOOLS)
    assert isinstance(done, Finished)
    assert done.state.output == Weather(city="Paris", celsius=21.5)
    validate_conversation(done.state.messages)


def test_cache_breakpoints_mark_copies_not_the_stored_conversation() -> None:
    engine = start(cache=True, system="Be brief.")
    step = engine.next_step(TOOLS)
    assert isinstance(step, CallModel)
    assert step.params["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert step.params["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert step.params["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in engine.state.messages[-1]["content"][-1]


def test_a_pause_is_reported_and_ended_by_decisions_or_a_prompt_clears_the_reason() -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(call("t1", "delete_all"), stop="tool_use"))
    assert isinstance(engine.next_step(TOOLS), NeedApproval)
    engine.pause()
    assert (engine.state.stop_reason, engine.state.limit, engine.state.done) == (
        "approval_required", None, False
    )
    engine.on_decisions({"t1": True})
    assert engine.state.stop_reason is None
    assert isinstance(engine.next_step(TOOLS), RunTools)


def test_a_new_prompt_clears_the_last_stop_reason() -> None:
    engine = start()
    engine.next_step(TOOLS)
    engine.on_reply(msg(text("part"), stop="pause_turn"))
    assert engine.state.stop_reason == "pause_turn" and not engine.state.done
    engine.on_prompt([text("go on")])
    assert engine.state.stop_reason is None
    assert engine.state.messages[-1] == {"role": "user", "content": [text("go on")]}
