import json
from pathlib import Path
from typing import Any

import pytest
from blocks import Msg, assistant, call, result, text, think, user

from agentkit._errors import ConversationError
from agentkit._loop.conversation import ConversationValidator, validate_conversation

REAL = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "real"


REDACTED = {"type": "redacted_thinking", "data": "opaque"}


def outcome(validate: Any, messages: list[Any], thinking: Any) -> tuple[str, int | None] | None:
    try:
        validate(messages, thinking=thinking)
    except ConversationError as exc:
        return (exc.rule, exc.index)
    return None


def incremental(messages: list[Any], thinking: Any) -> tuple[str, int | None] | None:
    """Feed `messages` one at a time; each prefix must get the full validator's verdict."""
    validator = ConversationValidator()
    grown: list[Any] = []
    verdict = None
    for message in messages:
        grown.append(message)
        verdict = outcome(validator.validate, grown, thinking)
        assert verdict == outcome(validate_conversation, grown, thinking), len(grown)
    return verdict


def fails(messages: list[Any], rule: str, index: int | None, *, thinking: Any = False) -> None:
    with pytest.raises(ConversationError) as info:
        validate_conversation(messages, thinking=thinking)
    assert (info.value.rule, info.value.index) == (rule, index), str(info.value)
    assert f"[rule: {rule}]" in str(info.value)
    assert incremental(messages, thinking) == (rule, index)


def passes(messages: list[Any], *, thinking: Any = False) -> None:
    validate_conversation(messages, thinking=thinking)
    assert incremental(messages, thinking) is None


LOOP = [
    user(text("go")),
    assistant(text("let me"), call("a"), call("b")),
    user(result("a"), result("b")),
]


# -- shape and roles ---------------------------------------------------------------------------


def test_plain_and_tool_loop_conversations_pass() -> None:
    passes([{"role": "user", "content": "hello"}])
    passes([*LOOP, assistant(text("done")), user(text("thanks"))])


def test_empty_conversation() -> None:
    with pytest.raises(ConversationError) as info:
        validate_conversation([])
    assert info.value.rule == "empty_conversation" and info.value.index is None


def test_message_shape() -> None:
    fails([user(text()), "assistant: hi"], "message_shape", 1)
    fails([{"role": "user", "content": {"text": "hi"}}], "message_shape", 0)
    fails([{"role": "user"}], "message_shape", 0)


def test_block_shape() -> None:
    fails([user("hi")], "block_shape", 0)
    fails([user({"text": "no type"})], "block_shape", 0)
    fails(
        [user(text()), assistant({"type": "tool_use", "name": "f", "input": {}})], "block_shape", 1
    )
    fails([user(text()), assistant(call("a")), user({"type": "tool_result"})], "block_shape", 2)


def test_roles() -> None:
    fails([{"role": "system", "content": "be nice"}], "role", 0)
    fails([user(text()), {"role": "tool", "content": "x"}], "role", 1)


def test_first_message_must_be_user() -> None:
    fails([assistant(text())], "first_message_user", 0)
    passes([user(text()), assistant(text())])


def test_alternation() -> None:
    fails([user(text()), user(text())], "alternation", 1)
    fails([user(text()), assistant(text()), assistant(text())], "alternation", 2)


# -- emptiness ---------------------------------------------------------------------------------


def test_empty_content() -> None:
    fails([{"role": "user", "content": ""}], "empty_content", 0)
    fails([user()], "empty_content", 0)
    fails([user(text()), assistant(), user(text())], "empty_content", 1)
    fails([{"role": "user", "content": "  \n"}], "empty_content", 0)


def test_final_assistant_may_be_empty_or_a_prefill() -> None:
    passes([user(text()), assistant()])
    passes([user(text()), {"role": "assistant", "content": "The answer is"}])


