"""http_toolset: address policy (after DNS, on every redirect, pinned), caps, HTML to text.

Only loopback is ever contacted: the success path uses a local aiohttp server with
`allow_private=True`; refusals happen before any connection, and the redirect and pinning tests
use `httpx.MockTransport` with a patched resolver, so no packet leaves the machine.
"""

from __future__ import annotations

import gzip
import os
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import httpx
import pytest
import pytest_asyncio
from agentkit_tools import http as http_module
from agentkit_tools.http import html_to_text, http_toolset, is_public_address
from aiohttp import web
from aiohttp.test_utils import TestServer
from isolated import run_isolated
from loopback import LoopbackServer

from agentkit import Tool, ToolError

Call = Callable[..., Awaitable[str]]  # the `ok` and `refused` fixtures (conftest.py)

SEEN = web.AppKey("seen", list[str])
"""The paths the loopback server was asked for, in order."""

PAGE = b"""<!doctype html><html><head><title>Hello page</title>
<style>body { color: red }</style><script>alert('x')</script></head>
<body><h2>Welcome</h2><p>Some <b>bold</b> text and a <a href="/next">link</a>.</p>
<ul><li>one</li><li>two</li></ul><noscript>enable js</noscript></body></html>"""


def fetch_tool(**options: object) -> Tool | None:
    return http_toolset(**options).get("fetch_url")  # type: ignore[arg-type]


# -- the address policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "ff02::1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


def _never_called() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a refused URL was requested: {request.url}")

    return httpx.MockTransport(handler)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/admin",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "https://192.168.0.1/",
        "http://0.0.0.0:9/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
async def test_private_addresses_are_refused_by_default(url: str, refused: Call) -> None:
    message = await refused(fetch_tool(transport=_never_called()), url=url)
    assert "non-public address" in message


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "nope"]
)
async def test_other_schemes_are_refused(url: str, refused: Call) -> None:
    message = await refused(fetch_tool(transport=_never_called()), url=url)
    assert "only http and https" in message or "invalid URL" in message


@pytest.mark.asyncio
async def test_local_server_is_refused_by_default_and_never_contacted(
    server: TestServer, refused: Call
) -> None:
    seen_before = len(server.app[SEEN])
    message = await refused(fetch_tool(), url=str(server.make_url("/page")))
    assert "non-public address" in message
    assert len(server.app[SEEN]) == seen_before


# -- checked redirects and pinned connections (mock transport, patched DNS) --------------------

FAKE_DNS = {
    "public.example": ["93.184.216.34"],
    "other.example": ["93.184.216.35"],
    "internal.example": ["10.0.0.5"],
    "mixed.example": ["93.184.216.36", "127.0.0.1"],
}


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        if host in FAKE_DNS:
            return FAKE_DNS[host]
        return await real_resolve(host, port)

    real_resolve = http_module.resolve_host
    monkeypatch.setattr(http_module, "resolve_host", resolve)


def _redirecting(location: str, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "93.184.216.34":
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200, text="landed", headers={"content-type": "text/plain"})

    return httpx.MockTransport(handler)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:8080/secret",
        "http://[::1]/",
        "http://localhost/",
        "http://internal.example/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_redirect_to_private_address_is_refused(
    fake_dns: None, location: str, refused: Call
) -> None:
    seen: list[httpx.Request] = []
    tool = fetch_tool(transport=_redirecting(location, seen))
    message = await refused(tool, url="http://public.example/start")
    assert "non-public address" in message
    assert [str(r.url) for r in seen] == ["http://93.184.216.34/start"]


@pytest.mark.asyncio
async def test_redirect_to_public_address_is_followed(fake_dns: None, ok: Call) -> None:
    seen: list[httpx.Request] = []
    tool = fetch_tool(transport=_redirecting("https://other.example/end", seen))
    text = await ok(tool, url="http://public.example/start")
    assert text.startswith("URL: https://other.example/end\nStatus: 200 OK\n")
    assert text.endswith("landed")


@pytest.mark.asyncio
async def test_host_resolving_to_any_private_address_is_refused(
    fake_dns: None, refused: Call
) -> None:
    message = await refused(fetch_tool(transport=_never_called()), url="http://mixed.example/")
    assert "127.0.0.1" in message


