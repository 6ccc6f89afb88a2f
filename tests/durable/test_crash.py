"""Crash and resume: a durable run's process is SIGKILLed at random moments (during model
calls, during idempotent and non-idempotent tools, between steps) and restarted with the same
`run_id` until it finishes. Checked after every such run, against one that never crashed:

- the same final answer;
- no non-idempotent call started twice; one that started and never finished is answered with
  the "interrupted" `is_error` result, and the model saw that;
- an idempotent call that ran again did so with the same `ctx.idempotency_key`;
- a valid stored conversation, whose usage counts each stored reply once;
- no more model calls than the uncrashed run's plus one per crash.

The kill moments come from a seeded generator, so a failure names its seed; what is asserted
holds for any moment, so the test does not depend on timing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentkit import AsyncClient, SQLiteStore, validate_conversation
from agentkit.testing import FakeServer, FunctionModel, ScriptedTransport, reply, text_reply

CHILD = Path(__file__).with_name("crash_child.py")
MAX_KILLS = 12
_spec = importlib.util.spec_from_file_location("crash_child", CHILD)
assert _spec is not None and _spec.loader is not None
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)
FINAL = "Done: orders 1, 2 and 3 are handled."
PLAN: list[list[tuple[str, dict[str, Any]]]] = [
    [("lookup", {"key": "a"}), ("lookup", {"key": "b"})],
    [("charge", {"order": 1}), ("charge", {"order": 2})],
    [("lookup", {"key": "c"}), ("charge", {"order": 3})],
]


def model(body: dict[str, Any]) -> Any:
    """Plays the model: the same plan whatever the tools answered, so every run (crashed or
    not) ends with the same answer. With a sub-agent (`crash_child.CLERK`), the caller hands
    it the orders and the plan is the sub-run's."""
    turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
    tools = [t["name"] for t in body.get("tools", ())]
    if tools == ["clerk"]:  # the caller
        return reply(tool_calls=[("clerk", {"task": "Orders 1, 2, 3."})]) if turn == 0 else (
            text_reply(FINAL))
    if turn < len(PLAN):
        return reply(tool_calls=PLAN[turn])
    return text_reply("Handled." if body.get("system") == child.CLERK else FINAL)


def start(
    server: FakeServer, db: Path, log: Path, run_id: str, synchronous: str, shape: str = "flat"
) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(CHILD), server.base_url, str(db), str(log), run_id, synchronous,
            shape]
    # Unbuffered: "ready" is read a byte at a time, so a result line the child printed right
    # after it stays in the pipe for `communicate` (a buffered reader would swallow it).
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready", proc.stderr and proc.stderr.read()
    return proc


def run_until_done(
    server: FakeServer,
    db: Path,
    log: Path,
    run_id: str,
    rng: random.Random | None,
    span: float,
    synchronous: str = "NORMAL",
    shape: str = "flat",
) -> tuple[str, int, float]:
    """Start the run, killing it after a random delay each time, until it finishes.
    Returns the final text, the number of kills, and how long the last start ran (from
    "ready" to its exit).

    The delays are drawn within `span`, what an uncrashed run took on this machine just
    before: the first within its first half (so a run as fast as that one is killed at
    least once), the others anywhere in it (so late moments are hit too)."""
    kills = 0
    while True:
        proc = start(server, db, log, run_id, synchronous, shape)
        began = time.monotonic()
        # At most MAX_KILLS kills, then the run may finish: on a loaded machine a start can
        # take longer than any kill window, and the test must not depend on the machine.
        killing = rng is not None and kills < MAX_KILLS
        window = span / 2 if kills == 0 else span
        try:
            out, err = proc.communicate(timeout=rng.uniform(0.0, window) if killing else 60)
        except subprocess.TimeoutExpired:
            if not killing:
                raise
            proc.kill()  # SIGKILL
            proc.communicate()
            kills += 1
            continue
        assert proc.returncode == 0, err.decode()
        result = json.loads(out.decode().strip().splitlines()[-1])
        return result["text"], kills, time.monotonic() - began


def side_effects(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text(encoding="utf-8").splitlines()]


def charges(log: Path, keyed: str) -> tuple[list[str], set[str]]:
    """The charges the killed processes started and finished, checked: none started twice,
    and every call's idempotency key is `keyed` (its run's id as a key spells it) and the
    call's id."""
    effects = side_effects(log)
    started = [e[1] for e in effects if e[0] == "charge-start"]
    done = {e[1] for e in effects if e[0] == "charge-done"}
    assert len(started) == len(set(started)), "a non-idempotent call started twice"
    keys = {(e[1], e[2]) for e in effects if e[0] in ("lookup", "charge-start")}
    assert all(key == f"{keyed}:{call}" for call, key in keys)
    return started, done


