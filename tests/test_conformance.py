"""Conformance: every real recorded exchange in `../shared/conformance/real/` (see SOURCES.md).

What each recording must do here:
- a JSON reply parses (`Message` or `CountTokensResult`) and serializes back to equal JSON;
- an SSE reply reduces to a `Message` equal to one folded independently (naively) from the
  same events, and every event parses typed and round-trips;
- a request body validates against `MessageCreateParams` and round-trips;
- an error reply parses as `ErrorBody` and maps to the exception class of its status;
- replayed through `httpx.MockTransport` into `AsyncClient`/`Client`, each exchange gives
  the same `Message` (streams: also the same typed events), result or exception, and the
  client sends the recorded request body unchanged.

Case counts (corpus as of this writing; `test_corpus_is_all_there` guards against shrinkage):
69 exchanges (65 live recordings + 4 vendor fixtures) and 2 raw vendor bodies, giving
  46 JSON replies (43 messages, 3 count_tokens), 6 error replies x2 (ErrorBody, class),
  52 JSON exchanges (replies and errors) through the async client,
  17 SSE streams x4 (reduce, typed events, async client, sync client),
  65 request bodies (61 /v1/messages, 4 count_tokens),
  plus the corpus and raw-body checks: 245 tests in all.
The corpus is found at `../shared` next to the repository root; without it every test here
is skipped, saying so.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentkit._api.sse import iter_sse_events
from agentkit._api.stream_events import UnknownDelta, UnknownEvent, parse_event
from agentkit._api.streaming import message_from_sse
from agentkit._api.wire import (
    CountTokensResult,
    ErrorBody,
    Message,
    MessageCreateParams,
    UnknownBlock,
)
from agentkit._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
)

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "real"
RAW_DIR = REAL_DIR / "vendor_fixtures" / "raw"
ABSENT = f"real conformance corpus not found at {REAL_DIR} (expected ../shared next to the repo)"


def _load() -> list[dict[str, Any]]:
    if not REAL_DIR.is_dir():
        return []
    paths = sorted(REAL_DIR.glob("*.json")) + sorted(REAL_DIR.glob("vendor_fixtures/*.json"))
    cases = []
    for path in paths:
        case = json.loads(path.read_text(encoding="utf-8"))
        case["_id"] = path.relative_to(REAL_DIR).with_suffix("").as_posix()
        cases.append(case)
    return cases


CASES = _load()


def params(select: Callable[[dict[str, Any]], bool]) -> list[Any]:
    """The cases `select` picks, as pytest params; one skipped param when the corpus is absent."""
    if not CASES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT), id="corpus-absent")]
    return [pytest.param(c, id=c["_id"]) for c in CASES if select(c)]


def status(case: dict[str, Any]) -> int:
    return int(case["response"]["status"])


def is_count_tokens(case: dict[str, Any]) -> bool:
    request = case.get("request") or {}
    return "count_tokens" in (request.get("path") or "") or "resp.count_tokens" in case["features"]


def is_json_reply(case: dict[str, Any]) -> bool:
    return "body" in case["response"] and status(case) < 400


def is_sse(case: dict[str, Any]) -> bool:
    return "sse" in case["response"]


def has_request_body(case: dict[str, Any]) -> bool:
    return isinstance((case.get("request") or {}).get("body"), dict)


def is_error(case: dict[str, Any]) -> bool:
    return status(case) >= 400


def features(case: dict[str, Any], prefix: str) -> set[str]:
    return {f.removeprefix(prefix) for f in case["features"] if f.startswith(prefix)}


def test_corpus_is_all_there() -> None:
    if not CASES:
        pytest.skip(ABSENT)
    assert len(CASES) >= 69
    assert sum(map(is_sse, CASES)) >= 17
    assert sum(map(is_json_reply, CASES)) >= 46
    assert sum(map(has_request_body, CASES)) >= 65
    assert sum(map(is_error, CASES)) >= 6


# -- JSON replies ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", params(is_json_reply))
def test_json_reply_parses_and_round_trips(case: dict[str, Any]) -> None:
    body = case["response"]["body"]
    if is_count_tokens(case):
        result = CountTokensResult.model_validate(copy.deepcopy(body))
        assert result.input_tokens > 0
        assert result.to_wire() == body
        return
    message = Message.model_validate(copy.deepcopy(body))
    assert message.to_wire() == body
    assert message.to_param() == {"role": "assistant", "content": body["content"]}
    # The recorder's own feature tags are an independent account of the content.
    assert {b.type for b in message.content} == features(case, "resp.block:")
    assert {message.stop_reason} == features(case, "stop_reason:")
    assert not any(isinstance(b, UnknownBlock) for b in message.content)


# -- SSE replies ----------------------------------------------------------------------------


def naive_events(sse: str) -> list[dict[str, Any]]:
    """Every `data:` line as JSON: enough for these recordings (one data line per event)."""
    return [json.loads(line[5:]) for line in sse.splitlines() if line.startswith("data:")]


def naive_fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The reply the events describe, folded in the plainest way (the reference to match)."""
    message: dict[str, Any] = {}
    partial_json: dict[int, str] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message = copy.deepcopy(event["message"])
        elif kind == "content_block_start":
            assert event["index"] == len(message["content"])
            message["content"].append(copy.deepcopy(event["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] += delta["signature"]
            elif delta["type"] == "citations_delta":
                block["citations"] = (block.get("citations") or []) + [delta["citation"]]
            elif delta["type"] == "input_json_delta":
                partial_json[event["index"]] = (
                    partial_json.get(event["index"], "") + delta["partial_json"]
                )
        elif kind == "content_block_stop":
            text = partial_json.pop(event["index"], None)
            if text is not None:
                message["content"][event["index"]]["input"] = json.loads(text) if text else {}
        elif kind == "message_delta":
            message.update(event["delta"])
            message["usage"].update({k: v for k, v in event["usage"].items() if v is not None})
        elif kind == "message_stop":
            return message
    raise AssertionError("recording has no message_stop")


@pytest.mark.parametrize("case", params(is_sse))
def test_sse_stream_reduces_to_the_message_it_describes(case: dict[str, Any]) -> None:
    sse: str = case["response"]["sse"]
    expected = naive_fold(naive_events(sse))
    message = message_from_sse(sse)
    assert message.to_wire() == expected
    assert message.stop_reason is not None
    assert {message.stop_reason} == features(case, "stop_reason:")
    assert {b.type for b in message.content} == features(case, "resp.block:")
    # Small uneven chunks give the same reply (boundaries land mid-line and mid-character).
    body = sse.encode("utf-8")
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    events = list(iter_sse_events(chunks))
    assert events == naive_events(sse)


@pytest.mark.parametrize("case", params(is_sse))
def test_sse_events_parse_typed_and_round_trip(case: dict[str, Any]) -> None:
    seen_deltas = set()
    for data in naive_events(case["response"]["sse"]):
        event = parse_event(copy.deepcopy(data))
        assert not isinstance(event, UnknownEvent), data["type"]
        assert event.to_wire() == data
        if data["type"] == "content_block_delta":
            assert not isinstance(event.delta, UnknownDelta), data["delta"]["type"]
            seen_deltas.add(data["delta"]["type"])
    assert seen_deltas == features(case, "sse.delta:")


# -- requests -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", params(has_request_body))
def test_request_body_validates_and_round_trips(case: dict[str, Any]) -> None:
    body = case["request"]["body"]
    if is_count_tokens(case):
        # count_tokens takes the Messages input shape minus max_tokens; the same model
        # checks it, with a placeholder max_tokens that is removed again.
        params = MessageCreateParams.model_validate({**copy.deepcopy(body), "max_tokens": 1})
        wire = params.to_wire()
        del wire["max_tokens"]
        assert wire == body
        return
    params = MessageCreateParams.model_validate(copy.deepcopy(body))
    assert params.to_wire() == body
    assert (params.stream is True) == ("req.stream" in case["features"])


# -- errors ---------------------------------------------------------------------------------

ERROR_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
}


@pytest.mark.parametrize("case", params(is_error))
def test_error_reply_parses_as_error_body(case: dict[str, Any]) -> None:
    body = case["response"]["body"]
    error = ErrorBody.model_validate(copy.deepcopy(body))
    assert error.to_wire() == body
    assert {error.error.type} == features(case, "error:")
    assert error.error.message


@pytest.mark.parametrize("case", params(is_error))
def test_error_reply_maps_to_its_exception_class(case: dict[str, Any]) -> None:
    from agentkit._api.sansio import error_from_response

    body = case["response"]["body"]
    exc = error_from_response(status(case), case["response"]["headers"], copy.deepcopy(body))
    assert type(exc) is ERROR_CLASSES[status(case)]
    assert exc.status_code == status(case)
    assert exc.error_type == body["error"]["type"]
    assert exc.request_id == body.get("request_id")
    assert body["error"]["message"] in str(exc)


def test_raw_vendor_bodies_parse_and_round_trip() -> None:
    if not RAW_DIR.is_dir():
        pytest.skip(ABSENT)
    bodies = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in RAW_DIR.glob("*.json")}
    assert len(bodies) == 2
    for name, body in bodies.items():
        if body["type"] == "error":
            parsed: ErrorBody | Message = ErrorBody.model_validate(copy.deepcopy(body))
        else:
            parsed = Message.model_validate(copy.deepcopy(body))
            assert parsed.stop_reason == "refusal"
        assert parsed.to_wire() == body, name


# -- replayed through the client ------------------------------------------------------------


def replay_handler(
    case: dict[str, Any], sent: list[dict[str, Any]], *, chunk: int, is_async: bool
) -> Any:
    """An httpx MockTransport handler serving the recorded stream in `chunk`-byte pieces
    (odd sizes, so pieces end mid-line and mid-character), recording each request body."""
    import httpx

    body = case["response"]["sse"].encode("utf-8")
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]

    async def agen() -> Any:
        for piece in pieces:
            yield piece

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        headers = {"content-type": "text/event-stream", "request-id": "req_replay"}
        stream = agen() if is_async else iter(pieces)
        return httpx.Response(200, headers=headers, content=stream)

    return handler


