"""Tests of the public fakes: builders, SSE rendering, transport, server."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import aiohttp
import anyio
import httpx
import pytest
from loopback import unclosed_by_the_gc

from agentkit._api.wire import Message, RedactedThinkingBlock, TextBlock, UnknownBlock
from agentkit._errors import UsageError
from agentkit.testing import (
    FakeServer,
    Fault,
    FunctionModel,
    Script,
    ScriptedTransport,
    ScriptError,
    echo_model,
    last_user_text,
    load_script,
    message_to_sse,
    reply,
    schema_example,
    text_reply,
    tool_model,
    tool_reply,
    tool_results,
    with_faults,
)
from agentkit.testing._replies import encode_sse, message_dict, message_to_events

HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-secret"}
REAL_BASE = "https://api.anthropic.com"


def body(*messages: dict[str, Any], stream: bool = False, **extra: Any) -> dict[str, Any]:
    turns = list(messages) or [{"role": "user", "content": "Hello"}]
    return {
        "model": "claude-test-1",
        "max_tokens": 1024,
        "messages": turns,
        "stream": stream,
        **extra,
    }


USE = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
}


def result(tool_use_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": "ok"}


def split_sse(raw: bytes) -> list[dict[str, Any]]:
    """A tiny, strict SSE splitter: every event is exactly `event: X` + `data: {type: X}`."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        name, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        if name.removeprefix("event: ") != event["type"]:
            raise ValueError(f"event name and type differ in {block!r}")
        events.append(event)
    return events


