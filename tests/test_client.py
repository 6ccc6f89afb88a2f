"""Client and AsyncClient over `httpx.MockTransport`: requests, retries, errors, streams."""

import asyncio
import json
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from loopback import cleanup

from agentkit._api.client import AsyncClient, Client
from agentkit._api.wire import Message, TextBlock
from agentkit._errors import (
    APIConnectionError,
    APIError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    IncompleteStreamError,
    InternalServerError,
    MalformedStreamError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
    UsageError,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "real"
KEY = "sk-ant-test-SECRET-0123456789"
PARAMS: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def recorded_response(name: str) -> dict[str, Any]:
    path = REAL / f"{name}.json"
    if not path.exists():
        pytest.skip(f"recording {path} not available")
    return json.loads(path.read_text(encoding="utf-8"))["response"]


def message_json(text: str = "Hello!") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }


def error_json(kind: str, message: str = "boom") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_b"}


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events
    )


START = {"type": "message_start", "message": {**message_json(), "content": [], "stop_reason": None}}
BLOCK = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
DELTA = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Yo"}}
STOP_BLOCK = {"type": "content_block_stop", "index": 0}
MSG_DELTA = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn"},
    "usage": {"output_tokens": 5},
}
STOP = {"type": "message_stop"}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
FULL = sse(START, BLOCK, DELTA, STOP_BLOCK, MSG_DELTA, STOP)
SSE_HEADERS = {"content-type": "text/event-stream", "request-id": "req_s"}

Reply = httpx.Response | Exception


class Server:
    """A MockTransport handler that replays queued replies and records every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def ok(body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=message_json() if body is None else body, headers=headers)


def status(code: int, kind: str = "api_error", **headers: str) -> httpx.Response:
    return httpx.Response(code, json=error_json(kind), headers=headers)


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that yields `parts` and then, optionally, fails like a dropped socket."""

    def __init__(self, *parts: bytes, fail: Exception | None = None) -> None:
        self.parts, self.fail = parts, fail
        self.closed = False

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts
        if self.fail:
            raise self.fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        if self.fail:
            raise self.fail


def streamed(*parts: bytes, fail: Exception | None = None) -> httpx.Response:
    return httpx.Response(200, headers=SSE_HEADERS, stream=Chunks(*parts, fail=fail))


def make_async(server: Server, delays: list[float] | None = None, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("api_key", KEY)
    client = AsyncClient(transport=httpx.MockTransport(server), **kwargs)

    async def sleep(delay: float) -> None:
        if delays is not None:
            delays.append(delay)

    client._sleep = sleep
    return client


def make_sync(server: Server, delays: list[float] | None = None, **kwargs: Any) -> Client:
    kwargs.setdefault("api_key", KEY)
    client = Client(transport=httpx.MockTransport(server), **kwargs)
    client._sleep = (delays if delays is not None else []).append
    return client


# -- requests -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_create_sends_the_contract_headers_and_body() -> None:
    server = Server(ok(**{"request-id": "req_1"}))
    async with make_async(server, betas=["b-1"]) as client:
        message = await client.create(**PARAMS, betas=["b-2"], extra_headers={"X-Trace": "t"})
    assert isinstance(message, Message) and message.text == "Hello!"
    request = server.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://api.anthropic.com/v1/messages")
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["anthropic-beta"] == "b-1,b-2"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-trace"] == "t"
    assert server.body() == PARAMS


@pytest.mark.asyncio
async def test_auth_schemes_version_override_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "env-token")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gw.example/anthropic")
    server = Server(ok(), ok())
    async with make_async(server, api_key=None, anthropic_version="2099-01-01") as client:
        await client.create(PARAMS)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN")
    async with make_async(server, auth_scheme="bearer") as client:
        await client.create(PARAMS)
    first, second = server.requests
    assert first.headers["authorization"] == "Bearer env-token" and "x-api-key" not in first.headers
    assert first.headers["anthropic-version"] == "2099-01-01"
    assert str(first.url) == "https://gw.example/anthropic/v1/messages"
    assert second.headers["authorization"] == f"Bearer {KEY}" and "x-api-key" not in second.headers


