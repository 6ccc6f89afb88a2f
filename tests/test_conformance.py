"""Conformance: every real recorded exchange in `../shared/conformance/real/` and
`../shared/conformance/wild/` (see each SOURCES.md; "wild" holds exchanges recorded by ten
other projects' test suites).

What each recording must do here:
- a JSON reply parses (`Message`, `CountTokensResult`, `ModelInfo` or a models page) and
  serializes back to equal JSON; block types the wire does not model (newer server tools'
  results) are kept verbatim;
- an SSE reply reduces to a `Message` equal to one folded independently (naively) from the
  same events, every event parses typed and round-trips, and the fields a `message_delta`
  carries beside `delta` and `usage` (e.g. `context_management`) reach the message, so a
  streamed reply equals the same reply as JSON;
- the body of a request the API accepted validates against `MessageCreateParams` and
  round-trips;
- an error reply parses as `ErrorBody` and maps to the exception class of its status, with the
  request id from the body or, failing that, the `request-id` header;
- replayed through `httpx.MockTransport` into `AsyncClient`/`Client`, each exchange gives
  the same `Message` (streams: also the same typed events), model, result or exception, and
  the client sends the recorded request body unchanged.

`test_corpus_is_all_there` guards each corpus against shrinkage. The corpora are found at
`../shared` next to the repository root; without them every test here is skipped, saying so.
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
    ModelInfo,
    UnknownBlock,
)
from agentkit._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
)

CORPUS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance"
REAL_DIR = CORPUS_DIR / "real"
WILD_DIR = CORPUS_DIR / "wild"
RAW_DIR = REAL_DIR / "vendor_fixtures" / "raw"
ABSENT = f"conformance corpus not found at {CORPUS_DIR} (expected ../shared next to the repo)"

# Block types the wire keeps verbatim (`UnknownBlock`) rather than modelling: newer server
# tools' results, seen in the wild corpus. Anything else unknown is a gap in `_api/wire.py`.
VERBATIM_BLOCKS = {"tool_search_tool_result", "web_fetch_tool_result"}


def _load() -> list[dict[str, Any]]:
    cases = []
    for corpus, root in (("real", REAL_DIR), ("wild", WILD_DIR)):
        if not root.is_dir():
            continue
        paths = sorted(root.glob("*.json")) + sorted(root.glob("vendor_fixtures/*.json"))
        for path in paths:
            case = json.loads(path.read_text(encoding="utf-8"))
            case["_id"] = f"{corpus}/" + path.relative_to(root).with_suffix("").as_posix()
            case["_corpus"] = corpus
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


def is_models(case: dict[str, Any]) -> bool:
    return ((case.get("request") or {}).get("path") or "").startswith("/v1/models")


def is_json_reply(case: dict[str, Any]) -> bool:
    return "body" in case["response"] and status(case) < 400 and not is_models(case)


def is_sse(case: dict[str, Any]) -> bool:
    return "sse" in case["response"]


def has_request_body(case: dict[str, Any]) -> bool:
    """A request the API accepted (a 400's body may be malformed on purpose)."""
    return isinstance((case.get("request") or {}).get("body"), dict) and status(case) != 400


def is_error(case: dict[str, Any]) -> bool:
    return status(case) >= 400


def features(case: dict[str, Any], prefix: str) -> set[str]:
    return {f.removeprefix(prefix) for f in case["features"] if f.startswith(prefix)}


@pytest.mark.parametrize(
    ("corpus", "total", "sse", "json_replies", "requests", "errors", "models"),
    [("real", 69, 17, 46, 63, 6, 0), ("wild", 55, 21, 25, 50, 5, 4)],
)
def test_corpus_is_all_there(
    corpus: str, total: int, sse: int, json_replies: int, requests: int, errors: int, models: int
) -> None:
    cases = [c for c in CASES if c["_corpus"] == corpus]
    if not cases:
        pytest.skip(ABSENT)
    assert len(cases) >= total
    assert sum(map(is_sse, cases)) >= sse
    assert sum(map(is_json_reply, cases)) >= json_replies
    assert sum(map(has_request_body, cases)) >= requests
    assert sum(map(is_error, cases)) >= errors
    assert sum(map(is_models, cases)) >= models


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
    unknown = {b.type for b in message.content if isinstance(b, UnknownBlock)}
    assert unknown <= VERBATIM_BLOCKS


@pytest.mark.parametrize("case", params(is_models))
def test_models_reply_parses_and_round_trips(case: dict[str, Any]) -> None:
    body = case["response"]["body"]
    for item in body.get("data", [body]):
        assert ModelInfo.model_validate(copy.deepcopy(item)).to_wire() == item


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
            message.update({k: v for k, v in event.items() if k not in ("type", "delta", "usage")})
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


@pytest.mark.parametrize("case", params(is_sse))
def test_sse_message_delta_fields_reach_the_message(case: dict[str, Any]) -> None:
    """Top-level `message_delta` fields beside `delta`/`usage` (e.g. `context_management`)
    belong to the message as they would in the JSON reply: none may be dropped."""
    extras: dict[str, Any] = {}
    for data in naive_events(case["response"]["sse"]):
        if data["type"] == "message_delta":
            extras.update({k: v for k, v in data.items() if k not in ("type", "delta", "usage")})
    wire = message_from_sse(case["response"]["sse"]).to_wire()
    assert {k: wire.get(k) for k in extras} == extras


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
    assert exc.request_id == body.get("request_id") or case["response"]["headers"]["request-id"]
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
@pytest.mark.parametrize("case", params(lambda c: "body" in c["response"] and not is_models(c)))
async def test_json_exchange_replayed_through_the_async_client(case: dict[str, Any]) -> None:
    import httpx

    from agentkit._api.client import AsyncClient

    sent: list[Any] = []
    transport = httpx.MockTransport(json_handler(case, sent))
    request = replay_request(case)
    body = case["response"]["body"]
    async with AsyncClient(api_key="sk-test", transport=transport, max_retries=0) as client:
        call = client.count_tokens if is_count_tokens(case) else client.create
        if is_error(case) and request.pop("stream", False):
            # The error answers the streamed request before any event.
            with pytest.raises(APIStatusError) as info:
                async with client.stream(request):
                    pass
            assert type(info.value) is ERROR_CLASSES[status(case)]
            request["stream"] = True
        elif is_error(case):
            with pytest.raises(APIStatusError) as info:
                await call(request)
            assert type(info.value) is ERROR_CLASSES[status(case)]
            assert info.value.error_type == body["error"]["type"]
        else:
            reply = await call(request)
            assert reply.to_wire() == body
    path = "/v1/messages/count_tokens" if is_count_tokens(case) else "/v1/messages"
    assert sent == [(path, request)]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", params(is_models))
async def test_models_exchange_replayed_through_the_async_client(case: dict[str, Any]) -> None:
    import httpx

    from agentkit._api.client import AsyncClient

    body = case["response"]["body"]
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        # One recorded page: answer it once, then say there is no more.
        page = body if len(paths) == 1 else {**body, "data": [], "has_more": False}
        return httpx.Response(200, json=page)

    async with AsyncClient(
        api_key="sk-test", transport=httpx.MockTransport(handler), max_retries=0
    ) as client:
        if "data" in body:
            models = [m async for m in client.list_models()]
            assert [m.to_wire() for m in models] == body["data"]
            assert len(paths) == (2 if body.get("has_more") else 1)
        else:
            model = await client.get_model(body["id"])
            assert model.to_wire() == body
            assert paths == [f"/v1/models/{body['id']}"]
