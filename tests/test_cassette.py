"""`agentkit.testing.Cassette`: an agent's exchanges recorded over real HTTP (the fake server on
loopback stands in for the API), replayed offline with the same result; mismatches named;
credentials never written, in any spelling; the project's own corpus replays as a cassette."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentkit import Agent, AsyncClient, Client, RunContext, RunError, tool
from agentkit.errors import AuthenticationError
from agentkit.testing import Cassette, CassetteError, FakeServer, reply, text_reply

MODEL = "claude-sonnet-4-5"
KEY = "sk-ant-FAKE/KEY+0123456789"
"""A recognizable fake key with characters that escape differently in JSON and URLs."""
ORG = "organisation-secret-é"
"""A string given to `redact=`: non-ASCII, so JSON escapes it as \\u00e9."""
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "real"


@tool
async def weather(ctx: RunContext[None], city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def script() -> list[Any]:
    return [reply("Looking.", tool_calls=[("weather", {"city": "Oslo"})]), text_reply("Sunny.")]


async def run_agent(client: AsyncClient, prompt: str = "Weather in Oslo?", stream: bool = False
                    ) -> str:
    agent = Agent(MODEL, tools=[weather], client=client, stream=stream)
    return (await agent.run(prompt)).text


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.asyncio
async def test_a_recorded_run_replays_offline_with_the_same_answer(
    tmp_path: Path, stream: bool
) -> None:
    folder = tmp_path / "weather"
    with FakeServer(script()) as server:
        cassette = Cassette(folder)
        assert cassette.recording
        client = AsyncClient(api_key="sk-ant-recording-key", base_url=server.base_url,
                             transport=cassette.transport(), max_retries=0)
        recorded = await run_agent(client, stream=stream)
        await client.aclose()
    assert recorded == "Sunny."
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["001.json", "002.json"]
    first = json.loads((folder / "001.json").read_text())
    assert set(first) >= {"source", "name", "provenance", "features", "request", "response"}
    assert first["request"]["path"] == "/v1/messages" and first["request"]["method"] == "POST"
    assert ("sse" in first["response"]) == stream
    assert "x-api-key" in first["request"]["removed_headers"]
    # The server is gone: the replay never touches the network.
    replay = Cassette(folder)
    assert not replay.recording
    client = AsyncClient(api_key="anything", transport=replay.transport(), max_retries=0)
    assert await run_agent(client, stream=stream) == "Sunny."
    replay.assert_all_played()
    await client.aclose()


@pytest.mark.asyncio
async def test_a_request_that_differs_from_the_recording_is_named(tmp_path: Path) -> None:
    with FakeServer(script()) as server:
        cassette = Cassette(tmp_path, mode="record")
        client = AsyncClient(api_key="k" * 20, base_url=server.base_url,
                             transport=cassette.transport(), max_retries=0)
        await run_agent(client)
        await client.aclose()
    client = AsyncClient(api_key="k", transport=Cassette(tmp_path).transport(), max_retries=0)
    with pytest.raises(RunError) as caught:  # the run keeps its conversation, as for any error
        await run_agent(client, prompt="Weather in Rome?")
    cause = caught.value.__cause__
    assert isinstance(cause, CassetteError) and "AGENTKIT_CASSETTE=record" in str(cause)
    assert re.search(r"body\.messages\[0\]\.content.*Weather in Rome", str(cause))
    await client.aclose()
    # Compared by path only, the same exchanges answer the other prompt.
    loose = Cassette(tmp_path, match="path")
    client = AsyncClient(api_key="k", transport=loose.transport(), max_retries=0)
    assert await run_agent(client, prompt="Weather in Rome?") == "Sunny."
    with pytest.raises(RunError, match="after all 2 recorded exchanges were played"):
        await run_agent(client, prompt="Weather in Rome?")
    await client.aclose()


@pytest.mark.asyncio
async def test_unplayed_exchanges_and_a_missing_cassette_are_test_failures(
    tmp_path: Path,
) -> None:
    with FakeServer(script()) as server:
        cassette = Cassette(tmp_path / "c", mode="record")
        client = AsyncClient(api_key="k" * 20, base_url=server.base_url,
                             transport=cassette.transport(), max_retries=0)
        await run_agent(client)
        await client.aclose()
    half = Cassette(tmp_path / "c")
    client = AsyncClient(api_key="k", transport=half.transport(), max_retries=0)
    await client.create(
        model=MODEL, max_tokens=1024,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?"}]}],
        tools=[weather.to_param()],
    )
    await client.aclose()
    with pytest.raises(CassetteError, match=r"1 recorded exchange.*never requested: 002"):
        half.assert_all_played()
    with pytest.raises(CassetteError, match="holds no exchanges to replay"):
        Cassette(tmp_path / "empty", mode="replay")
    assert isinstance(CassetteError("x"), AssertionError)


def test_the_environment_chooses_the_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "001.json").write_text("{}")
    monkeypatch.setenv("AGENTKIT_CASSETTE", "record")
    assert Cassette(tmp_path).recording and list(tmp_path.iterdir()) == []  # starts afresh
    monkeypatch.setenv("AGENTKIT_CASSETTE", "sideways")
    with pytest.raises(CassetteError, match="use 'record', 'replay'"):
        Cassette(tmp_path)


SPELLINGS = [
    KEY,
    json.dumps(KEY)[1:-1],  # JSON, non-ASCII escaped
    json.dumps(KEY, ensure_ascii=False)[1:-1].replace("/", "\\/"),  # JSON with an escaped slash
    httpx.QueryParams({"k": KEY}).__str__()[2:],  # URL-encoded
]


def echo_everywhere(request: httpx.Request) -> httpx.Response:
    """A server that repeats the key in every place a response can hold it."""
    assert request.headers["x-api-key"] == KEY
    text = " ".join(SPELLINGS)
    body = json.dumps({"type": "error", "error": {"type": "authentication_error",
                                                  "message": f"invalid x-api-key {text}"}})
    for spelling in SPELLINGS[1:]:
        body = body.replace('"}}', f' {spelling}"}}}}', 1)
    return httpx.Response(
        401,
        headers={"content-type": "application/json", "x-echo": SPELLINGS[3],
                 "set-cookie": f"session={SPELLINGS[3]}", "request-id": "req_1"},
        content=body.encode(),
    )


def test_the_key_is_never_written_in_any_spelling(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path, mode="record", redact=[ORG])
    client = Client(api_key=KEY, base_url=f"https://api.example.test/gw/{SPELLINGS[3]}",
                    transport=cassette.sync_transport(httpx.MockTransport(echo_everywhere)),
                    max_retries=0, default_headers={"x-team": "my-org"})
    with pytest.raises(AuthenticationError):
        client.create(model=MODEL, max_tokens=10,
                               messages=[{"role": "user", "content": f"{KEY} of {ORG}"}])
    written = (tmp_path / "001.json").read_text(encoding="utf-8")
    for secret in [*SPELLINGS, ORG, json.dumps(ORG)[1:-1], "FAKE", "organisation"]:
        assert secret not in written, secret
    assert written.count("<REDACTED>") >= 6
    exchange = json.loads(written)
    assert exchange["response"]["status"] == 401
    assert exchange["request"]["headers"]["x-team"] == "my-org"
    assert "set-cookie" in exchange["response"]["removed_headers"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"conformance corpus not found at {CORPUS}")
def test_an_exchange_of_the_projects_corpus_replays_as_a_cassette(tmp_path: Path) -> None:
    shutil.copy(CORPUS / "tool_use_single.json", tmp_path / "001.json")
    recorded = json.loads((tmp_path / "001.json").read_text())
    request = recorded["request"]["body"]
    client = Client(api_key="k", transport=Cassette(tmp_path).sync_transport(), max_retries=0)
    message = client.create(**request)
    assert message.stop_reason == "tool_use"
    assert message.id == recorded["response"]["body"]["id"]


REPLY = (b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",'
         b'"content":[{"type":"text","text":"a\\ud800b \\u00e9 \xc3\xa9"}],"stop_reason":'
         b'"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":2}}')
"""A reply holding an escaped lone surrogate (valid JSON), and é both escaped and as UTF-8."""


def test_an_exchange_holding_an_escaped_lone_surrogate_is_kept_as_json_and_replayed_exactly(
    tmp_path: Path,
) -> None:
    # The history sends such a reply back with the escape: the request holds one too.
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "a\ud800b"},
               {"role": "user", "content": "And?"}]
    served = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"content-type": "application/json"}, content=REPLY))
    cassette = Cassette(tmp_path, mode="record")
    client = Client(api_key="k" * 20, transport=cassette.sync_transport(served), max_retries=0)
    assert client.create(model=MODEL, max_tokens=10, messages=history).text == "a\ud800b é é"
    exchange = json.loads((tmp_path / "001.json").read_text(encoding="utf-8"))
    assert exchange["request"]["body"]["messages"] == history  # JSON, not text
    assert exchange["response"]["body"]["content"][0]["text"] == "a\ud800b é é"
    assert exchange["response"]["text"].encode() == REPLY

    replay = Cassette(tmp_path)
    client = Client(api_key="k", transport=replay.sync_transport(), max_retries=0)
    raw = client.create(model=MODEL, max_tokens=10, messages=history).raw_json
    assert raw == REPLY  # byte for byte
    # A corpus-style file (parsed body only) replays the same JSON.
    del exchange["response"]["text"]
    (tmp_path / "001.json").write_text(json.dumps(exchange), encoding="utf-8")
    client = Client(api_key="k", transport=Cassette(tmp_path).sync_transport(), max_retries=0)
    message = client.create(model=MODEL, max_tokens=10, messages=history)
    assert message.text == "a\ud800b é é" and message.id == "msg_1"
