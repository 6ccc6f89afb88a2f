"""`agentkit runs` on runs an older agentkit stored with ids a new run now refuses (a control
character, a bidirectional override, a zero-width space): every listing shows them escaped,
never obeyed nor invisible, and every command line shown pastes back as the run's id."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from agentkit import SQLiteStore
from agentkit.cli.main import main

MODULE = '''
from agentkit import Agent, AsyncClient, tool
from agentkit.testing import ScriptedTransport, reply, text_reply

@tool(requires_approval=True)
async def charge(order: int) -> str:
    """Charge an order."""
    return f"charged order {order}"

def agent(*replies):
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(list(replies)),
                         max_retries=0)
    return Agent("claude-sonnet-4-5", tools=[charge], client=client)

def pausing():
    return agent(reply("Charging.", tool_calls=[("charge", {"order": 7}, "toolu_1")]))

orders = agent(text_reply("Order 7 is charged."))
'''
SPOOF = "invoice-\u202efdp.exe"  # shown raw, it reads "invoice-exe.pdf"
IDS = [SPOOF, "orders\u200b-1", "red\x1b[31m", "first\nsecond"]
SHOWN = ["invoice-\\u202efdp.exe", "orders\\u200b-1", "red\\x1b[31m", "first\\x0asecond"]
RAW = ("\u202e", "\u200b", "\x1b", "\x0a")
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")


@pytest.fixture
def stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, older_run_ids: None
) -> Iterator[tuple[Path, ModuleType]]:
    """A store with a run paused for approval under each of `IDS`."""
    name = f"unshowable_agent_{abs(hash(tmp_path))}"
    (tmp_path / f"{name}.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    db = tmp_path / "runs.db"
    with SQLiteStore(db) as store:
        for run_id in IDS:
            result = module.pausing().run_sync("Charge order 7", run_id=run_id, store=store)
            assert result.pending_approvals
    yield db, module
    sys.modules.pop(name, None)


def test_list_and_show_show_every_id_escaped(
    stored: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    # A right-to-left override and a zero-width space were listed as they are: the row of
    # "invoice-\u202efdp.exe" read "invoice-exe.pdf", and "orders\u200b-1" as "orders-1".
    db = stored[0]
    assert main(["runs", "list", "--db", str(db)]) == 0
    listed = capsys.readouterr()
    rows = [line.split() for line in listed.out.splitlines() if " paused " in line]
    assert sorted(row[0] for row in rows) == sorted(SHOWN)
    for run_id, shown in zip(IDS, SHOWN, strict=True):
        assert main(["runs", "show", run_id, "--db", str(db)]) == 0
        out = capsys.readouterr()
        assert out.out.startswith(f"run {shown}: paused, ")
        for text in (listed.out, listed.err, out.out, out.err):
            assert not any(raw in text for raw in RAW[:3])


@needs_bash
@pytest.mark.parametrize("run_id", IDS)
def test_the_resume_line_show_prints_pastes_back_and_resumes_the_run(
    stored: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    # The line was quoted with the raw character, then shown with it escaped: pasted, it
    # named a run that does not exist.
    db, module = stored
    assert main(["runs", "show", run_id, "--db", str(db)]) == 0
    line = capsys.readouterr().err.split("decide with: ")[1].split(" (or --deny ID)")[0]
    assert not any(raw in line for raw in RAW) and "$'" in line
    argv = bash_words(line.replace("MODULE:ATTR", f"{module.__name__}:orders"))
    assert argv[:3] == ["agentkit", "runs", "resume"] and argv[3] == run_id
    assert main(argv[1:]) == 0
    assert "Order 7 is charged." in capsys.readouterr().out
    with SQLiteStore(db) as store:
        assert store.header(run_id).status == "finished"  # type: ignore[union-attr]


@needs_bash
def test_rm_and_the_store_s_errors_name_the_run_escaped_and_paste_back(
    stored: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    db, module = stored
    (journal,) = [p for p in (db.parent / "runs.db.journals").iterdir() if p.name == "1.log"]
    journal.unlink()  # the first run's: the store's error says to delete the run
    assert main(["runs", "resume", SPOOF, "--db", str(db), "--agent",
                 f"{module.__name__}:orders"]) == 1
    err = capsys.readouterr().err
    assert "\u202e" not in err and "'invoice-\\u202efdp.exe'" in err
    rm = err.split("delete the run (`")[1].split("`)")[0]
    argv = bash_words(rm)
    assert argv[:3] == ["agentkit", "runs", "rm"] and argv[3] == SPOOF
    assert main([*argv[1:], "--yes"]) == 0
    assert capsys.readouterr().out == "deleted run invoice-\\u202efdp.exe\n"
    with SQLiteStore(db) as store:
        assert store.header(SPOOF) is None


def bash_words(line: str) -> list[str]:
    """The words bash reads `line` as."""
    done = subprocess.run(
        ["bash", "-c", f'printf "%s\\0" {line}'], capture_output=True, check=True,
        env={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
    )
    return done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]