def test_empty_text_blocks() -> None:
    fails([user(text(""))], "empty_text", 0)
    fails([user(text()), assistant(call("a")), user(result("a"), text(" "))], "empty_text", 2)
    # Assistant blocks go back as received; the API itself sends " " text blocks.
    passes([user(text()), assistant(text("a"), text(" "), text("b")), user(text())])


def test_prefill_trailing_whitespace() -> None:
    fails(
        [user(text()), {"role": "assistant", "content": "The answer is "}],
        "prefill_trailing_whitespace",
        1,
    )
    fails([user(text()), assistant(text("The answer:\n"))], "prefill_trailing_whitespace", 1)
    passes([user(text()), assistant(text("The answer:"))])


# -- blocks in the wrong role ------------------------------------------------------------------


def test_tool_use_in_user() -> None:
    fails([user(call("a"))], "tool_use_in_user", 0)
    fails(
        [user({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}})],
        "tool_use_in_user",
        0,
    )


def test_tool_result_in_assistant() -> None:
    fails([user(text()), assistant(result("a"))], "tool_result_in_assistant", 1)


def test_thinking_in_user() -> None:
    fails([user(think())], "thinking_in_user", 0)
    fails([user(text(), REDACTED)], "thinking_in_user", 0)


# -- pairing -----------------------------------------------------------------------------------


def test_duplicate_tool_use_id() -> None:
    fails([user(text()), assistant(call("a"), call("a"))], "duplicate_tool_use_id", 1)


def test_missing_tool_result() -> None:
    fails(
        [user(text()), assistant(call("a"), call("b")), user(result("a"))], "missing_tool_result", 2
    )
    fails([user(text()), assistant(call("a")), user(text("what?"))], "missing_tool_result", 2)
    fails(
        [user(text()), assistant(call("a")), {"role": "user", "content": "what?"}],
        "missing_tool_result",
        2,
    )


def test_orphan_tool_result() -> None:
    fails([user(result("a"))], "orphan_tool_result", 0)
    fails(
        [user(text()), assistant(call("a")), user(result("a"), result("zzz"))],
        "orphan_tool_result",
        2,
    )
    fails([user(text()), assistant(text()), user(result("a"))], "orphan_tool_result", 2)


def test_duplicate_tool_result() -> None:
    fails(
        [user(text()), assistant(call("a")), user(result("a"), result("a"))],
        "duplicate_tool_result",
        2,
    )


def test_tool_results_first() -> None:
    fails(
        [user(text()), assistant(call("a")), user(text("note"), result("a"))],
        "tool_result_first",
        2,
    )
    fails(
        [user(text()), assistant(call("a"), call("b")), user(result("a"), text("x"), result("b"))],
        "tool_result_first",
        2,
    )
    passes([user(text()), assistant(call("a")), user(result("a"), text("and also this"))])


def test_results_answer_only_the_previous_message() -> None:
    # A result for an older call (two assistant messages back) is an orphan.
    fails([*LOOP, assistant(call("c")), user(result("c"), result("a"))], "orphan_tool_result", 4)


def test_unanswered_tool_use_at_end() -> None:
    fails([user(text()), assistant(text("x"), call("a"))], "unanswered_tool_use", 1)


def test_server_tool_use_needs_no_client_result() -> None:
    paused = assistant(
        think(),
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"query": "q"}},
    )
    passes([user(text()), paused], thinking=True)
    passes([user(text()), paused, user(text("more"))])


# -- thinking ----------------------------------------------------------------------------------


def test_thinking_block_fields() -> None:
    fails(
        [user(text()), assistant({"type": "thinking", "thinking": "x"}, text())],
        "thinking_signature",
        1,
    )
    fails(
        [user(text()), assistant({"type": "thinking", "signature": "s"}, text())],
        "thinking_signature",
        1,
    )
    fails(
        [user(text()), assistant({"type": "redacted_thinking"}, text())],
        "redacted_thinking_data",
        1,
    )
    passes([user(text()), assistant(think(""), text())])  # display: omitted keeps an empty text