@pytest.mark.asyncio
async def test_connection_is_pinned_to_the_checked_address(fake_dns: None, ok: Call) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok", headers={"content-type": "text/plain"})

    await ok(
        fetch_tool(transport=httpx.MockTransport(handler)), url="https://public.example:8443/a?b=1"
    )
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34:8443/a?b=1"
    assert request.headers["host"] == "public.example:8443"
    assert request.extensions["sni_hostname"] == "public.example"
    assert request.headers["accept-encoding"] == "identity"  # the byte cap bounds memory


@pytest.mark.asyncio
async def test_redirect_loops_stop(fake_dns: None, refused: Call) -> None:
    seen: list[httpx.Request] = []
    tool = fetch_tool(transport=_redirecting("http://public.example/again", seen), max_redirects=3)
    assert "more than 3 redirects" in await refused(tool, url="http://public.example/")
    assert len(seen) == 4


# -- the success path against a loopback server (allow_private=True) ------------------------


@pytest_asyncio.fixture
async def server() -> AsyncIterator[TestServer]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html", charset="utf-8")

    async def data(request: web.Request) -> web.Response:
        return web.json_response({"answer": 42})

    async def big(request: web.Request) -> web.Response:
        return web.Response(text="a" * 100_000, content_type="text/plain")

    async def binary(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\x00\x01", content_type="image/png")

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="no such page", content_type="text/plain")

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/page")

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        request.app[SEEN].append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[record])
    app[SEEN] = []
    app.router.add_get("/page", page)
    app.router.add_get("/data", data)
    app.router.add_get("/big", big)
    app.router.add_get("/binary", binary)
    app.router.add_get("/missing", missing)
    app.router.add_get("/hop", hop)
    test_server = LoopbackServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        yield test_server
    finally:
        await test_server.close()


@pytest.mark.asyncio
async def test_html_becomes_readable_text(server: TestServer, ok: Call) -> None:
    text = await ok(fetch_tool(allow_private=True), url=str(server.make_url("/page")))
    assert text.startswith(
        f"URL: {server.make_url('/page')}\nStatus: 200 OK\nContent-Type: text/html\n"
    )
    assert "# Hello page" in text
    assert "## Welcome" in text
    assert "**bold**" in text
    assert "[link](/next)" in text
    assert "* one" in text or "- one" in text
    for dropped in ("alert", "color: red", "enable js", "<p>"):
        assert dropped not in text


@pytest.mark.asyncio
async def test_redirect_on_loopback_is_followed_when_allowed(server: TestServer, ok: Call) -> None:
    text = await ok(fetch_tool(allow_private=True), url=str(server.make_url("/hop")))
    assert text.startswith(f"URL: {server.make_url('/page')}\n")
    assert server.app[SEEN][-2:] == ["/hop", "/page"]


@pytest.mark.asyncio
async def test_json_comes_back_as_is(server: TestServer, ok: Call) -> None:
    text = await ok(fetch_tool(allow_private=True), url=str(server.make_url("/data")))
    assert text.endswith('{"answer": 42}')


@pytest.mark.asyncio
async def test_body_is_capped(server: TestServer, ok: Call) -> None:
    tool = fetch_tool(allow_private=True, max_bytes=1000)
    text = await ok(tool, url=str(server.make_url("/big")))
    assert "a" * 1000 in text and "a" * 1001 not in text
    assert "longer than the download cap" in text
    capped = await ok(
        fetch_tool(allow_private=True, max_chars=50), url=str(server.make_url("/big"))
    )
    assert "text cut at 50 of 100000 characters" in capped


@pytest.mark.asyncio
async def test_binary_and_error_statuses_are_errors(server: TestServer, refused: Call) -> None:
    tool = fetch_tool(allow_private=True)
    assert "binary content (image/png" in await refused(tool, url=str(server.make_url("/binary")))
    missing = await refused(tool, url=str(server.make_url("/missing")))
    assert "Status: 404 Not Found" in missing
    assert "no such page" in missing


@pytest.mark.asyncio
async def test_closed_port_is_reported(server: TestServer, refused: Call) -> None:
    url = f"http://127.0.0.1:{server.port}/page"
    await server.close()
    assert "failed" in await refused(fetch_tool(allow_private=True), url=url)


