"""The span tree of a run and its attributes: `invoke_agent` > `chat` + `execute_tool`, retries
inside the model call, failures and denials as errors, streaming, and `uninstrument`."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from telemetry import Telemetry

import agentkit.otel
from agentkit import Agent, AsyncClient, Deny, Hooks, RunError, ToolError, tool
from agentkit._api.wire import Usage
from agentkit.testing import FakeClock, Fault, ScriptedTransport, reply, text_reply, tool_reply

MODEL = "claude-sonnet-4-5"


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"Sunny in {city}"


@tool
def broken(city: str) -> str:
    """Always fails."""
    raise ToolError(f"no station in {city}")


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


def agent(steps: list[Any], **kwargs: Any) -> tuple[Agent[Any], ScriptedTransport]:
    transport = ScriptedTransport(steps)
    client = AsyncClient(api_key="sk-test-secret", transport=transport, max_retries=0)
    kwargs.setdefault("tools", [get_weather])
    kwargs.setdefault("name", "weather")
    return Agent(MODEL, client=client, clock=FakeClock(), **kwargs), transport


USAGE = Usage(
    input_tokens=10, output_tokens=7, cache_read_input_tokens=100, cache_creation_input_tokens=20
)


@pytest.mark.asyncio
async def test_a_run_is_one_agent_span_over_its_model_and_tool_calls(telemetry: Telemetry) -> None:
    a, _ = agent([
        reply(tool_calls=[("get_weather", {"city": "Paris"}, "toolu_1")], usage=USAGE),
        text_reply("It is sunny."),
    ], description="Answers weather questions.", max_tokens=321)
    await a.run("Weather in Paris?")

    run = telemetry.one("invoke_agent weather")
    assert run.kind is SpanKind.INTERNAL and run.parent is None
    chats = telemetry.named(f"chat {MODEL}")
    tool_span = telemetry.one("execute_tool get_weather")
    assert len(chats) == 2
    names = {s.name for s in telemetry.children(run)}
    assert names == {f"chat {MODEL}", "execute_tool get_weather"}
    assert len(telemetry.children(run)) == 3
    assert chats[0].end_time <= tool_span.start_time <= tool_span.end_time <= chats[1].start_time  # type: ignore[operator]

    first = dict(chats[0].attributes or {})
    assert chats[0].kind is SpanKind.CLIENT
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.provider.name"] == "anthropic"
    assert first["gen_ai.request.model"] == MODEL
    assert first["gen_ai.request.max_tokens"] == 321
    assert first["server.address"] == "api.anthropic.com" and first["server.port"] == 443
    assert first["gen_ai.response.id"].startswith("msg_")
    assert first["gen_ai.response.model"] == MODEL
    assert first["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert first["anthropic.message.stop_reason"] == "tool_use"
    # Anthropic's input_tokens excludes the cache: the convention's count includes it.
    assert first["gen_ai.usage.input_tokens"] == 130
    assert first["gen_ai.usage.output_tokens"] == 7
    assert first["gen_ai.usage.cache_read.input_tokens"] == 100
    assert first["gen_ai.usage.cache_write.input_tokens"] == 20
    assert "gen_ai.request.stream" not in first
    assert dict(chats[1].attributes or {})["gen_ai.response.finish_reasons"] == ("stop",)

    t = dict(tool_span.attributes or {})
    assert t == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "toolu_1",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Current weather in a city.",
    }
    assert tool_span.status.status_code is StatusCode.UNSET

    r = dict(run.attributes or {})
    assert r["gen_ai.operation.name"] == "invoke_agent"
    assert r["gen_ai.agent.name"] == "weather"
    assert r["gen_ai.agent.description"] == "Answers weather questions."
    assert r["gen_ai.request.model"] == MODEL
    second_input = dict(chats[1].attributes or {})["gen_ai.usage.input_tokens"]
    assert r["gen_ai.usage.input_tokens"] == 130 + second_input
    assert r["agentkit.run.turns"] == 2 and r["agentkit.run.tool_calls"] == 1
    assert r["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.conversation.id" not in r  # no run_id
    assert run.status.status_code is StatusCode.UNSET


@pytest.mark.asyncio
async def test_an_agent_without_a_name_is_plain_invoke_agent_and_streams_are_marked(
    telemetry: Telemetry,
) -> None:
    a, _ = agent([text_reply("Hi.")], name=None, stream=True)
    await a.run("Hello")
    assert [s.name for s in telemetry.spans] == [f"chat {MODEL}", "invoke_agent"]
    assert dict(telemetry.spans[0].attributes or {})["gen_ai.request.stream"] is True


@pytest.mark.asyncio
async def test_retries_stay_inside_one_model_call_span(telemetry: Telemetry) -> None:
    a, _ = agent([Fault.overloaded(), Fault.rate_limit(retry_after=0), text_reply("Done.")])
    await a.run("Go")
    (chat,) = telemetry.named(f"chat {MODEL}")
    assert [e.name for e in chat.events] == ["exception", "exception"]
    assert dict(chat.attributes or {})["agentkit.model.retries"] == 2
    assert chat.status.status_code is StatusCode.UNSET


@pytest.mark.asyncio
async def test_a_model_call_that_gives_up_fails_its_span_and_the_run_span(
    telemetry: Telemetry,
) -> None:
    a, _ = agent([Fault.error(400, error_type="invalid_request_error", message="bad")])
    with pytest.raises(RunError):
        await a.run("Go")
    chat = telemetry.one(f"chat {MODEL}")
    run = telemetry.one("invoke_agent weather")
    for span in (chat, run):
        assert span.status.status_code is StatusCode.ERROR
        assert dict(span.attributes or {})["error.type"] == "invalid_request_error"
    assert "agentkit.model.retries" not in dict(chat.attributes or {})


@pytest.mark.asyncio
async def test_a_failed_run_s_finish_reason_is_the_convention_s_error(
    telemetry: Telemetry,
) -> None:
    a, _ = agent([Fault.error(400, error_type="invalid_request_error", message="bad")])
    with pytest.raises(RunError):
        await a.run("Go")
    run = dict(telemetry.one("invoke_agent weather").attributes or {})
    assert run["agentkit.run.stop_reason"] == "failed"  # agentkit's own word, kept
    assert run["gen_ai.response.finish_reasons"] == ("error",)  # the convention's enum


@pytest.mark.asyncio
async def test_a_call_that_gives_up_after_retries_counts_only_the_retries(
    telemetry: Telemetry,
) -> None:
    a, _ = agent([Fault.overloaded(), Fault.overloaded(), Fault.overloaded()], model_retries=2)
    with pytest.raises(RunError):
        await a.run("Go")
    (chat,) = telemetry.named(f"chat {MODEL}")
    attributes = dict(chat.attributes or {})
    assert attributes["agentkit.model.retries"] == 2 and len(chat.events) == 3
    assert attributes["error.type"] == "overloaded_error"


@pytest.mark.asyncio
async def test_failed_and_denied_tool_calls_are_errors_with_their_type(
    telemetry: Telemetry,
) -> None:
    def before_tool(ctx: Any, call: dict[str, Any]) -> Deny | None:
        return Deny("not on Sundays") if call["input"].get("city") == "Rome" else None

    a, _ = agent(
        [
            reply(tool_calls=[
                ("broken", {"city": "Oslo"}, "toolu_1"),
                ("get_weather", {"city": "Rome"}, "toolu_2"),
                ("nonexistent", {}, "toolu_3"),
                ("delete_file", {"path": "/etc"}, "toolu_4"),
            ]),
            text_reply("Sorry."),
        ],
        tools=[broken, get_weather, delete_file],
        hooks=Hooks(before_tool=before_tool),
        approve=lambda ctx, call: Deny("too dangerous"),
    )
    await a.run("Go")
    kinds = {
        dict(s.attributes or {})["gen_ai.tool.call.id"]: (
            s.status.status_code, dict(s.attributes or {}).get("error.type")
        )
        for s in telemetry.spans
        if s.name.startswith("execute_tool")
    }
    assert kinds == {
        "toolu_1": (StatusCode.ERROR, "tool_error"),
        "toolu_2": (StatusCode.ERROR, "denied"),
        "toolu_3": (StatusCode.ERROR, "unknown_tool"),
        "toolu_4": (StatusCode.ERROR, "denied"),
    }
    # what the tool wrote is content: on the span only when captured
    assert telemetry.one("execute_tool broken").status.description is None
    telemetry.exporter.clear()
    telemetry.instrument(capture_content=True)
    a, _ = agent([reply(tool_calls=[("broken", {"city": "Oslo"}, "toolu_1")]), text_reply("No.")],
                 tools=[broken])
    await a.run("Go")
    assert telemetry.one("execute_tool broken").status.description == "no station in Oslo"


@pytest.mark.asyncio
async def test_a_tool_that_raises_records_the_exception(telemetry: Telemetry) -> None:
    @tool
    def explode() -> str:
        """Explodes."""
        raise KeyError("boom")

    from agentkit import ToolExecution

    a, _ = agent(
        [reply(tool_calls=[("explode", {}, "toolu_1")])],
        tools=[explode],
        tool_execution=ToolExecution(raise_errors=True),
    )
    with pytest.raises(RunError):
        await a.run("Go")
    span = telemetry.one("execute_tool explode")
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]
    run = telemetry.one("invoke_agent weather")
    assert dict(run.attributes or {})["error.type"] == "KeyError"


@pytest.mark.asyncio
async def test_a_sub_agent_runs_inside_the_tool_span_that_called_it(
    telemetry: Telemetry,
) -> None:
    transport = ScriptedTransport([
        reply(tool_calls=[("research", {"task": "find it"}, "toolu_1")]),
        reply(tool_calls=[("get_weather", {"city": "Oslo"}, "toolu_2")]),
        text_reply("Found: sunny."),
        text_reply("The researcher says sunny."),
    ])
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    researcher = Agent(MODEL, client=client, tools=[get_weather], name="researcher",
                       description="Researches.")
    lead = Agent(MODEL, client=client, tools=[researcher.as_tool("research")], name="lead")
    await lead.run("Go")

    lead_span = telemetry.one("invoke_agent lead")
    call = telemetry.one("execute_tool research")
    sub = telemetry.one("invoke_agent researcher")
    assert call.parent is not None and call.parent.span_id == lead_span.context.span_id  # type: ignore[union-attr]
    assert sub.parent is not None and sub.parent.span_id == call.context.span_id  # type: ignore[union-attr]
    names = {s.name for s in telemetry.children(sub)}
    assert names == {f"chat {MODEL}", "execute_tool get_weather"}
    assert len({s.context.trace_id for s in telemetry.spans}) == 1  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_agent_iter_is_traced_like_run(telemetry: Telemetry) -> None:
    a, _ = agent([tool_reply("get_weather", {"city": "Paris"}), text_reply("Sunny.")])
    async with a.iter("Weather?") as run:
        async for _ in run:
            pass
    root = telemetry.one("invoke_agent weather")
    assert len(telemetry.children(root)) == 3


@pytest.mark.asyncio
async def test_uninstrument_stops_tracing(telemetry: Telemetry) -> None:
    agentkit.otel.uninstrument()
    a, _ = agent([text_reply("Hi.")])
    await a.run("Hello")
    assert telemetry.spans == []


@pytest.mark.asyncio
async def test_a_limit_ends_the_run_span_as_an_error_with_the_limit(telemetry: Telemetry) -> None:
    from agentkit import LimitExceeded, Limits

    a, _ = agent([tool_reply("get_weather", {"city": "Paris"})], limits=Limits(max_turns=1))
    with pytest.raises(LimitExceeded):
        await a.run("Go")
    run = dict(telemetry.one("invoke_agent weather").attributes or {})
    assert run["agentkit.run.limit"] == "max_turns"
    assert run["error.type"].endswith("LimitExceeded")


@pytest.mark.asyncio
async def test_a_cancelled_run_still_ends_every_span(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    import anyio

    started = anyio.Event()

    @tool
    async def hang() -> str:
        """Never returns."""
        started.set()
        await anyio.sleep_forever()
        return "unreachable"

    a, _ = agent([reply(tool_calls=[("hang", {}, "toolu_1")])], tools=[hang])
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run, "Go")
        await started.wait()
        tg.cancel_scope.cancel()
    names = sorted(s.name for s in telemetry.spans)
    assert names == [f"chat {MODEL}", "execute_tool hang", "invoke_agent weather"]
    for name in ("execute_tool hang", "invoke_agent weather"):
        assert telemetry.one(name).status.status_code is StatusCode.ERROR
    assert "Failed to detach context" not in caplog.text  # each context left where it was set
