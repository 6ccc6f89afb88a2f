"""The client never shows a credential: escaped echoes, non-ASCII keys, undecodable replies,
a password in the base URL. Each case leaked before; every error is checked whole: its text,
repr, traceback and every exception it chains (an httpx one would carry the request headers).
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentkit import AsyncClient, Client
from agentkit.errors import APIConnectionError, APIError, AuthenticationError, UsageError

KEY = "sk-ant-api03-Se/cret+Key_0123456789"  # a "/" to be JSON-escaped as "\/"
PARAMS: dict[str, Any] = {
    "model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]
}  # fmt: skip


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def assert_hidden(error: BaseException, *secrets: str) -> None:
    """No secret in the error's text, repr, traceback, or anything it chains or holds."""
    for link in _chain(error):
        assert not isinstance(link, httpx.HTTPError), f"a raw httpx error escaped: {link!r}"
        texts = [str(link), repr(link), repr(vars(link)) if hasattr(link, "__dict__") else ""]
        texts += traceback.format_exception(link)
        for secret in secrets:
            assert not [text for text in texts if secret in text], secret


def _error_reply(body: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json"}
        return httpx.Response(401, headers=headers, content=body)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "echo",
    [
        json.dumps({"type": "error", "error": {"type": "x", "message": f"bad key {KEY}"}}),
        # "\/" is a legal JSON escape: PHP and some gateways write every "/" that way
        json.dumps({"type": "error", "error": {"type": "x", "message": f"bad {KEY}"}}).replace(
            "/", "\\/"
        ),
        # any character may be written as \\uXXXX (Go escapes <, > and & so)
        '{"type": "error", "error": {"type": "x", "message": "bad '
        + "".join(f"\\u{ord(c):04x}" for c in KEY)
        + '"}}',
        # the same, next to a lone surrogate (valid JSON; UTF-8 cannot carry it as it is)
        '{"type": "error", "error": {"type": "x", "message": "\\ud800 bad '
        + "".join(f"\\u{ord(c):04x}" for c in KEY)
        + '"}}',
    ],
)
def test_a_key_echoed_in_any_json_spelling_is_redacted(echo: str) -> None:
    client = Client(api_key=KEY, transport=_error_reply(echo.encode()), max_retries=0)
    with client, pytest.raises(AuthenticationError) as caught:
        client.create(PARAMS)
    assert "<redacted>" in caught.value.message
    assert_hidden(caught.value, KEY, KEY.replace("/", "\\/"))
    assert KEY not in json.dumps(caught.value.body)


@pytest.mark.parametrize("key", ["sk-ant-api03-ké-0123456789", "sk-ant-api03–0123456789"])
def test_a_non_ascii_key_is_refused_without_showing_it(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: accepted, then httpx's UnicodeEncodeError quoted the whole key.
    with pytest.raises(UsageError, match=r"non-ASCII character at position \d+") as caught:
        Client(api_key=key)
    assert_hidden(caught.value, key)
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY") as caught:
        AsyncClient()
    assert_hidden(caught.value, key)


def _fake_gzip(content_type: str) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": "gzip", "content-type": content_type}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"not gzip"))

    return httpx.MockTransport(handler)


def test_an_undecodable_reply_is_our_error_not_httpxs() -> None:
    # Was: httpx.DecodingError, whose .request carries the x-api-key header.
    client = Client(api_key=KEY, transport=_fake_gzip("application/json"), max_retries=0)
    with client, pytest.raises(APIConnectionError, match="could not be decoded") as caught:
        client.create(PARAMS)
    assert_hidden(caught.value, KEY)


@pytest.mark.asyncio
async def test_an_undecodable_reply_is_our_error_async_and_streamed() -> None:
    client = AsyncClient(api_key=KEY, transport=_fake_gzip("application/json"), max_retries=0)
    async with client:
        with pytest.raises(APIConnectionError, match="could not be decoded") as caught:
            await client.create(PARAMS)
    assert_hidden(caught.value, KEY)
    client = AsyncClient(api_key=KEY, transport=_fake_gzip("text/event-stream"), max_retries=0)
    async with client:
        with pytest.raises(APIError, match="could not be decoded") as caught:
            async with client.stream(PARAMS) as stream:
                async for _ in stream:
                    pass
    assert_hidden(caught.value, KEY)


PASSWORD = "pa55-Base-Url-Secret"


def test_a_password_in_the_base_url_is_sent_as_basic_auth_and_shown_nowhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"type": "error", "error": {"type": "x", "message": f"no {PASSWORD}"}}
        return httpx.Response(401, json=body)

    url = f"https://gateway-user:{PASSWORD}@gateway.example/prefix"
    client = Client(api_key=KEY, base_url=url, transport=httpx.MockTransport(handler))
    with client, pytest.raises(AuthenticationError) as caught:
        client.create(PARAMS, max_retries=0)
    assert client.base_url == "https://gateway.example/prefix"
    for text in (repr(client), str(client)):
        assert PASSWORD not in text and "gateway.example/prefix" in text
    assert_hidden(caught.value, PASSWORD)
    (request,) = seen
    assert str(request.url) == "https://gateway.example/prefix/v1/messages"
    expected = base64.b64encode(f"gateway-user:{PASSWORD}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["x-api-key"] == KEY
    assert not [r for r in caplog.records if PASSWORD in r.getMessage()]


def test_a_password_in_the_base_url_stays_hidden_in_connection_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A closed loopback port: the connection error names the URL, without the password.
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://u:{PASSWORD}@127.0.0.1:9")
    client = Client(max_retries=0, connect_timeout=5)
    with client, pytest.raises(APIConnectionError) as caught:
        client.create(PARAMS)
    assert "http://127.0.0.1:9/v1/messages" in str(caught.value)
    assert_hidden(caught.value, PASSWORD)
    with pytest.raises(UsageError, match="http") as bad:
        Client(api_key=KEY, base_url=f"ftp://u:{PASSWORD}@host")
    assert_hidden(bad.value, PASSWORD)


def test_basic_auth_from_the_url_and_a_bearer_token_conflict() -> None:
    with pytest.raises(UsageError, match="keep one") as caught:
        Client(auth_token="tok-0123456789", base_url=f"https://u:{PASSWORD}@gw.example")
    assert_hidden(caught.value, PASSWORD)
