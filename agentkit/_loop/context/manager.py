"""`ContextManager`: the engine's helper that keeps a run inside the context window.

The engine calls it at four points and it decides, without I/O: before a request
(`request`: send as is, add the server edits, ask the driver to count tokens, trim, or ask
for a summary), on a reply (`on_reply`: a summary or an overflowing reply it consumes;
`after_reply`: applied edits, a server `compaction` block, the new measure), on a failed
call (`on_error`: a prompt too long, a beta the gateway does not know) and on a token count
(`on_count`). Everything it must remember is in `RunState.context` (plain JSON data); every
input that is not a journaled reply (a count, an overflow, a fallback) is also put in
`notes`, which a durable run journals and replays through `apply`, so replay takes the same
decisions. So are its own decisions that change the history or the next request (a trim, a
summary to ask for): a replay applies them as they come and builds no request (`replayed`),
so it needs neither the tools nor the estimate that sized the request.

Token accounting: the next request's size is the last reply's prompt plus output tokens
(with `usage.iterations`, the last `message` iteration's) plus about a token per four
characters of what was added since; `count_tokens` is asked only when the trigger lies within
the estimate's error (`_estimate`), and a count replaces the measure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from ..._api.wire import Message
from ..capabilities import ModelCaps
from ..state import RunState
from ..steps import CallModel, CountTokens
from ..usage import TurnUsage
from .policies import (
    COMPACTION_MIN_TRIGGER,
    DEFAULT_SUMMARY_PROMPT,
    TRIM_PLACEHOLDER,
    Auto,
    Compaction,
    ContextPolicy,
    ServerCompaction,
    ServerEditing,
    Trim,
    trigger_for,
)
from .server import (
    COMPACT,
    applied_edits,
    beta_unknown,
    clean_compaction,
    dicts,
    edits_for,
    prompt_too_long,
)
from .transforms import (
    after_compaction,
    compacted,
    cut_index,
    estimate_tokens,
    summarized,
    summary_request,
    summary_text,
    trim_tool_results,
)

__all__ = ["NEAR", "ContextChange", "ContextManager", "SummaryCall", "counted_fields"]

NEAR = (0.85, 1.15)
"""Without a measure to start from, the estimate's range: these shares of it."""
_COUNTED = ("model", "messages", "system", "tools", "thinking", "tool_choice", "context_management")
"""The request fields `count_tokens` takes."""


