"""One run's journal as a timeline: the prompt, then each turn with its blocks and tool calls
(input, result, time), the decisions and status changes between them; the run's totals; what a
paused run waits for and what a running one is doing.

Pure: journal entries in, JSON-ready data out, which the page renders as text. Rules:

- A turn is one model reply. Its model time runs from the checkpoint before it (the previous
  entry) to the reply's commit: listing tools, the model call with its retries, the hooks. After
  a status entry the process had stopped and the time of the resume is not recorded, so the
  turn's model time is unknown (None); after a crash, which leaves no status entry, the time
  until the resume is counted in.
- A tool call's time runs from its turn's reply (or its "started" mark) to its result's commit.
- A turn's tokens and cost are the reply's `usage` priced by `RunUsage.add_turn`, as the run
  priced them.
- A call of an agent used as a tool names the sub-run that did its work (`sub_run`), and a
  sub-run's summary the run and call that made it (`caller`).
- A call with no result in the journal is awaiting a decision (the run paused for it), denied
  (a decision said so), running (the run still is), to run when the paused run resumes (it
  needs no decision), or unanswered (answered by the framework without a journal entry: an
  unknown tool, or a run that ended first).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from agentkit import RunUsage
from agentkit._durable.journal import SUB_RUN_MARK, Entry

from .reader import RunRow

__all__ = ["timeline"]

Json = dict[str, Any]


def timeline(
    run: RunRow, entries: Sequence[Entry], *, now: float, store: str = "",
    sub_runs: Collection[str] = (), caller_stored: bool = False,
) -> Json:
    """The page's view of `run` with its journal `entries`, as of `now` (Unix seconds);
    `store` is the file's path, for the commands the page suggests; `sub_runs` the ids of the
    run's sub-runs (each linked from the call that made it), and `caller_stored` whether the
    run whose call made this one, if it is a sub-run, is in the store."""
    build = _Timeline(run.model)
    for entry in entries:
        build.add(entry)
    items, turns = build.items, build.turns
    status = _last_status(items)
    awaiting = _awaiting(status, turns) if run.status == "paused" else set[str]()
    last = _calls(turns[-1]) if turns else []
    for turn in turns:
        for call in _calls(turn):
            call["state"] = _state(call, awaiting, status=run.status, last=call in last)
            made = f"{run.run_id}{SUB_RUN_MARK}{call['id']}"  # `journal.sub_run_id`
            if made in sub_runs:
                call["sub_run"] = made
    usage = build.usage
    summary = run.to_json(now)
    if summary["caller"] is not None:
        summary["caller"]["stored"] = caller_stored
    summary.update(
        store=store,
        reason=status.get("reason") if status else None,
        totals={
            "model_seconds": sum(t["model_seconds"] or 0.0 for t in turns),
            "tools_seconds": sum(t["tools_seconds"] or 0.0 for t in turns),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cost_usd": usage.cost_usd,
            "known_cost_usd": usage.known_cost_usd,
        },
    )
    live = None
    if run.status == "running":
        busy = bool(turns) and any(c["state"] == "running" for c in _calls(turns[-1]))
        live = {"doing": "tools" if busy else "model", "since": run.last_at or run.created}
    pending = [
        {"id": c["id"], "name": c["name"], "input": c["input"], "turn": n}
        for n, c in ((t["n"], c) for t in turns for c in _calls(t))
        if c["id"] in awaiting
    ]
    return {"run": summary, "items": items, "pending": pending, "live": live}


class _Timeline:
    """Folds entries into items, keeping each call's block to attach its result to."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.items: list[Json] = []
        self.turns: list[Json] = []
        self.calls: dict[str, Json] = {}
        self.turn_of: dict[str, Json] = {}
        self.usage = RunUsage()
        self.previous: float | None = None
        """When the last checkpoint was committed; None after a status entry."""

    def add(self, entry: Entry) -> None:
        payload, at = entry.payload, entry.at
        if entry.kind == "start":
            messages = cast("list[Mapping[str, Any]]", payload.get("messages") or [])
            self.items.append({"kind": "prompt", "at": at, "messages": [
                {"role": m.get("role"), "blocks": _blocks(m.get("content"))} for m in messages
            ]})
        elif entry.kind == "reply":
            self._reply(payload, at)
        elif entry.kind == "tool_started":
            for call_id in cast("list[str]", payload.get("ids") or []):
                if call_id in self.calls:
                    self.calls[call_id]["started_at"] = at
        elif entry.kind == "tool_result":
            self._result(payload, at)
        elif entry.kind == "decisions":
            decided = cast("dict[str, object]", payload.get("decisions") or {})
            listed = [self._decide(call_id, value) for call_id, value in decided.items()]
            self.items.append({"kind": "decisions", "at": at, "decisions": listed})
        elif entry.kind == "status":
            self.items.append({
                "kind": "status", "at": at, "status": payload.get("status"),
                "reason": payload.get("reason"), "awaiting": payload.get("awaiting"),
            })
            self.previous = None
            return
        elif entry.kind == "usage":  # a sub-agent's, in its call's result's commit: counted
            self.usage.merge(RunUsage.from_dict(payload))  # in the totals, as in the run's
            return
        else:  # a context policy's input or decision (a count, a trim), often in the reply's
            return  # own commit: not shown, and the turn's time still runs from before it
        self.previous = at

    def _reply(self, payload: Mapping[str, Any], at: float) -> None:
        blocks = _blocks(payload.get("content"))
        calls = [b for b in blocks if b["type"] == "tool_use"]
        model = str(payload.get("model") or self.model)
        usage = cast("Mapping[str, Any]", payload.get("usage") or {})
        turn_usage = self.usage.add_turn(usage, model, tool_calls=len(calls))
        started = self.previous
        turn: Json = {
            "kind": "turn",
            "n": len(self.turns) + 1,
            "at": at,
            "started": started,
            "ended": at,
            "model_seconds": None if started is None else max(at - started, 0.0),
            "tools_seconds": None,
            "model": model,
            "stop_reason": payload.get("stop_reason"),
            "blocks": blocks,
            "usage": {
                "input_tokens": turn_usage.input_tokens,
                "output_tokens": turn_usage.output_tokens,
                "cache_creation_input_tokens": turn_usage.cache_creation_input_tokens,
                "cache_read_input_tokens": turn_usage.cache_read_input_tokens,
            },
            "cost_usd": turn_usage.cost_usd,
        }
        for call in calls:
            self.calls[call["id"]] = call
            self.turn_of[call["id"]] = turn
        self.items.append(turn)
        self.turns.append(turn)

    def _result(self, payload: Mapping[str, Any], at: float) -> None:
        call_id = str(payload.get("tool_use_id"))
        call, turn = self.calls.get(call_id), self.turn_of.get(call_id)
        if call is None or turn is None:  # a result for no journalled call: show it anyway
            call = Json({"type": "tool_use", "id": call_id, "name": "?", "input": None})
            turn = self.turns[-1] if self.turns else None
            if turn is None:
                return
            turn["blocks"].append(call)
            self.calls[call_id], self.turn_of[call_id] = call, turn
        begun: float = call.get("started_at") or turn["at"]
        call["result"] = {
            "parts": _parts(payload.get("content")),
            "is_error": bool(payload.get("is_error")),
            "at": at,
            "seconds": max(at - begun, 0.0),
        }
        turn["ended"] = max(turn["ended"], at)
        turn["tools_seconds"] = turn["ended"] - turn["at"]

    def _decide(self, call_id: str, value: object) -> Json:
        call = self.calls.get(call_id)
        decision: Json = {
            "id": call_id,
            "name": call["name"] if call else "?",
            "approved": value is True,
            "reason": value if isinstance(value, str) else None,
        }
        if call is not None:
            call["decision"] = decision
        return decision


