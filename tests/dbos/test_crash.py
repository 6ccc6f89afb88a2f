"""Crash and recover on DBOS (SQLite and Postgres): a `DBOSAgent` run's process is SIGKILLed
in the middle of a non-idempotent tool call, of an idempotent one, or of a model call, then
restarted with the same executor id; `DBOS.launch()` recovers the run by itself (the restarted
process only attaches to it, with no prompt to start one). Checked against the plan an
uncrashed run follows (`tests/durable/test_crash.py`'s model and side-effect log):

- the same final answer, and a valid conversation;
- no non-idempotent call started twice; one that started and never finished is answered with
  the "interrupted" `is_error` result;
- an idempotent call that was in flight ran again with the same `ctx.idempotency_key`;
- a model call in flight was sent once more, and no other.

The kill waits for the moment itself (a log line, a request reaching the fake server), never
for a delay, so the test does not depend on timing.

The same run with `stream=True`, with `output_type=`, with an `approve` callback (its decisions
a step) and with its tools a sub-agent's (`as_tool`: one non-idempotent call of the caller's,
answered "interrupted" when a crash cut it) is killed at moments a seeded generator draws, as
`tests/durable/test_crash.py` does, and restarted until it finishes; each start attaches to the
workflow the first one started (or starts it, if it was killed before that).
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import crashes
import pytest

from agentkit import validate_conversation
from agentkit._run.replay import INTERRUPTED
from agentkit.testing import FakeServer, Fault, FunctionModel

CHILD = Path(__file__).with_name("crash_child.py")
_spec = importlib.util.spec_from_file_location(
    "sqlite_crash_test", Path(__file__).parents[1] / "durable" / "test_crash.py"
)
assert _spec is not None and _spec.loader is not None
sqlite_test = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sqlite_test)
UNCRASHED_REQUESTS = len(sqlite_test.PLAN) + 1
HELD_TURN = 1  # the model call held in the "model" case: after the first tools ran


def start(
    server: FakeServer, system_db: str, log: Path, hold: str, variant: str = "plain"
) -> subprocess.Popen[str]:
    """The child, started; its output is left to `communicate()` (a `readline()` first
    could buffer the lines after "ready", which `communicate()` would then never see)."""
    args = [sys.executable, str(CHILD), server.base_url, system_db, str(log), "orders", hold,
            variant]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(done: Any, proc: subprocess.Popen[str], what: str) -> None:
    """Until `done()` holds (the child reached the moment), or fail if it exited first."""
    deadline = time.monotonic() + 90
    while not done():
        if proc.poll() is not None:
            pytest.fail(f"the child exited before {what}: {proc.stderr and proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the child never reached {what}")
        time.sleep(0.01)


def holding_model(hold: bool, arrived: threading.Event) -> FunctionModel:
    """The SQLite crash test's model; with `hold`, its first request of turn `HELD_TURN` is
    answered only after a minute (the child is killed before)."""

    def answer(body: dict[str, Any]) -> Any:
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if hold and turn == HELD_TURN and not arrived.is_set():
            arrived.set()
            return Fault.slow(60, reply=sqlite_test.model(body))
        return sqlite_test.model(body)

    return FunctionModel(answer)


RECEIPT = sqlite_test.RECEIPT
variant_model = sqlite_test.model
"""The SQLite crash test's model: offered `final_result` (`output_type=`), it ends with that
call instead of its text."""


def start_auto(
    server: FakeServer, system_db: str, log: Path, variant: str
) -> subprocess.Popen[bytes]:
    """The child that attaches to the workflow or starts it, once it printed "ready"."""
    return crashes.started([sys.executable, str(CHILD), server.base_url, system_db, str(log),
                            "orders", "auto", variant])


DBOS_KILLS = 4
"""At most this many kills per run (a DBOS start is slow: the test stays fast)."""


def run_until_done(
    server: FakeServer, system_db: str, log: Path, variant: str, rng: random.Random | None,
    span: float,
) -> tuple[dict[str, Any], int, float]:
    """Start (or attach to) the run, killed after a delay `rng` draws within `span` each time
    (the first within its first half), until it finishes: its result, the kills, and how long
    the last start ran (`crashes.run_until_done`)."""
    return crashes.run_until_done(
        partial(start_auto, server, system_db, log, variant), rng, span, most_kills=DBOS_KILLS,
        timeout=120,
    )


# Two seeds per variant in CI (a DBOS start takes a second or two); AGENTKIT_CRASH_SEEDS soaks.
VARIANT_SEEDS = sqlite_test.VARIANT_SEEDS


@pytest.mark.parametrize("seed", VARIANT_SEEDS)
@pytest.mark.parametrize("variant", ["stream", "output", "approval", "sub"])
def test_a_variant_killed_at_random_moments_finishes_as_if_it_never_crashed(
    tmp_path: Path, variant: str, seed: int
) -> None:
    with FakeServer(FunctionModel(variant_model), latency=0.03) as server:
        clean_db = f"sqlite:///{tmp_path / 'clean.sqlite'}"
        clean_log = tmp_path / "clean.log"
        clean, _, span = run_until_done(server, clean_db, clean_log, variant, None, 0)
        clean_requests = len(server.requests)
        rng = random.Random(seed)
        for attempt in range(4):
            # A start faster than the clean one was not killed: afresh, killing sooner.
            system_db = f"sqlite:///{tmp_path / f'dbos{attempt}.sqlite'}"
            log = tmp_path / f"effects{attempt}.log"
            log.touch()
            before = len(server.requests)
            result, kills, _ = run_until_done(server, system_db, log, variant, rng, span)
            if kills:
                break
            span /= 2
        requests = len(server.requests) - before

    assert kills > 0, "the generator's delays never hit the run"
    assert requests <= clean_requests + kills, (requests, clean_requests, kills)
    assert (result["text"], result["output"]) == (clean["text"], clean["output"])
    messages = finished(result, variant)
    replies = sum(1 for m in messages if m["role"] == "assistant")

    effects = sqlite_test.side_effects(log)
    started = [e[1] for e in effects if e[0] == "charge-start"]
    done = {e[1] for e in effects if e[0] == "charge-done"}
    assert len(started) == len(set(started)), "a non-idempotent call started twice"
    orders = [e[3] for e in effects if e[0] == "charge-start"]  # a sub-run's ids are new
    assert len(orders) == len(set(orders)), "an order was charged twice"
    results = {
        b["tool_use_id"]: b
        for m in messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    }
    if variant == "sub":
        # The sub-run is inside one call of the caller's, which is either answered with its
        # answer or, cut by a crash, "interrupted"; it never runs again, so no charge of its
        # can either, and its usage counts only when it finished (with its call's result).
        [(call, answer)] = results.items()
        if answer.get("is_error"):
            assert answer["content"] == INTERRUPTED
            assert result["requests"] == replies
        else:
            assert answer["content"] == "Handled."
            assert result["requests"] == replies + len(sqlite_test.PLAN) + 1
        return
    keys = {(e[1], e[2]) for e in effects if e[0] in ("lookup", "charge-start")}
    assert all(key == f"orders:{call}" for call, key in keys)
    for call in set(started) - done:
        assert results[call].get("is_error") is True
        assert results[call]["content"] == INTERRUPTED
    assert result["requests"] == replies  # each reply counted once
    if variant == "approval":
        denied = [b for b in results.values() if "order 2 is on hold" in str(b["content"])]
        assert len(denied) == 1 and denied[0].get("is_error") is True
        assert len(started) <= 2  # order 2's charge never starts


def finished(result: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    """The messages of a variant's run that finished as planned: its structured output or its
    final text, and a valid conversation."""
    if variant == "output":
        assert result["output"] == RECEIPT
    else:
        assert result["text"] == sqlite_test.FINAL
    messages: list[dict[str, Any]] = result["messages"]
    validate_conversation(messages)
    return messages


@pytest.mark.parametrize("variant", ["stream", "output", "approval", "sub"])
def test_a_variant_killed_in_a_charge_answers_it_interrupted_and_never_charges_twice(
    tmp_path: Path, variant: str
) -> None:
    # The moment random kills seldom hit: inside a non-idempotent call (for "sub", inside the
    # sub-agent's, so the caller's one call of it is what was cut).
    system_db = f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    log = tmp_path / "effects.log"
    log.touch()
    with FakeServer(FunctionModel(variant_model)) as server:
        first = start(server, system_db, log, "charge", variant)
        wait_for(lambda: "charge-start" in log.read_text(encoding="utf-8"), first, "a charge")
        first.kill()  # SIGKILL
        first.communicate()
        second = start(server, system_db, log, "attach", variant)
        out, err = second.communicate(timeout=120)
        requests = len(server.requests)

    assert second.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    messages = finished(result, variant)
    effects = sqlite_test.side_effects(log)
    started = [e[1] for e in effects if e[0] == "charge-start"]
    orders = [e[3] for e in effects if e[0] == "charge-start"]  # a sub-run's ids are new
    assert len(orders) == len(set(orders)), "an order was charged twice"
    assert not any(e[0] == "charge-done" for e in effects if e[1] == started[0])
    results = [
        b
        for m in messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]
    cut = started[0] if variant != "sub" else results[0]["tool_use_id"]  # the clerk's call
    [answer] = [b for b in results if b["tool_use_id"] == cut]
    assert (answer.get("is_error"), answer["content"]) == (True, INTERRUPTED)
    assert result["requests"] == sum(1 for m in messages if m["role"] == "assistant")
    assert requests <= UNCRASHED_REQUESTS + (2 if variant == "sub" else 0)  # none sent again


@pytest.mark.parametrize("moment", ["charge", "lookup", "model"])
def test_a_run_killed_mid_step_is_recovered_by_its_executor(
    system_db: str, tmp_path: Path, moment: str
) -> None:
    log = tmp_path / "effects.log"
    log.touch()
    arrived = threading.Event()
    with FakeServer(holding_model(moment == "model", arrived)) as server:
        first = start(server, system_db, log, hold=moment)
        if moment == "model":
            wait_for(arrived.is_set, first, "the held model call")
        else:
            wait_for(lambda: f"{moment}" in log.read_text(encoding="utf-8"), first, moment)
        first.kill()  # SIGKILL
        first.communicate()
        second = start(server, system_db, log, hold="attach")  # finishes only if recovered
        out, err = second.communicate(timeout=120)
        requests = len(server.requests)

    assert second.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["text"] == sqlite_test.FINAL
    validate_conversation(result["messages"])

    effects = sqlite_test.side_effects(log)
    started = [e[1] for e in effects if e[0] == "charge-start"]
    done = {e[1] for e in effects if e[0] == "charge-done"}
    assert len(started) == len(set(started)), "a non-idempotent call started twice"
    keys = {(e[1], e[2]) for e in effects if e[0] in ("lookup", "charge-start")}
    assert all(key == f"orders:{call}" for call, key in keys)
    results = {
        b["tool_use_id"]: b
        for m in result["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    }
    interrupted = set(started) - done
    for call in interrupted:
        assert results[call].get("is_error") is True
        assert results[call]["content"] == INTERRUPTED
    lookups = [e[1] for e in effects if e[0] == "lookup"]
    if moment == "charge":
        assert interrupted, "the charge in flight was answered as interrupted"
        assert requests == UNCRASHED_REQUESTS
    elif moment == "lookup":
        assert len(lookups) > len(set(lookups)), "the lookup in flight ran again"
        assert not interrupted
        assert requests == UNCRASHED_REQUESTS
    else:
        assert not interrupted
        assert len(lookups) == len(set(lookups))
        assert requests == UNCRASHED_REQUESTS + 1  # the call in flight, sent once more



@pytest.mark.asyncio
@pytest.mark.parametrize("system_db", ["sqlite"], indirect=True)
async def test_dbos_sqlite_commits_through_a_rollback_journal_at_synchronous_full(
    launched: str,
) -> None:
    # The README's claim for a SQLite system database: DBOS sets neither pragma, so SQLite's
    # defaults hold; a DBOS (or SQLite build) that moved to WAL or NORMAL would weaken it.
    from dbos._dbos import _get_dbos_instance  # pyright: ignore[reportPrivateUsage]

    engine: Any = _get_dbos_instance()._sys_db.engine  # pyright: ignore[reportPrivateUsage]
    with engine.connect() as conn:
        pragmas = [conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "synchronous")]
    assert pragmas == ["delete", 2]  # 2 is FULL
