"""A run whose row a restored store file lost (`_durable/adopt.py`): the store file put back
from a copy made before the run, its journal beside it. The run is its journal: a claim
resumes it (nothing finished done again, a cut charge answered as interrupted) or returns its
stored result, never starts it afresh."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit import Agent, AsyncClient, RunContext, SQLiteStore, tool
from agentkit.errors import RunLockedError, RunMismatchError
from agentkit.testing import ScriptedTransport, text_reply, tool_reply

MODEL = "claude-sonnet-4-5"
ROOT = Path(__file__).resolve().parents[2]

# Run "b" in a process of its own, killed (SIGKILL) inside its charge, once the card is
# charged: its journal holds the reply and the charge's started mark, no result.
CRASHING = """
import os, signal, sys
from agentkit import Agent, AsyncClient, RunContext, SQLiteStore, tool
from agentkit.testing import ScriptedTransport, tool_reply

@tool
async def charge(ctx: RunContext[None], order: int) -> str:
    \"\"\"Charge an order.\"\"\"
    with open(sys.argv[2], "a") as charged:
        charged.write(f"{order}\\n")
    os.kill(os.getpid(), signal.SIGKILL)
    return "charged"

script = ScriptedTransport([tool_reply("charge", {"order": 1})])
client = AsyncClient(api_key="sk", transport=script)
Agent("claude-sonnet-4-5", tools=[charge], client=client, name="biller").run_sync(
    "Charge order 1", run_id="b", store=SQLiteStore(sys.argv[1]))
