"""The fakes speak the context features: the window, server edits, compaction, betas."""

from __future__ import annotations

import json
from typing import Any

import httpx

from agentkit.testing import FakeServer, ScriptedTransport, reply, text_reply

HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
BIG = "x" * 40_000  # about 10,000 tokens


FETCH = {"name": "fetch", "input_schema": {"type": "object"}}


def _body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-opus-4-6",
        "max_tokens": 100,
        "messages": messages,
        "tools": [FETCH],
        **extra,
    }


def _rounds(n: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for i in range(n):
        call = {"type": "tool_use", "id": f"toolu_{i}", "name": "fetch", "input": {}}
        messages.append({"role": "assistant", "content": [call]})
        result = {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": BIG}
        messages.append({"role": "user", "content": [result]})
    return messages


def _post(
    transport: ScriptedTransport, body: dict[str, Any], beta: str | None = None
) -> httpx.Response:
    headers = dict(HEADERS, **({"anthropic-beta": beta} if beta else {}))
    # Not `with`: leaving it would check the script was used up after each request.
    client = httpx.Client(transport=transport, base_url="http://fake")
    try:
        return client.post("/v1/messages", json=body, headers=headers)
    finally:
        client.close()


def test_over_the_window_the_fake_answers_prompt_is_too_long_over_http() -> None:
    with FakeServer([], context_window=5_000) as server:
        answer = httpx.post(
            f"{server.base_url}/v1/messages", json=_body(_rounds(1)), headers=HEADERS
        )
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert message.startswith("prompt is too long: ") and message.endswith(" > 5000 maximum")


def test_clear_tool_uses_reports_applied_edits_json_and_sse() -> None:
    edits = {
        "edits": [
            {
                "type": "clear_tool_uses_20250919",
                "trigger": {"type": "input_tokens", "value": 20_000},
                "keep": {"type": "tool_uses", "value": 1},
            }
        ]
    }
    body = _body(_rounds(4), context_management=edits)
    transport = ScriptedTransport([text_reply("ok"), text_reply("ok")], context_window=25_000)
    plain = _post(transport, body, "context-management-2025-06-27").json()
    applied = plain["context_management"]["applied_edits"][0]
    assert applied["type"] == "clear_tool_uses_20250919" and applied["cleared_tool_uses"] == 3
    assert plain["usage"]["input_tokens"] < 25_000  # sized after the edit
    stream = _post(transport, {**body, "stream": True}, "context-management-2025-06-27").text
    deltas = [json.loads(line[6:]) for line in stream.splitlines() if '"message_delta"' in line]
    assert deltas[0]["context_management"]["applied_edits"][0]["cleared_tool_uses"] == 3


def test_without_its_beta_header_an_edit_is_refused() -> None:
    body = _body(_rounds(1), context_management={"edits": [{"type": "compact_20260112"}]})
    answer = _post(ScriptedTransport([]), body)
    assert answer.status_code == 400 and "compact-2026-01-12" in answer.json()["error"]["message"]


def test_a_gateway_that_does_not_know_a_beta_says_so() -> None:
    answer = _post(
        ScriptedTransport([], betas=["other-beta"]), _body(_rounds(0)), "compact-2026-01-12"
    )
    assert answer.status_code == 400
    assert (
        "Unexpected value(s) `compact-2026-01-12` for the `anthropic-beta` header"
        in (answer.json()["error"]["message"])
    )


def test_compaction_puts_a_block_first_and_streams_it_as_a_delta() -> None:
    edit = {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 50_000}}
    body = _body(_rounds(6), context_management={"edits": [edit]}, stream=True)
    transport = ScriptedTransport([reply("after")])
    events = [
        json.loads(line[6:])
        for line in _post(transport, body, "compact-2026-01-12").text.splitlines()
        if line.startswith("data: ")
    ]
    start = events[1]
    assert start["type"] == "content_block_start"
    assert start["content_block"] == {
        "type": "compaction",
        "content": None,
        "encrypted_content": None,
    }
    assert events[3]["delta"]["type"] == "compaction_delta"
    usage = events[-2]["usage"]
    assert [i["type"] for i in usage["iterations"]] == ["compaction", "message"]
    assert usage["iterations"][0]["input_tokens"] > 50_000