def test_expected_thinking_in_open_tool_loop() -> None:
    fails(LOOP, "expected_thinking", 1, thinking=True)
    passes(LOOP)  # without thinking the same loop is fine
    passes([user(text()), assistant(think(), call("a")), user(result("a"))], thinking=True)
    passes([user(text()), assistant(REDACTED, call("a")), user(result("a"))], thinking=True)


def test_expected_thinking_looks_at_first_assistant_message_of_the_turn() -> None:
    # Without interleaving only the turn's first assistant message thinks.
    loop = [
        user(text()),
        assistant(think(), call("a")),
        user(result("a")),
        assistant(call("b")),
        user(result("b")),
    ]
    passes(loop, thinking=True)
    turned_on_mid_loop = [
        user(text()),
        assistant(call("a")),
        user(result("a")),
        assistant(think(), call("b")),
        user(result("b")),
    ]
    fails(turned_on_mid_loop, "expected_thinking", 1, thinking=True)


def test_closed_turns_need_no_thinking() -> None:
    passes([*LOOP, assistant(text("done")), user(text("next question"))], thinking=True)


def test_prefill_with_thinking() -> None:
    fails(
        [user(text()), {"role": "assistant", "content": "Sure"}],
        "prefill_with_thinking",
        1,
        thinking=True,
    )
    fails([user(text()), assistant()], "prefill_with_thinking", 1, thinking=True)
    passes([user(text()), assistant(think(), text("paused here"))], thinking=True)


def test_final_assistant_mid_loop_with_thinking() -> None:
    loop = [user(text()), assistant(call("a")), user(result("a")), assistant(text("partial"))]
    fails(loop, "expected_thinking", 1, thinking=True)


# -- real recordings ---------------------------------------------------------------------------


def _recorded_requests() -> list[tuple[str, dict[str, Any]]]:
    if not REAL.is_dir():
        return []
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(REAL.glob("*.json")):
        if path.name.startswith("error_"):
            continue
        body = json.loads(path.read_text(encoding="utf-8"))["request"].get("body")
        if isinstance(body, dict) and "messages" in body:
            found.append((path.stem, body))
    return found


@pytest.mark.parametrize(("name", "body"), _recorded_requests())
def test_every_recorded_request_is_valid(name: str, body: dict[str, Any]) -> None:
    validate_conversation(
        body["messages"], thinking=(body.get("thinking") or {}).get("type", False)
    )


def test_recordings_were_found() -> None:
    if not REAL.is_dir():
        pytest.skip("shared recordings not available")
    assert len(_recorded_requests()) > 30


# -- the incremental validator -----------------------------------------------------------------


def test_incremental_validator_checks_only_the_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    import agentkit._loop.conversation as conversation

    seen: list[int] = []
    original = conversation._check

    def spy(message: Any, i: int, final: bool, st: Any) -> None:
        seen.append(i)
        original(message, i, final, st)

    monkeypatch.setattr(conversation, "_check", spy)
    messages: list[Msg] = [user(text())]
    validator = ConversationValidator()
    validator.validate(messages)
    for turn in range(50):
        messages.append(assistant(call(f"t{turn}")))
        messages.append(user(result(f"t{turn}")))
        seen.clear()
        validator.validate(messages)
        assert seen == [len(messages) - 3, len(messages) - 2, len(messages) - 1]


def test_incremental_validator_rechecks_old_final_message() -> None:
    messages: list[Msg] = [user(text()), assistant()]
    validator = ConversationValidator()
    validator.validate(messages)  # an empty final assistant message is fine...
    messages.append(user(text()))
    with pytest.raises(ConversationError) as info:
        validator.validate(messages)  # ...until something follows it
    assert (info.value.rule, info.value.index) == ("empty_content", 1)