@pytest.mark.asyncio
async def test_base_url_with_a_path_prefix_keeps_it() -> None:
    server = Server(ok(), ok(body={"input_tokens": 3}))
    async with make_async(server, base_url="https://gw.example/anthropic/") as client:
        await client.create(PARAMS)
        await client.count_tokens(model="m", messages=[])
    assert [r.url.path for r in server.requests] == [
        "/anthropic/v1/messages",
        "/anthropic/v1/messages/count_tokens",
    ]


def test_clients_share_one_tls_context_per_trust_and_sync_ones_trust_nothing_over_http() -> None:
    # Each client used to build its own (~2 ms of CPU; ~20 ms more to load the CA bundle).
    https = [AsyncClient(api_key="k", base_url="https://api.example.com") for _ in range(2)]
    contexts = [client._transport.ssl_context for client in https]  # type: ignore[union-attr]
    assert contexts[0] is contexts[1] and contexts[0].cert_store_stats()["x509_ca"] > 0
    sync = Client(api_key="k", base_url="http://127.0.0.1:9")
    pool = sync._transport._pool  # type: ignore[union-attr]
    assert pool._ssl_context.cert_store_stats()["x509_ca"] == 0
    sync.close()


def test_gateway_recording_parses_through_create() -> None:
    response = recorded_response("gateway_text_reply")
    server = Server(httpx.Response(200, json=response["body"], headers=response["headers"]))
    with make_sync(server, base_url="http://localhost:8787/anthropic", api_key=None) as client:
        message = client.create(PARAMS)
    assert message.text == "The capital of France is Paris."
    assert server.requests[0].url.path == "/anthropic/v1/messages"
    assert "x-api-key" not in server.requests[0].headers  # loopback: no credentials needed


@pytest.mark.asyncio
async def test_params_and_keywords_merge_and_are_checked() -> None:
    server = Server(ok())
    async with make_async(server) as client:
        await client.create(PARAMS, temperature=0.5)
        with pytest.raises(UsageError, match="max_tokens"):
            await client.create(model="m", messages=[])
        with pytest.raises(UsageError, match=r"stream\(\)"):
            await client.create(PARAMS, stream=True)
    assert server.body() == {**PARAMS, "temperature": 0.5}
    assert "temperature" not in PARAMS


@pytest.mark.asyncio
async def test_create_raw_returns_the_decoded_dict() -> None:
    server = Server(ok())
    async with make_async(server) as client:
        assert await client.create_raw(PARAMS) == message_json()


@pytest.mark.asyncio
async def test_a_200_that_is_not_a_message_is_an_api_error() -> None:
    server = Server(httpx.Response(200, text="<html>login</html>", headers={"request-id": "r"}))
    async with make_async(server) as client:
        with pytest.raises(APIError, match="not a valid Message") as caught:
            await client.create(PARAMS)
    assert caught.value.request_id == "r"


@pytest.mark.asyncio
async def test_per_call_timeout_reaches_the_transport() -> None:
    server = Server(ok(), ok())
    async with make_async(server, connect_timeout=2.0, read_timeout=30.0) as client:
        await client.create(PARAMS)
        await client.create(PARAMS, timeout=7.0)
    first, second = (r.extensions["timeout"] for r in server.requests)
    assert (first["connect"], first["read"]) == (2.0, 30.0)
    assert (second["connect"], second["read"]) == (2.0, 7.0)


# -- errors and retries -------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "kind", "cls"),
    [
        (400, "invalid_request_error", BadRequestError),
        (401, "authentication_error", AuthenticationError),
        (404, "not_found_error", NotFoundError),
        (429, "rate_limit_error", RateLimitError),
        (500, "api_error", InternalServerError),
        (529, "overloaded_error", OverloadedError),
    ],
)
async def test_status_raises_its_class_with_details(code: int, kind: str, cls: type) -> None:
    server = Server(status(code, kind, **{"request-id": "req_h"}))
    async with make_async(server, max_retries=0) as client:
        with pytest.raises(cls) as caught:
            await client.create(PARAMS)
    error = caught.value
    assert (error.status_code, error.error_type, error.request_id) == (code, kind, "req_b")
    assert "boom" in error.message


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [408, 409, 429, 500, 503, 529])
async def test_transient_statuses_are_retried_with_backoff(code: int) -> None:
    delays: list[float] = []
    server = Server(status(code), status(code), ok())
    async with make_async(server, delays) as client:
        assert (await client.create(PARAMS)).text == "Hello!"
    assert len(server.requests) == 3
    assert 0.375 <= delays[0] <= 0.5 and 0.75 <= delays[1] <= 1.0


