"""The conversation rules of the Messages API, checked before every request.

This module owns the rules a `messages` list must keep to be sent (the helpers that keep a
history valid while a run grows it are in `history`). It works on **wire-form plain dicts**
(`{"role": "user", "content": [...]}`), because assistant turns must be echoed exactly as
received. Rules (each error is a `ConversationError` naming the message index and one of these
rule names):

- `message_shape` / `block_shape`: a message is a dict with `role` and `content` (a string or a
  list of dicts with a string `type`); `role`: only `user` and `assistant`;
  `first_message_user`; `alternation`: roles strictly alternate (the API would silently merge
  same-role turns, gluing tool results to unrelated text); `empty_conversation`.
- `empty_content`: no empty (or whitespace-only) content, except in a *final* assistant
  message (a prefill the reply continues, or a paused turn resent after `pause_turn`), which
  the API accepts empty; `prefill_trailing_whitespace`: a final assistant message may not end
  in whitespace; `empty_text`: no empty text blocks in user messages (assistant blocks are
  echoed as received: the API itself sends, and accepts back, `" "` text blocks).
- `tool_use_in_user`, `tool_result_in_assistant`, `thinking_in_user`: blocks in the wrong role.
- `duplicate_tool_use_id`; `missing_tool_result`: every `tool_use` of an assistant message is
  answered in the *next* user message by a `tool_result` with its id; `orphan_tool_result`: no
  result without its call; `duplicate_tool_result`; `tool_result_first`: results come first in
  that message, any text after them; `unanswered_tool_use`: a conversation may not end with an
  assistant message whose calls are unanswered (use `history.close_dangling_tool_uses`).
- `thinking_signature` / `redacted_thinking_data`: a `thinking` block has string `thinking` and
  `signature`; a `redacted_thinking` block has string `data` (both go back byte-for-byte).
- Thinking rules. `thinking` is the request's thinking `type` (`"enabled"`, `"adaptive"`, …)
  or a bool (`True` means `"enabled"`). With manual `enabled` thinking:
  `expected_thinking`: while a tool loop is open (or a paused turn is resent), the first
  assistant message of the current turn must start with a `thinking` or `redacted_thinking`
  block (the API's "Expected `thinking`" 400, pitfalls §1.1; a server `compaction` block
  before it does not count, and a final message of only that block, resent after
  `pause_after_compaction`, has its thinking still to come). With any thinking on:
  `prefill_with_thinking`: a final assistant message of text only that starts a turn is a
  prefill, which cannot be combined with thinking. Adaptive thinking may skip thinking on a
  turn, so `expected_thinking` does not apply to it.

A *turn* starts at a user message without tool results; the tool loop inside it is the chain
assistant(`tool_use`) → user(`tool_result`) → assistant … . `ConversationValidator` checks only
what was appended since its last call, so validating before every request stays cheap at
hundreds of turns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from .._errors import ConversationError

__all__ = ["ConversationValidator", "request_thinking", "validate_conversation"]

_THINKING_TYPES = frozenset({"thinking", "redacted_thinking"})
_CALL_TYPES = frozenset({"tool_use", "server_tool_use"})


class _State:
    """What the rules need to know about the messages before the next one (cheap to copy)."""

    __slots__ = ("pending", "role", "turn_first", "turn_first_thinks")

    def __init__(self) -> None:
        self.role: str | None = None
        self.pending: tuple[str, ...] = ()
        """Ids of the previous assistant message's `tool_use` blocks (answered next)."""
        self.turn_first: int | None = None
        """Index of the current turn's first assistant message (None: none yet)."""
        self.turn_first_thinks = False

    def copy(self) -> _State:
        other = _State()
        other.role = self.role
        other.pending = self.pending
        other.turn_first = self.turn_first
        other.turn_first_thinks = self.turn_first_thinks
        return other


def _blank(text: Any) -> bool:
    return not isinstance(text, str) or not text or text.isspace()


