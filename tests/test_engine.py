"""The sans-IO engine, driven by hand: no event loop, no network."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    ListTools,
    NeedApproval,
    RunState,
    RunTools,
    Sleep,
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
    config.setdefault("approvals", True)
    cfg = EngineConfig(model=MODEL, max_tokens=1024, **config)
    return Engine(cfg, RunState(messages=[{"role": "user", "content": [text(prompt)]}]))


def step_with(
    engine: Engine, tools: Sequence[FakeTool] = TOOLS, now: float | None = None
) -> Step:
    """The next step, a request for the turn's tools answered with `tools`."""
    step = engine.next_step(now)
    while isinstance(step, ListTools):
        engine.on_tools(tools)
        step = engine.next_step(now)
    return step


def after_one_tool_round(engine: Engine) -> Step:
    """The step after one `get_weather` call was asked for and answered."""
    step_with(engine)
    engine.on_reply(msg(call("t1"), stop="tool_use"))
    step_with(engine)
    engine.on_result(result("t1"))
    return step_with(engine)


def test_end_turn_finishes_with_the_text_and_a_valid_conversation() -> None:
    engine = start()
    step = step_with(engine)
    assert isinstance(step, CallModel)
    assert step.params["model"] == MODEL and step.params["max_tokens"] == 1024
    assert [t["name"] for t in step.params["tools"]] == ["get_weather", "delete_all"]
    engine.on_reply(msg(text("Hello")))
    done = step_with(engine)
    assert isinstance(done, Finished)
    assert done.state.answer == "Hello" and done.state.stop_reason == "end_turn"
    assert done.state.messages[-1] == {"role": "assistant", "content": [text("Hello")]}
    assert done.state.usage.input_tokens == 10 and done.state.turns == 1
    validate_conversation(done.state.messages)


def test_parallel_tool_calls_are_answered_in_one_user_turn_in_tool_use_order() -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(
        msg(
            text("Let me check."),
            call("t1", city="Paris"),
            call("t2", city="Oslo"),
            stop="tool_use",
        )
    )
    step = step_with(engine)
    assert isinstance(step, RunTools)
    assert [c["id"] for c in step.calls] == ["t1", "t2"]
    # Results arrive out of order; the turn keeps tool_use order.
    engine.on_result(result("t2", "rain"))
    engine.on_result(result("t1", "sun"))
    step = step_with(engine)
    assert isinstance(step, CallModel)
    last = step.params["messages"][-1]
    assert last == {"role": "user", "content": [result("t1", "sun"), result("t2", "rain")]}
    assert engine.state.usage.tool_calls == 2


def test_thinking_blocks_go_back_byte_for_byte() -> None:
    thinking = {"type": "thinking", "thinking": "Let me think…", "signature": "EqQBCkYIBxgCKkD=="}
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}
    engine = start()
    step_with(engine)
    engine.on_reply(msg(thinking, redacted, call("t1"), stop="tool_use"))
    step_with(engine)
    engine.on_result(result("t1"))
    step = step_with(engine)
    assert isinstance(step, CallModel)
    sent = step.params["messages"][1]["content"]
    assert json.dumps(sent[:2]) == json.dumps([thinking, redacted])


def test_unknown_tool_gets_an_error_result_naming_the_available_tools() -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(msg(call("t1", "no_such_tool"), stop="tool_use"))
    step = step_with(engine)
    assert isinstance(step, CallModel)
    block = step.params["messages"][-1]["content"][0]
    assert block["is_error"] is True
    assert "no_such_tool" in block["content"] and "get_weather" in block["content"]


@pytest.mark.parametrize("stop", ["max_tokens", "refusal", "model_context_window_exceeded"])
def test_truncated_or_refused_tool_calls_are_never_run(stop: str) -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(msg(text("Sure"), call("t1"), stop=stop))
    step = step_with(engine)
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
    step_with(engine)
    engine.on_reply(msg(*paused, stop="pause_turn"))
    step = step_with(engine)
    assert isinstance(step, CallModel)
    assert step.params["messages"][-1] == {"role": "assistant", "content": paused}
    assert len(step.params["messages"]) == 2


