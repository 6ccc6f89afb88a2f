"""The agent loop as a sans-IO state machine.

The engine decides everything and does no I/O, not even reading a clock: a driver asks
`next_step(now)` for a step (`steps.py`) and reports what happened (`on_tools`, `on_request`,
`on_reply`, `on_model_error`, `on_result`, `on_decisions`, `on_timeout`). The run lives in
`RunState`, plain data saved after any step: a model reply is recorded before the next step,
a tool result under its `tool_use_id` as soon as it exists, so nothing is repeated or lost.

Rules it keeps (see shared/docs/messages-api.md §5, §12):
- assistant turns are appended exactly as received (thinking signatures untouched);
- every `tool_use` gets a `tool_result`, in one user turn, in `tool_use` order, results first;
  a run that ends for any reason first answers the calls it will not run;
- `refusal`, `max_tokens` and context-window stops never run that turn's tool calls;
- `pause_turn` (and a server-side `compaction` pause) re-sends the conversation with the paused
  content and nothing added; the reply joins that assistant turn, its text part of the answer;
- a context policy (`context/manager.py`) may shrink the history, turn a request into a
  summary call or a token count, and consume a summary reply;
- every request is validated after the `before_model` hook (conversation and request rules);
- a turn's tools are listed once and kept with the turn: its calls run with the tools offered;
- one retry budget per model call (`model_retries`), whatever failed (a status, the connection,
  the stream); the back-off's jitter comes from `RunState.seed`, the turn and the attempt (a
  replay sleeps the same); the deadline (`Limits.timeout`) is checked at every step's `now`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from .._api.sansio import backoff, retryable
from .._api.wire import Message
from .._errors import APIStatusError, MalformedStreamError
from .capabilities import ModelCaps, model_caps
from .config import EngineConfig, stop_asked
from .conversation import ConversationValidator, request_thinking
from .decisions import denial, open_decisions
from .history import (
    answer,
    append_reply,
    append_user_content,
    close_dangling_tool_uses,
    not_begun,
    not_run,
    pending_tool_uses,
    unfinished,
    unknown_tool,
)
from .request import build_request
from .request_rules import check_rewritten
from .state import RunState
from .steps import (
    CallModel,
    CountTokens,
    Finished,
    ListTools,
    NeedApproval,
    RunTools,
    Sleep,
    Step,
    ToolInfo,
)
from .usage import TurnUsage

if TYPE_CHECKING:
    from .context.manager import ContextManager, SummaryCall
    from .context.policies import ContextPolicy

__all__ = [
    "CallModel", "Engine", "EngineConfig", "Finished", "ListTools", "NeedApproval", "RunState",
    "RunTools", "Sleep", "Step", "ToolInfo",
]

APPROVAL_REQUIRED = "approval_required"
"""The stop reason of a run paused until its pending calls are approved or denied."""

CONTINUE_PROMPT = "Your reply was cut off by the output limit. Continue exactly where it stopped."
OUTPUT_PROMPT = "Give your final answer by calling the `{name}` tool."


def _manager(policy: ContextPolicy, caps: ModelCaps | None) -> ContextManager:
    """The context policy's manager, its module imported only by a run that has a policy."""
    from .context.manager import ContextManager

    return ContextManager(policy, caps)