def reduce_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold SSE events into the message dict they describe (independent of `_streaming`)."""
    msg: dict[str, Any] = {}
    json_parts: dict[int, list[str]] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            msg = {**event["message"], "content": []}
        elif kind == "content_block_start":
            msg["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            block, delta = msg["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "citations_delta":
                block["citations"].append(delta["citation"])
            elif delta["type"] == "input_json_delta":
                json_parts.setdefault(event["index"], []).append(delta["partial_json"])
        elif kind == "content_block_stop" and event["index"] in json_parts:
            text = "".join(json_parts[event["index"]])
            msg["content"][event["index"]]["input"] = json.loads(text) if text else {}
        elif kind == "message_delta":
            msg.update(event["delta"])
            msg["usage"] = {**msg["usage"], **event["usage"]}
    return msg


# -- builders ------------------------------------------------------------------------------


def test_reply_orders_blocks_and_makes_realistic_ids() -> None:
    msg = reply("Let me check.", tool_calls=[("get_weather", {"city": "Paris"})], thinking="hmm")
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.id.startswith("msg_01") and len(msg.id) == len("msg_") + 24
    assert msg.tool_uses[0].id.startswith("toolu_01")
    assert msg.content[0].signature  # a thinking block always carries a signature
    assert msg.stop_reason == "tool_use"
    assert msg.usage.output_tokens > 1


def test_text_and_tool_reply_defaults() -> None:
    assert text_reply("hi").stop_reason == "end_turn"
    call = tool_reply("lookup", {"q": "x"})
    assert (call.stop_reason, call.tool_uses[0].name, call.tool_uses[0].input) == (
        "tool_use",
        "lookup",
        {"q": "x"},
    )
    assert reply(tool_calls=[("f", {}, "toolu_fixed")]).tool_uses[0].id == "toolu_fixed"


def test_message_dict_puts_type_on_constructed_blocks() -> None:
    msg = Message(id="msg_1", model="m", content=[TextBlock(text="hi")])
    data = message_dict(msg)
    assert data["content"] == [{"type": "text", "text": "hi"}]
    assert (data["type"], data["role"], data["stop_reason"]) == ("message", "assistant", None)


# -- SSE rendering -------------------------------------------------------------------------


def test_sse_reduces_back_to_the_same_message() -> None:
    msg = reply(
        "The weather in Paris is sunny and warm today.",
        tool_calls=[("get_weather", {"city": "Paris", "units": "metric"}), ("noop", {})],
        thinking="I should call the weather tool for Paris, then answer.",
    )
    assert reduce_events(split_sse(message_to_sse(msg, chunk_size=8))) == message_dict(msg)


def test_sse_has_the_shape_of_real_streams() -> None:
    msg = reply("Hello there, world", tool_calls=[("f", {"city": "Paris"})], thinking="think")
    events = message_to_events(msg, chunk_size=5)
    start = events[0]["message"]
    assert (start["content"], start["stop_reason"], start["usage"]["output_tokens"]) == (
        [],
        None,
        1,
    )
    assert events[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert events[2] == {"type": "ping"}
    thinking = [e["delta"]["type"] for e in events if e.get("index") == 0 and "delta" in e]
    assert thinking[-1] == "signature_delta" and thinking.count("signature_delta") == 1
    texts = [e["delta"]["text"] for e in events if e.get("delta", {}).get("type") == "text_delta"]
    assert len(texts) > 2
    tool_start = next(e for e in events if e.get("content_block", {}).get("type") == "tool_use")
    assert tool_start["content_block"]["input"] == {}
    parts = [e["delta"]["partial_json"] for e in events if "partial_json" in e.get("delta", {})]
    assert parts[0] == "" and len(parts) > 2
    assert not any(_is_json(p) for p in parts[1:])  # split mid-token, not at value boundaries
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_opaque_and_unknown_blocks_arrive_whole_in_block_start() -> None:
    unknown = UnknownBlock.model_validate({"type": "future_block", "payload": [1, 2]})
    msg = reply("x")
    msg.content[:0] = [RedactedThinkingBlock(type="redacted_thinking", data="Enc=="), unknown]
    events = message_to_events(msg)
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert starts[:2] == [
        {"type": "redacted_thinking", "data": "Enc=="},
        {"type": "future_block", "payload": [1, 2]},
    ]
    assert not [e for e in events if e["type"] == "content_block_delta" and e["index"] < 2]


def test_citations_come_as_deltas_before_text() -> None:
    cite = {"type": "char_location", "cited_text": "sky", "document_index": 0}
    msg = Message.model_validate(
        {
            "id": "msg_1",
            "model": "m",
            "content": [{"type": "text", "text": "Blue.", "citations": [cite]}],
        }
    )
    events = message_to_events(msg)
    assert events[1]["content_block"] == {"type": "text", "text": "", "citations": []}
    assert events[3]["delta"] == {"type": "citations_delta", "citation": cite}
    assert reduce_events(events) == message_dict(msg)


def test_rendering_a_real_stream_gives_the_real_event_sequence(
    load_real: Callable[..., Any],
) -> None:
    real = split_sse(load_real("stream_thinking_tool_use")["response"]["sse"].encode())
    ours = message_to_events(reduce_events(real))

    def shape(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for e in events:
            item = (e["type"], e.get("delta", {}).get("type", ""))
            if not out or out[-1] != item:  # runs of deltas differ in length only
                out.append(item)
        return out

    assert shape(ours) == shape(real)
    assert reduce_events(ours) == reduce_events(real)


def test_agentkit_streaming_reducer_reads_our_sse() -> None:
    streaming = pytest.importorskip("agentkit._api.streaming")
    msg = reply("Sure: here you go.", tool_calls=[("f", {"a": [1, 2, 3]})], thinking="ok")
    parsed = streaming.message_from_sse(message_to_sse(msg, chunk_size=3))
    assert parsed.to_wire()["content"] == message_dict(msg)["content"]
    assert parsed.stop_reason == "tool_use"


# -- ScriptedTransport ---------------------------------------------------------------------


def client(transport: ScriptedTransport, **kwargs: Any) -> httpx.Client:
    return httpx.Client(transport=transport, base_url=REAL_BASE, headers=HEADERS, **kwargs)


def test_transport_serves_json_with_model_and_usage_from_the_request() -> None:
    transport = ScriptedTransport([text_reply("Hi!")])
    response = client(transport).post("/v1/messages", json=body())
    data = response.json()
    assert response.status_code == 200 and response.headers["request-id"].startswith("req_")
    assert (data["model"], data["content"]) == ("claude-test-1", [{"type": "text", "text": "Hi!"}])
    assert data["usage"]["input_tokens"] > 0
    transport.assert_consumed()


def test_transport_serves_sse_in_several_chunks_when_asked_to_stream() -> None:
    msg = text_reply("A reply long enough to need several text deltas.")
    transport = ScriptedTransport([msg])
    with client(transport).stream("POST", "/v1/messages", json=body(stream=True)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = list(response.iter_raw())
    assert len(chunks) > 5
    assert reduce_events(split_sse(b"".join(chunks)))["content"] == message_dict(msg)["content"]


def test_transport_records_requests_with_credentials_redacted() -> None:
    transport = ScriptedTransport(["one", "two"])
    http = client(transport)
    http.post("/v1/messages", json=body())
    http.post("/v1/messages", json=body(), headers={"authorization": "Bearer tok-secret"})
    first, second = transport.requests
    assert (first.method, first.path, first.step, first.body) == ("POST", "/v1/messages", 0, body())
    assert first.headers["x-api-key"] == "<redacted>"
    assert second.headers["authorization"] == "Bearer <redacted>"
    assert "secret" not in repr(transport.requests)


def test_transport_tolerates_beta_query_and_gateway_prefix() -> None:
    transport = ScriptedTransport(["a", "b"])
    http = client(transport)
    assert http.post("/v1/messages?beta=true", json=body()).status_code == 200
    assert http.post("/anthropic/v1/messages", json=body()).status_code == 200
    assert transport.requests[0].query == "beta=true"


def test_count_tokens_and_models_do_not_consume_steps() -> None:
    transport = ScriptedTransport([])
    http = client(transport)
    assert http.post("/v1/messages/count_tokens", json=body()).json()["input_tokens"] > 0
    models = http.get("/v1/models").json()
    assert models["data"][0]["type"] == "model" and models["has_more"] is False
    assert http.get("/v1/models/claude-sonnet-4-5").json()["id"].startswith("claude-sonnet-4-5")
    assert http.post("/v1/nothing", json={}).status_code == 404
    transport.assert_consumed()


def test_a_function_step_sees_the_request_and_plays_the_model() -> None:
    def model(request: dict[str, Any]) -> Message:
        results = tool_results(request)
        if not results:
            return tool_reply("get_weather", {"city": last_user_text(request)})
        return text_reply(f"It is {results[0]['content']}.")

    transport = ScriptedTransport(FunctionModel(model))
    http = client(transport)
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    call = http.post(
        "/v1/messages", json=body({"role": "user", "content": "Paris"}, tools=tools)
    ).json()
    assert call["content"][0]["input"] == {"city": "Paris"}
    followup = body(
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": call["content"]},
        {"role": "user", "content": [{**result(call["content"][0]["id"]), "content": "sunny"}]},
        tools=tools,
    )
    assert http.post("/v1/messages", json=followup).json()["content"][0]["text"] == "It is sunny."
    transport.assert_consumed()  # a function model never runs out


def test_schema_example_fits_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "default": 3},
            "unit": {"enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": ["null", "number"]}},
            "note": {"type": "string"},
        },
        "required": ["city", "days", "unit", "tags"],
    }
    assert schema_example(schema) == {"city": "example", "days": 3, "unit": "c", "tags": [1.5]}


def test_tool_model_calls_the_tools_named_in_the_prompt_then_quotes_results() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tools = [
        {"name": "get_weather", "input_schema": schema},
        {"name": "get_time", "input_schema": {"type": "object"}},
        {"name": "unused", "input_schema": {"type": "object"}},
    ]
    http = client(ScriptedTransport(tool_model))
    prompt = {"role": "user", "content": "Use get_weather and get_time."}
    first = http.post("/v1/messages", json=body(prompt, tools=tools)).json()
    calls = [(b["name"], b["input"]) for b in first["content"]]
    assert calls == [("get_weather", {"city": "example"}), ("get_time", {})]
    results = [
        {**result(first["content"][0]["id"]), "content": "sunny"},
        {**result(first["content"][1]["id"]), "content": [{"type": "text", "text": "noon"}]},
    ]
    turns = [prompt, {"role": "assistant", "content": first["content"]}]
    second = http.post(
        "/v1/messages", json=body(*turns, {"role": "user", "content": results}, tools=tools)
    )
    assert second.json()["content"][0]["text"] == "Tool results: sunny; noon"
    no_tool = http.post("/v1/messages", json=body(tools=tools)).json()
    assert no_tool["content"][0]["text"] == "echo: Hello"


def test_with_faults_injects_faults_by_request_number() -> None:
    by_number = with_faults(echo_model, {1: Fault.overloaded()})
    every_other = with_faults(echo_model, lambda n, body: Fault.reset() if n % 2 else None)
    http = client(ScriptedTransport(by_number))
    statuses = [http.post("/v1/messages", json=body()).status_code for _ in range(3)]
    assert statuses == [200, 529, 200]
    http = client(ScriptedTransport(every_other))
    assert http.post("/v1/messages", json=body()).status_code == 200
    with pytest.raises(httpx.ReadError):
        http.post("/v1/messages", json=body())


def test_echo_model_and_callable_steps_returning_text() -> None:
    transport = ScriptedTransport([echo_model, lambda request: "plain text"])
    http = client(transport)
    assert http.post("/v1/messages", json=body()).json()["content"][0]["text"] == "echo: Hello"
    assert http.post("/v1/messages", json=body()).json()["content"][0]["text"] == "plain text"


def test_a_request_with_no_step_left_fails_loudly() -> None:
    transport = ScriptedTransport(["only"])
    http = client(transport)
    http.post("/v1/messages", json=body())
    with pytest.raises(ScriptError, match="request 2 to POST /v1/messages has no scripted step"):
        http.post("/v1/messages", json=body())
    with pytest.raises(ScriptError):
        transport.assert_consumed()  # the failure is also kept for the end of the test


def test_a_step_function_that_raises_is_reported_with_its_name() -> None:
    def broken(request: dict[str, Any]) -> str:
        raise KeyError("tools")

    with pytest.raises(ScriptError, match=r"step 0 \(function broken\) raised KeyError"):
        client(ScriptedTransport([broken])).post("/v1/messages", json=body())


def test_unconsumed_steps_fail_on_assert_and_on_leaving_the_with_block() -> None:
    transport = ScriptedTransport(["used", tool_reply("search"), Fault.overloaded()])
    client(transport).post("/v1/messages", json=body())
    with pytest.raises(
        ScriptError, match=r"step 1 \(reply calling search\); step 2 \(Fault.http_529\)"
    ):
        transport.assert_consumed()
    with pytest.raises(ScriptError, match="2 scripted step"), transport:
        pass


def test_a_client_closing_inside_the_test_block_does_not_check_early() -> None:
    with ScriptedTransport(["a", "b"]) as transport:
        with client(transport) as http:  # enters and exits the transport too
            http.post("/v1/messages", json=body())
        with client(transport) as http:
            http.post("/v1/messages", json=body())


@pytest.mark.asyncio
async def test_transport_works_with_an_async_client() -> None:
    transport = ScriptedTransport([text_reply("async hi"), "second"])
    async with httpx.AsyncClient(transport=transport, base_url=REAL_BASE, headers=HEADERS) as http:
        assert (await http.post("/v1/messages", json=body())).json()["content"][0][
            "text"
        ] == "async hi"
        async with http.stream("POST", "/v1/messages", json=body(stream=True)) as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert reduce_events(split_sse(raw))["content"][0]["text"] == "second"


# -- faults through the transport ----------------------------------------------------------


def test_status_faults_carry_the_api_error_body_and_headers() -> None:
    transport = ScriptedTransport(
        [Fault.rate_limit(retry_after=2), Fault.overloaded(), Fault.error(400, should_retry=False)]
    )
    http = client(transport)
    limited = http.post("/v1/messages", json=body())
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert limited.json()["request_id"] == limited.headers["request-id"]
    overloaded = http.post("/v1/messages", json=body())
    assert (overloaded.status_code, overloaded.json()["error"]["type"]) == (529, "overloaded_error")
    assert http.post("/v1/messages", json=body()).headers["x-should-retry"] == "false"


def test_reset_raises_a_transport_error_before_any_response() -> None:
    with pytest.raises(httpx.ReadError):
        client(ScriptedTransport([Fault.reset()])).post("/v1/messages", json=body())


def test_cut_stream_ends_mid_block_with_a_protocol_error() -> None:
    transport = ScriptedTransport([Fault.cut(text_reply("one two three four five six seven"))])
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):  # noqa: SIM117 (the error comes mid-body)
        with client(transport).stream("POST", "/v1/messages", json=body(stream=True)) as response:
            for chunk in response.iter_raw():
                received += chunk
    events = split_sse(bytes(received))
    assert events[-1]["type"] == "content_block_delta"
    assert "message_stop" not in [e["type"] for e in events]


def test_cut_json_body_is_incomplete() -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client(ScriptedTransport([Fault.cut()])).post("/v1/messages", json=body())


def test_stream_error_event_arrives_mid_stream_after_a_200() -> None:
    transport = ScriptedTransport([Fault.stream_error(), Fault.stream_error()])
    http = client(transport)
    response = http.post("/v1/messages", json=body(stream=True))
    events = split_sse(response.content)
    assert response.status_code == 200
    assert events[-1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert events[-2]["type"] == "content_block_delta"
    assert http.post("/v1/messages", json=body()).status_code == 529  # not streaming: a status


def test_slow_reply_past_the_read_timeout_times_out_without_waiting() -> None:
    late_error = dataclasses.replace(Fault.overloaded(), delay=3600)
    http = client(ScriptedTransport([Fault.slow(3600), late_error]), timeout=1.0)
    for _ in range(2):
        with pytest.raises(httpx.ReadTimeout):
            http.post("/v1/messages", json=body())


def test_malformed_and_raw_replies_are_served_verbatim() -> None:
    unknown_delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "future_delta"}}
    events = message_to_events(text_reply("hi"))
    events.insert(3, unknown_delta)
    sse = encode_sse(events)
    transport = ScriptedTransport(
        [Fault.malformed(), Fault.raw(sse, content_type="text/event-stream"), Fault.malformed()]
    )
    http = client(transport)
    with pytest.raises(json.JSONDecodeError):
        http.post("/v1/messages", json=body()).json()
    assert unknown_delta in split_sse(http.post("/v1/messages", json=body(stream=True)).content)
    with pytest.raises(ValueError):
        split_sse(http.post("/v1/messages", json=body(stream=True)).content)


def test_strict_mode_answers_a_bad_pairing_with_the_real_400() -> None:
    transport = ScriptedTransport(["kept for the next valid request"])
    bad = body(
        {"role": "user", "content": "hi"}, USE, {"role": "user", "content": [result("toolu_x")]}
    )
    response = client(transport).post("/v1/messages", json=bad)
    error = response.json()
    assert response.status_code == 400 and response.headers["x-should-retry"] == "false"
    assert set(error) == {"type", "error", "request_id"}
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith("messages.2.content.0: unexpected `tool_use_id`")
    assert transport.requests[0].step is None and len(transport.script.remaining) == 1
    lenient = ScriptedTransport(["ok"], strict=False)
    assert client(lenient).post("/v1/messages", json=bad).status_code == 200


# -- FakeServer ----------------------------------------------------------------------------


def post(server: FakeServer, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=server.base_url, headers=HEADERS, **kwargs) as http:
        return http.post("/v1/messages", json=payload)


def test_server_round_trips_json_over_real_http() -> None:
    with FakeServer([text_reply("over the wire")]) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        response = post(server, body())
    assert response.json()["content"] == [{"type": "text", "text": "over the wire"}]
    assert response.headers["request-id"].startswith("req_")
    assert server.requests[0].headers["x-api-key"] == "<redacted>"


def test_server_streams_sse_in_separate_chunks() -> None:
    msg = reply("Streaming over a real socket, in pieces.", tool_calls=[("f", {"k": "value"})])
    with FakeServer([msg], chunk_delay=0.001) as server, httpx.Client(headers=HEADERS) as http:
        url = server.base_url + "/v1/messages?beta=true"
        with http.stream("POST", url, json=body(stream=True)) as response:
            chunks = list(response.iter_raw())
    assert len(chunks) > 5
    assert reduce_events(split_sse(b"".join(chunks)))["content"] == message_dict(msg)["content"]


@pytest.mark.asyncio
async def test_server_serves_aiohttp_clients_and_concurrent_requests() -> None:
    with FakeServer(echo_model, latency=0.01) as server:
        async with aiohttp.ClientSession(headers=HEADERS) as session:

            async def ask(n: int) -> str:
                payload = body({"role": "user", "content": f"n{n}"})
                async with session.post(server.base_url + "/v1/messages", json=payload) as resp:
                    return (await resp.json())["content"][0]["text"]

            answers: list[str] = [""] * 50
            async with anyio.create_task_group() as group:
                for n in range(50):

                    async def one(n: int = n) -> None:
                        answers[n] = await ask(n)

                    group.start_soon(one)
    assert answers == [f"echo: n{n}" for n in range(50)]
    assert len(server.requests) == 50


def test_server_faults_reset_cut_status_and_malformed() -> None:
    steps = [Fault.reset(), Fault.cut(), Fault.rate_limit(retry_after=7), Fault.malformed()]
    with FakeServer(steps) as server:
        with pytest.raises(httpx.TransportError):
            post(server, body())
        url = server.base_url + "/v1/messages"
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.Client(headers=HEADERS) as http,
            http.stream("POST", url, json=body(stream=True)) as cut,
        ):
            for _ in cut.iter_raw():
                pass
        limited = post(server, body())
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
        assert limited.json()["error"]["type"] == "rate_limit_error"
        with pytest.raises(json.JSONDecodeError):
            post(server, body()).json()


def test_server_slow_reply_trips_a_client_timeout_and_stop_cancels_it() -> None:
    with FakeServer([Fault.slow(30)]) as server, pytest.raises(httpx.ReadTimeout):
        post(server, body(), timeout=0.05)


def test_server_rejects_a_bad_pairing_with_a_realistic_400() -> None:
    bad = body(
        {"role": "user", "content": "hi"}, USE, {"role": "user", "content": [result("toolu_x")]}
    )
    with FakeServer(["unused"]) as server:
        response = post(server, bad)
        server.push()  # nothing added: the step stays for a valid request
        post(server, body())
    assert response.status_code == 400
    assert "unexpected `tool_use_id`" in response.json()["error"]["message"]


def test_server_answers_an_unscripted_request_with_400_and_fails_on_exit() -> None:
    server = FakeServer([]).start()
    try:
        response = post(server, body())
    finally:
        server.stop()
    assert (response.status_code, response.headers["x-should-retry"]) == (400, "false")
    assert "has no scripted step" in response.json()["error"]["message"]
    with pytest.raises(ScriptError, match="has no scripted step"):
        server.assert_consumed()
    with pytest.raises(ScriptError, match="never requested"), FakeServer(["left over"]):
        pass


def test_server_reads_a_large_request_body() -> None:
    big = body({"role": "user", "content": "x" * 3_000_000})
    with FakeServer([lambda request: f"{len(last_user_text(request))} chars"]) as server:
        assert post(server, big).json()["content"][0]["text"] == "3000000 chars"


def test_start_reports_a_busy_port_and_a_double_start() -> None:
    with FakeServer([]) as server:
        with pytest.raises(OSError):
            FakeServer(port=server.port).start()
        with pytest.raises(UsageError, match="called twice"):
            server.start()


def test_stop_leaves_no_thread_or_listening_socket() -> None:
    server = FakeServer(["x"]).start()
    assert "agentkit-fake-server" in [t.name for t in threading.enumerate()]
    post(server, body())  # leaves a keep-alive connection open until stop()
    port = server.port
    server.stop()
    server.stop()  # idempotent
    assert "agentkit-fake-server" not in [t.name for t in threading.enumerate()]
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


def test_stop_closes_connections_still_being_accepted() -> None:
    # Connections made just before stop() are still being accepted by the server's loop when
    # it stops: each must be closed then, not left open for the GC to find in a later test
    # (a ResourceWarning, an error under `filterwarnings = error`).
    for _ in range(3):
        server = FakeServer([]).start()
        clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
        server.stop()
        try:
            for client in clients:
                client.settimeout(10)
                with contextlib.suppress(ConnectionResetError):
                    assert client.recv(1) == b""  # the server's end is closed
        finally:
            for client in clients:
                client.close()
        assert not unclosed_by_the_gc()


def test_load_script_reads_texts_faults_and_messages() -> None:
    lines = [
        '"plain text"',
        "",
        '{"fault": "rate_limit", "retry_after": 3}',
        '{"content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn"}',
    ]
    text, fault, msg = load_script(lines)
    assert text == "plain text"
    assert fault == Fault.rate_limit(retry_after=3)
    assert isinstance(msg, Message) and msg.text == "hi" and msg.id.startswith("msg_")
    with pytest.raises(ValueError, match="script line 1"):
        load_script(['{"fault": "no_such_fault"}'])


def test_serve_command_serves_a_jsonl_script(tmp_path: Any) -> None:
    import re
    import subprocess
    import sys

    script = tmp_path / "script.jsonl"
    script.write_text('"from the file"\n{"fault": "overloaded"}\n', encoding="utf-8")
    command = [sys.executable, "-m", "agentkit.testing", "serve", "--script", str(script)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = re.search(r"http://\S+", process.stdout.readline())
            assert url is not None
            with httpx.Client(base_url=url.group(0), headers=HEADERS) as http:
                first = http.post("/v1/messages", json=body())
                second = http.post("/v1/messages", json=body())
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0  # SIGTERM stops it cleanly
    assert first.json()["content"][0]["text"] == "from the file"
    assert second.status_code == 529


# -- with agentkit's own client ------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("front", ["transport", "server"])
async def test_agentkit_client_understands_served_replies_and_faults(front: str) -> None:
    client_module = pytest.importorskip("agentkit._api.client")
    from agentkit._errors import APIStreamError, IncompleteStreamError

    steps = [Fault.overloaded(), text_reply("after a retry"), Fault.cut(), Fault.stream_error()]
    transport = ScriptedTransport(steps)
    server = FakeServer(steps)
    with transport if front == "transport" else server:
        api = client_module.AsyncClient(
            api_key="k",
            base_url=server.base_url if front == "server" else REAL_BASE,
            transport=transport if front == "transport" else None,
            max_retries=1,
        )

        async def no_sleep(delay: float) -> None:
            pass

        api._sleep = no_sleep  # the 529 is retried at once
        params = {k: v for k, v in body().items() if k != "stream"}
        assert (await api.create(params)).text == "after a retry"
        with pytest.raises(IncompleteStreamError):
            async with api.stream(params) as stream:
                await stream.get_final_message()
        with pytest.raises(APIStreamError):
            async with api.stream(params) as stream:
                await stream.get_final_message()
        await api.aclose()


@pytest.mark.asyncio
async def test_wire_chunks_split_events_and_characters_and_still_decode() -> None:
    client_module = pytest.importorskip("agentkit._api.client")
    text = "Héllo wörld ✓, un café très “spécial”"
    script = Script([text_reply(text), text_reply(text)], wire_chunk=7)
    transport = ScriptedTransport(script)
    with transport:
        http = httpx.Client(transport=transport, base_url=REAL_BASE, headers=HEADERS)
        with http.stream("POST", "/v1/messages", json=body(stream=True)) as response:
            chunks = list(response.iter_raw())
        api = client_module.AsyncClient(api_key="k", transport=transport)
        params = {k: v for k, v in body().items() if k != "stream"}
        async with api.stream(params) as stream:
            assert (await stream.get_final_message()).text == text
        await api.aclose()
    assert {len(c) for c in chunks[:-1]} == {7}
    assert any(not c.endswith(b"\n\n") for c in chunks)
    with pytest.raises(UnicodeDecodeError):  # some chunk ends inside a character
        for chunk in chunks:
            chunk.decode()


def test_the_strict_fake_answers_a_body_over_32_mb_with_the_api_s_413() -> None:
    # It answered any size, so a run whose conversation outgrew the API's limit passed.
    from agentkit import Client, RequestTooLargeError

    transport = ScriptedTransport([text_reply("never")])
    with (
        Client(api_key="sk-test", transport=transport, max_retries=0) as client,
        pytest.raises(RequestTooLargeError, match="request_too_large: Request exceeds"),
    ):
        client.create(model="claude-sonnet-4-5", max_tokens=10,
                      messages=[{"role": "user", "content": "x" * 32_000_001}])
