"""Message content on spans: off by default, on with `capture_content=True` or the conventions'
environment variable, in the conventions' JSON shape; the API key never, in any mode."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from telemetry import Telemetry

from agentkit import Agent, AsyncClient, RunError, tool
from agentkit.testing import Fault, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
SECRET = "sk-ant-secret-never-shown"
CONTENT = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"rainy, 14°C in {city}"


async def run_weather() -> None:
    transport = ScriptedTransport([
        reply(
            "Let me look.",
            tool_calls=[("get_weather", {"city": "Paris"}, "toolu_01")],
            thinking="The user wants weather.",
        ),
        text_reply("It is rainy, 14°C."),
    ])
    async with AsyncClient(api_key=SECRET, transport=transport, max_retries=0) as client:
        agent = Agent(MODEL, client=client, tools=[get_weather], system="You are terse.",
                      name="weather", thinking=1024, max_tokens=2048)
        await agent.run("Weather in Paris?")


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def everything(telemetry: Telemetry) -> str:
    return json.dumps(
        [[s.name, attributes(s), [dict(e.attributes or {}) for e in s.events]]
         for s in telemetry.spans],
        default=str,
    )


@pytest.mark.asyncio
async def test_no_content_by_default(telemetry: Telemetry) -> None:
    await run_weather()
    assert len(telemetry.spans) == 4
    for span in telemetry.spans:
        assert CONTENT.isdisjoint(attributes(span)), span.name
    text = everything(telemetry)
    assert "Paris" not in text and "terse" not in text and SECRET not in text


@pytest.mark.asyncio
async def test_captured_content_has_the_conventions_shape(telemetry: Telemetry) -> None:
    telemetry.instrument(capture_content=True)
    await run_weather()
    first, second = telemetry.named(f"chat {MODEL}")
    a = attributes(second)
    assert json.loads(a["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "You are terse."}
    ]
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [
            {"type": "reasoning", "content": "The user wants weather."},
            {"type": "text", "content": "Let me look."},
            {"type": "tool_call", "id": "toolu_01", "name": "get_weather",
             "arguments": {"city": "Paris"}},
        ]},
        {"role": "tool", "parts": [
            {"type": "tool_call_response", "id": "toolu_01", "response": "rainy, 14°C in Paris"}
        ]},
    ]
    # With thinking on, the fake thinks before every answer, as the API does.
    final = [
        {"type": "reasoning", "content": "Let me work through this step by step."},
        {"type": "text", "content": "It is rainy, 14°C."},
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "finish_reason": "stop", "parts": final}
    ]
    (definition,) = json.loads(a["gen_ai.tool.definitions"])
    assert definition["type"] == "function" and definition["name"] == "get_weather"
    assert definition["parameters"]["properties"]["city"]["type"] == "string"
    out = json.loads(attributes(first)["gen_ai.output.messages"])
    assert out[0]["finish_reason"] == "tool_call"

    t = attributes(telemetry.one("execute_tool get_weather"))
    assert json.loads(t["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert json.loads(t["gen_ai.tool.call.result"]) == "rainy, 14°C in Paris"

    run = attributes(telemetry.one("invoke_agent weather"))
    assert json.loads(run["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
    ]
    assert json.loads(run["gen_ai.output.messages"])[0]["parts"] == final
    assert SECRET not in everything(telemetry)


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["SPAN_ONLY", "span_and_event", "true"])
async def test_the_environment_variable_turns_content_on(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    telemetry.instrument()
    await run_weather()
    assert "gen_ai.input.messages" in attributes(telemetry.named(f"chat {MODEL}")[0])
    assert SECRET not in everything(telemetry)


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["NO_CONTENT", "EVENT_ONLY", "false", ""])
async def test_other_values_leave_content_off(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    telemetry.instrument()
    await run_weather()
    assert all(CONTENT.isdisjoint(attributes(s)) for s in telemetry.spans)


def test_blocks_without_a_part_of_their_own_keep_only_their_type() -> None:
    from agentkit.otel._content import input_messages

    messages = input_messages([
        {"role": "user", "content": [
            {"type": "image",
             "source": {"type": "base64", "media_type": "image/png", "data": "iVB"}},
            {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}},
            {"type": "text", "text": "What is this?"},
        ]},
        {"role": "assistant", "content": [
            {"type": "redacted_thinking", "data": "opaque-secret"},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
             "input": {"query": "q"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        ]},
    ])
    assert messages == [
        {"role": "user", "parts": [
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVB"},
            {"type": "uri", "modality": "document", "uri": "https://x.test/a.pdf"},
            {"type": "text", "content": "What is this?"},
        ]},
        {"role": "assistant", "parts": [
            {"type": "redacted_thinking"},
            {"type": "server_tool_call", "id": "srvtoolu_1", "name": "web_search",
             "server_tool_call": {"type": "server_tool_use", "arguments": {"query": "q"}}},
            {"type": "server_tool_call_response", "id": "srvtoolu_1",
             "server_tool_call_response": {"type": "web_search_tool_result", "content": []}},
        ]},
    ]


@pytest.mark.asyncio
async def test_captured_content_holding_a_lone_surrogate_is_spelled_with_its_escape(
    telemetry: Telemetry,
) -> None:
    # A reply may hold an escaped lone surrogate (valid JSON); its capture must not fail the
    # run, and stays valid UTF-8 for the exporter.
    telemetry.instrument(capture_content=True)
    transport = ScriptedTransport([
        reply("a\ud800b", tool_calls=[("get_weather", {"city": "P\udfff"}, "toolu_01")]),
        text_reply("Done."),
    ])
    async with AsyncClient(api_key=SECRET, transport=transport, max_retries=0) as client:
        result = await Agent(MODEL, client=client, tools=[get_weather]).run("Weather?")
    assert result.text == "Done."
    _, second = telemetry.named(f"chat {MODEL}")
    captured = attributes(second)["gen_ai.input.messages"]
    captured.encode()  # UTF-8 can carry it
    assert "a\\ud800b" in captured and json.loads(captured)[1]["parts"][0]["content"] == "a\ud800b"


@pytest.mark.asyncio
async def test_an_error_message_holding_a_lone_surrogate_is_exported_as_utf8(
    telemetry: Telemetry,
) -> None:
    # An error body may hold an escaped "\ud800" (valid JSON): the exception's message, its
    # stack trace and the status, as they were, could not be encoded by an OTLP exporter
    # (protobuf strings are UTF-8), which then drops the whole batch of spans.
    telemetry.instrument()
    transport = ScriptedTransport([Fault.error(400, message="bad a\ud800b")])
    async with AsyncClient(api_key=SECRET, transport=transport, max_retries=0) as client:
        with pytest.raises(RunError):
            await Agent(MODEL, client=client).run("Weather?")
    texts = [
        value for span in telemetry.spans
        for value in [span.status.description or "", *attributes(span).values(),
                      *(v for e in span.events for v in (e.attributes or {}).values())]
        if isinstance(value, str)
    ]
    for text in texts:
        text.encode()  # UTF-8 can carry it
    assert any("bad a\\ud800b" in text for text in texts)
