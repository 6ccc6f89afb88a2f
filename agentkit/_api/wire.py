"""Pydantic models of the Messages API, spelled as the API spells them: content blocks,
messages, requests, models and errors (the streaming events are in `stream_events.py`).

Rules this module keeps:
- **Nothing is dropped.** Every model allows extra fields (gateways add their own) and keeps
  them; an unknown content-block, delta or event type parses into an `Unknown*` model that
  holds the whole object verbatim. A JSON body holding an escaped lone surrogate parses as
  the stdlib reads it (`parse_json`), as the same reply streamed does.
- **Round-trip exact.** `to_wire()` dumps only what was set (`exclude_unset`), so a parsed
  object serializes back to the JSON it came from, and a constructed one sends no `null`s the
  API would reject.
- Stop reasons, error types and other enumerations are plain strings: known values are listed
  as constants, unknown ones are kept as received.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Self, cast, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
)

from .blocks import tool_result

__all__ = [
    "KNOWN_STOP_REASONS",
    "CacheControl",
    "Citation",
    "ContentBlock",
    "CountTokensResult",
    "DocumentBlock",
    "ErrorBody",
    "ErrorDetail",
    "ImageBlock",
    "Message",
    "MessageCreateParams",
    "MessageParam",
    "ModelInfo",
    "RedactedThinkingBlock",
    "ServerToolUseBlock",
    "TextBlock",
    "ThinkingBlock",
    "ToolParam",
    "ToolResultBlock",
    "ToolUseBlock",
    "UnknownBlock",
    "Usage",
    "WebSearchToolResultBlock",
    "WireModel",
    "parse_block",
    "tool_result",
    "type_tag",
    "union_tags",
]


class WireModel(BaseModel):
    """Base of every wire model: extra fields kept, dumps only what was set.

    A model built in Python always sends the fields the API requires even when they are left
    to their default: every single-`Literal` field (`type`, `role`) and the names listed in
    `_send_defaults` (e.g. a `tool_use` block's `input`). Parsing does not go through
    `__init__`, so this costs nothing on the hot path.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    _send_defaults: ClassVar[tuple[str, ...]] = ()
    _required_defaults: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        fields = cls.model_fields
        cls._required_defaults = tuple(
            name
            for name, info in fields.items()
            if name in cls._send_defaults
            or (get_origin(info.annotation) is Literal and isinstance(info.default, str))
        )

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        missing = [n for n in self._required_defaults if n not in self.model_fields_set]
        if missing:
            self.model_fields_set.update(missing)

    # pydantic's own marker (see `RootModel.__init__`): this `__init__` only adds to the base
    # one, so validation may build instances without calling it. Without it, parsing a reply
    # calls `__init__` for every block, which validates each one a second time.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict to send: every field that came in or was set, nothing else."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        """Parse a JSON-decoded dict (alias of `model_validate`, named for symmetry)."""
        return cls.model_validate(data)

    @classmethod
    def parse_json(cls, data: bytes) -> Self:
        """Validate a JSON body, read as the stdlib reads it.

        pydantic's parser goes first; JSON it refuses but the stdlib reads (an escaped lone
        surrogate, `"a\\ud800b"`, which a model or a gateway may send and which the same
        reply streamed carries through) goes to the stdlib, so both paths agree. Raises
        `pydantic.ValidationError` (a `ValueError`) for a body that is not JSON or not `cls`.
        """
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            if exc.errors(include_url=False)[0]["type"] != "json_invalid":
                raise
            try:
                decoded = json.loads(data)
            except ValueError:
                raise exc from None
        return cls.model_validate(decoded)


# -- small shared shapes --------------------------------------------------------------------


_DEFERRED = ConfigDict(defer_build=True)
"""The config of the models a run never parses (requests, token counts, models, errors): their
validators are built on first use, not at import, which a run's cold start pays for."""


class CacheControl(WireModel):
    """`{"type": "ephemeral", "ttl"?: "5m" | "1h"}`: a prompt-caching breakpoint."""

    _send_defaults = ("type",)

    type: str = "ephemeral"
    ttl: str | None = None


class Citation(WireModel):
    """One citation on a text block (`char_location`, `web_search_result_location`, …).

    Kept open: every citation type's fields are preserved as extras.
    """

    type: str


# -- content blocks -------------------------------------------------------------------------


class TextBlock(WireModel):
    type: Literal["text"] = "text"
    text: str
    citations: list[Citation] | None = None
    cache_control: CacheControl | None = None


class ImageBlock(WireModel):
    """`source` is `{type: base64, media_type, data}` or `{type: url, url}`."""

    type: Literal["image"] = "image"
    source: dict[str, Any]
    cache_control: CacheControl | None = None


class DocumentBlock(WireModel):
    """`source` is base64 PDF, plain text, a URL or nested content; see the contract §3."""

    type: Literal["document"] = "document"
    source: dict[str, Any]
    title: str | None = None
    context: str | None = None
    citations: dict[str, Any] | None = None
    cache_control: CacheControl | None = None


class ToolUseBlock(WireModel):
    """A client tool call. `input` is always an object (an empty stream input means `{}`)."""

    _send_defaults = ("input",)

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    cache_control: CacheControl | None = None


class ToolResultBlock(WireModel):
    """The answer to one `tool_use`; `content` is a string or text/image/document blocks."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str | list[ContentBlock] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(WireModel):
    """Extended thinking. Must be sent back byte-for-byte, signature included."""

    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str


class RedactedThinkingBlock(WireModel):
    """Encrypted thinking: opaque `data` that must be sent back unchanged."""

    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str


class ServerToolUseBlock(WireModel):
    """A server-side tool call (web search, …) run by the API itself."""

    _send_defaults = ("input",)

    type: Literal["server_tool_use"] = "server_tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class WebSearchToolResultBlock(WireModel):
    """Web search results (a list), or `{type: web_search_tool_result_error, error_code}`."""

    type: Literal["web_search_tool_result"] = "web_search_tool_result"
    tool_use_id: str
    content: list[dict[str, Any]] | dict[str, Any]


class UnknownBlock(WireModel):
    """A block type this version does not know; every field is kept and sent back as is."""

    type: str


def type_tag(known: set[str]) -> Callable[[object], str]:
    """Pydantic's discriminator for a union of models told apart by `type`: the value's type
    if `known`, else `"unknown"`. `known` is filled from the union once it exists
    (`union_tags`), so the tags are written once, in the union."""

    def tag(value: object) -> str:
        if isinstance(value, dict):
            kind = cast("dict[str, object]", value).get("type")
        else:
            kind = getattr(value, "type", None)
        return kind if isinstance(kind, str) and kind in known else "unknown"

    return tag


def union_tags(union: object) -> set[str]:
    """The `Tag`s of `Annotated[Annotated[A, Tag(a)] | ..., Discriminator(...)]`."""
    members = get_args(get_args(union)[0])
    return {meta.tag for member in members for meta in get_args(member) if isinstance(meta, Tag)}


_BLOCK_TAGS: set[str] = set()
ContentBlock = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[DocumentBlock, Tag("document")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[ServerToolUseBlock, Tag("server_tool_use")]
    | Annotated[WebSearchToolResultBlock, Tag("web_search_tool_result")]
    | Annotated[UnknownBlock, Tag("unknown")],
    Discriminator(type_tag(_BLOCK_TAGS)),
]
"""Any content block, in either direction; unknown types become `UnknownBlock`."""
_BLOCK_TAGS.update(union_tags(ContentBlock))

ToolResultBlock.model_rebuild()


@functools.cache
def _block_adapter() -> TypeAdapter[Any]:
    """The validator of one content block, built on first use (a run never needs it)."""
    return TypeAdapter(ContentBlock)


def parse_block(data: dict[str, Any]) -> Any:
    """Parse one content-block dict into its typed model (`UnknownBlock` if unknown)."""
    return _block_adapter().validate_python(data)


# -- messages, usage ------------------------------------------------------------------------

KNOWN_STOP_REASONS = frozenset(
    {
        "end_turn",
        "tool_use",
        "max_tokens",
        "stop_sequence",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    }
)
"""Stop reasons this version knows. Any other string is kept and reported as received."""


class ServerToolUsage(WireModel):
    web_search_requests: int | None = None


class Usage(WireModel):
    """Token counts of one response. `input_tokens` excludes cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: dict[str, Any] | None = None
    server_tool_use: ServerToolUsage | None = None
    service_tier: str | None = None


class MessageParam(WireModel):
    """One turn of `messages`: a role and a string or a list of blocks."""

    model_config = _DEFERRED

    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class Message(WireModel):
    """A complete assistant reply (`type: "message"`)."""

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage = Field(default_factory=Usage)
    _json: bytes | None = PrivateAttr(default=None)
    _wire: dict[str, Any] | None = PrivateAttr(default=None)

    @classmethod
    def from_json(cls, data: bytes) -> Message:
        """Parse a reply's JSON body, keeping the bytes (`raw_json`), so that whoever stores the
        reply (a durable run's journal) writes them as they came instead of dumping it."""
        message = cls.parse_json(data)
        message._json = data
        return message

    @classmethod
    def from_stream(cls, data: dict[str, Any]) -> Message:
        """Validate a reply assembled from a stream's events, keeping the dict (`raw_wire`), so
        that whoever stores the reply writes it as assembled instead of dumping it (a dump
        of a two-call reply costs ~9 µs, its `orjson` encoding under 1 µs)."""
        message = cls.model_validate(data)
        message._wire = data
        return message

    @property
    def raw_json(self) -> bytes | None:
        """The JSON body this reply was parsed from, or None (built, or reduced from SSE)."""
        # From the private dict: `self._json` goes through pydantic's `__getattr__` (~2 µs,
        # paid by every turn of a durable run).
        private = self.__pydantic_private__
        return None if private is None else private.get("_json")

    @property
    def raw_wire(self) -> dict[str, Any] | None:
        """The dict this reply was assembled into from a stream, or None (parsed from JSON,
        or built). Not to be changed: it is the reply as it came."""
        private = self.__pydantic_private__
        return None if private is None else private.get("_wire")

    @property
    def text(self) -> str:
        """The text blocks joined (thinking and tool calls excluded)."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        """The client tool calls of this reply, in order."""
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    def to_param(self) -> dict[str, Any]:
        """This reply as a `messages` entry, every block exactly as received."""
        return {"role": "assistant", "content": [_dump(b) for b in self.content]}


def _dump(block: WireModel) -> dict[str, Any]:
    return block.model_dump(mode="json", exclude_unset=True, by_alias=True)


# -- request --------------------------------------------------------------------------------


class ToolParam(WireModel):
    """A tool definition: a client tool (`input_schema`) or a versioned server tool (`type`)."""

    model_config = _DEFERRED

    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None
    cache_control: CacheControl | None = None
    strict: bool | None = None


class MessageCreateParams(WireModel):
    """The body of `POST /v1/messages`. Unknown fields are passed through, not rejected."""

    model_config = _DEFERRED

    model: str
    max_tokens: int = Field(ge=1)
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    tools: list[ToolParam] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    cache_control: CacheControl | None = None
    service_tier: str | None = None


class CountTokensResult(WireModel):
    model_config = _DEFERRED

    input_tokens: int


class ModelInfo(WireModel):
    """One entry of `GET /v1/models`."""

    model_config = _DEFERRED

    id: str
    type: str = "model"
    display_name: str | None = None
    created_at: str | None = None
    max_input_tokens: int | None = None
    max_tokens: int | None = None
    capabilities: dict[str, Any] | None = None


# -- errors ---------------------------------------------------------------------------------


class ErrorDetail(WireModel):
    model_config = _DEFERRED

    type: str
    message: str = ""


class ErrorBody(WireModel):
    """`{"type": "error", "error": {"type", "message"}, "request_id"?}`."""

    model_config = _DEFERRED

    type: str = "error"
    error: ErrorDetail
    request_id: str | None = None
