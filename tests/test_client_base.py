"""The clients' shared plumbing: error mapping, reply parsing, stream guards.

The clients' behaviour end to end is in `test_client.py`; these pin the helpers alone.
"""

from collections.abc import Iterator

import httpx
import pytest

from agentkit._api.client_base import (
    connection_error,
    empty_stream_error,
    env_proxies,
    guard,
    models_page,
    parse_reply,
)
from agentkit._api.streaming import MessageAccumulator
from agentkit._api.wire import CountTokensResult
from agentkit._errors import (
    APIConnectionError,
    APIError,
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


def test_models_page_gives_the_next_after_id_only_while_has_more() -> None:
    model = b'{"type": "model", "id": "m1", "display_name": "M"}'
    more = httpx.Response(200, content=b'{"data": [%s], "has_more": true, "last_id": "m1"}' % model)
    models, after_id = models_page(more)
    assert [m.id for m in models] == ["m1"] and after_id == "m1"
    last = httpx.Response(200, content=b'{"data": [], "has_more": false, "last_id": "m1"}')
    assert models_page(last) == ([], None)


def test_env_proxies_sees_https_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme in ("http", "https", "all"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    assert not env_proxies()
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert env_proxies()


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
