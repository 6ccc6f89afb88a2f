"""Pydantic models of the Messages API's streaming events and their deltas.

Typed events are for callers that iterate a stream (`parse_event`); the reducer
(`streaming.py`) works on the plain event dicts. Unknown event and delta types parse into
`UnknownEvent` / `UnknownDelta`, kept verbatim, as `wire.py`'s rules say.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag, TypeAdapter

from .wire import Citation, ContentBlock, ErrorDetail, Message, WireModel, type_tag, union_tags

__all__ = [
    "CitationsDelta",
    "ContentBlockDeltaEvent",
    "ContentBlockStartEvent",
    "ContentBlockStopEvent",
    "Delta",
    "ErrorEvent",
    "InputJSONDelta",
    "MessageDeltaBody",
    "MessageDeltaEvent",
    "MessageStartEvent",
    "MessageStopEvent",
    "PingEvent",
    "SignatureDelta",
    "StreamEvent",
    "TextDelta",
    "ThinkingDelta",
    "UnknownDelta",
    "UnknownEvent",
    "parse_event",
]


class TextDelta(WireModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class InputJSONDelta(WireModel):
    type: Literal["input_json_delta"] = "input_json_delta"
    partial_json: str


class ThinkingDelta(WireModel):
    type: Literal["thinking_delta"] = "thinking_delta"
    thinking: str


class SignatureDelta(WireModel):
    type: Literal["signature_delta"] = "signature_delta"
    signature: str


class CitationsDelta(WireModel):
    type: Literal["citations_delta"] = "citations_delta"
    citation: Citation


class UnknownDelta(WireModel):
    type: str


_DELTA_TAGS: set[str] = set()
Delta = Annotated[
    Annotated[TextDelta, Tag("text_delta")]
    | Annotated[InputJSONDelta, Tag("input_json_delta")]
    | Annotated[ThinkingDelta, Tag("thinking_delta")]
    | Annotated[SignatureDelta, Tag("signature_delta")]
    | Annotated[CitationsDelta, Tag("citations_delta")]
    | Annotated[UnknownDelta, Tag("unknown")],
    Discriminator(type_tag(_DELTA_TAGS)),
]
_DELTA_TAGS.update(union_tags(Delta))


class MessageStartEvent(WireModel):
    type: Literal["message_start"] = "message_start"
    message: Message


class ContentBlockStartEvent(WireModel):
    type: Literal["content_block_start"] = "content_block_start"
    index: int
    content_block: ContentBlock


class ContentBlockDeltaEvent(WireModel):
    type: Literal["content_block_delta"] = "content_block_delta"
    index: int
    delta: Delta


class ContentBlockStopEvent(WireModel):
    type: Literal["content_block_stop"] = "content_block_stop"
    index: int


class MessageDeltaBody(WireModel):
    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageDeltaEvent(WireModel):
    """Top-level changes; `usage` counts are cumulative."""

    type: Literal["message_delta"] = "message_delta"
    delta: MessageDeltaBody
    usage: dict[str, Any] | None = None


class MessageStopEvent(WireModel):
    type: Literal["message_stop"] = "message_stop"


class PingEvent(WireModel):
    type: Literal["ping"] = "ping"


class ErrorEvent(WireModel):
    type: Literal["error"] = "error"
    error: ErrorDetail


class UnknownEvent(WireModel):
    """An event type this version does not know: ignored by the reducer, kept for the user."""

    type: str


_EVENT_TAGS: set[str] = set()
StreamEvent = Annotated[
    Annotated[MessageStartEvent, Tag("message_start")]
    | Annotated[ContentBlockStartEvent, Tag("content_block_start")]
    | Annotated[ContentBlockDeltaEvent, Tag("content_block_delta")]
    | Annotated[ContentBlockStopEvent, Tag("content_block_stop")]
    | Annotated[MessageDeltaEvent, Tag("message_delta")]
    | Annotated[MessageStopEvent, Tag("message_stop")]
    | Annotated[PingEvent, Tag("ping")]
    | Annotated[ErrorEvent, Tag("error")]
    | Annotated[UnknownEvent, Tag("unknown")],
    Discriminator(type_tag(_EVENT_TAGS)),
]
"""Any SSE event; unknown types become `UnknownEvent`."""
_EVENT_TAGS.update(union_tags(StreamEvent))

_event_adapter: TypeAdapter[Any] = TypeAdapter(StreamEvent)


def parse_event(data: dict[str, Any]) -> Any:
    """Parse one decoded SSE `data` object into its typed event model."""
    return _event_adapter.validate_python(data)