def counted_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Messages request that `count_tokens` takes."""
    return {k: v for k, v in params.items() if k in _COUNTED}


@dataclass(frozen=True, slots=True)
class ContextChange:
    """What a policy did to the context (reported as a `ContextEdited` event)."""

    kind: str
    """`trim`, `compaction` (client), `server_edits`, `server_compaction`, `overflow` (the
    window was exceeded: compact and retry) or `fallback` (the server feature is unknown)."""
    tokens_before: int | None = None
    tokens_after: int | None = None
    details: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(frozen=True, slots=True)
class SummaryCall:
    """How the engine shapes a summary request: no tool call allowed, maybe another model."""

    model: str | None
    max_tokens: int | None


Build = Callable[[list[dict[str, Any]], SummaryCall | None], CallModel]


class ContextManager:
    """Decides how a run's context is kept small (see the module docstring)."""

    def __init__(self, policy: ContextPolicy, caps: ModelCaps | None) -> None:
        self.policy = policy
        self.trigger = trigger_for(policy, caps)
        supported = caps.context_management if caps is not None else None
        self._server: ServerEditing | ServerCompaction | None = None
        self._client: Trim | Compaction | None = None
        if isinstance(policy, Auto):
            if supported and COMPACT in supported and self.trigger >= COMPACTION_MIN_TRIGGER:
                self._server = ServerCompaction(
                    trigger_tokens=self.trigger, instructions=policy.instructions
                )
            self._client = policy.client()
        elif isinstance(policy, ServerEditing | ServerCompaction):
            self._server = policy
        else:
            self._client = policy
        # What an overflow falls back to when the server feature did not keep it small.
        self._rescue: Trim | Compaction = self._client or (
            Trim(keep_tool_results=policy.keep_tool_uses, exclude_tools=policy.exclude_tools)
            if isinstance(policy, ServerEditing)
            else Compaction(prompt=cast(ServerCompaction, policy).instructions)
        )
        self.changes: list[ContextChange] = []
        """Changes for the driver to report; it clears the list after reading."""
        self.notes: list[dict[str, Any]] = []
        """Inputs for a durable run to journal (replayed with `apply`); the driver clears it."""
        self.rewritten = False
        """The history was rewritten (the engine's validator must start over)."""
        self.noted = True
        """Its decisions go in `notes` too. False for a durable run whose journal was begun
        before they did (its `start` says): a replay then decides each request again."""

    # -- before a request ------------------------------------------------------------------

    def request(self, s: RunState, build: Build) -> CallModel | CountTokens:
        """The next request (or a token count first), after any transform it calls for."""
        ctx = s.context
        cut = ctx.get("summarizing")
        if cut is not None:
            return self._summary(s, cut, build)
        forced, trim_first = _forced(ctx)
        server = None if ctx.get("fallback") or forced else self._server
        step = build(s.messages, None)
        if server is not None:
            edits, betas = edits_for(server, self.trigger)
            betas = (*step.betas, *(b for b in betas if b not in step.betas))
            return CallModel({**step.params, "context_management": edits}, betas)
        policy = self._rescue if forced else self._client
        if trim_first:
            policy = Trim(keep_tool_results=1)
        if policy is None:
            return step
        size, low, high = self._estimate(s, step.params)
        if not forced:
            if high < self.trigger:
                return step
            if low < self.trigger and ctx.get("measured") != len(s.messages):
                # The estimate cannot tell which side of the trigger the request is on.
                return CountTokens(counted_fields(step.params), step.betas)
            if size < self.trigger:
                return step
        if isinstance(policy, Trim):
            return self._trim(s, policy, size, build) or step
        cut = cut_index(s.messages, policy.keep_turns)
        if cut is None:
            # Too few turns to summarize: clearing old results is what is left to do.
            fallback = Trim(keep_tool_results=1)
            return self._trim(s, fallback, size, build) or step
        self.apply(s, {"summarize": cut, "before": size}, journal=self.noted)
        return self._summary(s, cut, build)

    def replayed(self, s: RunState) -> bool:
        """Whether a replayed request needs no deciding (nor building): its decisions are
        journaled notes, applied as they come. The flags `request` reads once are read."""
        if self.noted and s.context.get("summarizing") is None:
            _forced(s.context)
        return self.noted

    def _estimate(self, s: RunState, params: Mapping[str, Any]) -> tuple[int, int, int]:
        """The next request's size in tokens, and the range it surely lies in: the measured
        part is exact, the part added since is counted at four characters a token and may be
        off by half or double (no measure yet: the `NEAR` band around the whole estimate)."""
        ctx = s.context
        tokens, mark = ctx.get("tokens"), ctx.get("mark")
        if tokens is None or mark is None or mark > len(s.messages):
            size = estimate_tokens(params)
            return size, int(size * NEAR[0]), int(size * NEAR[1])
        added = s.messages[mark:]
        extra = estimate_tokens(added) if added else 0
        base = int(tokens)
        return base + extra, base + extra // 2, base + 2 * extra

    def _trim(self, s: RunState, policy: Trim, size: int, build: Build) -> CallModel | None:
        trimmed, cleared = trim_tool_results(
            s.messages,
            keep=policy.keep_tool_results,
            placeholder=policy.placeholder,
            exclude=policy.exclude_tools,
        )
        if not cleared:
            return None
        note = {
            "trim": {
                "keep": policy.keep_tool_results,
                "placeholder": policy.placeholder,
                "exclude": list(policy.exclude_tools),
            }
        }
        self.apply(s, note, journal=self.noted, trimmed=trimmed)
        step = build(s.messages, None)
        after = estimate_tokens(step.params)
        self.changes.append(ContextChange("trim", size, after, {"cleared_tool_results": cleared}))
        return step

    def _summary(self, s: RunState, cut: int, build: Build) -> CallModel:
        policy = self._rescue if self._client is None else self._client
        compaction = policy if isinstance(policy, Compaction) else Compaction()
        prompt = compaction.prompt or DEFAULT_SUMMARY_PROMPT
        shape = SummaryCall(compaction.model, compaction.max_tokens)
        return build(summary_request(s.messages, cut, prompt), shape)

    def _rewrite(self, s: RunState, messages: list[dict[str, Any]]) -> None:
        s.messages[:] = messages
        s.context.pop("tokens", None)
        s.context.pop("mark", None)
        self.rewritten = True

    # -- on a reply ------------------------------------------------------------------------

    def on_reply(self, s: RunState, message: Message, usage: Mapping[str, Any]) -> TurnUsage | None:
        """Consume a summary reply, or a reply that hit the context window (compact and
        retry once); None for any other reply, which the engine records as usual."""
        ctx = s.context
        cut = ctx.get("summarizing")
        if cut is None:
            if message.stop_reason != "model_context_window_exceeded" or ctx.get("retried"):
                return None
            turn = s.usage.add_turn(usage, message.model or "")
            self.apply(s, {"overflow": True}, journal=False)
            self.changes.append(
                ContextChange("overflow", details={"stop_reason": message.stop_reason})
            )
            return turn
        del ctx["summarizing"]
        before = ctx.pop("before", None)
        turn = s.usage.add_turn(usage, message.model or "")
        content = message.to_param()["content"]
        summary = summary_text(content) if message.stop_reason != "refusal" else ""
        if not summary:
            # No summary (a refusal, a tool call): clear old results instead, and go on.
            trimmed, cleared = trim_tool_results(s.messages, keep=1, placeholder=TRIM_PLACEHOLDER)
            self._rewrite(s, trimmed)
            self.changes.append(
                ContextChange(
                    "trim", before, None, {"cleared_tool_results": cleared, "reason": "no summary"}
                )
            )
            return turn
        self._rewrite(s, compacted(s.messages, cut, summary))
        ctx["compactions"] = int(ctx.get("compactions", 0)) + 1
        after = estimate_tokens(s.messages)
        self.changes.append(
            ContextChange(
                "compaction", before, after, {"summarized_messages": cut - 1, "summary": summary}
            )
        )
        return turn

    def clean(self, content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A reply's content as it joins the history (compaction blocks cleaned)."""
        return clean_compaction(content) or content

    def after_reply(self, s: RunState, message: Message, turn: TurnUsage) -> None:
        """Record what the server did (applied edits, a compaction) and the new measure."""
        ctx = s.context
        ctx.pop("retried", None)
        edits = applied_edits(message.model_extra)
        if edits:
            turn.applied_edits = edits
            cleared = sum(int(e.get("cleared_input_tokens") or 0) for e in edits)
            self.changes.append(
                ContextChange(
                    "server_edits",
                    None,
                    None,
                    {"applied_edits": edits, "cleared_input_tokens": cleared},
                )
            )
        iterations = _iterations(message)
        compacted_here = any(b.type == "compaction" for b in message.content) and any(
            summarized(b) for b in message.to_param()["content"]
        )  # a failed compaction (null content, no summary) cuts nothing
        if compacted_here:
            before = next(
                (i.get("input_tokens") for i in iterations if i.get("type") == "compaction"), None
            )
            s.messages[:] = after_compaction(s.messages)
            self.rewritten = True
            ctx["compactions"] = int(ctx.get("compactions", 0)) + 1
            self.changes.append(
                ContextChange(
                    "server_compaction",
                    before,
                    _prompt(iterations, turn),
                    {"iterations": iterations},
                )
            )
        ctx["tokens"] = _prompt(iterations, turn) + turn.output_tokens
        ctx["mark"] = len(s.messages)

    # -- failures and counts ---------------------------------------------------------------

    def on_error(self, s: RunState, error: Exception, betas: Sequence[str]) -> bool:
        """Whether the policy handles a failed call: a prompt too long (compact and retry
        once), or the gateway not knowing the beta (`Auto` falls back to the client side)."""
        ctx = s.context
        if prompt_too_long(error) and not ctx.get("retried"):
            note: dict[str, Any] = {"overflow": True}
        elif (
            isinstance(self.policy, Auto)
            and self._server is not None
            and not ctx.get("fallback")
            and beta_unknown(error, betas)
        ):
            note = {"fallback": True}
            self.changes.append(ContextChange("fallback", details={"error": str(error)}))
        else:
            return False
        if "overflow" in note:
            self.changes.append(ContextChange("overflow", details={"error": str(error)}))
        self.apply(s, note)
        return True

    def apply(
        self,
        s: RunState,
        note: Mapping[str, Any],
        *,
        journal: bool = True,
        trimmed: list[dict[str, Any]] | None = None,
    ) -> None:
        """Take one input (a count, an overflow, a fallback) or decision (a trim, a summary
        to ask for) into the state; a durable replay calls this with the journaled notes
        (`journal=False`). `trimmed`: the trim's history, when it is made already."""
        ctx = s.context
        if "trim" in note:
            if trimmed is None:
                cut = cast("dict[str, Any]", note["trim"])
                trimmed, _ = trim_tool_results(
                    s.messages,
                    keep=int(cut["keep"]),
                    placeholder=str(cut["placeholder"]),
                    exclude=tuple(cast("list[str]", cut["exclude"])),
                )
            self._rewrite(s, trimmed)
        if "summarize" in note:
            ctx["summarizing"] = note["summarize"]
            ctx["before"] = note.get("before")
        if note.get("overflow"):
            ctx["force"] = True
            ctx["retried"] = True
            if ctx.pop("summarizing", None) is not None:
                ctx["trim_first"] = True  # the summary call itself was too long
        if note.get("fallback"):
            ctx["fallback"] = True
        if "count" in note:
            ctx["measured"] = len(s.messages)
            if note["count"] is not None:
                ctx["tokens"] = int(note["count"])
                ctx["mark"] = len(s.messages)
        if journal:
            self.notes.append(dict(note))


def _forced(ctx: dict[str, Any]) -> tuple[bool, bool]:
    """Whether this request must shrink the history (after an overflow), and do it by a trim
    first (the summary call itself was too long): read once, by the request they decide."""
    forced = bool(ctx.pop("force", False))
    return forced, forced and bool(ctx.pop("trim_first", False))


def _iterations(message: Message) -> list[dict[str, Any]]:
    return dicts((message.usage.model_extra or {}).get("iterations"))


def _prompt(iterations: Sequence[Mapping[str, Any]], turn: TurnUsage) -> int:
    """The prompt the reply was sampled from: the last `message` iteration's, else the turn's."""
    for item in reversed(iterations):
        if item.get("type") == "message":
            return sum(
                int(item.get(k) or 0)
                for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            )
    return turn.total_input_tokens
