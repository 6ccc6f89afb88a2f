"""The clients' shared plumbing: error mapping, reply parsing, stream guards, and the flows,
driven by hand here (no I/O, no event loop).

The clients' behaviour end to end is in `test_client.py`; these pin the helpers alone.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentkit._api.client_base import (
    ClientBase,
    Close,
    FirstEvent,
    Roundtrip,
    Sleep,
    connection_error,
    empty_stream_error,
    guard,
    models_page,
    parse_reply,
)
from agentkit._api.message_stream import OpenStream
from agentkit._api.streaming import MessageAccumulator
from agentkit._api.wire import CountTokensResult, Message
from agentkit._errors import (
    APIConnectionError,
    APIError,
    APIStreamError,
    APITimeoutError,
    IncompleteStreamError,
)

URL = "http://127.0.0.1:9/v1/messages"


def test_a_timeout_is_an_api_timeout_error_naming_the_url_and_the_cure() -> None:
    error = connection_error(httpx.ReadTimeout("slow"), URL, "calling")
    assert isinstance(error, APITimeoutError)
    assert URL in error.message and "read_timeout" in error.message
    assert error.__cause__ is None


def test_an_aiohttp_disconnect_mapped_to_connect_timeout_is_a_connection_error() -> None:
    # httpx-aiohttp reports every aiohttp connection failure as ConnectTimeout.
    class ServerDisconnectedError(Exception):
        pass

    ServerDisconnectedError.__module__ = "aiohttp.client_exceptions"
    exc = httpx.ConnectTimeout("disconnected")
    exc.__cause__ = ServerDisconnectedError()
    error = connection_error(exc, URL, "calling")
    assert type(error) is APIConnectionError
    assert "check base_url" in error.message

    exc.__cause__ = TimeoutError()
    assert isinstance(connection_error(exc, URL, "calling"), APITimeoutError)


def test_a_reply_that_is_not_the_api_is_an_api_error_with_its_request_id() -> None:
    response = httpx.Response(200, content=b"<html>", headers={"request-id": "req_1"})
    with pytest.raises(APIError, match="not a valid CountTokensResult") as caught:
        parse_reply(CountTokensResult, response)
    assert caught.value.request_id == "req_1"
    ok = httpx.Response(200, content=b'{"input_tokens": 7}')
    assert parse_reply(CountTokensResult, ok).input_tokens == 7


def test_a_reply_holding_an_escaped_lone_surrogate_is_read_as_the_stdlib_reads_it() -> None:
    # Valid JSON that pydantic's parser refuses; a model or a gateway may send it, and the
    # same reply streamed parses.
    body = (
        b'{"id":"msg_1","type":"message","role":"assistant","model":"m","content":'
        b'[{"type":"text","text":"a\\ud800b"},{"type":"tool_use","id":"toolu_1","name":"t",'
        b'"input":{"q":"\\udfff"}}],"stop_reason":"tool_use","usage":{"input_tokens":1}}'
    )
    message = parse_reply(Message, httpx.Response(200, content=body))
    assert message.text == "a\ud800b"
    assert message.tool_uses[0].input == {"q": "\udfff"}
    assert message.raw_json == body  # kept as it came, for a durable run's journal
    counted = httpx.Response(200, content=b'{"input_tokens": 7, "x": "\\ud800"}')
    assert parse_reply(CountTokensResult, counted).input_tokens == 7
    with pytest.raises(APIError, match="not a valid Message"):  # still refused: not JSON
        parse_reply(Message, httpx.Response(200, content=body[:-1] + b"\\ud800"))


def test_models_page_gives_the_next_after_id_only_while_has_more() -> None:
    model = b'{"type": "model", "id": "m1", "display_name": "M"}'
    more = httpx.Response(200, content=b'{"data": [%s], "has_more": true, "last_id": "m1"}' % model)
    models, after_id = models_page(more)
    assert [m.id for m in models] == ["m1"] and after_id == "m1"
    last = httpx.Response(200, content=b'{"data": [], "has_more": false, "last_id": "m1"}')
    assert models_page(last) == ([], None)


def test_guard_turns_a_cut_body_into_an_incomplete_stream_error_without_the_cause() -> None:
    def body() -> Iterator[bytes]:
        yield b"event: ping\n"
        raise httpx.RemoteProtocolError("peer closed")

    acc = MessageAccumulator(request_id="req_2")
    chunks = guard(body(), acc, URL)
    assert next(chunks) == b"event: ping\n"
    with pytest.raises(IncompleteStreamError, match="re-issue the request") as caught:
        next(chunks)
    assert caught.value.request_id == "req_2"
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_an_empty_stream_error_says_no_event_came() -> None:
    error = empty_stream_error(MessageAccumulator(request_id="req_3"), URL)
    assert "before its first event" in error.message and error.request_id == "req_3"


# -- the flows, driven by hand ----------------------------------------------------------------

OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
START: dict[str, Any] = {
    "type": "message_start",
    "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                "content": [], "usage": {"input_tokens": 1, "output_tokens": 0}},
}


def base(max_retries: int = 2) -> ClientBase:
    return ClientBase(api_key="sk-ant-test", max_retries=max_retries)


def finish(flow: Any, answer: object) -> Any:
    """Send the last answer; return what the flow returns."""
    with pytest.raises(StopIteration) as done:
        flow.send(answer)
    return done.value.value


def test_send_flow_sleeps_after_a_529_and_returns_the_next_2xx() -> None:
    client = base()
    call = client.call("POST", "/v1/messages", {"model": "m"})
    flow = client.send_flow(call)
    assert next(flow) == Roundtrip(call, False)
    sleep = flow.send(httpx.Response(529, json=OVERLOADED))
    assert isinstance(sleep, Sleep) and 0 < sleep.seconds <= 0.5
    assert flow.send(None) == Roundtrip(call, False)
    ok = httpx.Response(200, content=b"{}")
    assert finish(flow, ok) is ok and call.attempt == 1


def test_send_flow_raises_a_transport_failure_unchained_once_retries_are_spent() -> None:
    client = base(max_retries=0)
    flow = client.send_flow(client.call("GET", "/v1/models"))
    next(flow)
    with pytest.raises(APIConnectionError, match="connection failed") as caught:
        flow.throw(httpx.ConnectError("refused"))
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_send_flow_reads_and_closes_a_streamed_error_reply_before_retrying() -> None:
    client = base()
    call = client.call("POST", "/v1/messages")
    flow = client.send_flow(call, stream=True)
    assert next(flow) == Roundtrip(call, True)
    error = httpx.Response(529, json=OVERLOADED)
    assert flow.send(error) == Close(error, read=True)
    assert isinstance(flow.send(None), Sleep)


def test_stream_flow_folds_the_first_event_and_returns_the_open_stream() -> None:
    client = base()
    call = client.call("POST", "/v1/messages")
    flow = client.stream_flow(call)
    next(flow)
    response = httpx.Response(200, headers={"request-id": "req_1"})
    first = flow.send(response)
    assert isinstance(first, FirstEvent) and first.acc.request_id == "req_1"
    opened = OpenStream(first.acc, response.headers, START, iter(()), response.close)
    assert finish(flow, opened) is opened
    assert first.acc.snapshot_dict() is not None


def test_stream_flow_retries_an_empty_body_and_a_retryable_error_event() -> None:
    client = base(max_retries=1)
    call = client.call("POST", "/v1/messages")
    flow = client.stream_flow(call)
    next(flow)
    empty = httpx.Response(200)
    flow.send(empty)
    assert flow.send(None) == Close(empty, read=False)  # the body ended before any event
    assert isinstance(flow.send(None), Sleep)
    next(flow)
    cut = httpx.Response(200)
    op = flow.send(cut)
    error = APIStreamError("overloaded", error_type="overloaded_error")
    assert isinstance(op, FirstEvent) and flow.throw(error) == Close(cut, read=False)
    with pytest.raises(APIStreamError):  # the one retry is spent
        flow.send(None)


def test_stream_flow_releases_the_response_when_cancelled_then_reraises() -> None:
    client = base()
    flow = client.stream_flow(client.call("POST", "/v1/messages"))
    next(flow)
    response = httpx.Response(200)
    flow.send(response)
    assert flow.throw(KeyboardInterrupt()) == Close(response, read=False)
    with pytest.raises(KeyboardInterrupt):
        flow.send(None)


def test_next_page_asks_for_what_comes_after_with_the_same_headers() -> None:
    client = base()
    call = client.call("GET", "/v1/models", params={"limit": 1}, betas=["b1"])
    page = b'{"data": [{"type": "model", "id": "m1"}], "has_more": true, "last_id": "m1"}'
    models, following = client._next_page(call, httpx.Response(200, content=page))
    assert [m.id for m in models] == ["m1"] and following is not None
    assert following.params == {"limit": 1, "after_id": "m1"}
    assert following.headers == call.headers and following.url == call.url
    last = httpx.Response(200, content=b'{"data": [], "has_more": false}')
    assert client._next_page(following, last) == ([], None)