"""


def charging(charged: Path, transport: ScriptedTransport) -> Agent[str]:
    """The agent of run "b": its charge appends the order to `charged` (a card charged)."""

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        with charged.open("a") as file:
            file.write(f"{order}\n")
        return "charged"

    client = AsyncClient(api_key="sk", transport=transport)
    return Agent(MODEL, tools=[charge], client=client, name="biller")


def put_back(copy: Path, db: Path) -> None:
    """Put the store file `copy` back at `db` (its WAL files gone with the store it was)."""
    for stale in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(copy, db)


def backed_up(tmp_path: Path) -> tuple[Path, Path]:
    """A store holding run "a", and a copy of its file (the backup)."""
    db, backup = tmp_path / "runs.db", tmp_path / "backup.db"
    with SQLiteStore(db) as store:
        transport = ScriptedTransport([text_reply("a")])
        Agent(MODEL, client=AsyncClient(api_key="sk", transport=transport)).run_sync(
            "A", run_id="a", store=store)
    shutil.copy(db, backup)
    return db, backup


def lost_b(tmp_path: Path) -> Path:
    """A store file put back from a copy older than run "b" (only its start journaled)."""
    db, backup = backed_up(tmp_path)
    with SQLiteStore(db) as store:
        lease = store.claim("b", fingerprint="f-p", model="m", agent="x").lease
        store.append(lease, "start", {"run_id": "b", "fingerprint": "f-p"})
        store.release(lease)
    put_back(backup, db)
    return db


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_crashed_run_lost_from_a_restored_store_resumes_and_charges_once(
    tmp_path: Path,
) -> None:
    # The restored store found no row for b and started it afresh: the card charged again.
    db, backup = backed_up(tmp_path)
    charged = tmp_path / "charged"
    crashed = subprocess.run([sys.executable, "-c", CRASHING, str(db), str(charged)],
                             cwd=ROOT, check=False)
    assert crashed.returncode == -signal.SIGKILL and charged.read_text() == "1\n"
    put_back(backup, db)
    transport = ScriptedTransport([text_reply("Done.")])  # what follows the interrupted call
    with SQLiteStore(db) as store:
        result = charging(charged, transport).run_sync("Charge order 1", run_id="b", store=store)
        assert charged.read_text() == "1\n"  # charged once, by the run that crashed
        assert len(transport.requests) == 1  # the stored reply was not asked for again
        (answer,) = result.messages[2]["content"]
        assert answer["is_error"] and str(answer["content"]).startswith("Interrupted:")
        assert result.text == "Done."
        header = store.header("b")
        assert header is not None and header.status == "finished" and header.turns == 2
        assert [r.run_id for r in store.runs()] == ["b", "a"]


def test_a_finished_run_lost_from_a_restored_store_returns_its_stored_answer(
    tmp_path: Path,
) -> None:
    db, backup = backed_up(tmp_path)
    charged = tmp_path / "charged"
    script = [tool_reply("charge", {"order": 1}), text_reply("Charged order 1.")]
    with SQLiteStore(db) as store:
        charging(charged, ScriptedTransport(script)).run_sync(
            "Charge order 1", run_id="b", store=store)
        before = store.header("b")
    put_back(backup, db)
    transport = ScriptedTransport([])
    with SQLiteStore(db) as store:
        again = charging(charged, transport).run_sync("Charge order 1", run_id="b", store=store)
        assert again.text == "Charged order 1." and not transport.requests
        resumed = charging(charged, transport).run_sync(run_id="b", store=store)  # no prompt
        assert resumed.text == "Charged order 1." and not transport.requests
        assert charged.read_text() == "1\n"
        header = store.header("b")
    assert before is not None and header is not None
    # The row rebuilt from the journal: as the run left it, so `agentkit runs list` shows it.
    for field in ("status", "turns", "input_tokens", "output_tokens", "cost_usd", "entries",
                  "fingerprint", "model", "agent"):
        assert getattr(header, field) == getattr(before, field), field


def test_a_lost_run_claimed_with_another_prompt_is_a_mismatch(tmp_path: Path) -> None:
    db, backup = backed_up(tmp_path)
    charged = tmp_path / "charged"
    script = [tool_reply("charge", {"order": 1}), text_reply("Charged order 1.")]
    with SQLiteStore(db) as store:
        charging(charged, ScriptedTransport(script)).run_sync(
            "Charge order 1", run_id="b", store=store)
    put_back(backup, db)
    transport = ScriptedTransport([text_reply("unused")])
    with SQLiteStore(db) as store, pytest.raises(RunMismatchError):
        charging(charged, transport).run_sync("Charge order 2", run_id="b", store=store)
    assert charged.read_text() == "1\n" and not transport.requests


def test_two_stores_claiming_one_lost_run_one_holds_it_the_other_is_refused(
    tmp_path: Path,
) -> None:
    db = lost_b(tmp_path)
    with SQLiteStore(db) as first, SQLiteStore(db) as second:
        claim = first.claim("b", fingerprint="f-p", model="m", agent="x")
        assert not claim.created and claim.run.entries == 1
        with pytest.raises(RunLockedError):
            second.claim("b", fingerprint="f-p", model="m", agent="x")
        first.release(claim.lease)
        again = second.claim("b", fingerprint="f-p", model="m", agent="x")
        assert not again.created and [e.kind for e in second.entries("b")] == ["start"]
        second.release(again.lease)


@pytest.mark.parametrize("added", ["a newer entry", "a record cut short"])
def test_a_lost_journal_holding_a_line_this_agentkit_does_not_read_is_left_whole(
    tmp_path: Path, added: str
) -> None:
    # A newer agentkit's entry (a kind this one does not know) ends what this one reads: its
    # run adopted and claimed, the journal was cut there, the newer entries lost for good.
    db = lost_b(tmp_path)
    journal = tmp_path / "runs.db.journals" / "2.log"
    line = b'[2, 1.0, null, "escrow_hold", {"id": "h1"}]\n'
    with journal.open("ab") as file:
        file.write(line if added == "a newer entry" else line[:20])  # a crash: no line end
    written = journal.read_bytes()
    with SQLiteStore(db) as store:
        claim = store.claim("b", fingerprint="f-p", model="m", agent="x")
        store.release(claim.lease)
    if added == "a newer entry":  # kept whole, its run not taken from it
        assert claim.created and journal.read_bytes() == written
    else:  # its run, the record cut short cut off
        assert not claim.created and claim.run.entries == 1
        assert written.startswith(journal.read_bytes()) and journal.read_bytes() != written
