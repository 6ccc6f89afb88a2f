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
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

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


def start(server: FakeServer, system_db: str, log: Path, hold: str) -> subprocess.Popen[str]:
    """The child, started; its output is left to `communicate()` (a `readline()` first
    could buffer the lines after "ready", which `communicate()` would then never see)."""
    args = [sys.executable, str(CHILD), server.base_url, system_db, str(log), "orders", hold]
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