def _kind(block: Any, i: int, j: int) -> str:
    # Read through an un-narrowed alias: a block's values are untyped JSON data, and this runs
    # for every block before every request, where a cast() call would be a measurable cost.
    data: Any = block
    if isinstance(block, dict):
        kind = data.get("type")
        if isinstance(kind, str):
            return kind
    raise ConversationError(
        f"content[{j}] is not a content block; every block must be a dict with a string "
        "'type' (e.g. {'type': 'text', 'text': ...}).",
        index=i,
        rule="block_shape",
    )


def _check_user(blocks: list[Any], i: int, st: _State) -> bool:
    """Check a user message's blocks; return whether it carries tool results."""
    pending = st.pending
    answered: set[str] = set()
    leading = True
    for j, block in enumerate(blocks):
        kind = _kind(block, i, j)
        if kind == "tool_result":
            tool_use_id = block.get("tool_use_id")
            if not isinstance(tool_use_id, str):
                raise ConversationError(
                    f"content[{j}] is a tool_result without a string 'tool_use_id'; set it to "
                    "the id of the tool_use it answers.",
                    index=i,
                    rule="block_shape",
                )
            if not leading:
                raise ConversationError(
                    f"content[{j}] is a tool_result after other content; put every "
                    "tool_result first in the message and any text after them.",
                    index=i,
                    rule="tool_result_first",
                )
            if tool_use_id in answered:
                raise ConversationError(
                    f"content[{j}] answers tool_use id {tool_use_id!r} a second time; send "
                    "exactly one tool_result per tool_use.",
                    index=i,
                    rule="duplicate_tool_result",
                )
            if tool_use_id not in pending:
                where = (
                    "the previous assistant message has no tool_use with that id"
                    if pending
                    else "the previous message has no tool_use blocks"
                )
                raise ConversationError(
                    f"content[{j}] is a tool_result for {tool_use_id!r}, but {where}; "
                    "remove it or answer the calls of the assistant message just before.",
                    index=i,
                    rule="orphan_tool_result",
                )
            answered.add(tool_use_id)
            continue
        leading = False
        if kind in _CALL_TYPES:
            raise ConversationError(
                f"content[{j}] is a {kind} block in a user message; calls belong only in "
                "assistant messages (echo the assistant turn as received).",
                index=i,
                rule="tool_use_in_user",
            )
        if kind in _THINKING_TYPES:
            raise ConversationError(
                f"content[{j}] is a {kind} block in a user message; thinking blocks belong "
                "only in the assistant message that produced them.",
                index=i,
                rule="thinking_in_user",
            )
        if kind == "text" and _blank(block.get("text")):
            raise ConversationError(
                f"content[{j}] is an empty text block; drop it or give it text.",
                index=i,
                rule="empty_text",
            )
    if len(answered) != len(pending):
        missing = [tool_use_id for tool_use_id in pending if tool_use_id not in answered]
        raise ConversationError(
            f"no tool_result for tool_use id(s) {missing} of the previous assistant message; "
            "every call needs a result in this message (use is_error results for failed or "
            "cancelled calls, e.g. via close_dangling_tool_uses).",
            index=i,
            rule="missing_tool_result",
        )
    return bool(answered)


def _check_assistant(blocks: list[Any], i: int) -> tuple[str, ...]:
    """Check an assistant message's blocks; return its `tool_use` ids."""
    ids: list[str] = []
    for j, block in enumerate(blocks):
        kind = _kind(block, i, j)
        if kind == "tool_use":
            tool_use_id = block.get("id")
            if not isinstance(tool_use_id, str) or not tool_use_id:
                raise ConversationError(
                    f"content[{j}] is a tool_use without a string 'id'; echo tool_use "
                    "blocks exactly as the API sent them.",
                    index=i,
                    rule="block_shape",
                )
            if tool_use_id in ids:
                raise ConversationError(
                    f"content[{j}] repeats tool_use id {tool_use_id!r}; ids must be unique "
                    "within a message.",
                    index=i,
                    rule="duplicate_tool_use_id",
                )
            ids.append(tool_use_id)
        elif kind == "thinking":
            if not isinstance(block.get("signature"), str) or not isinstance(
                block.get("thinking"), str
            ):
                raise ConversationError(
                    f"content[{j}] is a thinking block without string 'thinking' and "
                    "'signature'; send thinking blocks back exactly as received.",
                    index=i,
                    rule="thinking_signature",
                )
        elif kind == "redacted_thinking":
            if not isinstance(block.get("data"), str):
                raise ConversationError(
                    f"content[{j}] is a redacted_thinking block without string 'data'; send "
                    "it back exactly as received.",
                    index=i,
                    rule="redacted_thinking_data",
                )
        elif kind == "tool_result":
            raise ConversationError(
                f"content[{j}] is a tool_result in an assistant message; results go in the "
                "next user message.",
                index=i,
                rule="tool_result_in_assistant",
            )
    return tuple(ids)