# CI runs three seeds (~15 s); a soak run sets more: AGENTKIT_CRASH_SEEDS=1-50.
_FIRST, _, _LAST = os.environ.get("AGENTKIT_CRASH_SEEDS", "1-3").partition("-")
SEEDS = range(int(_FIRST), int(_LAST or _FIRST) + 1)


# Each seed at the default level; the first also at FULL, whose fsyncs are awaited off the loop.
CASES = [(seed, "NORMAL") for seed in SEEDS] + [(SEEDS[0], "FULL")]


def killed_until_done(
    tmp_path: Path, seed: int, synchronous: str, shape: str = "flat"
) -> tuple[str, str, int, int, int]:
    """Run "orders" killed at moments the seed draws until it finishes, after a clean run;
    the final texts (killed, clean), the kills, and the model calls (killed, clean)."""
    with FakeServer(FunctionModel(model), latency=0.03) as server:
        clean_text, _, span = run_until_done(
            server, tmp_path / "clean.db", tmp_path / "clean.log", "clean", None, 0, synchronous,
            shape,
        )
        clean_requests = len(server.requests)
        rng = random.Random(seed)
        for _ in range(6):
            # A run faster than the clean one (its start done before the first delay: the
            # machine's load changed) was not killed: start afresh, killing sooner.
            for old in tmp_path.glob("runs.*"):
                if old.is_file():
                    old.unlink()
            shutil.rmtree(tmp_path / "runs.db.journals", ignore_errors=True)
            before = len(server.requests)
            text, kills, _ = run_until_done(server, tmp_path / "runs.db", tmp_path / "runs.log",
                                         "orders", rng, span, synchronous, shape)
            if kills:
                break
            span /= 2
        return text, clean_text, kills, len(server.requests) - before, clean_requests


@pytest.mark.parametrize(("seed", "synchronous"), CASES)
def test_a_run_killed_at_random_moments_finishes_as_if_it_never_crashed(
    tmp_path: Path, seed: int, synchronous: str
) -> None:
    text, clean_text, kills, crashed_requests, clean_requests = killed_until_done(
        tmp_path, seed, synchronous
    )
    assert text == clean_text == FINAL
    assert kills > 0  # the generator's delays do hit the run
    assert crashed_requests <= clean_requests + kills, (crashed_requests, clean_requests, kills)

    started, done = charges(tmp_path / "runs.log", "orders")

    store = SQLiteStore(tmp_path / "runs.db")
    offline = AsyncClient(api_key="sk-test", transport=ScriptedTransport([]))  # no model call
    stored = child.make_agent(offline).run_sync(child.PROMPT, run_id="orders", store=store)
    assert stored.text == FINAL
    validate_conversation(stored.messages)
    results = {
        b["tool_use_id"]: b
        for m in stored.messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    }
    for call in set(started) - done:
        assert results[call].get("is_error") is True
        assert "may or may not have taken effect" in str(results[call]["content"])
    replies = sum(1 for m in stored.messages if m["role"] == "assistant")
    assert stored.usage.requests == replies


@pytest.mark.parametrize("seed", SEEDS)
def test_a_sub_run_killed_at_random_moments_resumes_with_its_caller(
    tmp_path: Path, seed: int
) -> None:
    # The tools are a sub-agent's (`as_tool`): killed inside its run, the sub-run resumes with
    # its caller (it was one non-idempotent call of the caller's, answered "interrupted").
    text, clean_text, kills, crashed_requests, clean_requests = killed_until_done(
        tmp_path, seed, "NORMAL", "sub"
    )
    assert text == clean_text == FINAL
    assert kills > 0
    assert crashed_requests <= clean_requests + kills, (crashed_requests, clean_requests, kills)

    store = SQLiteStore(tmp_path / "runs.db")
    offline = AsyncClient(api_key="sk-test", transport=ScriptedTransport([]))  # no model call
    stored = child.make_agent(offline, "sub").run_sync(child.PROMPT, run_id="orders", store=store)
    assert stored.text == FINAL
    validate_conversation(stored.messages)
    call = stored.messages[1]["content"][0]["id"]
    assert stored.messages[2]["content"][0] == {
        "type": "tool_result", "tool_use_id": call, "content": "Handled."
    }  # never answered "interrupted": the sub-run went on
    sub = f"orders\u203a{call}"
    entries = store.entries(sub)

    started, done = charges(tmp_path / "runs.log", f"orders%E2%80%BA{call}")  # `›`, encoded
    results = {str(e.payload["tool_use_id"]): e.payload for e in entries
               if e.kind == "tool_result"}
    for cut in set(started) - done:
        assert results[cut].get("is_error") is True
        assert "may or may not have taken effect" in str(results[cut]["content"])
    # Each reply counted once: the caller's two and the sub-run's, merged in once.
    replies = [e for e in entries if e.kind == "reply"]
    assert stored.usage.requests == 2 + len(replies) == 2 + len(PLAN) + 1
    assert [e.kind for e in store.entries("orders")].count("usage") == 1
