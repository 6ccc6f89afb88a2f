"""Network failures are named for what happened: connection refused, DNS failure, TLS to a
plain-HTTP server (fast, not a timeout), a connect timeout versus a read timeout; and a
`base_url` with a query string is refused before anything is sent."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import aiohttp
import anyio
import httpx
import pytest

from agentkit import APIConnectionError, APITimeoutError, AsyncClient, UsageError
from agentkit._api.client_base import connection_error
from agentkit.testing import FakeServer, echo_model

PROMPT = [{"role": "user", "content": "hi"}]


def _fail(base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> APIConnectionError:
    async def call() -> None:
        async with AsyncClient(api_key="k", base_url=base_url, max_retries=0,
                               transport=transport) as client:
            await client.create(model="claude-sonnet-4-6", max_tokens=8, messages=PROMPT)

    with pytest.raises(APIConnectionError) as caught:
        anyio.run(call)
    return caught.value


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def no_such_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A host name whose lookup fails, answered here (no DNS query leaves the machine)."""
    name = "no-such-host.invalid"
    real = socket.getaddrinfo

    def lookup(host: object, *args: object, **kwargs: object) -> object:
        if host == name:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]  # passed through as given

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield name


TRANSPORTS = {"aiohttp": None, "httpx": httpx.AsyncHTTPTransport()}


@pytest.mark.parametrize("transport", TRANSPORTS, ids=list(TRANSPORTS))
def test_connection_refused_is_named(closed_port: int, transport: str) -> None:
    error = _fail(f"http://127.0.0.1:{closed_port}", TRANSPORTS[transport])
    assert not isinstance(error, APITimeoutError)
    assert str(error).startswith(
        f"connection refused by 127.0.0.1:{closed_port}: nothing is listening there")


def test_a_dns_failure_is_named(no_such_host: str) -> None:
    error = _fail(f"http://{no_such_host}")
    assert not isinstance(error, APITimeoutError)
    assert str(error).startswith(
        f"DNS lookup failed: the host name {no_such_host!r} could not be resolved")


def test_https_to_a_plain_http_server_fails_fast_saying_so() -> None:
    with FakeServer(echo_model) as server:
        error = _fail(server.base_url.replace("http://", "https://"))
    assert not isinstance(error, APITimeoutError)
    assert "base_url is https:// but the server at 127.0.0.1:" in str(error)
    assert "answered in plain HTTP; use http:// for it" in str(error)


def test_a_connect_timeout_is_told_from_a_read_timeout() -> None:
    url = "https://api.example/v1/messages"
    connect = httpx.ConnectTimeout("Connection timeout to host")
    connect.__cause__ = aiohttp.ConnectionTimeoutError("Connection timeout to host")
    read = httpx.ConnectTimeout("Timeout on reading data from socket")
    read.__cause__ = aiohttp.SocketTimeoutError("Timeout on reading data from socket")
    said_connect, said_read = (str(connection_error(e, url, "calling")) for e in (connect, read))
    assert said_connect.startswith("timed out connecting to api.example:443 calling")
    assert "if it speaks plain HTTP, use http://" in said_connect
    assert said_read.startswith(f"timed out calling {url}") and "raise read_timeout" in said_read


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/api?key=x", "http://127.0.0.1:9/#frag",
                                 "http://127.0.0.1:9/?"])
def test_a_base_url_with_a_query_string_is_refused(url: str) -> None:
    with pytest.raises(UsageError, match="must not carry a query string") as caught:
        AsyncClient(api_key="k", base_url=url)
    assert "key=x" not in str(caught.value)