def _check(message: Any, i: int, final: bool, st: _State) -> None:
    """Check message `i` given the state before it, and advance the state past it."""
    fields: Any = message  # read through an un-narrowed alias, as in `_kind`
    if not isinstance(message, dict):
        raise ConversationError(
            "is not a message; each message must be a dict with 'role' and 'content'.",
            index=i,
            rule="message_shape",
        )
    role = fields.get("role")
    if role != "user" and role != "assistant":
        raise ConversationError(
            f"role {role!r} is not allowed; messages hold only 'user' and 'assistant' turns "
            "(put system text in the 'system' parameter).",
            index=i,
            rule="role",
        )
    if i == 0 and role != "user":
        raise ConversationError(
            "the conversation starts with an assistant message; start with a user message.",
            index=i,
            rule="first_message_user",
        )
    if role == st.role:
        raise ConversationError(
            f"two {role} messages in a row; roles must alternate (merge the two into one "
            "turn, e.g. with append_user_content).",
            index=i,
            rule="alternation",
        )
    content = fields.get("content")
    if isinstance(content, str):
        blocks: list[Any] = []
        empty = _blank(content)
    elif isinstance(content, list):
        blocks = fields["content"]  # the same list, un-narrowed
        empty = not blocks
    else:
        raise ConversationError(
            f"content is {type(content).__name__}; it must be a string or a list of blocks.",
            index=i,
            rule="message_shape",
        )
    if empty and not (final and role == "assistant"):
        raise ConversationError(
            "content is empty; every message needs content (only a final assistant message "
            "may be empty). Drop the message or merge it with its neighbour.",
            index=i,
            rule="empty_content",
        )
    st.role = role
    if role == "user":
        if blocks:
            has_results = _check_user(blocks, i, st)
        elif st.pending:
            has_results = _check_user([], i, st)
        else:
            has_results = False
        st.pending = ()
        if not has_results:
            st.turn_first = None
        return
    st.pending = _check_assistant(blocks, i) if blocks else ()
    if st.turn_first is None:
        st.turn_first = i
        # A server `compaction` block comes first; the API reads the turn from after it.
        lead = next((b for b in blocks if b.get("type") != "compaction"), None)
        st.turn_first_thinks = lead is not None and lead.get("type") in _THINKING_TYPES


