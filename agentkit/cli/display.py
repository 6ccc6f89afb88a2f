"""The terminal display of a run: one `on_event` consumer for the `agentkit` command line.

Owns how events look. Rules: answer text is written to the stream as it arrives, as plain
writes (never re-rendered, so nothing flickers and a pipe gets exactly the text); thinking is
dimmed; each tool call is one compact line when it starts and one when it finishes (red when
the result is an error); a usage line closes the run. Styling goes through `rich`, which
drops it when the output is not a terminal. Uses public names only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, cast

from agentkit import (
    ModelRequest,
    RunFinished,
    RunUsage,
    TextChunk,
    ThinkingChunk,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from agentkit.events import ContextEdited

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

__all__ = [
    "Display",
    "make_console",
    "models_table",
    "preview",
    "progress_bar",
    "tool_listing",
    "usage_line",
]

PREVIEW_CHARS = 100
"""Characters of a tool input or result shown on its line."""


def make_console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), resolved at write time so captured streams work."""
    from rich.console import Console

    # highlight=False: answer text and previews are shown as they are, not colour-guessed.
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """One line showing `value` (text, JSON data or content blocks), cut to `limit` chars."""
    if isinstance(value, list):
        items = cast("list[object]", value)
        blocks = [b for b in items if _is_block(b)]
        if len(blocks) == len(items):
            value = " ".join(_block_text(b) for b in blocks)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    # Only the start is shown: don't normalise the whitespace of a 100K-character result.
    head = " ".join(text[: limit * 4].split())
    if len(head) <= limit and len(text) <= limit * 4:
        return head
    return head[: limit - 1] + "…"


def _is_block(value: object) -> TypeGuard[Mapping[str, Any]]:
    """Whether a JSON value is an object: a content block, as far as showing it goes."""
    return isinstance(value, Mapping)


def _block_text(block: Mapping[str, Any]) -> str:
    if block.get("type") == "text":
        return str(block.get("text", ""))
    return f"[{block.get('type', 'block')}]"


def usage_line(usage: RunUsage) -> str:
    """`requests · input (of it cached) · output · cost`, for the end of a run.

    Input is the whole prompt, cache reads and writes included (the API's `input_tokens` is
    only the uncached rest), so the numbers add up.
    """
    cost = usage.cost_usd
    price = f"${cost:.4f}" if cost is not None else "unknown price"
    if cost is None and usage.known_cost_usd:
        price += f" (${usage.known_cost_usd:.4f} for the priced part)"
    return (
        f"{usage.requests} request{'s' if usage.requests != 1 else ''} · "
        f"input {usage.total_input_tokens:,} tokens ({usage.cache_read_input_tokens:,} cache "
        f"read, {usage.cache_creation_input_tokens:,} cache write) · "
        f"output {usage.output_tokens:,} tokens · {price}"
    )


