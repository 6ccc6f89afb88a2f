"""`agentkit._api.aiohttp_driver`: the default transport's session, driven directly.

Its round trips run end to end in `test_client.py` (the loopback tests); this pins the loop rule.
"""

import httpx
import pytest

from agentkit._api.aiohttp_driver import AiohttpDriver, ReadResponse
from agentkit._api.client_base import ClientBase
from agentkit._errors import UsageError


def test_the_aiohttp_driver_refuses_to_run_outside_asyncio() -> None:
    client = ClientBase(api_key="sk-ant-test")
    driver = AiohttpDriver(httpx.MockTransport(lambda r: httpx.Response(200)), client._timeout)
    with pytest.raises(UsageError, match="needs asyncio"):
        driver.check_loop()


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"application/json"), (b"content-length", b"12")],
        [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        [(b"request-id", b"req_1"), (b"x-a", b"1"), (b"X-A", b"2")],
    ],
)
@pytest.mark.parametrize("content", [b'{"ok": true}', b""])
def test_a_read_response_is_what_httpx_makes_from_the_same_bytes(
    headers: list[tuple[bytes, bytes]], content: bytes
) -> None:
    made = ReadResponse(200, headers, content)
    want = httpx.Response(200, headers=headers, content=content)
    assert made.headers.multi_items() == want.headers.multi_items()
    assert (made.content, made.text, made.status_code, made.encoding) == (
        want.content, want.text, want.status_code, want.encoding,
    )
    assert (made.is_closed, made.is_stream_consumed, made.num_bytes_downloaded) == (
        want.is_closed, want.is_stream_consumed, want.num_bytes_downloaded,
    )
    assert made.read() == want.read() == content


@pytest.mark.asyncio
async def test_a_gzipped_reply_is_still_decoded_by_the_default_transport() -> None:
    # A body with Content-Encoding goes the way it always went: httpx decodes it.
    import gzip

    from aiohttp import web
    from loopback import cleanup

    from agentkit import AsyncClient
    from agentkit.testing import text_reply

    body = text_reply("squeezed").model_dump_json().encode()

    async def messages(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(body),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with AsyncClient(api_key="offline", base_url=f"http://127.0.0.1:{port}") as client:
            message = await client.create(
                model="claude-sonnet-4-5", max_tokens=16,
                messages=[{"role": "user", "content": "hi"}],
            )
    finally:
        await cleanup(runner)
    assert message.content[0].text == "squeezed"  # type: ignore[union-attr]


def test_run_sync_closes_the_pool_its_loop_bound_and_the_client_runs_again() -> None:
    # An agent given its own AsyncClient (`Agent(..., client=AsyncClient())`) bound the
    # client's pool to run_sync's loop and left it open when the loop ended ("Unclosed client
    # session" at exit), and a second run_sync refused: "first used in another event loop".
    import gc
    import warnings

    from agentkit import Agent, AsyncClient
    from agentkit.testing import FakeServer, text_reply

    with FakeServer([text_reply("one"), text_reply("two")]) as server:
        client = AsyncClient(api_key="sk-test", base_url=server.base_url)
        agent = Agent("claude-sonnet-4-5", client=client)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert agent.run_sync("hi").text == "one"
            assert agent.run_sync("hi").text == "two"
            del agent, client
            gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
