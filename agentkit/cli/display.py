"""The terminal display of a run: one `on_event` consumer for the `agentkit` command line.

Owns how events look. Rules: results go to stdout and everything else to stderr (so
`agentkit run ... > file` captures only the answer); answer text is written to stdout as it
arrives, as plain writes (never re-rendered, so nothing flickers and a pipe gets exactly the
text); while waiting on the model a spinner naming it turns on stderr, only on a terminal;
thinking is dimmed; each tool call is one compact line when it starts and one when it
finishes (red when the result is an error); a usage line closes the run. Styling goes
through `rich`, which drops it when the output is not a terminal. Uses public names only.
Consoles and the listings that are not events (models, tools, batch progress) are
`console`'s, re-exported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, cast

from agentkit import (
    ModelRequest,
    ModelRetry,
    RunFinished,
    RunUsage,
    TextChunk,
    ThinkingChunk,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from agentkit.events import ContextEdited

from .console import make_console, models_table, progress_bar, tool_listing

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

__all__ = [
    "Display",
    "make_console",
    "models_table",
    "preview",
    "printable",
    "progress_bar",
    "tool_listing",
    "usage_line",
]

PREVIEW_CHARS = 100
"""Characters of a tool input or result shown on its line."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SUSPECT = re.compile(r"(\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F)|[^\t\n\x20-\x7e]")
"""A character of a text that may be hidden (any but ASCII's printable ones, newlines and
tabs), unless it is in a flag emoji's tag sequence (group 1)."""
_HIDDEN = ("Cc", "Cf", "Zl", "Zp")
"""What a terminal (or a browser) does not show as text: controls, format characters (the
bidirectional overrides and isolates, zero-width spaces, tags), line and paragraph separators."""
_JOINERS = ("\u200c", "\u200d")
"""Format characters that are part of ordinary text: the zero-width (non-)joiner, which make
an emoji of several and shape Persian or Indic words."""


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` with what a terminal would obey or not show (controls but newlines and tabs,
    unless `one_line`; bidirectional overrides, zero-width spaces) written as `\\xNN` and
    `\\uNNNN` escapes; other text (any script, emoji) as it is.

    What a tool or a model wrote may hold terminal escape sequences (a shell's colours, or a
    hostile page's "clear the screen", "set the title"): shown, they are text, never obeyed.
    An invisible character reorders or hides text: "invoice-\\u202efdp.exe" reads
    "invoice-exe.pdf" ("Trojan Source"), and a run id shown so could be taken for another.
    A name (a run id, a model) is `one_line`: a newline in it would read as two rows, and no
    format character in it is shown as it is.
    """
    if one_line:
        if text.isprintable():
            return text
        import unicodedata

        return "".join(c if unicodedata.category(c) not in _HIDDEN else _escaped(c) for c in text)
    text = text.replace("\r\n", "\n")
    if text.isascii():
        return _CONTROL.sub(lambda m: _escaped(m.group()), text)
    return _SUSPECT.sub(_shown, text)


def _shown(match: re.Match[str]) -> str:
    import unicodedata

    c = match.group()
    if match.group(1) is not None or c in _JOINERS or unicodedata.category(c) not in _HIDDEN:
        return c
    return _escaped(c)


def _escaped(c: str) -> str:
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """One line showing `value` (text, JSON data or content blocks), cut to `limit` chars."""
    if isinstance(value, list):
        items = cast("list[object]", value)
        blocks = [b for b in items if _is_block(b)]
        if len(blocks) == len(items):
            value = " ".join(_block_text(b) for b in blocks)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    # Only the start is shown: don't normalise the whitespace of a 100K-character result.
    head = printable(" ".join(text[: limit * 4].split()))
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


def usage_line(usage: RunUsage, *, offline: bool = False) -> str:
    """`requests · input (of it cached) · output · cost`, for the end of a run.

    Input is the whole prompt, cache reads and writes included (the API's `input_tokens` is
    only the uncached rest), so the numbers add up. Offline nothing was billed: the price is
    labelled as what the real API would have cost.
    """
    cost = usage.cost_usd
    price = f"${cost:.4f}" if cost is not None else "unknown price"
    if cost is None and usage.known_cost_usd:
        price += f" (${usage.known_cost_usd:.4f} for the priced part)"
    if offline:
        price = f"offline, nothing billed (the real API would cost {price})"
    return (
        f"{usage.requests} request{'s' if usage.requests != 1 else ''} · "
        f"input {usage.total_input_tokens:,} tokens ({usage.cache_read_input_tokens:,} cache "
        f"read, {usage.cache_creation_input_tokens:,} cache write) · "
        f"output {usage.output_tokens:,} tokens · {price}"
    )


class Display:
    """Renders a run's events; pass an instance as `on_event=`.

    Results (answer text, `line`) go to `console` (stdout); status (notes, thinking, tool
    calls, usage, the spinner) to `status` (stderr; `console` when only that is given).
    `text_seen` says whether any answer text was shown on stdout (the caller then need not
    print the final text again). `offline` labels costs as what the real API would charge.
    """

    def __init__(
        self, console: Console | None = None, *, status: Console | None = None,
        show_thinking: bool = True, offline: bool = False, text_to_status: bool = False,
    ) -> None:
        self.console = console if console is not None else make_console()
        if status is None:
            status = console if console is not None else make_console(stderr=True)
        self.status = status
        self.show_thinking = show_thinking
        self.offline = offline
        self.text_to_status = text_to_status
        """Stream answer text to `status` too (stdout redirected: only the final answer goes
        there, printed by the caller, so intermediate agents' text never lands in a file)."""
        self.text_seen = False
        self._mode: Literal["line", "text", "thinking"] = "line"
        """What the cursor is in the middle of: nothing (start of a line), text, thinking."""
        self._spinner: Status | None = None
        self._holder: str | None = None
        """The run whose streamed text holds the display (see `__call__`)."""
        self._waiting: list[Any] = []
        """Events of other runs, held until the display is released."""
        self._streaming: set[str] = set()
        """Ids of tool calls whose input is still streaming."""
        self._open: dict[str, str] = {}
        """Tool calls shown, by id, whose result is not shown yet."""

    def __call__(self, event: Any) -> None:
        """Render one event (unknown kinds are ignored, so new events never break the CLI).

        Parallel runs take turns: the run whose text or thinking is being streamed holds the
        display until its turn finishes; meanwhile the events of the others wait, in order.
        """
        run = getattr(event, "run_id", "")
        if self._holder is not None and run != self._holder:
            self._waiting.append(event)
            return
        self._render(event)
        if isinstance(event, TextChunk | ThinkingChunk):
            self._holder = run
        elif isinstance(event, TurnFinished | ModelRetry | RunFinished) and run == self._holder:
            self.release()

    def release(self) -> None:
        """Let the next run show what it did meanwhile (also called when a run failed)."""
        if self._holder is not None:
            self.end_line()
        self._holder = None
        waiting, self._waiting = self._waiting, []
        for event in waiting:
            self(event)

    def _render(self, event: Any) -> None:
        self.stop_spinner()
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
            self._result(event.id, event.result, event.name)
        elif isinstance(event, ModelRequest):
            if self._open:
                self._unreported(event.params)
            self._wait(str(event.params.get("model", "the model")))
        elif isinstance(event, ContextEdited):
            self.line(context_line(event), style="magenta")
        elif isinstance(event, RunFinished):
            self.end_line()

    def _wait(self, model: str) -> None:
        # Only a terminal gets a spinner: a pipe or a log file would fill with its frames.
        if self.status.is_terminal:
            self.end_line()
            self._spinner = self.status.status(f"waiting for {model}…", spinner="dots")
            self._spinner.start()

    def stop_spinner(self) -> None:
        """Take the waiting spinner off the terminal (before anything else is written)."""
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    def _call(self, id: str, name: str, input: Any) -> None:
        self._open[id] = name
        self.info(f"→ {name} {preview(input)}", style="cyan")

    def _result(self, id: str, result: Mapping[str, Any], name: str = "tool") -> None:
        name = self._open.pop(id, name)  # a resumed run's calls may have started before it
        error = bool(result.get("is_error"))
        label = "error" if error else "result"
        self.info(f"← {name} {label}: {preview(result.get('content'))}",
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
            self._write("\n", status=True)
        self._mode = "text"
        self.text_seen = not self.text_to_status
        self._write(text, status=self.text_to_status)

    def _thinking(self, text: str) -> None:
        if self._mode == "text":
            self._write("\n", status=self.text_to_status)
        self._mode = "thinking"
        self.status.print(text, style="dim italic", end="", markup=False)

    def _write(self, text: str, *, status: bool = False) -> None:
        # A plain write: the text reaches the terminal as it arrives, with no re-rendering.
        out = (self.status if status else self.console).file
        out.write(text)
        out.flush()

    def end_line(self) -> None:
        """Finish a line left open by streamed text (on stdout) or thinking (on stderr)."""
        self.stop_spinner()
        if self._mode != "line":
            self._write("\n", status=self._mode == "thinking" or self.text_to_status)
            self._mode = "line"

    def line(self, text: str, *, style: str | None = None) -> None:
        """Print a result on stdout, on a line of its own (closing any open text first)."""
        self.end_line()
        self.console.print(text, style=style, markup=False)

    def info(self, text: str, *, style: str | None = None) -> None:
        """Print a status line on stderr (closing any open text first)."""
        self.end_line()
        self.status.print(text, style=style, markup=False)

    def note(self, text: str) -> None:
        """A dim status line: offline mode, skipped items, hints."""
        self.info(text, style="dim")

    def warn(self, text: str) -> None:
        """A yellow status line: something that runs but is probably not what was meant."""
        self.info(f"warning: {text}", style="yellow")

    def usage(self, usage: RunUsage, *, prefix: str = "") -> None:
        """The closing usage line (on stderr)."""
        self.info(prefix + usage_line(usage, offline=self.offline), style="dim")


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