def test_incremental_validator_sees_merges_into_last_message() -> None:
    messages: list[Msg] = [user(text()), assistant(call("a")), user(result("a"))]
    validator = ConversationValidator()
    validator.validate(messages)
    messages[-1] = user(text("oops"), result("a"))
    with pytest.raises(ConversationError) as info:
        validator.validate(messages)
    assert info.value.rule == "tool_result_first"


def test_incremental_validator_restarts_on_a_different_history() -> None:
    validator = ConversationValidator()
    validator.validate([user(text()), assistant(text()), user(text())])
    with pytest.raises(ConversationError) as info:
        validator.validate([assistant(text()), user(text()), assistant(text())])
    assert info.value.rule == "first_message_user"
    shorter = [user(text())]
    validator.validate(shorter)


def test_incremental_validator_accepts_shallow_copies() -> None:
    messages: list[Msg] = [*LOOP]
    validator = ConversationValidator()
    validator.validate(messages)
    copy = [*messages, assistant(text("done"))]
    validator.validate(copy)
    validator.validate([*copy, user(text("next"))])


def test_failed_validation_leaves_validator_usable() -> None:
    messages: list[Msg] = [user(text()), assistant(call("a"))]
    validator = ConversationValidator()
    with pytest.raises(ConversationError):
        validator.validate(messages)
    messages.append(user(result("a")))
    validator.validate(messages)


def test_thinking_argument_overrides_default() -> None:
    validator = ConversationValidator(thinking=True)
    validator.validate(LOOP, thinking=False)
    with pytest.raises(ConversationError):
        validator.validate(LOOP)


def test_adaptive_thinking_may_skip_thinking_in_a_tool_loop() -> None:
    passes(LOOP, thinking="adaptive")
    fails(LOOP, "expected_thinking", 1, thinking="enabled")
    passes(LOOP, thinking="disabled")


def test_adaptive_paused_turn_without_thinking_is_not_a_prefill() -> None:
    paused = assistant(
        text("Searching."),
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"query": "q"}},
    )
    passes([user(text()), paused], thinking="adaptive")
    fails([user(text()), paused], "expected_thinking", 1, thinking="enabled")
    fails([user(text()), assistant(text("Sure"))], "prefill_with_thinking", 1, thinking="adaptive")


def test_a_turn_resent_after_a_paused_server_compaction_has_its_thinking_to_come() -> None:
    # `pause_after_compaction`: the reply is the block alone, resent as is; the next reply
    # (joining that turn) starts with the thinking. ConversationError here failed the run.
    block = {"type": "compaction", "content": "Summary of the work so far."}
    passes([user(text()), assistant(block)], thinking="enabled")
    passes([user(text()), assistant(block, think(), call("t1")), user(result("t1"))],
           thinking="enabled")  # fmt: skip
    fails([user(text()), assistant(block, call("t1")), user(result("t1"))],
          "expected_thinking", 1, thinking="enabled")  # fmt: skip


def _random_history(rng: Any) -> list[Msg]:
    """A mostly valid tool-loop history with an occasional broken message."""
    messages: list[Msg] = [user(text("go"))]
    for turn in range(rng.randint(1, 15)):
        ids = [f"t{turn}_{k}" for k in range(rng.randint(0, 3))]
        head = [think()] if rng.random() < 0.7 else []
        messages.append(assistant(*head, text("step"), *[call(i) for i in ids]))
        if ids:
            results = [result(i) for i in ids]
            roll = rng.random()
            if roll < 0.05:
                results.pop()
            elif roll < 0.1:
                results.insert(0, text("first"))
            elif roll < 0.15:
                results.append(result("stray"))
            messages.append(user(*results))
        elif rng.random() < 0.9:
            messages.append(user(text("next")))
    return messages


@pytest.mark.parametrize("seed", range(40))
def test_incremental_agrees_with_full_on_random_histories(seed: int) -> None:
    import random

    rng = random.Random(seed)
    for _ in range(5):
        # `incremental` compares the two validators' verdicts on every prefix.
        incremental(_random_history(rng), rng.choice([False, "enabled", "adaptive"]))