def _blocks(content: object) -> list[Json]:
    """A message's content as the page's blocks."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[Json] = []
    for raw in cast("list[Any]", content) if isinstance(content, list) else []:
        if not isinstance(raw, dict):
            continue
        block = cast("dict[str, Any]", raw)
        kind = block.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "thinking":
            blocks.append({"type": "thinking", "text": str(block.get("thinking", ""))})
        elif kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking"})
        elif kind in ("tool_use", "server_tool_use"):
            blocks.append({"type": kind, "id": str(block.get("id")),
                           "name": str(block.get("name")), "input": block.get("input")})
        elif kind in ("image", "document"):  # a placeholder, as in a tool result: no data
            blocks.extend(_parts([block]))
        elif kind == "tool_result":
            blocks.append({"type": "tool_result", "tool_use_id": block.get("tool_use_id"),
                           "is_error": bool(block.get("is_error")),
                           "parts": _parts(block.get("content"))})
        else:
            blocks.append({"type": "other", "name": str(kind), "value": block})
    return blocks


def _parts(content: object) -> list[Json]:
    """A tool result's content: text parts, placeholders for images and documents, and
    anything else as its JSON."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    parts: list[Json] = []
    for raw in cast("list[Any]", content) if isinstance(content, list) else [content]:
        block = cast("dict[str, Any]", raw) if isinstance(raw, dict) else {"value": raw}
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind in ("image", "document"):
            source = cast("dict[str, Any]", block.get("source") or {})
            parts.append({"type": kind, "media_type": source.get("media_type")})
        else:
            parts.append({"type": "other", "name": str(kind), "value": block})
    return parts


def _calls(turn: Json) -> list[Json]:
    return [b for b in turn["blocks"] if b["type"] == "tool_use"]


def _last_status(items: list[Json]) -> Json | None:
    return next((i for i in reversed(items) if i["kind"] == "status"), None)


def _awaiting(status: Json | None, turns: list[Json]) -> set[str]:
    """The calls a paused run waits on: as its status entry lists them, or (a journal written
    before statuses listed them) its last turn's undecided calls without a result."""
    if status is not None and isinstance(status.get("awaiting"), list):
        return {str(i) for i in cast("list[Any]", status["awaiting"])}
    last = _calls(turns[-1]) if turns else []
    return {c["id"] for c in last if "result" not in c and "decision" not in c}


def _state(call: Json, awaiting: set[str], *, status: str, last: bool) -> str:
    """done, error, denied, awaiting (a decision), running, resume (it runs when the paused
    run resumes) or unanswered."""
    result = call.get("result")
    if result is not None:
        return "error" if result["is_error"] else "done"
    decision = call.get("decision")
    if decision is not None and not decision["approved"]:
        return "denied"
    if call["id"] in awaiting:
        return "awaiting"
    if last and status in ("running", "paused"):
        return "running" if status == "running" else "resume"
    return "unanswered"