def _check_end(messages: Sequence[Any], st: _State, thinking: bool | str | None) -> None:
    """The rules about how a conversation may end (`st` is the state after the last message)."""
    i = len(messages) - 1
    last = messages[i]
    if st.role == "assistant":
        if st.pending:
            raise ConversationError(
                f"the conversation ends with unanswered tool_use id(s) {list(st.pending)}; "
                "append their tool_results (or close_dangling_tool_uses) before sending.",
                index=i,
                rule="unanswered_tool_use",
            )
        content = last["content"]
        tail = content if isinstance(content, str) else None
        if content and not isinstance(content, str) and content[-1].get("type") == "text":
            tail = content[-1].get("text")
        if isinstance(tail, str) and tail and tail[-1].isspace():
            raise ConversationError(
                "the final assistant message ends in whitespace, which the API rejects for a "
                "prefill; strip the trailing whitespace.",
                index=i,
                rule="prefill_trailing_whitespace",
            )
    if st.turn_first is None or thinking is False or thinking is None or thinking == "disabled":
        return
    manual = thinking is True or thinking == "enabled"
    if st.turn_first_thinks:
        return
    if st.role == "assistant" and st.turn_first == i:
        content = last["content"]
        if (
            not isinstance(content, str)
            and content
            and all(b.get("type") == "compaction" for b in content)
        ):
            return  # resent after a paused server compaction: the turn's thinking comes next
        text_only = isinstance(content, str) or all(b.get("type") == "text" for b in content)
        if text_only:
            raise ConversationError(
                "the conversation ends with an assistant prefill, which cannot be combined "
                "with thinking; drop the final assistant message or turn thinking off.",
                index=i,
                rule="prefill_with_thinking",
            )
    if manual:
        raise ConversationError(
            "thinking is on and a tool loop is open, so this assistant message (the first of "
            "the turn) must start with its thinking or redacted_thinking block; echo assistant "
            "messages unchanged, and don't turn thinking on in the middle of a tool loop.",
            index=st.turn_first,
            rule="expected_thinking",
        )


class ConversationValidator:
    """Validates a growing conversation, checking only what changed since the last call.

    It remembers how many messages are settled and the state at that point (pending tool_use
    ids, where the current turn began). The next call re-checks the previous last message (it
    may have been merged into, or stopped being final) and the new ones. The settled prefix is
    recognised by identity (same first message object, same message object at the boundary),
    so a shallow copy of the list is fine, while a shorter or different history makes it
    validate from the start. Settled messages are trusted: don't edit them in place (the
    engine only appends, or replaces the last message).
    """

    __slots__ = ("_anchor", "_first", "_settled", "_state", "thinking")

    def __init__(self, *, thinking: bool | str = False) -> None:
        self.thinking = thinking
        """Default for `validate(thinking=)`: the thinking type in force (True = enabled)."""
        self._first: Any = None
        self._settled = 0
        self._anchor: Any = None
        self._state = _State()

    def reset(self) -> None:
        """Forget the validated prefix; the next call checks everything."""
        self._first = None
        self._settled = 0
        self._anchor = None
        self._state = _State()

    def validate(self, messages: Sequence[Any], *, thinking: bool | str | None = None) -> None:
        """Check `messages` against every rule in this module's docstring.

        Raises:
            ConversationError: naming the offending message index and rule.
        """
        n = len(messages)
        if n == 0:
            raise ConversationError(
                "messages is empty; send at least one user message.",
                index=None,
                rule="empty_conversation",
            )
        start = self._settled
        if (
            n <= start
            or messages[0] is not self._first
            or (start and messages[start - 1] is not self._anchor)
        ):
            start = 0
            st = _State()
        else:
            st = self._state.copy()
        settled = st
        for i in range(start, n):
            if i == n - 1:
                settled = st.copy()
            _check(messages[i], i, i == n - 1, st)
        _check_end(messages, st, self.thinking if thinking is None else thinking)
        self._first = messages[0]
        self._settled = n - 1
        self._anchor = messages[n - 2] if n >= 2 else None
        self._state = settled


def validate_conversation(messages: Sequence[Any], *, thinking: bool | str = False) -> None:
    """Check a whole conversation before it is sent (see the module docstring for the rules).

    Pass `thinking` as the request's thinking type (`"enabled"`, `"adaptive"`, …; `True`
    means `"enabled"`) so the thinking rules apply.

    Raises:
        ConversationError: naming the offending message index and rule.
    """
    ConversationValidator().validate(messages, thinking=thinking)


def request_thinking(params: Mapping[str, Any]) -> str | bool:
    """The thinking a request's `params` put in force, as `validate(thinking=)` takes it. Only
    manual `enabled` thinking requires each turn to start with thinking; adaptive thinking may
    skip it on an easy turn."""
    thinking: object = params.get("thinking")
    if not isinstance(thinking, dict):
        return False
    kind = cast("dict[str, object]", thinking).get("type", False)
    return kind if isinstance(kind, str | bool) else False