def test_max_tokens_text_continues_up_to_the_configured_number() -> None:
    engine = start(max_continuations=1)
    step_with(engine)
    engine.on_reply(msg(text("Part one, "), stop="max_tokens"))
    step = step_with(engine)
    assert isinstance(step, CallModel)
    assert step.params["messages"][-1]["role"] == "user"
    engine.on_reply(msg(text("part two "), stop="max_tokens"))
    done = step_with(engine)
    assert isinstance(done, Finished)
    assert done.state.answer == "Part one, part two " and done.state.stop_reason == "max_tokens"


def test_stop_sequence_and_unknown_stop_reasons_are_reported_as_received() -> None:
    engine = start()
    step_with(engine)
    message = msg(text("1, 2, 3"), stop="stop_sequence")
    message.stop_sequence = "4"
    engine.on_reply(message)
    assert isinstance(step_with(engine), Finished)
    assert (engine.state.stop_reason, engine.state.stop_sequence) == ("stop_sequence", "4")

    engine = start()
    step_with(engine)
    engine.on_reply(msg(text("?"), stop="some_future_reason"))
    assert isinstance(step_with(engine), Finished)
    assert engine.state.stop_reason == "some_future_reason"


def test_empty_end_turn_stores_no_empty_assistant_turn() -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(msg())
    assert isinstance(step_with(engine), Finished)
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
    step_with(engine)
    engine.on_reply(msg(call("t1"), call("t2"), stop="tool_use"))
    step = step_with(engine)
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


def test_a_stop_when_returning_an_awaitable_is_a_type_error_not_a_stop() -> None:
    # Its coroutine, never awaited, was truthy: the run ended after its first turn as if
    # asked to, with only a "never awaited" warning.
    async def later(state: RunState) -> bool:
        return False

    engine = start(stop_when=lambda s: later(s))
    with pytest.raises(TypeError, match=r"stop_when returned a coroutine, not a bool; stop_when "
                       r"is asked between steps by the engine, which awaits nothing: make it a "
                       r"plain def"):
        after_one_tool_round(engine)
    assert not engine.state.done and engine.state.stop_reason != "stop_condition"


def test_stop_after_tool_ends_with_its_input_as_output() -> None:
    engine = start(stop_after_tools=frozenset({"get_weather"}))
    step_with(engine)
    engine.on_reply(msg(call("t1", city="Rome"), stop="tool_use"))
    step = step_with(engine)
    assert isinstance(step, Finished)
    assert step.state.output == {"city": "Rome"} and step.state.stop_reason == "stop_after_tool"
    validate_conversation(step.state.messages)


def test_approval_pauses_and_resumes_with_decisions() -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(msg(call("t1", "delete_all"), call("t2"), stop="tool_use"))
    step = step_with(engine)
    assert isinstance(step, NeedApproval) and [c["id"] for c in step.calls] == ["t1"]
    # Saved and restored as plain data, then resumed with a denial.
    state = RunState.from_dict(json.loads(json.dumps(engine.state.to_dict())))
    engine = Engine(engine.config, state)
    engine.on_decisions({"t1": "too dangerous"})
    step = step_with(engine)
    assert isinstance(step, RunTools) and [c["id"] for c in step.calls] == ["t2"]
    engine.on_result(result("t2"))
    step = step_with(engine)
    assert isinstance(step, CallModel)
    denied = step.params["messages"][-1]["content"][0]
    assert denied["is_error"] is True and "too dangerous" in denied["content"]


def test_a_call_id_used_again_on_a_later_turn_is_a_new_call_awaiting_its_own_decision() -> None:
    # Decisions are kept once their calls are answered; a model (or a gateway, a fake) that
    # reuses an id must not have its new call approved by the old decision.
    engine = start()
    step_with(engine)
    engine.on_reply(msg(call("t1", "delete_all"), stop="tool_use"))
    assert isinstance(step_with(engine), NeedApproval)
    engine.on_decisions({"t1": True})
    step = step_with(engine)
    assert isinstance(step, RunTools)
    engine.on_result(result("t1"))
    assert isinstance(step_with(engine), CallModel)
    engine.on_reply(msg(call("t1", "delete_all"), stop="tool_use"))
    step = step_with(engine)
    assert isinstance(step, NeedApproval) and [c["id"] for c in step.calls] == ["t1"]


def test_resume_runs_only_the_calls_without_results() -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(msg(call("t1"), call("t2"), stop="tool_use"))
    step_with(engine)
    engine.on_result(result("t1"))  # then the process died
    state = RunState.from_dict(json.loads(json.dumps(engine.state.to_dict())))
    step = step_with(Engine(engine.config, state))
    assert isinstance(step, RunTools) and [c["id"] for c in step.calls] == ["t2"]