class Engine:
    """Decides each step of one run from its `RunState`."""

    def __init__(self, config: EngineConfig, state: RunState) -> None:
        self.config, self.state = config, state
        self.caps: ModelCaps | None = model_caps(config.model)
        self.deadline: float | None = None
        """When the run times out, on the driver's clock (`start` sets it): bounds each wait."""
        self._validator = ConversationValidator()
        self.context = None if config.context is None else _manager(config.context, self.caps)
        """The context policy's decisions (None without a policy)."""
        self._tools: dict[str, ToolInfo] = {}
        self._tools_turn: int | None = None
        self._asked_turn = 0
        self._sent: CallModel | None = None
        self._retry: Sleep | None = None
        self._error: Exception | None = None
        self._resend = self._timed_out = self._deferred = False
        self.resolved: list[tuple[dict[str, Any], dict[str, Any]]] = []
        """(call, result) pairs the engine answered itself (unknown tool, denied, output
        tool, not run), for the driver to report; it clears the list after reading."""
        self.replaying = False
        """Set while a journal is replayed: each request's reply is journaled (and a context
        policy's decisions), so no request is built and no tools are listed for it (unless
        the journal predates those decisions: the policy sizes each request again); a turn's
        tools are asked for only when one of its calls has no result (they decide its fate)."""

    def start(self, now: float) -> None:
        """Begin (or resume) the run at `now`: the deadline is `now` plus `Limits.timeout`."""
        timeout = self.config.limits.timeout
        self.deadline = None if timeout is None else now + timeout
        self._timed_out, self._error = False, None
        if self.context is not None:  # a replay's changes were reported by the first process
            self.context.changes.clear()
            self.context.notes.clear()

    # -- asking --------------------------------------------------------------------------

    def next_step(self, now: float | None = None) -> Step:
        """The next thing to do, at time `now` on the driver's clock (None: don't check the
        deadline at this step)."""
        s = self.state
        if s.done:
            return Finished(s)
        if self._error is not None:
            return Finished(s, self._error)
        deadline = self.deadline
        if self._timed_out or (deadline is not None and now is not None and now >= deadline):
            return self._finish_limit("timeout")
        if self._retry is not None:
            step, self._retry, self._resend = self._retry, None, True
            return step
        if self._resend and self._sent is not None:
            self._resend = False
            return CallModel(self._sent.params, self._sent.betas, s.retries)
        if s.pending:
            # The calls run with the tools offered on the turn that made them.
            turn = max(s.turns - 1, 0)
            # Not listed when every call has its result: no tool decides anything then.
            if self._tools_turn != turn and any(c["id"] not in s.results for c in s.pending):
                return self._list_tools(turn)
            step = self._tool_step()
            if step is not None:
                return step
        if self._ended_by_predicate():
            return Finished(s)
        limit = self.config.limits.before_request(s.turns, s.usage)
        if limit is not None:
            return self._finish_limit(limit)
        if self.replaying and (self.context is None or self.context.replayed(s)):
            return CallModel({}, ())  # never sent: the journal holds its reply (and decisions)
        if self._tools_turn != s.turns:
            return self._list_tools(s.turns)
        return self._request()

    def _list_tools(self, turn: int) -> ListTools:
        self._asked_turn = turn
        return ListTools(turn)

    def _tool_step(self) -> Step | None:
        s, cfg = self.state, self.config
        todo = [c for c in s.pending if c["id"] not in s.results]
        undecided: list[dict[str, Any]] = []
        runnable: list[dict[str, Any]] = []
        for call in todo:
            tool = self._tools.get(call["name"])
            decision = s.decisions.get(call["id"])
            if tool is None:
                self._resolve(call, unknown_tool(call["name"], self._tools))
            elif decision is not None and (reason := denial(decision)) is not None:
                self._resolve(call, f"Not run: {reason}.")
            elif tool.requires_approval and decision is None:
                undecided.append(call)
            else:
                runnable.append(call)
        s.awaiting_approval = [c["id"] for c in undecided]
        if undecided:
            if not cfg.approvals or self._deferred:
                # No one can decide now: stop here until the run is resumed with decisions.
                self._stop(APPROVAL_REQUIRED)
                return Finished(s)
            return NeedApproval(tuple(undecided))
        if runnable:
            if (limit := cfg.limits.before_tools(s.usage.tool_calls, len(runnable))) is not None:
                return self._finish_limit(limit)
            asks = cfg.stop_when is None and cfg.limits.before_request(s.turns, s.usage) is None
            return RunTools(tuple(runnable), self._tools, asks)
        self._answer_pending()
        return Finished(s) if s.done else None

    def _request(self) -> CallModel | CountTokens:
        ctx = self.context
        if ctx is None:
            return self._build(self.state.messages, None)
        step = ctx.request(self.state, self._build)
        self._rewritten()
        self._sent = step if isinstance(step, CallModel) else None
        return step

    def _rewritten(self) -> None:
        if self.context is not None and self.context.rewritten:  # validate it whole next time
            self.context.rewritten = False
            self._validator.reset()

    def _build(self, messages: list[dict[str, Any]], summary: SummaryCall | None) -> CallModel:
        """The request for `messages` (`request.build_request`), kept to be sent again."""
        self._sent = build_request(
            self.config, self.caps, self.state, self._tools, messages, summary
        )
        return self._sent

    # -- reporting -----------------------------------------------------------------------

    def on_tools(self, tools: Sequence[ToolInfo]) -> None:
        """The tools offered on the turn `ListTools` asked about; kept with that turn."""
        self._tools = {t.name: t for t in tools}
        self._tools_turn = self._asked_turn

    def on_request(self, params: dict[str, Any], *, hooked: bool = False) -> dict[str, Any]:
        """Check the request as the `before_model` hook left it (`hooked`: one ran, so the
        request-level rules are checked again on what it returned); keep it for retries.

        Raises:
            ConversationError: the request breaks a rule (named), e.g. a hook's rewrite.
        """
        self._validator.validate(params.get("messages") or (), thinking=request_thinking(params))
        if hooked:  # it may have changed anything: the request as it will be sent
            sent = self._sent
            check_rewritten(params, self.caps, sent.betas if sent else self.config.betas)
        if (sent := self._sent) is None or sent.params is not params:  # a hook's rewrite
            self._sent = CallModel(params, sent.betas if sent is not None else self.config.betas)
        return params

    def on_model_error(self, error: Exception) -> None:
        """A model call failed before a whole reply arrived (nothing of it is kept): retry it
        after a back-off while the call's budget lasts and the failure is transient, else
        give up (`Finished.error`; the run stays resumable)."""
        s, ctx = self.state, self.context
        if ctx is not None and ctx.on_error(s, error, self._sent.betas if self._sent else ()):
            self._sent, s.retries = None, 0  # the next step builds the request anew
            return
        from .context.server import overflow_error, prompt_too_long  # the failure path only

        if prompt_too_long(error):
            error = overflow_error(error, policy=ctx is not None)
        transient = isinstance(error, MalformedStreamError) or retryable(error)
        if not transient or s.retries >= self.config.model_retries:
            s.retries = 0  # a resumed run starts the call with a whole budget
            self._error = error
            self._stop("failed")
            return
        asked = error.retry_after if isinstance(error, APIStatusError) else None
        jitter = random.Random(f"{s.seed}:{s.turns}:{s.retries}").random()
        delay = backoff(s.retries, retry_after=asked, rand=jitter)
        s.retries += 1
        self._retry = Sleep(delay, s.retries, error)

    def on_count(self, tokens: int | None) -> None:
        """The size `CountTokens` asked for (None: the count failed)."""
        if self.context is not None:
            self.context.apply(self.state, {"count": tokens})

    def on_context(self, note: Mapping[str, Any]) -> None:
        """Replay one journaled input of the context policy (`ContextManager.notes`)."""
        if self.context is not None:
            self.context.apply(self.state, note, journal=False)

    def on_timeout(self) -> None:
        """The deadline passed while the driver waited on a step."""
        self._timed_out = True

    def hold(self, message: Message) -> TurnUsage:
        """Keep a reply the driver's check of it (the `after_model` hook) did not pass: counted,
        and held out of the conversation (`RunState.held`) until the check passes on it and
        `on_reply` takes it (counted once), so the run stops with a history that stays valid."""
        s, before = self.state, self.state.usage.to_dict()
        turn = s.usage.add_turn(message.usage.to_wire(), message.model or self.config.model)
        s.held = {"reply": message.raw_wire or message.to_wire(), "usage": before}
        return turn

    def on_reply(self, message: Message) -> TurnUsage:
        """Record one model reply (the held one, taken) and decide what it means."""
        s, cfg, ctx = self.state, self.config, self.context
        if s.held is not None:  # counted when it was held: as it is counted now, once
            s.usage.restore(s.held["usage"])
            s.held = None
        if ctx is not None:
            consumed = ctx.on_reply(s, message, message.usage.to_wire())
            if consumed is not None:  # a summary, or a reply that overflowed the window
                s.retries, self._sent = 0, None
                self._rewritten()
                return consumed
        content = message.to_param()["content"]
        content = ctx.clean(content) if ctx is not None else content
        calls = [b for b in content if b.get("type") == "tool_use"]
        turn = s.usage.add_turn(
            message.usage.to_wire(), message.model or cfg.model, tool_calls=len(calls)
        )
        s.turns += 1
        s.retries, self._sent = 0, None
        append_reply(s.messages, content)
        if ctx is not None:
            ctx.after_reply(s, message, turn)
            self._rewritten()
        stop = message.stop_reason
        self._stop(stop)
        s.stop_sequence = message.stop_sequence
        text = message.text
        if stop in ("refusal", "max_tokens", "model_context_window_exceeded") and calls:
            why = "the model refused" if stop == "refusal" else "its input was cut off"
            s.answer += text
            self._end(calls, f"Not run: {why} (stop_reason {stop}).")
        elif stop == "max_tokens" and s.continuations < cfg.max_continuations:
            s.answer += text
            s.continuations += 1
            append_user_content(s.messages, [{"type": "text", "text": CONTINUE_PROMPT}])
        elif stop in ("pause_turn", "compaction"):
            s.answer += text  # the next request re-sends the paused content as is
        elif calls:
            # Tool calls are run whatever the stop reason says: leaving them unanswered
            # would make the conversation impossible to continue.
            s.answer = ""  # the answer is the last turn's text, not what came before tools
            s.pending, s.results = calls, {}
            for c in calls:  # an id used again (not the API's, a fake's) is a new call
                s.decisions.pop(c["id"], None)
            self._claim_engine_calls()
        elif cfg.output_tool is not None and s.output is None and stop != "refusal":
            self._ask_for_output(text)
        else:
            s.answer += text
            s.done = True
        return turn

    def on_result(self, block: dict[str, Any]) -> None:
        """Record one tool's `tool_result` as soon as it exists (so cancellation keeps it)."""
        self.state.results[block["tool_use_id"]] = block
        self.state.usage.tool_calls += 1

    def on_prompt(self, content: list[dict[str, Any]]) -> None:
        """Add a user prompt (merged after tool results): the next request has no stop yet."""
        append_user_content(self.state.messages, content)
        self._stop(None)

    def check_decisions(self, decisions: Mapping[str, bool | str]) -> dict[str, bool | str]:
        """Those of `decisions` that decide something (`decisions.open_decisions`)."""
        return open_decisions(self.state, self._tools, decisions)

    def on_decisions(self, decisions: Mapping[str, bool | str], asked: Sequence[str] = ()) -> None:
        """`asked`: what the `approve` callback was asked; a call it left undecided pauses."""
        self.state.decisions.update(decisions)
        self._deferred = any(i not in decisions for i in asked)
        if self.state.stop_reason == APPROVAL_REQUIRED:
            # The pause is over: a run that fails from here must not look paused still.
            self._stop(None)

    def abort(
        self, stop_reason: str, why: str, *, limit: str | None = None, said: str | None = None
    ) -> None:
        """End the run now (`why`: "the run was cancelled"), all kept, `stop_reason` recorded:
        each open call answered `said`, or as one that may have begun (`unfinished`) unless the
        run awaits approvals, which come before the turn's calls begin (`not_begun`)."""
        s = self.state
        if said is None:
            said = not_begun(why) if s.awaiting_approval else unfinished(why)
        results = dict(s.results)
        for call in pending_tool_uses(s.messages):
            results.setdefault(call["id"], answer(call, said, is_error=True))
        close_dangling_tool_uses(s.messages, results)
        s.pending, s.results = [], {}
        self._stop(stop_reason, limit=limit)
        s.done = True

    def reopen(self) -> bool:
        """Go on with a run a limit or `stop_when` ended, given again (`state=`), as a durable
        run given again does: if the limit now allows (the timeout counts afresh) or the
        condition no longer holds, the run goes on where it stopped, else the same limit or
        condition stops it again with nothing sent. The calls a `max_tool_calls` stop answered
        "Not run" are open again (a durable run's replay, which journals no such answer, runs
        them); those the timeout cut stay answered "Not finished" (whether they began is not
        known here). A run holding a reply (`hold`) goes on from it. False when nothing that
        can pass ended the run."""
        s = self.state
        ended = s.limit is not None or s.stop_reason == "stop_condition"
        last = s.messages[-1]["role"] if s.messages else None
        if not s.done or not (s.held is not None or (ended and last == "user")):
            return False
        if s.limit != "max_tool_calls":  # stopped before a request: the history ends with it
            self._stop(None)
            s.done = False
            return True
        said = not_run("max_tool_calls")
        if len(s.messages) < 2:
            return False
        reply, answers = s.messages[-2]["content"], s.messages[-1]["content"]
        if not isinstance(reply, list) or not isinstance(answers, list):
            return False
        reply, answers = cast("list[dict[str, Any]]", reply), cast("list[dict[str, Any]]", answers)
        calls = [b for b in reply if b.get("type") == "tool_use"]
        cut = [b for b in answers if b.get("is_error") and b.get("content") == said]
        kept = [b for b in answers if b.get("type") == "tool_result" and b not in cut]
        if not calls or not cut:
            return False
        s.messages.pop()
        s.pending, s.results = calls, {b["tool_use_id"]: b for b in kept}
        self._stop(None)
        s.done = False
        return True

    # -- internals -----------------------------------------------------------------------

    def _stop(self, reason: str | None, *, limit: str | None = None) -> None:
        """Record why the run stopped: the one writer of `stop_reason` and `limit`, which
        are reported; the run is steered by `done`, `pending` and the config, never by them."""
        self.state.stop_reason, self.state.limit = reason, limit

    def _resolve(self, call: dict[str, Any], text: str, *, is_error: bool = True) -> None:
        self.state.results[call["id"]] = block = answer(call, text, is_error=is_error)
        self.resolved.append((call, block))

    def _claim_engine_calls(self) -> None:
        """Answer the calls the engine handles itself: stop-after tools and the output tool."""
        s, cfg = self.state, self.config
        out_name = cfg.output_tool["name"] if cfg.output_tool else None
        ended: str | None = None
        for call in s.pending:
            if call["name"] == out_name and cfg.parse_output is not None:
                try:
                    s.output = cfg.parse_output(call["input"])
                except ValueError as exc:
                    s.output_retries += 1
                    self._resolve(call, f"Invalid output: {exc}")
                    if s.output_retries > cfg.output_retries:
                        ended = "output_invalid"
                else:
                    self._resolve(call, "Final answer recorded.", is_error=False)
                    ended = "output"
            elif call["name"] in cfg.stop_after_tools and s.output is None:
                s.output = call["input"]
                self._resolve(call, "Recorded; the run ends here.", is_error=False)
                ended = "stop_after_tool"
        if ended is not None:
            self._end(s.pending, f"Not run: the run ended ({ended}).")
            self._stop(ended, limit="output_retries" if ended == "output_invalid" else None)

    def _answer_pending(self) -> None:
        s = self.state
        blocks = [s.results[c["id"]] for c in s.pending]
        append_user_content(s.messages, blocks)
        s.pending, s.results = [], {}

    def _end(self, calls: Sequence[dict[str, Any]], reason: str) -> None:
        s = self.state
        for call in calls:
            if call["id"] not in s.results:
                self._resolve(call, reason)
        s.pending = list(calls)
        self._answer_pending()
        s.done = True

    def _ask_for_output(self, text: str) -> None:
        s, cfg = self.state, self.config
        if cfg.output_tool is None or cfg.parse_output is None:
            raise RuntimeError("_ask_for_output needs an output tool")  # unreachable by design
        try:
            s.output = cfg.parse_output(json.loads(text))
        except (ValueError, TypeError):
            pass
        else:
            s.answer, s.done = text, True
            return
        s.output_retries += 1
        if s.output_retries > cfg.output_retries:
            s.answer, s.done = text, True
            self._stop("output_invalid", limit="output_retries")
            return
        prompt = OUTPUT_PROMPT.format(name=cfg.output_tool["name"])
        append_user_content(s.messages, [{"type": "text", "text": prompt}])

    def _ended_by_predicate(self) -> bool:
        s, pred = self.state, self.config.stop_when
        if pred is not None and s.turns and stop_asked(pred, s):
            self._stop("stop_condition")
            s.done = True
            return True
        return False

    def _finish_limit(self, limit: str) -> Finished:
        # A deadline may cut calls that began; the other limits stop calls before they begin.
        said = None if limit == "timeout" else not_run(limit)
        self.abort(limit, f"the run hit its {limit} limit", limit=limit, said=said)
        return Finished(self.state)

