"""Which run a call of `Agent.run` asks for, as an engine: a new run from a prompt and a
history, or a run given as `state=` (continued with a prompt, resumed, or reopened after a
limit or `stop_when` ended it). A durable run's engine is `durable.open_run`'s; it starts
from the same `first_messages`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._errors import UsageError
from .._loop.engine import Engine, EngineConfig, RunState
from .._loop.history import append_user_content

__all__ = ["first_messages", "start"]


def start(
    config: EngineConfig,
    prompt: str | list[dict[str, Any]] | None,
    history: Sequence[dict[str, Any]] | None,
    state: RunState | None,
) -> Engine:
    """The engine of the run these arguments ask for, the prompt added."""
    if history is not None and state is not None:
        raise UsageError("pass history= (a conversation) or state= (a run), not both")
    if state is not None and state.done:
        if prompt is None:
            engine = Engine(config, state)
            if engine.reopen():  # a limit or stop_when ended it: it goes on
                return engine
            raise UsageError("this run has finished; pass a prompt to continue its conversation")
        # Its calls stay in the conversation, and so do their decisions (final once given).
        messages = first_messages(prompt, state.messages)
        return Engine(config, RunState(messages=messages, decisions=dict(state.decisions)))
    if state is None:
        return Engine(config, RunState(messages=first_messages(prompt, history)))
    engine = Engine(config, state)
    if prompt is not None:
        if state.pending:
            raise UsageError(
                "the run is waiting for tool results or approvals; resume it "
                "with decisions= before adding a prompt"
            )
        engine.on_prompt(_content(prompt))
    if not state.messages:
        raise UsageError("nothing to send: pass a prompt")
    return engine


def first_messages(
    prompt: str | list[dict[str, Any]] | None, history: Sequence[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """A new run's first messages: `history` with `prompt` added as `Engine.on_prompt` adds
    one (no engine needed: a durable run builds its own). `UsageError` when nothing is left to
    send."""
    messages = list(history or ())
    if prompt is not None:
        append_user_content(messages, _content(prompt))
    if not messages:
        raise UsageError("nothing to send: pass a prompt")
    return messages


def _content(prompt: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": prompt}] if isinstance(prompt, str) else prompt