@pytest.mark.asyncio
async def test_retries_are_exhausted_then_the_last_error_is_raised() -> None:
    delays: list[float] = []
    server = Server(status(529), status(529), status(529, "overloaded_error"))
    async with make_async(server, delays) as client:
        with pytest.raises(OverloadedError):
            await client.create(PARAMS)
    assert len(server.requests) == 3 and len(delays) == 2


@pytest.mark.asyncio
async def test_per_call_max_retries_overrides_the_clients() -> None:
    delays: list[float] = []
    server = Server(status(529), status(529), ok())
    async with make_async(server, delays, max_retries=5) as client:
        with pytest.raises(OverloadedError):
            await client.create(PARAMS, max_retries=0)
        with pytest.raises(UsageError, match="max_retries"):
            await client.create(PARAMS, max_retries=-1)
        stream = client.stream(PARAMS, max_retries=0)
        with pytest.raises(OverloadedError):
            async with stream:
                pass
    assert len(server.requests) == 2 and delays == []
    assert "max_retries" not in server.body()


@pytest.mark.asyncio
async def test_a_status_error_keeps_what_its_response_said_about_retrying() -> None:
    server = Server(status(429, **{"retry-after": "3", "x-should-retry": "false"}))
    async with make_async(server) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.create(PARAMS)
    assert (caught.value.retry_after, caught.value.should_retry) == (3.0, False)
    assert len(server.requests) == 1


@pytest.mark.asyncio
async def test_retry_after_headers_set_the_delay() -> None:
    delays: list[float] = []
    server = Server(
        status(429, **{"retry-after-ms": "250"}),
        status(429, **{"retry-after": "3"}),
        status(429, **{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),  # past: back off
        ok(),
    )
    async with make_async(server, delays, max_retries=3) as client:
        await client.create(PARAMS)
    assert delays[:2] == [0.25, 3.0]
    assert 1.5 <= delays[2] <= 2.0


@pytest.mark.asyncio
async def test_x_should_retry_is_obeyed() -> None:
    server = Server(status(500, **{"x-should-retry": "false"}))
    async with make_async(server) as client:
        with pytest.raises(InternalServerError):
            await client.create(PARAMS)
    assert len(server.requests) == 1
    server = Server(status(400, **{"x-should-retry": "true"}), ok())
    async with make_async(server, []) as client:
        await client.create(PARAMS)
    assert len(server.requests) == 2


@pytest.mark.asyncio
async def test_connection_errors_are_retried_then_raised_without_the_httpx_cause() -> None:
    delays: list[float] = []
    reset = httpx.ConnectError("connection refused")
    server = Server(reset, httpx.ReadTimeout("slow"), ok(), reset, reset, reset)
    async with make_async(server, delays) as client:
        assert (await client.create(PARAMS)).text == "Hello!"
        with pytest.raises(APIConnectionError, match="connection refused") as caught:
            await client.create(PARAMS)
    assert len(server.requests) == 6 and len(delays) == 4
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.asyncio
async def test_a_timeout_is_an_api_timeout_error() -> None:
    server = Server(httpx.ReadTimeout("slow"))
    async with make_async(server, max_retries=0) as client:
        with pytest.raises(APITimeoutError, match="read_timeout"):
            await client.create(PARAMS)


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_secrets_never_reach_reprs_exceptions_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"type": "error", "error": {"type": "authentication_error", "message": f"bad {KEY}"}}
    server = Server(httpx.ConnectError("refused"), httpx.Response(401, json=echo))
    async with make_async(server, []) as client:
        for text in (repr(client), str(client)):
            assert KEY not in text and "<redacted>" in text
        with pytest.raises(AuthenticationError) as caught:
            await client.create(PARAMS)
        stream = client.stream(PARAMS)
    error = caught.value
    assert "<redacted>" in error.message
    rendered = [str(error), repr(error), json.dumps(error.body)]
    rendered += traceback.format_exception(error)
    assert not [text for text in rendered if KEY in text]
    assert KEY not in repr(stream) and KEY not in repr(stream._opener)  # holds the Call
    messages = [record.getMessage() for record in caplog.records]
    assert any("retry 1 of 2" in m for m in messages)  # retries are logged ...
    assert not [m for m in messages if KEY in m]  # ... without the key


