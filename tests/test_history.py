from typing import Any

from agentkit._loop.conversation import validate_conversation
from agentkit._loop.history import (
    append_reply,
    append_user_content,
    close_dangling_tool_uses,
    pending_tool_uses,
    user_turn,
)

Msg = dict[str, Any]


def user(*blocks: Any) -> Msg:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: Any) -> Msg:
    return {"role": "assistant", "content": list(blocks)}


def text(t: str = "hi") -> Msg:
    return {"type": "text", "text": t}


def call(id: str, name: str = "f") -> Msg:
    return {"type": "tool_use", "id": id, "name": name, "input": {}}


def result(id: str, content: str = "ok") -> Msg:
    return {"type": "tool_result", "tool_use_id": id, "content": content}


def think(sig: str = "sig") -> Msg:
    return {"type": "thinking", "thinking": "hmm", "signature": sig}


LOOP = [
    user(text("go")),
    assistant(text("let me"), call("a"), call("b")),
    user(result("a"), result("b")),
]


def test_user_turn() -> None:
    assert user_turn("hi") == {"role": "user", "content": "hi"}
    blocks = [text("a")]
    turn = user_turn(blocks)
    assert turn == {"role": "user", "content": [text("a")]}
    assert turn["content"] is not blocks


def test_append_user_content_appends_a_turn_after_assistant() -> None:
    messages: list[Msg] = [user(text()), assistant(text())]
    append_user_content(messages, "next")
    assert messages[-1] == {"role": "user", "content": "next"}


def test_append_user_content_merges_results_first() -> None:
    original = user(result("a"))
    messages: list[Msg] = [user(text()), assistant(call("a"), call("b")), original]
    append_user_content(messages, "please continue")
    append_user_content(messages, [result("b")])
    assert messages[-1]["content"] == [result("a"), result("b"), text("please continue")]
    assert original["content"] == [result("a")]  # the caller's dict is not edited
    validate_conversation(messages)


def test_append_user_content_merges_string_content_and_ignores_empty() -> None:
    messages: list[Msg] = [{"role": "user", "content": "first"}]
    append_user_content(messages, [])
    assert messages == [{"role": "user", "content": "first"}]
    append_user_content(messages, "second")
    assert messages == [user(text("first"), text("second"))]


def test_pending_tool_uses() -> None:
    assert pending_tool_uses([]) == []
    assert pending_tool_uses([user(text())]) == []
    conv: list[Msg] = [user(text()), assistant(text(), call("a"), call("b"))]
    assert [b["id"] for b in pending_tool_uses(conv)] == ["a", "b"]
    conv.append(user(result("a")))
    assert [b["id"] for b in pending_tool_uses(conv)] == ["b"]
    conv[-1] = user(result("a"), result("b"))
    assert pending_tool_uses(conv) == []


def test_close_dangling_tool_uses_after_cancel() -> None:
    conv: list[Msg] = [user(text()), assistant(think(), call("a", "search"), call("b", "fetch"))]
    close_dangling_tool_uses(conv, {"a": result("a", "found it")})
    validate_conversation(conv, thinking=True)
    first, second = conv[-1]["content"]
    assert first == result("a", "found it")
    assert second["tool_use_id"] == "b" and second["is_error"] is True
    assert "fetch" in second["content"] and "cancelled" in second["content"]


def test_close_dangling_tool_uses_completes_partial_results() -> None:
    conv: list[Msg] = [user(text()), assistant(call("a"), call("b")), user(result("a"), text("hm"))]
    close_dangling_tool_uses(conv, reason="timed out")
    validate_conversation(conv)
    kinds = [(b["type"], b.get("tool_use_id")) for b in conv[-1]["content"]]
    assert kinds == [("tool_result", "a"), ("tool_result", "b"), ("text", None)]
    assert "timed out" in conv[-1]["content"][1]["content"]


def test_close_dangling_tool_uses_is_a_no_op_when_nothing_is_pending() -> None:
    conv: list[Msg] = [*LOOP]
    close_dangling_tool_uses(conv, {"zzz": result("zzz")})
    assert conv == LOOP


def test_a_reply_continues_a_trailing_assistant_turn_and_starts_one_otherwise() -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Give JSON."}]
    append_reply(messages, [])
    assert len(messages) == 1  # an empty reply adds no empty turn
    messages.append({"role": "assistant", "content": "{"})  # a prefill
    prefill = messages[-1]
    append_reply(messages, [{"type": "text", "text": '"a": 1}'}])
    assert messages[-1]["content"] == [
        {"type": "text", "text": "{"},
        {"type": "text", "text": '"a": 1}'},
    ]
    assert prefill == {"role": "assistant", "content": "{"}  # replaced, not edited
    append_user_content(messages, "More.")
    append_reply(messages, [{"type": "text", "text": "Sure."}])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
