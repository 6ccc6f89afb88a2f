"""The context policies a user picks (`Agent(context=...)`), as plain frozen data.

Owns `Trim`, `Compaction`, `ServerEditing`, `ServerCompaction` and `Auto` (public in
`agentkit.context`) and `trigger_for`, the default threshold. Rules: a policy only describes
what to do; `manager` decides when. Every policy takes `trigger_tokens`; left out, it is a
share (`DEFAULT_SHARE`) of the model's context window from the capability table, or
`UNKNOWN_MODEL_TRIGGER` for a model the table does not know. Bad values are a `UsageError`
at construction, naming the option.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..._errors import UsageError
from ..capabilities import ModelCaps

__all__ = [
    "COMPACTION_MIN_TRIGGER",
    "DEFAULT_SHARE",
    "TRIM_PLACEHOLDER",
    "Auto",
    "Compaction",
    "ContextPolicy",
    "ServerCompaction",
    "ServerEditing",
    "Trim",
    "trigger_for",
]

DEFAULT_SHARE = 0.75
"""Default trigger: this share of the model's context window (room left for the reply, the
tools' next results and the estimate's error)."""
UNKNOWN_MODEL_TRIGGER = 100_000
"""Default trigger for a model the capability table does not know (the SDKs' old default)."""
COMPACTION_MIN_TRIGGER = 50_000
"""The API's smallest `compact_20260112` trigger."""
TRIM_PLACEHOLDER = (
    "[This tool result was cleared to keep the conversation inside the context window. "
    "Call the tool again if you need it.]"
)

DEFAULT_SUMMARY_PROMPT = """\
You have been working on the task described above but have not yet completed it. The \
conversation so far will be replaced by your summary, so write a continuation summary that \
lets you (or another instance of you) resume the work without redoing anything. Do not call \
any tools. Include:
1. Task overview: the user's request, its goals and any standing instructions or constraints.
2. Current state: what is done, which files, pages or records were examined or changed, and \
what each tool call found that still matters (exact names, numbers, paths, quotes).
3. Important discoveries: decisions made and why, errors met and how they were resolved.
4. Next steps: what remains to do, in order.
5. Context to preserve: anything else needed to finish the task exactly as asked.
Write it as a record of past work, not as new instructions. Wrap it in <summary></summary>."""


def _positive(policy: str, **values: int | None) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise UsageError(f"{policy}({name}=...) must be at least 1, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Trim:
    """Client-side trimming: once the next request would pass `trigger_tokens`, every tool
    result but the last `keep_tool_results` is replaced by `placeholder` (calls and results
    stay paired; thinking, text and the prompts are untouched)."""

    trigger_tokens: int | None = None
    keep_tool_results: int = 3
    exclude_tools: tuple[str, ...] = ()
    """Tools whose results are never cleared (e.g. `memory`)."""
    placeholder: str = TRIM_PLACEHOLDER

    def __post_init__(self) -> None:
        _positive("Trim", trigger_tokens=self.trigger_tokens)
        if self.keep_tool_results < 0:
            raise UsageError(
                f"Trim(keep_tool_results=...) must be >= 0, got {self.keep_tool_results}"
            )
        object.__setattr__(self, "exclude_tools", _names(self.exclude_tools))


@dataclass(frozen=True, slots=True, kw_only=True)
class Compaction:
    """Client-side compaction: once the next request would pass `trigger_tokens`, the turns
    before the last `keep_turns` are summarized by a model call and replaced by the summary
    (after the first user prompt, which is kept). `prompt` replaces the default summary
    prompt; `model` and `max_tokens` set the summary call's (default: the agent's)."""

    trigger_tokens: int | None = None
    keep_turns: int = 2
    """Most recent assistant turns (each with the tool results answering it) kept verbatim."""
    prompt: str | None = None
    model: str | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        _positive(
            "Compaction",
            trigger_tokens=self.trigger_tokens,
            keep_turns=self.keep_turns,
            max_tokens=self.max_tokens,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerEditing:
    """Server-side context editing (`clear_tool_uses_20250919`, and `clear_thinking_20251015`
    when `keep_thinking_turns` is set): the API clears old tool results from what the model
    sees; the run's history is untouched. Options are the API's (see its docs)."""

    trigger_tokens: int | None = None
    keep_tool_uses: int = 3
    clear_at_least: int | None = None
    """Skip a clear that would free fewer tokens (a clear costs a cache write)."""
    exclude_tools: tuple[str, ...] = ()
    clear_tool_inputs: bool = False
    keep_thinking_turns: int | Literal["all"] | None = None
    """Also clear thinking from older turns, keeping this many (or `"all"`); None: no edit."""

    def __post_init__(self) -> None:
        _positive(
            "ServerEditing",
            trigger_tokens=self.trigger_tokens,
            clear_at_least=self.clear_at_least,
        )
        if self.keep_tool_uses < 0:
            raise UsageError(
                f"ServerEditing(keep_tool_uses=...) must be >= 0, got {self.keep_tool_uses}"
            )
        keep = self.keep_thinking_turns
        if keep is not None and keep != "all" and keep < 1:
            raise UsageError(
                f"ServerEditing(keep_thinking_turns=...) must be >= 1 or 'all', got {keep!r}"
            )
        object.__setattr__(self, "exclude_tools", _names(self.exclude_tools))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerCompaction:
    """Server-side compaction (`compact_20260112`): past `trigger_tokens` the API summarizes
    the conversation itself and answers with a `compaction` block the run keeps and sends
    back. `instructions` replaces the API's summary prompt; `pause_after_compaction` makes it
    return right after the summary (the run then simply continues)."""

    trigger_tokens: int | None = None
    instructions: str | None = None
    pause_after_compaction: bool = False

    def __post_init__(self) -> None:
        trigger = self.trigger_tokens
        if trigger is not None and trigger < COMPACTION_MIN_TRIGGER:
            raise UsageError(
                f"ServerCompaction(trigger_tokens={trigger}): the API's smallest compaction "
                f"trigger is {COMPACTION_MIN_TRIGGER:,} tokens; use Compaction() (client-side) "
                "for a smaller window"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Auto:
    """Server-side compaction where the capability table says the model supports it (and
    `trigger_tokens` is within the API's range), client-side `Compaction` otherwise, or once
    the API or a gateway answers that the beta is unknown."""

    trigger_tokens: int | None = None
    keep_turns: int = 2
    instructions: str | None = None
    """The summary prompt, for either side."""

    def __post_init__(self) -> None:
        _positive("Auto", trigger_tokens=self.trigger_tokens, keep_turns=self.keep_turns)

    def server(self) -> ServerCompaction:
        return ServerCompaction(trigger_tokens=self.trigger_tokens, instructions=self.instructions)

    def client(self) -> Compaction:
        return Compaction(
            trigger_tokens=self.trigger_tokens, keep_turns=self.keep_turns, prompt=self.instructions
        )


ContextPolicy = Trim | Compaction | ServerEditing | ServerCompaction | Auto
"""Any of the policies `Agent(context=...)` takes."""

POLICY_TYPES = (Trim, Compaction, ServerEditing, ServerCompaction, Auto)


def _names(names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        raise UsageError(f"exclude_tools must be a list of tool names, not the string {names!r}")
    return tuple(names)


def trigger_for(policy: ContextPolicy, caps: ModelCaps | None) -> int:
    """The policy's threshold in tokens: its `trigger_tokens`, else a share of the window."""
    if policy.trigger_tokens is not None:
        return policy.trigger_tokens
    window = caps.context_window if caps is not None else None
    trigger = int(window * DEFAULT_SHARE) if window else UNKNOWN_MODEL_TRIGGER
    if isinstance(policy, ServerCompaction):
        return max(trigger, COMPACTION_MIN_TRIGGER)
    return trigger
