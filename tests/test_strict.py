"""Tests of the strict fake's request check: the API's 400s, in its wording."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentkit.testing._strict import check_request

HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-secret"}


def body(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    turns = list(messages) or [{"role": "user", "content": "Hello"}]
    return {"model": "claude-test-1", "max_tokens": 1024, "messages": turns, **extra}


USE = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
}


def result(tool_use_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": "ok"}


def check(*messages: dict[str, Any], headers: dict[str, str] = HEADERS, **extra: Any) -> str | None:
    return check_request(body(*messages, **extra), headers)


TOOLS = [{"name": "f", "input_schema": {"type": "object"}}]


def test_check_accepts_a_valid_tool_loop() -> None:
    user = {"role": "user", "content": "hi"}
    assert check(user, USE, {"role": "user", "content": [result("toolu_1")]}, tools=TOOLS) is None


def test_check_rejects_tool_calls_in_a_request_without_tools() -> None:
    user = {"role": "user", "content": "hi"}
    answered = {"role": "user", "content": [result("toolu_1")]}
    later = [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}]
    for tools in ({}, {"tools": []}):
        assert check(user, USE, answered, *later, **tools) == (
            "Requests which include `tool_use` or `tool_result` blocks must define tools."
        )


def test_check_rejects_a_foreign_tool_result_id_with_the_api_wording() -> None:
    problem = check(
        {"role": "user", "content": "hi"}, USE, {"role": "user", "content": [result("toolu_x")]}
    )
    assert problem == (
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
        "message."
    )


def test_check_rejects_text_before_results_and_unanswered_calls() -> None:
    first = {"role": "user", "content": "hi"}
    text_first = {"role": "user", "content": [{"type": "text", "text": "?"}, result("toolu_1")]}
    assert "Did not find 1 `tool_result`" in (check(first, USE, text_first) or "")
    assert "without `tool_result`" in (check(first, USE, {"role": "user", "content": "go"}) or "")
    assert "without `tool_result`" in (check(first, USE) or "")  # a dangling call at the end


def test_check_rejects_other_shape_errors() -> None:
    user = {"role": "user", "content": "hi"}
    assert check(user, headers={}) == "anthropic-version: header is required"
    assert check(user, user) is not None and "alternate" in (check(user, user) or "")
    assert check({"role": "system", "content": "x"}) is not None
    empty = {"role": "user", "content": []}
    assert "non-empty content" in (check(empty, {"role": "assistant", "content": "x"}) or "")
    thinking = {"type": "enabled", "budget_tokens": 2000}
    assert "max_tokens" in (check(user, thinking=thinking) or "")  # 2000 >= max_tokens 1024
    thinking = {"type": "enabled", "budget_tokens": 1024}
    forced = check(user, thinking=thinking, max_tokens=4096, tool_choice={"type": "any"})
    assert forced == "Thinking may not be enabled when tool_choice forces tool use."
    assert "temperature" in (check(user, thinking=thinking, max_tokens=4096, temperature=0) or "")
    auto = {"type": "auto"}
    assert check(user, thinking=thinking, max_tokens=4096, tool_choice=auto, tools=TOOLS) is None
    no_model = {k: v for k, v in body().items() if k != "model"}
    assert check_request(no_model, HEADERS) == "model: Field required"


def test_check_accepts_every_real_successful_request(load_real: Callable[..., Any]) -> None:
    from pathlib import Path

    real_dir = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "real"
    if not real_dir.is_dir():
        pytest.skip(f"real corpus {real_dir} is absent (expected ../shared next to the repo)")
    checked = 0
    for path in sorted(real_dir.glob("*.json")):
        exchange = load_real(path.stem)
        request = exchange.get("request") or {}
        if not request.get("path", "").split("?")[0].endswith("/v1/messages"):
            continue
        if exchange["response"]["status"] != 200:
            continue
        headers = {**HEADERS, **{k.lower(): v for k, v in request.get("headers", {}).items()}}
        assert check_request(request["body"], headers) is None, path.name
        checked += 1
    assert checked > 40


def test_check_applies_the_core_rules_the_api_shares() -> None:
    user = {"role": "user", "content": "hi"}
    thinking = {"type": "enabled", "budget_tokens": 1024}
    assert "top_k" in (check(user, thinking=thinking, max_tokens=4096, top_k=5) or "")
    assert "first_message_user" in (check({"role": "assistant", "content": "x"}, user) or "")
    blank = {"role": "user", "content": [{"type": "text", "text": ""}]}
    assert "empty_text" in (check(blank) or "")
    assert check(user, max_tokens=0) == (
        "max_tokens: Input should be a valid integer greater than or equal to 1"
    )
    # An interleaved-thinking beta lets the budget exceed max_tokens, as the API allows.
    beta = {**HEADERS, "anthropic-beta": "interleaved-thinking-2025-05-14"}
    big = {"type": "enabled", "budget_tokens": 2000}
    assert check(user, headers=beta, thinking=big) is None


def test_check_rejects_tool_result_content_the_api_refuses() -> None:
    # The fake took any content; a test of code that sent a BMP or an empty text block passed
    # where the API answers 400.
    user = {"role": "user", "content": "hi"}
    bmp = {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "Qk0="}}
    answer = {**result("toolu_1"), "content": [{"type": "text", "text": "x"}, bmp]}
    assert check(user, USE, {"role": "user", "content": [answer]}) == (
        "messages.2.content.0.tool_result: an image (content block 1) whose media_type "
        "'image/bmp' the API refuses (it takes image/jpeg, image/png, image/gif, image/webp): "
        "convert it to one of those"
    )
    blank = {**result("toolu_1"), "content": [{"type": "text", "text": ""}]}
    assert check(user, USE, {"role": "user", "content": [blank]}) == (
        "messages.2.content.0.tool_result: text content blocks must be non-empty"
    )



def test_check_rejects_a_tool_choice_the_tools_cannot_meet_with_the_api_wording() -> None:
    user = {"role": "user", "content": "hi"}
    forced = {"type": "tool", "name": "g"}
    assert check(user, tools=TOOLS, tool_choice=forced) == "Tool 'g' not found in provided tools"
    for choice in ({"type": "any"}, {"type": "auto"}, forced):
        assert check(user, tool_choice=choice) == (
            "tool_choice may only be specified while providing tools."
        )
    assert check(user, tools=TOOLS, tool_choice={"type": "tool", "name": "f"}) is None
    assert check(user, tool_choice={"type": "none"}) is None