# -- streams ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stream_yields_typed_events_then_the_final_message() -> None:
    server = Server(streamed(FULL[:50], FULL[50:]))
    async with make_async(server) as client, client.stream(**PARAMS) as stream:
        assert stream.request_id == "req_s"
        assert stream.response_headers["content-type"] == "text/event-stream"
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds == [e["type"] for e in (START, BLOCK, DELTA, STOP_BLOCK, MSG_DELTA, STOP)]
    assert final.content == [TextBlock(text="Yo")] and final.usage.output_tokens == 5
    assert server.body()["stream"] is True


@pytest.mark.asyncio
async def test_stream_of_a_real_recording() -> None:
    response = recorded_response("stream_text")
    server = Server(
        httpx.Response(200, headers=response["headers"], content=response["sse"].encode())
    )
    async with make_async(server) as client, client.stream(PARAMS) as stream:
        texts = [text async for text in stream.text_stream()]
        final = await stream.get_final_message()
    assert "".join(texts) == final.text == "- Captain\n- Scoop"
    assert stream.request_id == "req_011CYEXg9iLMo4YhB4XfkXBw"


@pytest.mark.asyncio
async def test_stream_is_retried_before_its_first_event() -> None:
    delays: list[float] = []
    server = Server(
        status(529, "overloaded_error"),
        httpx.ConnectError("reset"),
        streamed(sse(OVERLOADED)),
        streamed(FULL),
    )
    async with make_async(server, delays, max_retries=3) as client, client.stream(PARAMS) as s:
        final = await s.get_final_message()
    assert final.text == "Yo" and len(server.requests) == 4 and len(delays) == 3


@pytest.mark.asyncio
async def test_stream_is_not_retried_after_content_was_yielded() -> None:
    server = Server(streamed(sse(START, BLOCK, DELTA, OVERLOADED)), streamed(FULL))
    async with make_async(server, []) as client, client.stream(PARAMS) as stream:
        with pytest.raises(APIStreamError) as caught:
            async for _ in stream:
                pass
    assert caught.value.error_type == "overloaded_error"
    assert caught.value.request_id == "req_s"
    assert len(server.requests) == 1


@pytest.mark.asyncio
async def test_truncated_stream_raises_incomplete_with_the_partial() -> None:
    server = Server(streamed(sse(START, BLOCK, DELTA)))
    async with make_async(server, []) as client, client.stream(PARAMS) as stream:
        with pytest.raises(IncompleteStreamError) as caught:
            await stream.get_final_message()
    assert caught.value.partial.text == "Yo"
    assert len(server.requests) == 1


@pytest.mark.asyncio
async def test_connection_lost_mid_stream_raises_incomplete() -> None:
    server = Server(streamed(sse(START, BLOCK, DELTA), fail=httpx.ReadError("reset")))
    async with make_async(server, []) as client, client.stream(PARAMS) as stream:
        with pytest.raises(IncompleteStreamError, match="reset") as caught:
            await stream.get_final_message()
    assert caught.value.partial.text == "Yo" and caught.value.__context__ is None
    assert len(server.requests) == 1


@pytest.mark.asyncio
async def test_stream_error_status_is_raised_on_entry() -> None:
    server = Server(status(400, "invalid_request_error"))
    async with make_async(server) as client:
        with pytest.raises(BadRequestError):
            async with client.stream(PARAMS):
                pass


@pytest.mark.asyncio
async def test_stream_used_without_entering_is_a_usage_error() -> None:
    async with make_async(Server()) as client:
        with pytest.raises(UsageError, match="enter the stream"):
            await client.stream(PARAMS).get_final_message()


