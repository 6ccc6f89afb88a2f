"""Durable runs over replies holding JSON that orjson cannot carry as it is: integers beyond 64
bits, numbers beyond a double (`1e400`), lone surrogates. A run crashed and resumed must send
the requests an uncrashed run sends, its journal must keep each reply as it came, and the run
viewer must show it. Replies are served as raw bytes (JSON or SSE) through an
`httpx.MockTransport`, so nothing re-encodes them on the way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient
from loopback import LoopbackServer

from agentkit import Agent, AsyncClient, SQLiteStore, tool
from agentkit.cli.viewer import RunReader
from agentkit.cli.viewer.server import make_app

MODEL = "claude-sonnet-4-5"
BIG = "123456789012345678901234567890"


class Crash(BaseException):
    """Stands for the process dying: not an `Exception`, so nothing turns it into a result."""


def as_json(text: str, extra: str = "", call: str | None = None) -> bytes:
    """A reply as its JSON body: a text block (`text` and `extra` spelled as given, raw JSON),
    then a call of `look` with input `call` (raw JSON), if any."""
    blocks = '{"type":"text","text":"' + text + '"' + extra + "}"
    if call is not None:
        blocks += ',{"type":"tool_use","id":"toolu_1","name":"look","input":' + call + "}"
    stop = "end_turn" if call is None else "tool_use"
    return (
        '{"id":"msg_1","type":"message","role":"assistant","model":"'
        + MODEL
        + '","content":['
        + blocks
        + '],"stop_reason":"'
        + stop
        + '","stop_sequence":null,'
        '"usage":{"input_tokens":5,"output_tokens":7}}'
    ).encode()


def as_sse(text: str, extra: str = "", call: str | None = None) -> bytes:
    """The same reply as the events of a stream, each value spelled as in `as_json`."""
    message = (
        '{"id":"msg_1","type":"message","role":"assistant","model":"' + MODEL + '",'
        '"content":[],"stop_reason":null,"stop_sequence":null,'
        '"usage":{"input_tokens":5,"output_tokens":0}}'
    )
    events = [
        ("message_start", '"message":' + message),
        ("content_block_start", '"index":0,"content_block":{"type":"text","text":""' + extra + "}"),
        ("content_block_delta", '"index":0,"delta":{"type":"text_delta","text":"' + text + '"}'),
        ("content_block_stop", '"index":0'),
    ]
    if call is not None:
        tool_use = '{"type":"tool_use","id":"toolu_1","name":"look","input":{}}'
        delta = '{"type":"input_json_delta","partial_json":' + json.dumps(call) + "}"
        events += [
            ("content_block_start", '"index":1,"content_block":' + tool_use),
            ("content_block_delta", '"index":1,"delta":' + delta),
            ("content_block_stop", '"index":1'),
        ]
    stop = "end_turn" if call is None else "tool_use"
    events += [
        (
            "message_delta",
            '"delta":{"stop_reason":"' + stop + '","stop_sequence":null},'
            '"usage":{"output_tokens":7}',
        ),
        ("message_stop", ""),
    ]
    return b"".join(
        f'event: {name}\ndata: {{"type":"{name}"{"," if data else ""}{data}}}\n\n'.encode()
        for name, data in events
    )


FINAL: dict[str, Any] = {"text": "Done."}


class Model:
    """Plays Claude: answers request i with reply i (JSON or SSE, as the request asks),
    counting across processes, and records each request body as sent."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        self.replies = replies
        self.sent: list[bytes] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.content)
        parts = self.replies[len(self.sent) - 1]
        if json.loads(request.content).get("stream"):
            headers = {"content-type": "text/event-stream"}
            return httpx.Response(200, headers=headers, content=as_sse(**parts))
        return httpx.Response(
            200, headers={"content-type": "application/json"}, content=as_json(**parts)
        )


async def run(db: Path, model: Model, *, stream: bool, crash: bool = False) -> Any:
    @tool(idempotent=True)
    async def look(n: int = 0) -> str:
        """Look at `n`."""
        if crash:
            raise Crash
        return f"seen {n}"

    transport = httpx.MockTransport(model.handler)
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    agent = Agent(MODEL, tools=[look], client=client, stream=stream)
    with SQLiteStore(db) as store:
        return await agent.run("Look, please.", run_id="r1", store=store)


def journaled(db: Path) -> list[dict[str, Any]]:
    with SQLiteStore(db) as store:
        return [e.payload for e in store.entries("r1") if e.kind == "reply"]


async def shown_by_the_viewer(db: Path) -> dict[str, Any]:
    reader = RunReader(str(db), clock=lambda: 0.0)
    app = make_app(reader, poll=0.02, clock=lambda: 0.0, environ={})
    try:
        async with TestClient(LoopbackServer(app, host="127.0.0.1")) as api:
            response = await api.get("/api/run", params={"id": "r1"})
            assert response.status == 200, await response.text()
            return await response.json()
    finally:
        reader.close()


CALLS = {
    "big-int-input": {"text": "Looking.", "call": '{"n":' + BIG + "}"},
    "1e400-field": {"text": "Looking.", "extra": ',"x_score":1e400', "call": "{}"},
    "lone-surrogate": {"text": "a\\ud800b", "call": "{}"},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("reply", list(CALLS.values()), ids=list(CALLS))
async def test_a_reply_orjson_cannot_carry_is_journaled_and_resumed_with_the_same_requests(
    tmp_path: Path, reply: dict[str, Any], stream: bool
) -> None:
    uncrashed = Model([reply, FINAL])
    await run(tmp_path / "a.db", uncrashed, stream=stream)

    model = Model([reply, FINAL])
    with pytest.raises(Crash):  # in the tool: its reply is journaled, its result is not
        await run(tmp_path / "b.db", model, stream=stream, crash=True)
    result = await run(tmp_path / "b.db", model, stream=stream)
    assert result.text == "Done."
    assert model.sent == uncrashed.sent  # the reply read back is the reply as it came
    replies = journaled(tmp_path / "b.db")
    assert len(replies) == 2
    if not stream:  # kept as its bytes: read back as the stdlib reads those
        assert replies[0] == json.loads(as_json(**reply))
    shown = await shown_by_the_viewer(tmp_path / "b.db")
    assert shown["count"] > 0


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_reply_with_a_lone_surrogate_is_journaled_as_it_came(
    tmp_path: Path, stream: bool
) -> None:
    model = Model([{"text": "a\\ud800b"}])
    result = await run(tmp_path / "a.db", model, stream=stream)
    assert result.text == "a\ud800b"
    assert journaled(tmp_path / "a.db")[0]["content"] == [{"type": "text", "text": "a\ud800b"}]
    again = await run(tmp_path / "a.db", Model([]), stream=stream)  # a finished run: read back
    assert again.text == "a\ud800b"
    await shown_by_the_viewer(tmp_path / "a.db")
