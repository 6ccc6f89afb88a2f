"""The caller's half of a stream, over a fake opener (no HTTP): each reading style, once."""

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from agentkit._api.message_stream import AsyncMessageStream, MessageStream, OpenStream
from agentkit._api.stream_events import MessageStartEvent
from agentkit._api.streaming import MessageAccumulator
from agentkit._errors import APIStreamError, IncompleteStreamError, UsageError

START = {
    "type": "message_start",
    "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                "content": [], "stop_reason": None, "usage": {"input_tokens": 1}},
}
EVENTS = [
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
    {"type": "message_stop"},
]


class Opener:
    """Plays the client: `message_start` already folded in, the rest to come."""

    def __init__(self, events: Iterable[dict[str, Any]] = EVENTS) -> None:
        self.events = [json.loads(json.dumps(e)) for e in events]
        self.closed = False

    def open(self) -> OpenStream:
        acc = MessageAccumulator(request_id="req_1")
        acc.apply(START)
        return OpenStream(acc, {"request-id": "req_1"}, START, iter(self.events), self.close)

    def close(self) -> None:
        self.closed = True

    async def aopen(self) -> OpenStream:
        opened = self.open()
        opened.events = _aiter(self.events)
        opened.close = self.aclose
        return opened

    async def aclose(self) -> None:
        self.closed = True


async def _aiter(items: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in items:
        yield item


def test_typed_events_then_final_message() -> None:
    opener = Opener()
    with MessageStream(opener.open) as stream:
        events = list(stream)
        final = stream.get_final_message()
        assert stream.request_id == "req_1" and stream.response_headers["request-id"] == "req_1"
    assert isinstance(events[0], MessageStartEvent)
    assert [e.type for e in events[1:]] == [e["type"] for e in EVENTS]
    assert final.text == "Hello" and final.usage.output_tokens == 2
    assert opener.closed


def test_final_message_without_reading_events() -> None:
    with MessageStream(Opener().open) as stream:
        assert stream.get_final_message().text == "Hello"


def test_text_stream_and_raw_events_share_one_pass() -> None:
    with MessageStream(Opener().open) as stream:
        first_two = [next(stream.raw_events())["type"], next(stream.raw_events())["type"]]
        texts = list(stream.text_stream())
        assert stream.get_final_message().text == "Hello"  # nothing applied twice
    assert first_two == ["message_start", "content_block_start"]
    assert texts == ["Hel", "lo"]


def test_current_message_grows() -> None:
    with MessageStream(Opener().open) as stream:
        events = stream.raw_events()
        for _ in range(3):
            next(events)
        partial = stream.current_message()
        final = stream.get_final_message()  # picks up where the reader stopped
    assert partial is not None and partial.text == "Hel"
    assert final.text == "Hello" and final.stop_reason == "end_turn"


def test_truncated_and_errored_streams_raise() -> None:
    with MessageStream(Opener(EVENTS[:3]).open) as stream, pytest.raises(IncompleteStreamError):
        stream.get_final_message()
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with (
        MessageStream(Opener([*EVENTS[:2], error]).open) as stream,
        pytest.raises(APIStreamError) as caught,
    ):
        stream.get_final_message()
    assert caught.value.request_id == "req_1" and caught.value.partial.text == "Hel"


def test_using_a_stream_before_entering_it_is_a_usage_error() -> None:
    stream = MessageStream(Opener().open)
    assert stream.request_id is None
    with pytest.raises(UsageError, match="enter the stream"):
        stream.get_final_message()
    with pytest.raises(UsageError):
        _ = stream.response_headers


@pytest.mark.asyncio
async def test_async_stream_reads_the_same() -> None:
    opener = Opener()
    async with AsyncMessageStream(opener.aopen) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert final.text == "Hello" and opener.closed
    async with AsyncMessageStream(Opener().aopen) as stream:
        assert [t async for t in stream.text_stream()] == ["Hel", "lo"]