@pytest.mark.asyncio
async def test_raw_events_are_dicts_folded_into_the_final_message() -> None:
    server = Server(streamed(FULL))
    async with make_async(server) as client, client.stream(PARAMS) as stream:
        kinds = [data["type"] async for data in stream.raw_events()]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert final.text == "Yo"


@pytest.mark.asyncio
async def test_a_bad_first_event_closes_the_response() -> None:
    body = Chunks(b"event: message_start\ndata: {not json\n\n")
    server = Server(httpx.Response(200, headers=SSE_HEADERS, stream=body))
    async with make_async(server) as client:
        with pytest.raises(MalformedStreamError):
            async with client.stream(PARAMS):
                pass
    assert body.closed and len(server.requests) == 1


# -- count_tokens and models --------------------------------------------------------------------


# -- lone surrogates --------------------------------------------------------------------------
# `"a\\ud800b"` is valid JSON that UTF-8 cannot carry as it is; a model or a gateway may send it.


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_reply_holding_a_lone_surrogate_is_read_and_sent_back_as_its_escape(
    stream: bool,
) -> None:
    text = "a\ud800b"
    if stream:
        delta = {**DELTA, "delta": {"type": "text_delta", "text": text}}
        first = streamed(sse(START, BLOCK, delta, STOP_BLOCK, MSG_DELTA, STOP))
    else:  # json.dumps writes it escaped, as the API would
        first = httpx.Response(200, content=json.dumps(message_json(text)).encode())
    server = Server(first, ok())
    async with make_async(server) as client:
        if stream:
            async with client.stream(**PARAMS) as events:
                message = await events.get_final_message()
        else:
            message = await client.create(**PARAMS)
        assert message.text == text
        history = [*PARAMS["messages"], message.to_param(), {"role": "user", "content": "And?"}]
        assert (await client.create(**{**PARAMS, "messages": history})).text == "Hello!"
    assert b'"text":"a\\ud800b"' in server.requests[1].content  # valid JSON, nothing lost
    assert server.body()["messages"][1]["content"] == [{"type": "text", "text": text}]


@pytest.mark.asyncio
async def test_count_tokens() -> None:
    response = recorded_response("count_tokens")
    server = Server(httpx.Response(200, json=response["body"]))
    async with make_async(server) as client:
        result = await client.count_tokens(model="m", messages=PARAMS["messages"], system="s")
    assert result.input_tokens == 1114
    assert server.body() == {"model": "m", "messages": PARAMS["messages"], "system": "s"}


def _model(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name.title(), "created_at": "2025-01-01"}


def _pages() -> Server:
    return Server(
        httpx.Response(200, json={"data": [_model("a"), _model("b")], "has_more": True,
                                  "first_id": "a", "last_id": "b"}),
        httpx.Response(200, json={"data": [_model("c")], "has_more": False,
                                  "first_id": "c", "last_id": "c"}),
    )


@pytest.mark.asyncio
async def test_list_models_follows_pages() -> None:
    server = _pages()
    async with make_async(server) as client:
        ids = [model.id async for model in client.list_models(limit=2)]
    assert ids == ["a", "b", "c"]
    assert [dict(r.url.params) for r in server.requests] == [
        {"limit": "2"},
        {"limit": "2", "after_id": "b"},
    ]


@pytest.mark.asyncio
async def test_get_model_quotes_the_id() -> None:
    server = Server(httpx.Response(200, json=_model("claude-x")), ok(body=_model("a/b")))
    async with make_async(server) as client:
        assert (await client.get_model("claude-x")).display_name == "Claude-X"
        await client.get_model("a/../b")
    assert server.requests[0].url.path == "/v1/models/claude-x"
    assert server.requests[1].url.raw_path == b"/v1/models/a%2F..%2Fb"


# -- the sync client shares all of it -----------------------------------------------------------


def test_sync_create_retry_and_errors() -> None:
    delays: list[float] = []
    server = Server(status(529), ok(), status(404, "not_found_error"))
    with make_sync(server, delays, betas=["b"]) as client:
        assert client.create(**PARAMS).text == "Hello!"
        with pytest.raises(NotFoundError, match="base_url"):
            client.create(PARAMS)
    assert len(delays) == 1 and server.requests[0].headers["anthropic-beta"] == "b"


