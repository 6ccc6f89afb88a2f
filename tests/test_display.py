"""The run display: what each event looks like, on a captured console (no terminal)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from agentkit import (
    ModelRequest,
    RunUsage,
    TextChunk,
    ThinkingChunk,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from agentkit.cli.console import make_console
from agentkit.cli.display import Display, preview, usage_line
from agentkit.events import ContextEdited
from agentkit.testing import reply


def _display(*, terminal: bool = False) -> tuple[Display, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, color_system="standard" if terminal
                      else None, highlight=False, soft_wrap=True, width=80)
    return Display(console), out


def test_preview_is_one_line_cut_to_the_limit() -> None:
    assert preview({"a": "x\ny"}) == '{"a": "x\\ny"}'
    assert preview("one\n  two") == "one two"
    assert preview([{"type": "text", "text": "hi"}, {"type": "image"}]) == "hi [image]"
    cut = preview("x" * 200, limit=10)
    assert cut == "x" * 9 + "…" and len(cut) == 10
    # Whitespace squeezed below the limit still shows the text was cut.
    assert preview("a" + " " * 100 + "b", limit=10) == "a…"
    assert preview("a" + " " * 30 + "b", limit=10) == "a b"


def test_preview_shows_a_tool_s_terminal_controls_as_escapes() -> None:
    # A live run's tool line too: a result's escape sequences are shown, never obeyed.
    assert preview("\x1b[31mred\x1b[0m \x9b2J") == "\\x1b[31mred\\x1b[0m \\x9b2J"


def test_usage_line_shows_cost_or_unknown_price() -> None:
    usage = RunUsage()
    usage.add_turn({"input_tokens": 1000, "output_tokens": 10, "cache_read_input_tokens": 5},
                   "claude-sonnet-4-5")
    line = usage_line(usage)
    assert line.startswith("1 request · input 1,005 tokens (5 cache read, 0 cache write)")
    assert "output 10 tokens" in line and "$0.0032" in line
    usage.add_turn({"input_tokens": 1, "output_tokens": 1}, "no-such-model")
    assert usage_line(usage).endswith("unknown price ($0.0032 for the priced part)")


def test_text_thinking_and_tool_lines_in_order() -> None:
    display, out = _display()
    for event in (
        ThinkingChunk(1, "hmm, "),
        ThinkingChunk(1, "tools"),
        TextChunk(1, "Let me "),
        TextChunk(1, "look."),
        ToolCallStarted(1, "t1", "search", {"q": "tides"}),
        ToolCallFinished(1, "t1", "search", {"q": "tides"},
                         {"type": "tool_result", "tool_use_id": "t1", "content": "high at 6"}),
        ToolCallStarted(1, "t2", "fetch", {"url": "x"}),
        ToolCallFinished(1, "t2", "fetch", {"url": "x"},
                         {"type": "tool_result", "tool_use_id": "t2", "content": "404",
                          "is_error": True}),
        TextChunk(2, "Done."),
    ):
        display(event)
    display.end_line()
    assert out.getvalue().splitlines() == [
        "hmm, tools",
        "Let me look.",
        '→ search {"q": "tides"}',
        "← search result: high at 6",
        '→ fetch {"url": "x"}',
        "← fetch error: 404",
        "Done.",
    ]
    assert display.text_seen


def test_streamed_calls_show_when_the_turn_is_complete() -> None:
    display, out = _display()
    display(ToolCallStarted(1, "t1", "search", None))
    assert out.getvalue() == ""
    message = reply(tool_calls=[("search", {"q": "moon"}, "t1")])
    display(TurnFinished(1, message, None))
    assert out.getvalue() == '→ search {"q": "moon"}\n'


def test_calls_answered_without_running_show_their_result_from_the_next_request() -> None:
    display, out = _display()
    display(ToolCallStarted(1, "t1", "rm", {"path": "/"}))
    denied = {"type": "tool_result", "tool_use_id": "t1", "content": "Not run: no.",
              "is_error": True}
    params = {"messages": [{"role": "user", "content": [denied]}]}
    display(ModelRequest(2, params))
    display(ModelRequest(3, params))  # shown once
    assert out.getvalue().splitlines()[1:] == ["← rm error: Not run: no."]


def test_styles_only_on_a_terminal() -> None:
    display, out = _display(terminal=True)
    display(ThinkingChunk(1, "quiet"))
    display(TextChunk(1, "plain"))
    display(ToolCallStarted(1, "t1", "f", {}))
    value = out.getvalue()
    assert "\x1b[2;3mquiet\x1b[0m" in value  # dim italic
    assert "\nplain\n" in value  # text is written as is
    assert "\x1b[36m→ f {}\x1b[0m" in value
    plain, raw = _display()
    plain(ThinkingChunk(1, "quiet"))
    assert raw.getvalue() == "quiet"


def test_a_context_policy_at_work_is_one_line() -> None:
    display, out = _display()
    display(ContextEdited(12, "compaction", 29_525, 3_100, {"summary": "..."}))
    display(ContextEdited(13, "server_edits", None, None, {}))
    assert out.getvalue().splitlines() == [
        "⋯ context: older turns summarized (29,525 → 3,100 tokens)",
        "⋯ context: the API cleared old tool results",
    ]


def test_results_and_status_lines_are_printed_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # rich would turn `:smile:` into an emoji and `[b]` into bold: an answer is shown verbatim.
    display = Display(make_console(), status=make_console(stderr=True))
    display.line("Done :smile: see [b]notes[/b] at a:thumbs_up:b")
    display.info("model said :warning:")
    out, err = capsys.readouterr()
    assert out == "Done :smile: see [b]notes[/b] at a:thumbs_up:b\n"
    assert err == "model said :warning:\n"
