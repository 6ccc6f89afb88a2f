"""Content-Encoding decoding under a size cap, for the http tool.

Owns `CappedDecoder`. Why not let httpx decode: it inflates each network chunk in full, so a
6.8 KB reply sent as `Content-Encoding: gzip, gzip` (which servers may send even when asked for
`identity`) became 8 GB before any cap could look at it. Here every layer inflates at most the
bytes still allowed (zlib's `max_length`), so memory and CPU stay bounded by the cap whatever the
compression ratio; at most `MAX_ENCODINGS` layers, only gzip and deflate.
"""

from __future__ import annotations

import zlib

from agentkit import ToolError

__all__ = ["MAX_ENCODINGS", "CappedDecoder"]

MAX_ENCODINGS = 2
"""Content encodings stacked on one body at most (real servers send one)."""

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class CappedDecoder:
    """Decodes a body's raw chunks, never producing more than the bytes still allowed."""

    __slots__ = ("_layers",)

    def __init__(self, content_encoding: str) -> None:
        """Raises `ToolError` for an unknown encoding or more than `MAX_ENCODINGS` of them."""
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > MAX_ENCODINGS:
            raise ToolError(
                f"the server encoded the body {len(codings)} times ({content_encoding}); "
                f"at most {MAX_ENCODINGS} encodings are decoded"
            )
        unknown = [c for c in codings if c not in _WBITS]
        if unknown:
            raise ToolError(
                f"the server sent the body in the {unknown[0]!r} encoding, which this tool "
                "cannot decode (only gzip and deflate)"
            )
        # Decoded in the reverse order of application.
        self._layers = [zlib.decompressobj(_WBITS[c]) for c in reversed(codings)]

    @property
    def identity(self) -> bool:
        """Whether the body is not encoded at all (raw chunks are the content)."""
        return not self._layers

    def feed(self, chunk: bytes, room: int) -> tuple[bytes, bool]:
        """Decode one raw chunk into at most `room` bytes; also whether more was left over
        (the body is longer than the cap, stop reading). Raises `ToolError` on corrupt data."""
        data = chunk
        over = False
        try:
            for layer in self._layers:
                data = layer.decompress(data, room + 1)
                over = over or bool(layer.unconsumed_tail)
        except zlib.error as exc:
            raise ToolError(f"the body is not valid compressed data: {exc}") from None
        if len(data) > room:
            return data[:room], True
        return data, over