def test_sync_stream_models_and_count_tokens() -> None:
    tokens = httpx.Response(200, json={"input_tokens": 7})
    server = Server(status(503), streamed(FULL), tokens, *_pages().replies)
    with make_sync(server, []) as client:
        with client.stream(PARAMS) as stream:
            kinds = [event.type for event in stream]
            assert stream.get_final_message().text == "Yo"
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        assert client.count_tokens(PARAMS | {"max_tokens": 1}).input_tokens == 7
        assert [m.id for m in client.list_models()] == ["a", "b", "c"]


def test_sync_stream_not_retried_after_content() -> None:
    server = Server(streamed(sse(START, BLOCK, DELTA), fail=httpx.ReadError("reset")))
    texts: list[str] = []
    with (
        make_sync(server, []) as client,
        client.stream(PARAMS) as stream,
        pytest.raises(IncompleteStreamError, match="reset"),
    ):
        texts.extend(stream.text_stream())
    assert texts == ["Yo"] and len(server.requests) == 1
    with (
        make_sync(Server(streamed(sse(START, BLOCK, DELTA)))) as client,
        client.stream(PARAMS) as stream,
        pytest.raises(IncompleteStreamError),
    ):
        stream.get_final_message()


def test_transport_and_http_client_are_exclusive() -> None:
    transport = httpx.MockTransport(Server())
    with httpx.Client(transport=transport) as http, pytest.raises(UsageError):
        Client(api_key=KEY, transport=transport, http_client=http)


def test_a_passed_http_client_is_used_and_not_closed() -> None:
    server = Server(ok())
    with httpx.Client(transport=httpx.MockTransport(server)) as http:
        with Client(api_key=KEY, http_client=http) as client:
            client.create(PARAMS)
        assert not http.is_closed
    assert len(server.requests) == 1



# -- the default transport (aiohttp) against a loopback server ----------------------------------