def test_abort_answers_open_calls_with_real_results_where_finished() -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(msg(call("t1"), call("t2"), stop="tool_use"))
    step_with(engine)
    engine.on_result(result("t1", "done"))
    engine.abort("cancelled", "the run was cancelled")
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
    step = step_with(engine)
    assert isinstance(step, CallModel)
    assert step.params["tool_choice"] == {"type": "any"}
    engine.on_reply(msg(call("o1", "final_result", city="Paris", celsius="warm"), stop="tool_use"))
    step = step_with(engine)
    assert isinstance(step, CallModel)
    error = step.params["messages"][-1]["content"][0]
    assert error["is_error"] is True and "celsius" in error["content"]
    engine.on_reply(msg(call("o2", "final_result", city="Paris", celsius=21.5), stop="tool_use"))
    done = step_with(engine)
    assert isinstance(done, Finished)
    assert done.state.output == Weather(city="Paris", celsius=21.5)
    validate_conversation(done.state.messages)


def test_cache_breakpoints_mark_copies_not_the_stored_conversation() -> None:
    engine = start(cache=True, system="Be brief.")
    step = step_with(engine)
    assert isinstance(step, CallModel)
    assert step.params["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert step.params["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert step.params["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in engine.state.messages[-1]["content"][-1]


def test_with_no_one_to_approve_the_run_pauses_and_decisions_end_the_pause() -> None:
    engine = start(approvals=False)
    step_with(engine)
    engine.on_reply(msg(call("t1", "delete_all"), stop="tool_use"))
    assert isinstance(step_with(engine), Finished)
    assert (engine.state.stop_reason, engine.state.limit, engine.state.done) == (
        "approval_required", None, False
    )
    engine.on_decisions({"t1": True})
    assert engine.state.stop_reason is None
    assert isinstance(step_with(engine), RunTools)


def test_a_new_prompt_clears_the_last_stop_reason() -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(msg(text("part"), stop="pause_turn"))
    assert engine.state.stop_reason == "pause_turn" and not engine.state.done
    engine.on_prompt([text("go on")])
    assert engine.state.stop_reason is None
    assert engine.state.messages[-1] == {"role": "user", "content": [text("go on")]}


# -- retries, the deadline, the turn's tools, the checked request -------------------------------


def overloaded(**fields: Any) -> Exception:
    from agentkit._api.sansio import error_from_response

    headers = {k.replace("_", "-"): str(v) for k, v in fields.items()}
    body = b'{"type": "error", "error": {"type": "overloaded_error"}}'
    return error_from_response(529, headers, body)


def test_a_transient_failure_is_retried_after_a_back_off_with_the_checked_request() -> None:
    engine = start(model_retries=2)
    first = step_with(engine)
    assert isinstance(first, CallModel) and first.attempt == 0
    hooked = {**first.params, "metadata": {"user_id": "u"}}
    engine.on_request(hooked)
    engine.on_model_error(overloaded())
    sleep = step_with(engine)
    assert isinstance(sleep, Sleep) and sleep.attempt == 1 and 0.375 <= sleep.seconds <= 0.5
    again = step_with(engine)
    assert isinstance(again, CallModel) and again.attempt == 1 and again.params is hooked
    engine.on_reply(msg(text("ok")))
    assert engine.state.retries == 0 and isinstance(step_with(engine), Finished)


def test_one_budget_per_model_call_then_the_run_gives_up_resumable() -> None:
    engine = start(model_retries=1)
    step_with(engine)
    engine.on_model_error(overloaded())
    assert isinstance(step_with(engine), Sleep)
    assert isinstance(step_with(engine), CallModel)
    error = overloaded()
    engine.on_model_error(error)
    done = step_with(engine)
    assert isinstance(done, Finished) and done.error is error
    assert engine.state.stop_reason == "failed" and not engine.state.done
    assert engine.state.retries == 0  # a resumed run gets the call's whole budget


def test_a_permanent_failure_is_not_retried() -> None:
    from agentkit._api.sansio import error_from_response

    engine = start(model_retries=5)
    step_with(engine)
    engine.on_model_error(error_from_response(400, {}, b""))
    assert isinstance(step_with(engine), Finished)


def test_retry_after_is_honoured_and_jitter_replays_from_the_seed() -> None:
    engine = start()
    step_with(engine)
    engine.on_model_error(overloaded(retry_after=3))
    first = step_with(engine)
    assert isinstance(first, Sleep) and first.seconds == 3.0

    def delays(seed: int) -> list[float]:
        engine = start()
        engine.state.seed = seed
        step_with(engine)
        out: list[float] = []
        for _ in range(2):
            engine.on_model_error(overloaded())
            sleep = step_with(engine)
            assert isinstance(sleep, Sleep)
            out.append(sleep.seconds)
            step_with(engine)
        return out

    assert delays(7) == delays(7) != delays(8)


def test_the_deadline_is_engine_state_checked_against_the_now_it_is_given() -> None:
    engine = start(limits=Limits(timeout=10))
    engine.start(100.0)
    assert engine.deadline == 110.0
    step_with(engine, now=105.0)
    engine.on_reply(msg(call("t1"), call("t2"), stop="tool_use"))
    assert isinstance(step_with(engine, now=109.0), RunTools)
    engine.on_result(result("t1"))
    done = step_with(engine, now=110.0)
    assert isinstance(done, Finished) and done.state.limit == "timeout"
    answered = engine.state.messages[-1]["content"]
    assert answered[0] == result("t1") and "timeout" in answered[1]["content"]
    validate_conversation(engine.state.messages)


def test_a_step_cut_by_the_deadline_ends_the_run_with_the_timeout_limit() -> None:
    engine = start(limits=Limits(timeout=1))
    engine.start(0.0)
    step_with(engine, now=0.0)
    engine.on_timeout()
    done = step_with(engine, now=0.5)
    assert isinstance(done, Finished) and done.state.limit == "timeout"


def test_a_turns_calls_run_with_the_tools_offered_on_that_turn() -> None:
    engine = start()
    asked = engine.next_step()
    assert asked == ListTools(0)
    engine.on_tools([FakeTool("early")])
    request = engine.next_step()
    assert isinstance(request, CallModel)
    assert [t["name"] for t in request.params["tools"]] == ["early"]
    engine.on_reply(msg(call("t1", "early"), stop="tool_use"))
    # No new listing for the calls: they run with turn 0's tools.
    run = engine.next_step()
    assert isinstance(run, RunTools) and set(run.tools) == {"early"}
    engine.on_result(result("t1"))
    assert engine.next_step() == ListTools(1)
    engine.on_tools([])  # a prepare hook hides it now
    params = step_with(engine, []).params  # type: ignore[union-attr]
    # The API refuses tool calls in a request without tools: the called tool stands in by
    # name, and tool_choice none keeps it from being called.
    assert [t["name"] for t in params["tools"]] == ["early"]
    assert params["tools"][0]["input_schema"] == {"type": "object"}
    assert params["tool_choice"] == {"type": "none"}


def test_a_resumed_run_lists_the_tools_of_the_turn_its_calls_came_from() -> None:
    engine = start()
    step_with(engine)
    engine.on_reply(msg(call("t1"), stop="tool_use"))
    resumed = Engine(engine.config, RunState.from_dict(engine.state.to_dict()))
    assert resumed.next_step() == ListTools(0)


def test_the_request_is_checked_after_the_hook_rewrote_it() -> None:
    from agentkit._errors import ConversationError

    engine = start()
    request = step_with(engine)
    assert isinstance(request, CallModel)
    broken = {**request.params, "messages": [{"role": "assistant", "content": "hi"}]}
    with pytest.raises(ConversationError) as caught:
        engine.on_request(broken)
    assert caught.value.rule == "first_message_user"


def never(state: RunState) -> bool:
    return False


@pytest.mark.parametrize(
    ("config", "then_model"),
    [({}, True), ({"limits": Limits(max_turns=1)}, False), ({"stop_when": never}, False)],
)
def test_run_tools_says_whether_the_model_is_asked_once_the_calls_are_answered(
    config: dict[str, Any], then_model: bool
) -> None:
    # A driver with a lazy client makes it before such calls (none runs when it cannot be
    # made); a limit that ends the run first, or a stop_when that decides on the results,
    # leave it lazy: the calls run, and no key is needed.
    engine = start(**config)
    step_with(engine)
    engine.on_reply(msg(call("t1"), stop="tool_use"))
    step = step_with(engine)
    assert isinstance(step, RunTools) and step.then_model is then_model