def test_html_to_text_keeps_structure() -> None:
    text = html_to_text("<h1>T</h1><p>a</p><p>b</p><table><tr><td>x</td></tr></table>")
    assert text.startswith("# T")
    assert "a\n\nb" in text


# -- compressed bodies, and the conversion's time bound ------------------------------------------


def _zero_bomb(gib: int) -> bytes:
    """A gzip stream of `gib` GiB of zeros in about a MB (no trailer: a bomb need not end)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + again * ((gib << 10) - 1)


def test_a_compression_bomb_is_decoded_only_up_to_the_cap() -> None:
    # 4 GiB of zeros sent as `Content-Encoding: gzip, gzip` in ~10 KB, to a child whose
    # address space is capped at 3 GiB: decoding it whole (as httpx does) fails there.
    out = run_isolated(
        """
        import asyncio, resource, zlib
        from aiohttp import web
        from aiohttp.test_utils import TestServer
        from agentkit import RunContext
        from agentkit_tools.http import http_toolset
        from test_http import _zero_bomb

        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        outer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        body = outer.compress(_zero_bomb(4)) + outer.flush()

        async def bomb(request):
            headers = {"Content-Encoding": "gzip, gzip", "Content-Type": "text/plain"}
            return web.Response(body=body, headers=headers)

        async def main():
            app = web.Application()
            app.router.add_get("/bomb", bomb)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            tool = http_toolset(allow_private=True, max_bytes=100_000).get("fetch_url")
            ctx = RunContext(deps=None, tool_use_id="t", tool_name="fetch_url")
            result = await tool.run({"url": str(server.make_url("/bomb"))}, ctx)
            await server.close()
            print(len(body), result.get("is_error"), result["content"][-200:])

        asyncio.run(main())
        """,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(  # test_http imports tests/support
            [str(Path(__file__).parent), str(Path(__file__).parents[1] / "support")])},
    )
    size, is_error, tail = out.split(" ", 2)
    assert int(size) < 20_000
    assert is_error == "None", out
    assert "longer than the download cap" in tail


def _encoded_server(encoding: str, body: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": encoding, "content-type": "text/plain"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))

    return httpx.MockTransport(handler)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("gzip, gzip, gzip", b"", "encoded the body 3 times"),
        ("br", b"", "'br' encoding, which this tool cannot decode"),
        ("gzip", b"this is not gzip at all", "not valid compressed data"),
    ],
)
async def test_bad_encodings_are_refused(
    fake_dns: None, encoding: str, body: bytes, message: str, refused: Call
) -> None:
    tool = fetch_tool(transport=_encoded_server(encoding, body))
    assert message in await refused(tool, url="https://public.example/a")


@pytest.mark.asyncio
async def test_a_compressed_body_is_decoded(fake_dns: None, ok: Call) -> None:
    body = gzip.compress(zlib.compress(b"hello " * 1000))
    tool = fetch_tool(transport=_encoded_server("deflate, gzip", body))
    text = await ok(tool, url="https://public.example/a")
    assert text.endswith("\n\n" + "hello " * 1000)


@pytest.mark.asyncio
async def test_html_conversion_runs_off_the_loop_and_stops_at_the_timeout(
    server: TestServer, refused: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A conversion that would never end: it can only return once told to stop. Before, it ran
    # on the event loop, outside the timeout, and froze the process.
    seen: list[bool] = []
    released = threading.Event()

    def endless(html: bytes | str, stop: threading.Event | None = None) -> str:
        seen.append(stop is not None and stop.wait(30))
        released.set()
        raise ToolError("stopped")

    monkeypatch.setattr(http_module, "html_to_text", endless)
    tool = fetch_tool(allow_private=True, timeout=1.0)
    message = await refused(tool, url=str(server.make_url("/page")))
    assert "converting it to text took longer than 1 s" in message
    assert await anyio.to_thread.run_sync(released.wait, 30)
    assert seen == [True]


def test_html_to_text_stops_when_asked() -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(ToolError, match="stopped"):
        html_to_text("<div>" * 50 + "text" + "</div>" * 50, stop)
    assert "text" in html_to_text("<div>" * 50 + "text" + "</div>" * 50, threading.Event())


def test_deeply_nested_html_still_gives_its_text() -> None:
    assert "deep" in html_to_text("<span>" * 5000 + "deep" + "</span>" * 5000)