def replay_request(case: dict[str, Any]) -> dict[str, Any]:
    recorded = (case.get("request") or {}).get("body")
    if isinstance(recorded, dict):
        return copy.deepcopy(recorded)
    return {
        "model": "claude-test",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("case", params(is_sse))
async def test_sse_stream_replayed_through_the_async_client(case: dict[str, Any]) -> None:
    import httpx

    from agentkit._api.client import AsyncClient

    sent: list[dict[str, Any]] = []
    transport = httpx.MockTransport(replay_handler(case, sent, chunk=101, is_async=True))
    request = replay_request(case)
    async with (
        AsyncClient(api_key="sk-test", transport=transport, max_retries=0) as client,
        client.stream(request) as stream,
    ):
        events = [event async for event in stream]
        message = await stream.get_final_message()
        assert stream.request_id == "req_replay"
    expected_events = naive_events(case["response"]["sse"])
    assert [event.to_wire() for event in events] == expected_events
    assert message.to_wire() == naive_fold(expected_events)
    assert sent == [{**request, "stream": True}]


@pytest.mark.parametrize("case", params(is_sse))
def test_sse_stream_replayed_through_the_sync_client(case: dict[str, Any]) -> None:
    import httpx

    from agentkit._api.client import Client

    sent: list[dict[str, Any]] = []
    transport = httpx.MockTransport(replay_handler(case, sent, chunk=61, is_async=False))
    with (
        Client(api_key="sk-test", transport=transport, max_retries=0) as client,
        client.stream(replay_request(case)) as stream,
    ):
        message = stream.get_final_message()
    assert message.to_wire() == naive_fold(naive_events(case["response"]["sse"]))
    assert sent == [{**replay_request(case), "stream": True}]


def json_handler(case: dict[str, Any], sent: list[Any]) -> Any:
    """An httpx MockTransport handler answering with the recorded status and JSON body."""
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, json.loads(request.content)))
        return httpx.Response(status(case), json=case["response"]["body"])

    return handler


@pytest.mark.asyncio
@pytest.mark.parametrize("case", params(lambda c: "body" in c["response"]))
async def test_json_exchange_replayed_through_the_async_client(case: dict[str, Any]) -> None:
    import httpx

    from agentkit._api.client import AsyncClient

    sent: list[Any] = []
    transport = httpx.MockTransport(json_handler(case, sent))
    request = replay_request(case)
    body = case["response"]["body"]
    async with AsyncClient(api_key="sk-test", transport=transport, max_retries=0) as client:
        call = client.count_tokens if is_count_tokens(case) else client.create
        if is_error(case):
            with pytest.raises(APIStatusError) as info:
                await call(request)
            assert type(info.value) is ERROR_CLASSES[status(case)]
            assert info.value.error_type == body["error"]["type"]
        else:
            reply = await call(request)
            assert reply.to_wire() == body
    path = "/v1/messages/count_tokens" if is_count_tokens(case) else "/v1/messages"
    assert sent == [(path, request)]