class Loopback:
    """A real HTTP server on 127.0.0.1 (aiohttp), for the default transport's behaviour."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.hits = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        body = await request.json()
        mode = request.headers.get("x-mode", "")
        if mode == "hang":
            await self.release.wait()
        if mode == "cut":
            response = web.StreamResponse(headers=SSE_HEADERS)
            await response.prepare(request)
            await response.write(sse(START, BLOCK, DELTA))
            assert request.transport is not None
            request.transport.close()
            return response
        if body.get("stream"):
            return web.Response(body=FULL, headers=SSE_HEADERS)
        return web.json_response(message_json(), headers={"request-id": "req_l"})

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await cleanup(self.runner)


def _loopback_client(url: str, delays: list[float], **kwargs: Any) -> AsyncClient:
    client = AsyncClient(base_url=url, **kwargs)

    async def sleep(delay: float) -> None:
        delays.append(delay)

    client._sleep = sleep
    return client


@pytest.mark.asyncio
async def test_default_transport_create_and_stream() -> None:
    async with Loopback() as url, _loopback_client(url, []) as client:
        message = await client.create(PARAMS)
        async with client.stream(PARAMS) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
    assert message.text == "Hello!"
    assert kinds[0] == "message_start" and final.text == "Yo"


@pytest.mark.asyncio
async def test_default_transport_read_timeout_is_an_api_timeout_error() -> None:
    delays: list[float] = []
    server = Loopback()
    # 0.3 s, not less: under load the server thread may not even have read a request in
    # 50 ms, and that attempt never counts as a hit (seen once, on a busy machine).
    async with server as url, _loopback_client(url, delays, read_timeout=0.3) as client:
        with pytest.raises(APITimeoutError):
            await client.create(PARAMS, extra_headers={"x-mode": "hang"})
    assert server.hits == 3 and len(delays) == 2


@pytest.mark.asyncio
async def test_default_transport_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    delays: list[float] = []
    async with _loopback_client(f"http://127.0.0.1:{port}", delays) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.create(PARAMS)
    assert not isinstance(caught.value, APITimeoutError)
    assert len(delays) == 2


@pytest.mark.asyncio
async def test_default_transport_server_cut_mid_stream_is_incomplete_not_timeout() -> None:
    server = Loopback()
    async with (
        server as url,
        _loopback_client(url, []) as client,
        client.stream(PARAMS, extra_headers={"x-mode": "cut"}) as stream,
    ):
        with pytest.raises(IncompleteStreamError) as caught:
            await stream.get_final_message()
    assert caught.value.partial.text == "Yo"
    assert server.hits == 1


def test_default_transport_is_bound_to_its_first_event_loop() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AsyncClient(base_url=f"http://127.0.0.1:{port}", max_retries=0)

    async def call() -> None:
        await client.create(PARAMS)

    async def close() -> None:
        await client.aclose()

    with pytest.raises(APIConnectionError):
        asyncio.run(call())
    with pytest.raises(UsageError, match="one AsyncClient per"):
        asyncio.run(call())
    asyncio.run(close())


def test_sync_read_timeout_from_httpx_own_transport_is_an_api_timeout_error() -> None:
    with socket.socket() as server:  # accepts the connection, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        with (
            Client(base_url=url, read_timeout=0.05, max_retries=0) as client,
            pytest.raises(APITimeoutError, match="read_timeout"),
        ):
            client.create(PARAMS)


@pytest.mark.asyncio
async def test_a_passed_async_http_client_streams_and_keeps_its_settings() -> None:
    server = Server(streamed(FULL))
    http = httpx.AsyncClient(transport=httpx.MockTransport(server), headers={"x-team": "a"})
    async with http:
        async with (
            AsyncClient(api_key=KEY, http_client=http) as client,
            client.stream(PARAMS) as stream,
        ):
            assert (await stream.get_final_message()).text == "Yo"
        assert not http.is_closed
    assert server.requests[0].headers["x-team"] == "a"  # the client's own defaults apply


@pytest.mark.asyncio
async def test_proxy_environment_routes_through_an_httpx_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    client = AsyncClient(api_key=KEY)
    assert isinstance(client._http, httpx.AsyncClient) and client._transport is None
    await client.aclose()
    assert client._http.is_closed


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_a_client_behind_a_proxy_sends_through_it(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # AsyncClient gave httpx its own transport, and httpx mounts no proxy for a client given
    # one: requests went straight to the API, past HTTP(S)_PROXY.
    through: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        through.append(str(request.url))  # a forward proxy gets the absolute URL
        return web.json_response(message_json("via the proxy"))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    with socket.socket() as unused:  # nothing listens here: only the proxy can answer
        unused.bind(("127.0.0.1", 0))
        api = f"http://127.0.0.1:{unused.getsockname()[1]}"
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    try:
        if kind == "async":
            client = AsyncClient(api_key=KEY, base_url=api, max_retries=0)
            try:
                message = await client.create(PARAMS)
            finally:
                await client.aclose()
        else:
            def send() -> Message:
                with Client(api_key=KEY, base_url=api, max_retries=0) as sync:
                    return sync.create(PARAMS)

            message = await asyncio.to_thread(send)
    finally:
        await cleanup(runner)
    assert message.text == "via the proxy"
    assert through == [f"{api}/v1/messages"]


class _Closing(httpx.MockTransport):
    """A mock transport that says whether its client closed it."""

    closed = False

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.asyncio
async def test_each_client_closes_what_it_made_or_was_given_as_transport_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A transport given is the client's to close (its pool); an http_client given is not.
    sync_given, async_given = _Closing(Server()), _Closing(Server())
    Client(api_key=KEY, transport=sync_given).close()
    await AsyncClient(api_key=KEY, transport=async_given).aclose()
    assert sync_given.closed and async_given.closed
    sync_http = httpx.Client(transport=_Closing(Server()))
    async_http = httpx.AsyncClient(transport=_Closing(Server()))
    Client(api_key=KEY, http_client=sync_http).close()
    await AsyncClient(api_key=KEY, http_client=async_http).aclose()
    assert not sync_http.is_closed and not async_http.is_closed
    sync_http.close()
    await async_http.aclose()
    # Behind a proxy it makes an httpx client (which mounts the proxy's transport), and closes it.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    sync = Client(api_key=KEY)
    assert isinstance(sync._http, httpx.Client) and sync._transport is None
    sync.close()
    assert sync._http.is_closed  # AsyncClient's: test_proxy_environment_routes_through_...
