"""Tests of `agentkit._api.sse`: the SSE decoder and the JSON parse of each event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agentkit._api.sse import SSEDecoder, aiter_sse_events, iter_sse_events
from agentkit._errors import MalformedStreamError

Loader = Callable[[str], dict[str, Any]]


def decode_all(chunks: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events: list[tuple[str, str]] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.flush()


def sse_bytes(exchange: dict[str, Any]) -> bytes:
    return exchange["response"]["sse"].encode("utf-8")


# -- SSEDecoder -----------------------------------------------------------------------------


def test_decoder_reads_event_name_and_data() -> None:
    body = b'event: ping\ndata: {"type": "ping"}\n\nevent: message_stop\ndata: {}\n\n'
    assert decode_all([body]) == [("ping", '{"type": "ping"}'), ("message_stop", "{}")]


def test_decoder_every_two_way_split_gives_the_same_events(load_real: Loader) -> None:
    # Has multi-byte UTF-8 ("Olá", curly quotes), so some splits fall inside a character.
    body = sse_bytes(load_real("stream_text_system_blocks"))
    expected = decode_all([body])
    assert len(expected) > 5
    assert any(ord(ch) > 127 for _, data in expected for ch in data)
    for cut in range(len(body) + 1):
        assert decode_all([body[:cut], body[cut:]]) == expected, f"split at byte {cut}"


def test_decoder_byte_by_byte_and_three_way_splits(load_real: Loader) -> None:
    body = sse_bytes(load_real("vendor_fixtures/stream_tool_use_sdk_fixture"))
    expected = decode_all([body])
    assert expected[-1] == ("message_stop", '{"type":"message_stop"}')
    assert decode_all([body[i : i + 1] for i in range(len(body))]) == expected
    for first in range(0, len(body), 37):
        for second in range(first, len(body), 53):
            chunks = [body[:first], body[first:second], body[second:]]
            assert decode_all(chunks) == expected, f"split at {first}, {second}"


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_decoder_handles_crlf_and_cr_at_every_split(newline: bytes, load_real: Loader) -> None:
    body = sse_bytes(load_real("stream_tool_use"))
    expected = decode_all([body])
    converted = body.replace(b"\n", newline)
    for cut in range(len(converted) + 1):
        chunks = [converted[:cut], converted[cut:]]
        assert decode_all(chunks) == expected, f"split at byte {cut}"


def test_decoder_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # Were the CR taken as a line end on its own, the LF would make a blank line and
    # dispatch the event early, without its data.
    chunks = [b"event: a\r", b"\ndata: 1\r", b"\n\r", b"\n"]
    assert decode_all(chunks) == [("a", "1")]


def test_decoder_skips_comments_and_joins_multiline_data() -> None:
    body = b": keep-alive\n\nevent: x\n: note\ndata: line1\ndata:line2\ndata\n\n"
    assert decode_all([body]) == [("x", "line1\nline2\n")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"event: a\ndata: 1\ndata: 2\n\n", [("a", "1\n2")]),
        (b"event: a\ndata: 1\nevent: b\ndata: 2\n\n", [("b", "1\n2")]),
        (b"data: x\n\nevent: a\ndata: 1\n\n", [("message", "x"), ("a", "1")]),
        (b"event: a\ndata: 1\nid: 7\n\nevent: b\ndata: 2\n\n", [("a", "1"), ("b", "2")]),
        # As many newlines as three regular events, but one gap has 1 and another 3.
        (
            b"event: a\ndata: 1\nevent: b\ndata: 2\n\n\nevent: c\ndata: 3\n\n",
            [("b", "1\n2"), ("c", "3")],
        ),
    ],
    ids=["two-data-lines", "two-event-lines", "no-event-line", "id-line", "uneven-gaps"],
)
def test_decoder_irregular_events_follow_the_general_rules(
    body: bytes, expected: list[tuple[str, str]]
) -> None:
    # Each body also contains `event: X\ndata: Y` pairs, so a too-trusting fast path would
    # return those pairs and get the events wrong.
    assert decode_all([body]) == expected


def test_decoder_defaults_event_name_to_message_and_tracks_id() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 42\ndata: {}\n\n") + decoder.flush()
    assert events == [("message", "{}")]
    assert decoder.last_event_id == "42"


def test_decoder_does_not_dispatch_events_without_data() -> None:
    assert decode_all([b"event: lonely\n\nretry: 10\n\n"]) == []


def test_decoder_strips_one_space_only_and_keeps_field_value_spaces() -> None:
    assert decode_all([b"event:  spaced\ndata:   x \n\n"]) == [(" spaced", "  x ")]


def test_decoder_skips_a_leading_bom_split_across_chunks() -> None:
    body = "\ufeffevent: a\ndata: é\n\n".encode()
    assert decode_all([body[:2], body[2:]]) == [("a", "é")]


def test_decoder_extra_blank_lines_separate_nothing() -> None:
    body = b"event: a\ndata: 1\n\n\n\nevent: b\ndata: 2\n\n"
    assert decode_all([body]) == [("a", "1"), ("b", "2")]


def test_decoder_flush_dispatches_a_final_event_without_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'event: message_stop\ndata: {"type":"message_stop"}') == []
    assert decoder.flush() == [("message_stop", '{"type":"message_stop"}')]
    assert decoder.flush() == []


def test_decoder_multiple_events_in_one_chunk_and_none_in_another() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c\nda") == [
        ("a", "1"),
        ("b", "2"),
    ]
    assert decoder.feed(b"ta: 3") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [("c", "3")]


def test_iter_sse_events_parses_json_data(load_real: Loader) -> None:
    events = list(iter_sse_events([sse_bytes(load_real("stream_text_padded"))]))
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1] == {"type": "message_stop"}


def test_iter_sse_events_rejects_non_json_data_naming_the_event() -> None:
    with pytest.raises(MalformedStreamError, match=r"'content_block_delta'.*not JSON"):
        list(iter_sse_events([b"event: content_block_delta\ndata: {oops\n\n"]))


def test_iter_sse_events_rejects_json_that_is_not_an_object() -> None:
    with pytest.raises(MalformedStreamError, match="not an object"):
        list(iter_sse_events([b"data: [1, 2]\n\n"]))


@pytest.mark.parametrize(
    "data",
    [
        '{"n": 18446744073709551617, "s": "x"}',  # an int beyond 64 bits
        '{"t": "\\ud83d lone surrogate"}',
        '{"v": NaN}',
    ],
    ids=["huge-int", "lone-surrogate", "nan"],
)
def test_iter_sse_events_parses_what_the_stdlib_parses(data: str) -> None:
    # The fast decoder refuses these; the stdlib's answer is kept, so nothing that parsed
    # before fails now.
    (event,) = iter_sse_events([f"event: x\ndata: {data}\n\n".encode()])
    assert json.dumps(event) == json.dumps(json.loads(data))


@pytest.mark.asyncio
async def test_aiter_sse_events_matches_the_sync_version(load_real: Loader) -> None:
    body = sse_bytes(load_real("stream_thinking"))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    got = [event async for event in aiter_sse_events(chunks())]
    assert got == list(iter_sse_events([body]))