class Display:
    """Renders a run's events on a console; pass an instance as `on_event=`.

    `text_seen` says whether any answer text was shown (the caller then need not print the
    final text again).
    """

    def __init__(self, console: Console | None = None, *, show_thinking: bool = True) -> None:
        self.console = console if console is not None else make_console()
        self.show_thinking = show_thinking
        self.text_seen = False
        self._mode: Literal["line", "text", "thinking"] = "line"
        """What the cursor is in the middle of: nothing (start of a line), text, thinking."""
        self._streaming: set[str] = set()
        """Ids of tool calls whose input is still streaming."""
        self._open: dict[str, str] = {}
        """Tool calls shown, by id, whose result is not shown yet."""

    def __call__(self, event: Any) -> None:
        """Render one event (unknown kinds are ignored, so new events never break the CLI)."""
        if isinstance(event, TextChunk):
            self._text(event.text)
        elif isinstance(event, ThinkingChunk):
            if self.show_thinking and event.thinking:
                self._thinking(event.thinking)
        elif isinstance(event, ToolCallStarted):
            if event.input is None:  # still streaming: shown whole when the turn is complete
                self._streaming.add(event.id)
            else:
                self._call(event.id, event.name, event.input)
        elif isinstance(event, TurnFinished):
            if self._streaming:
                for block in event.message.tool_uses:
                    if block.id in self._streaming:
                        self._call(block.id, block.name, block.input)
                self._streaming.clear()
        elif isinstance(event, ToolCallFinished):
            self._result(event.id, event.result)
        elif isinstance(event, ModelRequest):
            if self._open:
                self._unreported(event.params)
        elif isinstance(event, ContextEdited):
            self.line(context_line(event), style="magenta")
        elif isinstance(event, RunFinished):
            self.end_line()

    def _call(self, id: str, name: str, input: Any) -> None:
        self._open[id] = name
        self.line(f"→ {name} {preview(input)}", style="cyan")

    def _result(self, id: str, result: Mapping[str, Any]) -> None:
        name = self._open.pop(id, "tool")
        error = bool(result.get("is_error"))
        label = "error" if error else "result"
        self.line(f"← {name} {label}: {preview(result.get('content'))}",
                  style="red" if error else "dim")

    def _unreported(self, params: Mapping[str, Any]) -> None:
        # Calls answered without running (denied, refused approval) have no finished event:
        # their results are first seen in the next request.
        for message in params.get("messages") or ():
            content: object = message.get("content")
            if message.get("role") != "user" or not isinstance(content, list):
                continue
            for block in cast("list[object]", content):
                if (_is_block(block) and block.get("type") == "tool_result"
                        and block.get("tool_use_id") in self._open):
                    self._result(block["tool_use_id"], block)
        self._open.clear()

    def _text(self, text: str) -> None:
        if self._mode == "thinking":
            self._write("\n")
        self._mode = "text"
        self.text_seen = True
        self._write(text)

    def _thinking(self, text: str) -> None:
        if self._mode == "text":
            self._write("\n")
        self._mode = "thinking"
        self.console.print(text, style="dim italic", end="", markup=False)

    def _write(self, text: str) -> None:
        # A plain write: the text reaches the terminal as it arrives, with no re-rendering.
        out = self.console.file
        out.write(text)
        out.flush()

    def end_line(self) -> None:
        """Finish a line left open by streamed text."""
        if self._mode != "line":
            self._write("\n")
            self._mode = "line"

    def line(self, text: str, *, style: str | None = None) -> None:
        """Print `text` on a line of its own (closing any open text first)."""
        self.end_line()
        self.console.print(text, style=style, markup=False)

    def note(self, text: str) -> None:
        """A dim line: offline mode, skipped items, hints."""
        self.line(text, style="dim")

    def usage(self, usage: RunUsage, *, prefix: str = "") -> None:
        """The closing usage line."""
        self.line(prefix + usage_line(usage), style="dim")


def models_table(console: Console, models: list[Any]) -> None:
    """`GET /v1/models` entries as a table: id, display name, created, token limits."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    # Ids are what people copy: never cut or wrapped.
    table.add_column("id", no_wrap=True, min_width=max((len(m.id) for m in models), default=2))
    for title in ("display name", "created", "max in", "max out"):
        table.add_column(title, no_wrap=True, justify="right" if "max" in title else "left")
    for m in models:
        table.add_row(
            m.id,
            m.display_name or "",
            (m.created_at or "")[:10],
            _count(m.max_input_tokens),
            _count(m.max_tokens),
        )
    console.print(table)


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "?"


def tool_listing(console: Console, families: list[Any]) -> None:
    """Each ready tool family: a rule with its summary, then each tool and its input schema."""
    from rich.json import JSON
    from rich.rule import Rule
    from rich.text import Text

    for family in families:
        console.print(Rule(Text(f"{family.name}: {family.summary}"), align="left"))
        console.print(f"use: {family.usage}", style="dim", markup=False)
        for t in family.example():
            console.print(t.name, style="bold", markup=False)
            console.print(t.description, markup=False)
            console.print(JSON.from_data(t.input_schema, indent=2))


def progress_bar(console: Console) -> Progress:
    """A progress bar (items done of total, elapsed, remaining); silent off a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def context_line(event: ContextEdited) -> str:
    """One line for a context policy at work: what it did, and the size before and after."""
    what = {
        "trim": "old tool results cleared",
        "compaction": "older turns summarized",
        "server_edits": "the API cleared old tool results",
        "server_compaction": "the API summarized the conversation",
        "overflow": "the context window was exceeded: compacting, then retrying",
        "fallback": "server-side context management is unknown here: compacting client-side",
    }.get(event.kind, event.kind)
    before, after = event.tokens_before, event.tokens_after
    sizes = f" ({before:,} → {after:,} tokens)" if before and after else ""
    return f"⋯ context: {what}{sizes}"
