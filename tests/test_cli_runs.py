"""`agentkit runs`: list, show, resume and rm over a real store file, offline: the agent that
resumes is a module of the test's own, answered by a `ScriptedTransport`."""

from __future__ import annotations

import importlib
import io
import shlex
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agentkit import Agent, AsyncClient, SQLiteStore, tool
from agentkit.cli.main import main
from agentkit.testing import ScriptedTransport, reply, text_reply

AGENT_MODULE = '''
from agentkit import Agent, AsyncClient, tool
from agentkit.testing import ScriptedTransport, reply, text_reply

@tool(requires_approval=True)
async def charge(order: int) -> str:
    """Charge an order."""
    return f"charged order {order}"

script = [reply("Charging.", tool_calls=[("charge", {"order": 7}, "toolu_1")]),
          text_reply("Order 7 is charged.")]
client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
orders = Agent("claude-sonnet-4-5", tools=[charge], client=client)
not_an_agent = 42
'''


@pytest.fixture
def paused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, ModuleType]:
    """A store holding run `orders-1`, paused for approval of `toolu_1`."""
    name = f"runs_agent_{abs(hash(tmp_path))}"
    (tmp_path / f"{name}.py").write_text(AGENT_MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    db = tmp_path / "runs.db"
    with SQLiteStore(db) as store:
        result = module.orders.run_sync("Charge order 7", run_id="orders-1", store=store)
    assert result.pending_approvals
    yield db, module
    sys.modules.pop(name, None)


def test_list_shows_a_table_of_the_runs(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "list", "--db", str(paused[0])]) == 0
    out = capsys.readouterr().out
    for column in ("id", "status", "model", "turns", "tokens", "cost", "updated"):
        assert column in out
    assert "orders-1" in out and "paused" in out and "claude-sonnet-4-5" in out


def test_list_shows_ids_and_models_as_they_are_never_as_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    odd = "[/x] [bold]b"  # rich markup: a closing tag that matches nothing raises in rich
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply("ok")]))
    with SQLiteStore(db) as store:
        Agent("[gw]/m", client=client).run_sync("hi", run_id=odd, store=store)
    assert main(["runs", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert odd in out and "[gw]/m" in out


def test_show_renders_the_conversation(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "show", "orders-1", "--db", str(paused[0])]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "you: Charge order 7" in out
    assert "claude: Charging." in out and '→ charge {"order": 7}' in out
    assert "paused" in out
    assert "answered by agentkit" not in captured.err  # the paused call awaits a decision


def test_show_says_which_calls_agentkit_answered_without_a_journal_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    script = [reply(tool_calls=[("no_such_tool", {}, "toolu_n")]), text_reply("Done.")]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))
    with SQLiteStore(db) as store:
        Agent("claude-sonnet-4-5", client=client).run_sync("go", run_id="u", store=store)
    assert main(["runs", "show", "u", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "→ no_such_tool {}" in captured.out and "claude: Done." in captured.out
    assert "← no_such_tool: answered by agentkit itself (no journal entry)" in captured.err

    # A call open when a run stopped (cancelled, then resumed) is answered by the journal later.
    call = {"type": "tool_use", "id": "toolu_c", "name": "charge", "input": {}}
    with SQLiteStore(db) as store:
        lease = store.claim("c", fingerprint="f-p", model="m", agent="a").lease
        store.append_many(lease, [
            ("start", {"messages": [{"role": "user", "content": "go"}], "seed": 1}),
            ("reply", {"role": "assistant", "content": [call]}),
            ("tool_started", {"ids": ["toolu_c"]}),
            ("status", {"status": "interrupted", "reason": "cancelled"}),
            ("tool_result", {"type": "tool_result", "tool_use_id": "toolu_c", "content": "x",
                             "is_error": True}),
            ("reply", {"role": "assistant", "content": [{"type": "text", "text": "Ok."}]}),
            ("status", {"status": "finished", "reason": "end_turn"}),
        ])
        store.release(lease)
    assert main(["runs", "show", "c", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "← charge error: x" in captured.out and "answered by agentkit" not in captured.err


def test_resume_runs_the_named_agent_with_the_decisions(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    db, module = paused
    agent = f"{module.__name__}:orders"
    args = ["runs", "resume", "orders-1", "--db", str(db), "--agent", agent]
    assert main([*args, "--approve", "toolu_typo"]) == 2  # a typo decides nothing
    err = capsys.readouterr().err
    assert "'toolu_typo', which is no tool call of this run" in err and "'toolu_1' (charge)" in err
    with SQLiteStore(db) as store:
        assert store.header("orders-1").status == "paused"  # type: ignore[union-attr]
    assert main([*args, "--approve", "toolu_1"]) == 0
    captured = capsys.readouterr()
    # Status on stderr, the answer on stdout; the call was shown by the process that paused,
    # and its result here still names its tool.
    assert "← charge result: charged order 7" in captured.err
    assert "Order 7 is charged." in captured.out
    with SQLiteStore(db) as store:
        header = store.header("orders-1")
    assert header is not None and header.status == "finished"


def test_resume_refuses_to_change_a_decision_that_took_effect(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    db, module = paused
    args = ["runs", "resume", "orders-1", "--db", str(db), "--agent", f"{module.__name__}:orders"]
    assert main([*args, "--deny", "toolu_1"]) == 0
    capsys.readouterr()
    with SQLiteStore(db) as store:
        stored = store.entries("orders-1")
    assert main([*args, "--approve", "toolu_1"]) == 2  # was ignored: the stored result, code 0
    err = capsys.readouterr().err
    assert "'toolu_1' (charge) was denied already ('the user denied this call'), and the " in err
    assert "Nothing was decided" in err
    assert main([*args, "--deny", "toolu_1"]) == 0  # the same decision: the stored result
    assert "Order 7 is charged." in capsys.readouterr().out
    with SQLiteStore(db) as store:
        assert store.entries("orders-1") == stored


def test_resume_without_a_usable_agent_says_what_to_pass(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    db, module = paused
    base = ["runs", "resume", "orders-1", "--db", str(db)]
    assert main(base) == 2
    assert "--agent module:attribute" in capsys.readouterr().err
    assert main([*base, "--agent", f"{module.__name__}:not_an_agent"]) == 2
    assert "is an int, not an agentkit Agent" in capsys.readouterr().err
    assert main([*base, "--agent", "no_such_module_here:agent"]) == 2
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err
    # A module whose own code fails on import (a missing setting, a syntax error) was a
    # traceback with exit code 1, as if the run had failed.
    folder = db.parent
    (folder / "runs_agent_broken.py").write_text('import os\nKEY = os.environ["NO_SUCH_VAR_X"]\n')
    (folder / "runs_agent_typo.py").write_text("def f(:\n")
    with pytest.MonkeyPatch.context() as patched:
        patched.syspath_prepend(str(folder))
        assert main([*base, "--agent", "runs_agent_broken:agent"]) == 2
        err = capsys.readouterr().err
        assert "importing 'runs_agent_broken' failed: KeyError: 'NO_SUCH_VAR_X'" in err
        assert "Traceback" not in err
        assert main([*base, "--agent", "runs_agent_typo:agent"]) == 2
        assert "importing 'runs_agent_typo' failed: SyntaxError: " in capsys.readouterr().err
    # A file path was a TypeError traceback (a relative import without a package).
    for path in ("./runs_agent.py", "runs_agent.py", "app/runs_agent.py"):
        assert main([*base, "--agent", f"{path}:orders"]) == 2
        err = capsys.readouterr().err
        assert "name a module, not a file" in err and ":orders for " in err


def test_rm_asks_first_unless_yes(
    paused: tuple[Path, ModuleType],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = str(paused[0])
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert main(["runs", "rm", "orders-1", "--db", db]) == 1
    assert "nothing deleted" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert main(["runs", "rm", "orders-1", "--db", db]) == 0
    assert main(["runs", "show", "orders-1", "--db", db]) == 2
    assert "no run 'orders-1'" in capsys.readouterr().err


def test_rm_with_yes_deletes_without_asking(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "rm", "orders-1", "--db", str(paused[0]), "--yes"]) == 0
    assert "deleted run orders-1" in capsys.readouterr().out


def test_a_missing_or_foreign_store_file_is_an_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main(["runs", "list", "--db", str(missing)]) == 2
    assert "no run store at" in capsys.readouterr().err and not missing.exists()
    text = tmp_path / "notes.txt"
    text.write_text("hello", encoding="utf-8")
    assert main(["runs", "list", "--db", str(text)]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    assert text.read_text(encoding="utf-8") == "hello"


def test_show_and_list_never_send_a_journal_s_control_sequences_to_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], older_run_ids: None
) -> None:
    # A tool result, the model's text, a run id (stored by an older agentkit) or a model name
    # may hold escape sequences (a shell tool's colours, or a hostile page's): shown as
    # escapes, never obeyed.
    db = tmp_path / "runs.db"
    evil = "\x1b[2J\x1b]0;pwned\x07\x9b31m"

    @tool
    async def fetch() -> str:
        """Fetch a page."""
        return f"page {evil} end"

    script = [reply(f"Looking {evil}", tool_calls=[("fetch", {}, "toolu_f")]),
              text_reply(f"line one\r\nDone {evil}")]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))
    with SQLiteStore(db) as store:
        Agent(f"m{evil}", tools=[fetch], client=client).run_sync(
            f"go {evil}", run_id=f"r{evil}", store=store)
    assert main(["runs", "list", "--db", str(db)]) == 0
    listed = capsys.readouterr()
    assert main(["runs", "show", f"r{evil}", "--db", str(db)]) == 0
    shown = capsys.readouterr()
    for text in (listed.out, listed.err, shown.out, shown.err):
        assert "\x1b" not in text and "\x9b" not in text and "\r" not in text
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m" in listed.out
    assert "← fetch result: page \\x1b[2J\\x1b]0;pwned\\x07\\x9b31m end" in shown.out
    assert "claude: line one\nDone \\x1b[2J" in shown.out and "you: go \\x1b[2J" in shown.out
    assert f"run r{evil}".encode("unicode_escape").decode() in shown.out


def test_show_writes_what_reorders_or_hides_conversation_text_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only names were escaped so: a right-to-left override in a reply or a tool result made
    # "invoice-\u202efdp.exe" read "invoice-exe.pdf", and a zero-width space or a tag
    # character hid text. Ordinary text (newlines, tabs, any script, emoji) is shown as it is.
    db = tmp_path / "runs.db"
    plain = "line one\nשלום, 日本語, می\u200cخواهم, 👩\u200d💻 🇫🇷"

    @tool
    async def fetch() -> str:
        """Fetch a page."""
        return "see invoice-\u202efdp.exe\u200b and \u2066isolated\u2069"

    script = [reply("Looking \u202eevil", tool_calls=[("fetch", {}, "toolu_f")]),
              text_reply(f"{plain}\nhidden:\U000e0041\U000e0042 sep\u2028end")]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))
    with SQLiteStore(db) as store:
        Agent("claude-sonnet-4-5", tools=[fetch], client=client).run_sync(
            "go \ufeffnow", run_id="r1", store=store)
    assert main(["runs", "show", "r1", "--db", str(db)]) == 0
    shown = capsys.readouterr()
    for hidden in ("\u202e", "\u200b", "\u2066", "\u2069", "\U000e0041", "\u2028", "\ufeff"):
        assert hidden not in shown.out + shown.err
    assert "claude: Looking \\u202eevil" in shown.out
    assert "← fetch result: see invoice-\\u202efdp.exe\\u200b and \\u2066isolated\\u2069" \
        in shown.out
    assert f"claude: {plain}\nhidden:\\U000e0041\\U000e0042 sep\\u2028end" in shown.out
    assert "you: go \\ufeffnow" in shown.out


def test_a_run_whose_process_stopped_is_listed_and_shown_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Stored as running, but no process holds its journal: it stopped (a crash, a kill)
    # without recording an end. `runs list` said "running" forever, as no `ui` does.
    db = tmp_path / "runs.db"
    start: dict[str, object] = {"messages": [{"role": "user", "content": "go"}], "seed": 1}
    with SQLiteStore(db) as holder:
        live = holder.claim("live", fingerprint="f", model="m", agent="a").lease
        holder.append(live, "start", start)
        killed = SQLiteStore(db)
        lease = killed.claim("crashed", fingerprint="f", model="m", agent="a").lease
        killed.append(lease, "start", start)
        killed.close()  # what a killed process leaves: the header running, the lock gone
        assert main(["runs", "list", "--db", str(db)]) == 0
        rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()
                if line.strip().startswith(("live", "crashed"))}
        assert rows == {"live": "running", "crashed": "interrupted"}
        assert main(["runs", "list", "--db", str(db), "--status", "interrupted"]) == 0
        out = capsys.readouterr().out
        assert "crashed" in out and "live" not in out
        assert main(["runs", "list", "--db", str(db), "--status", "running"]) == 0
        out = capsys.readouterr().out
        assert "live" in out and "crashed" not in out
        assert main(["runs", "show", "crashed", "--db", str(db)]) == 0
        assert "run crashed: interrupted, m," in capsys.readouterr().out
        assert main(["runs", "show", "live", "--db", str(db)]) == 0
        assert "run live: running, m," in capsys.readouterr().out


def test_list_keeps_every_column_when_an_id_is_wider_than_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # rich dropped the status, model and every other column of every run to keep one long
    # id whole: the list showed only ids.
    monkeypatch.setenv("COLUMNS", "80")
    db = tmp_path / "runs.db"
    long_id = "batch-2026-12-06/" + "item-" * 30 + "ü"
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply("ok")] * 2))
    with SQLiteStore(db) as store:
        for run_id in ("short", long_id):
            Agent("claude-sonnet-4-5", client=client).run_sync("hi", run_id=run_id, store=store)
    assert main(["runs", "list", "--db", str(db)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["id", "status", "model", "turns", "tokens", "cost", "updated"] in rows
    for run_id in ("short", long_id):
        assert [run_id, "finished", "claude-sonnet-4-5", "1"] in [row[:4] for row in rows]


def test_resume_refuses_a_call_both_approved_and_denied(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    # The deny silently won: a typo in a list of ids decided a charge without a word.
    db, module = paused
    args = ["runs", "resume", "orders-1", "--db", str(db), "--agent", f"{module.__name__}:orders"]
    assert main([*args, "--approve", "toolu_1", "--deny", "toolu_1"]) == 2
    err = capsys.readouterr().err
    assert "toolu_1" in err and "both --approve and --deny" in err
    with SQLiteStore(db) as store:
        assert store.header("orders-1").status == "paused"  # type: ignore[union-attr]
        assert [e.kind for e in store.entries("orders-1")][-1] == "status"


def test_resume_with_another_agent_says_to_pass_the_one_that_started_it(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The store's own advice ("use a new run_id, or delete the old run") is the wrong one
    # here: the run is fine, the --agent is not its agent.
    db, module = paused
    (tmp_path / f"{module.__name__}_other.py").write_text(
        "from agentkit import Agent\nother = Agent('claude-haiku-4-5')\n", encoding="utf-8")
    other = f"{module.__name__}_other:other"
    assert main(["runs", "resume", "orders-1", "--db", str(db), "--agent", other]) == 2
    err = capsys.readouterr().err
    assert f"--agent {other} is not the agent that started run 'orders-1'" in err
    assert "delete" not in err and "new run_id" not in err
    sys.modules.pop(other.partition(":")[0], None)
    with SQLiteStore(db) as store:
        assert store.header("orders-1").status == "paused"  # type: ignore[union-attr]


def test_list_limit_must_be_positive_and_an_empty_filter_says_what_matched_nothing(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    # --limit 0 said "no runs in runs.db" of a store with runs; -1 listed every run.
    db = str(paused[0])
    for limit in ("0", "-1"):
        assert main(["runs", "list", "--db", db, "--limit", limit]) == 2
        assert f"--limit: expected a whole number of runs from 1, got '{limit}'" in (
            capsys.readouterr().err)
    assert main(["runs", "list", "--db", db, "--status", "failed"]) == 0
    err = capsys.readouterr().err
    assert f"no failed runs in {db}" in err and "--status" in err
    # More than SQLite's 64 bits was an OverflowError traceback: it means all of them.
    assert main(["runs", "list", "--db", db, "--limit", "1" + "0" * 20]) == 0
    assert "orders-1" in capsys.readouterr().out


def test_show_marks_every_block_it_does_not_print_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An image or a document in the prompt, a server tool's call and result, redacted
    # thinking: they vanished from `runs show`, as if the run had never had them.
    db = tmp_path / "runs.db"
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                               "data": "a contract"}}
    prompt = [image, document, {"type": "text", "text": "What is this?"}]
    content = [
        {"type": "redacted_thinking", "data": "abc"},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
         "input": {"query": "png [bold]"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "text", "text": "A picture."},
    ]
    with SQLiteStore(db) as store:
        lease = store.claim("blocks", fingerprint="f-p", model="m", agent="a").lease
        store.append_many(lease, [
            ("start", {"messages": [{"role": "user", "content": prompt}], "seed": 1}),
            ("reply", {"role": "assistant", "content": content}),
            ("status", {"status": "finished", "reason": "end_turn"}),
        ])
        store.release(lease)
    assert main(["runs", "show", "blocks", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    for line in ("you: [image image/png]", "you: [document text/plain]", "you: What is this?",
                 "claude: [redacted_thinking]", "claude: [web_search_tool_result]",
                 '→ web_search (server tool) {"query": "png [bold]"}', "claude: A picture."):
        assert line in out


def test_show_of_a_paused_run_names_the_calls_to_decide_and_how(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    # `runs resume --approve TOOL_USE_ID` needs ids that `runs show` never showed.
    db = str(paused[0])
    assert main(["runs", "show", "orders-1", "--db", db]) == 0
    captured = capsys.readouterr()
    assert "awaiting a decision: charge (toolu_1)" in captured.out
    assert (f"agentkit runs resume orders-1 --db {db} --agent MODULE:ATTR --approve toolu_1"
            in captured.err)


def test_the_resume_line_of_a_run_id_that_begins_with_a_dash_works_as_shown(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    # `agentkit runs resume -x7Gq --db ...` is refused: the command line takes "-x7Gq" for an
    # option (secrets.token_urlsafe() makes such an id one time in 32). The line shown put
    # it there; the id now goes last, after the options and `--`.
    db, module = paused
    script = [reply("Charging.", tool_calls=[("charge", {"order": 7}, "toolu_1")])]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
    agent = Agent("claude-sonnet-4-5", tools=[module.charge], client=client)
    with SQLiteStore(db) as store:
        agent.run_sync("Charge order 7", run_id="-x7Gq", store=store)
    assert main(["runs", "show", "-x7Gq", "--db", str(db)]) == 2  # argparse's own refusal
    capsys.readouterr()

    assert main(["runs", "--db", str(db), "show", "--", "-x7Gq"]) == 0
    shown = capsys.readouterr().err.split("decide with: ")[1].split(" (or --deny ID)")[0]
    assert shown == (f"agentkit runs --db {db} --agent MODULE:ATTR --approve toolu_1 resume -- "
                     "-x7Gq")
    argv = shlex.split(shown.replace("MODULE:ATTR", f"{module.__name__}:orders"))[1:]
    assert main(argv) == 0
    assert "Order 7 is charged." in capsys.readouterr().out
    with SQLiteStore(db) as store:
        assert store.header("-x7Gq").status == "finished"  # type: ignore[union-attr]


@pytest.mark.parametrize("action", ["show", "rm", "resume"])
def test_an_id_that_is_not_utf8_names_no_run_and_says_so(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str], action: str
) -> None:
    # A byte that is not UTF-8 in the shell's argument reaches Python as a lone surrogate:
    # the store's query raised UnicodeEncodeError, a traceback. No run can have such an id.
    assert main(["runs", action, "orders-\udcff", "--db", str(paused[0])]) == 2
    assert "no run 'orders-\\udcff' in" in capsys.readouterr().err


def test_ctrl_c_at_the_rm_question_deletes_nothing_and_exits_130(
    paused: tuple[Path, ModuleType],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It was a KeyboardInterrupt traceback.
    class CtrlC(io.StringIO):
        def readline(self, size: int | None = -1, /) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", CtrlC())
    db = str(paused[0])
    try:
        code = main(["runs", "rm", "orders-1", "--db", db])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C at the question escaped as a KeyboardInterrupt (a traceback)")
    assert code == 130
    assert "interrupted: nothing deleted" in capsys.readouterr().err
    with SQLiteStore(db) as store:
        assert store.header("orders-1") is not None


def test_show_says_when_the_journal_is_missing_or_ends_before_the_store_s_count(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    # A store copied without its journals showed the header and an empty conversation, exit 0.
    db = paused[0]
    journal = next((db.parent / "runs.db.journals").iterdir())
    whole = journal.read_bytes()
    journal.write_bytes(whole[: whole.rindex(b"\n", 0, len(whole) - 1) + 1])  # lose the last record
    assert main(["runs", "show", "orders-1", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "you: Charge order 7" in captured.out
    assert "the journal ends at entry 1, though the store counted 3" in captured.err
    journal.unlink()
    assert main(["runs", "show", "orders-1", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "the journal of run 'orders-1' is missing" in err
    assert f"{db}.journals" in err and "copy both" in err


@pytest.mark.parametrize("again", [False, True], ids=["deleted", "deleted and started again"])
def test_show_of_a_run_deleted_while_it_is_read_never_says_its_journal_was_lost(
    paused: tuple[Path, ModuleType],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    again: bool,
) -> None:
    # Another process deleted the run between `show`'s header and its journal: "the journal
    # is missing ... copy both", a loss that never happened; started again meanwhile, its
    # journal was shown under the deleted run's header.
    db = paused[0]
    entries = SQLiteStore.entries
    raced: list[str] = []

    def deleted_meanwhile(self: SQLiteStore, run_id: str, **kwargs: int) -> Any:
        if not raced:
            raced.append(run_id)
            with SQLiteStore(db) as other:  # another process, at this very moment
                assert other.delete(run_id)
                if again:
                    client = AsyncClient(api_key="sk", transport=ScriptedTransport(
                        [text_reply("Sure.")]))
                    Agent("claude-sonnet-4-5", client=client).run_sync(
                        "Hello", run_id=run_id, store=other
                    )
        return entries(self, run_id, **kwargs)

    monkeypatch.setattr(SQLiteStore, "entries", deleted_meanwhile)
    code = main(["runs", "show", "orders-1", "--db", str(db)])
    captured = capsys.readouterr()
    assert raced == ["orders-1"]
    assert "missing" not in captured.err and "lost" not in captured.err
    if again:
        assert code == 0 and "you: Hello" in captured.out and "claude: Sure." in captured.out
        assert "run orders-1: finished" in captured.out  # the header of the run shown
    else:
        assert code == 1 and "run 'orders-1' was deleted while it was being read" in captured.err


def test_show_of_a_run_written_by_a_newer_agentkit_is_one_message(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    # It was a StoreFormatError traceback.
    db = paused[0]
    with closing(sqlite3.connect(db)) as raw, raw:
        raw.execute("UPDATE runs SET format = format + 1")
    assert main(["runs", "show", "orders-1", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "error: run 'orders-1' in" in err and "upgrade agentkit" in err


def test_a_run_id_or_model_with_a_line_break_stays_on_its_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], older_run_ids: None
) -> None:
    # "a\nb" (an id an older agentkit stored) was listed as two rows, the second a run "b"
    # with no status.
    db = tmp_path / "runs.db"
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply("ok")]))
    with SQLiteStore(db) as store:
        Agent("gw/m\tx", client=client).run_sync("hi", run_id="first\nsecond", store=store)
    assert main(["runs", "list", "--db", str(db)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert rows[2][:3] == ["first\\x0asecond", "finished", "gw/m\\x09x"] and len(rows) == 3
    assert main(["runs", "show", "first\nsecond", "--db", str(db)]) == 0
    assert "run first\\x0asecond: finished, gw/m\\x09x, 1 turns" in capsys.readouterr().out


def test_show_labels_thinking_so_a_pipe_can_tell_it_from_the_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only its dim style marked it, and a pipe or a file gets no style.
    db = tmp_path / "runs.db"
    script = [reply("The answer.", thinking="Let me think\nabout it.")]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))
    with SQLiteStore(db) as store:
        Agent("claude-sonnet-4-5", client=client).run_sync("Think", run_id="t", store=store)
    assert main(["runs", "show", "t", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "claude (thinking): Let me think about it.\nclaude: The answer." in out


def test_show_names_the_usage_a_sub_agent_merged_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    sub = Agent("claude-sonnet-4-5", name="researcher", description="Researches a question.",
                client=AsyncClient(api_key="sk", transport=ScriptedTransport([text_reply("4 C")])))
    script = [reply(tool_calls=[("researcher", {"task": "Oslo?"}, "toolu_r")]), text_reply("4 C.")]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))
    with SQLiteStore(db) as store:
        result = Agent("claude-sonnet-4-5", tools=[sub.as_tool()], client=client).run_sync(
            "Weather?", run_id="s", store=store)
    merged = result.usage.turns[1]  # the caller's first reply, the sub-agent's, the answer
    assert main(["runs", "show", "s", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    tokens = merged.input_tokens + merged.output_tokens
    assert f"· usage merged in (a sub-agent's): 1 requests, {tokens:,} tokens" in captured.err
    total = result.usage.input_tokens + result.usage.output_tokens
    assert f"{total:,} tokens" in captured.out


def nested_runs(db: Path, *run_ids: str) -> None:
    """Runs `run_ids` in the store `db`, each calling the agent `clerk` (call `toolu_c`), which
    calls the agent `auditor` (call `toolu_a`): two sub-runs a run, one inside the other."""
    def client(script: list[Any]) -> AsyncClient:
        return AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))

    with SQLiteStore(db) as store:
        for run_id in run_ids:
            auditor = Agent("claude-sonnet-4-5", name="auditor", description="Audits.",
                            client=client([text_reply("Fine.")]))
            clerk = Agent("claude-sonnet-4-5", name="clerk", description="Charges.",
                          tools=[auditor.as_tool()], client=client([
                              reply(tool_calls=[("auditor", {"task": "Check."}, "toolu_a")]),
                              text_reply("Checked.")]))
            Agent("claude-sonnet-4-5", tools=[clerk.as_tool()], client=client([
                reply(tool_calls=[("clerk", {"task": "Charge."}, "toolu_c")]),
                text_reply("Done.")])).run_sync("Charge it", run_id=run_id, store=store)


def rows_of(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.strip()]


def test_list_counts_each_run_s_sub_runs_and_lists_them_under_it_with_sub_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Sub-runs were listed as runs of their own among the user's runs, nothing saying whose
    # they were, and a page (`--limit`) held them in place of the user's runs.
    db = tmp_path / "runs.db"
    nested_runs(db, "a", "b")
    assert main(["runs", "list", "--db", str(db)]) == 0
    rows = rows_of(capsys.readouterr().out)
    assert rows[0][-1] == "sub-runs"
    assert rows[2][2] == "claude-sonnet-4-5"  # into a pipe, whole beside the extra column
    assert [(r[0], r[-1]) for r in rows[2:]] == [("b", "2"), ("a", "2")]
    assert main(["runs", "list", "--db", str(db), "--limit", "1", "--status", "finished"]) == 0
    assert [r[0] for r in rows_of(capsys.readouterr().out)[2:]] == ["b"]

    assert main(["runs", "list", "--db", str(db), "--sub-runs"]) == 0
    out = capsys.readouterr().out
    listed = [(r[:2], "" if ":" in r[-1] else r[-1]) for r in rows_of(out)[2:]]
    assert listed == [
        (["b", "finished"], "2"), (["└", "b\u203atoolu_c"], "1"),
        (["└", "b\u203atoolu_c\u203atoolu_a"], ""),  # none of its own
        (["a", "finished"], "2"), (["└", "a\u203atoolu_c"], "1"),
        (["└", "a\u203atoolu_c\u203atoolu_a"], ""),
    ]
    assert "\n   └ b\u203atoolu_c\u203atoolu_a " in out  # indented under its caller


def test_list_without_sub_runs_has_no_sub_runs_column(
    paused: tuple[Path, ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "list", "--db", str(paused[0]), "--sub-runs"]) == 0
    assert "sub-runs" not in capsys.readouterr().out


def test_show_names_the_sub_run_of_an_agent_s_call_and_a_sub_run_its_caller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing linked the caller's call of an agent to the sub-run that did its work, nor a
    # sub-run to the run whose call made it.
    db = tmp_path / "runs.db"
    nested_runs(db, "a")
    assert main(["runs", "show", "a", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert ", 2 sub-runs\n" in out
    assert (f"→ clerk {{\"task\": \"Charge.\"}}\n  ↳ sub-run a\u203atoolu_c: agentkit runs "
            f"show 'a\u203atoolu_c' --db {shlex.quote(str(db))}\n") in out
    assert main(["runs", "show", "a\u203atoolu_c", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"sub-run of run a, made by its call toolu_c: agentkit runs show a --db {db}" in out
    assert "  ↳ sub-run a\u203atoolu_c\u203atoolu_a: " in out  # its own agent's call
    assert ", 1 sub-run\n" in out

    with SQLiteStore(db) as store:  # a delete killed between the run and its sub-runs
        assert store._delete("a")  # pyright: ignore[reportPrivateUsage]
    assert main(["runs", "show", "a\u203atoolu_c", "--db", str(db)]) == 0
    assert "sub-run of run a, made by its call toolu_c (that run is no longer in the store)" in (
        capsys.readouterr().out)
    assert main(["runs", "list", "--db", str(db)]) == 0  # listed, not lost among no run's
    assert [r[0] for r in rows_of(capsys.readouterr().out)[2:]] == ["a\u203atoolu_c"]


def test_rm_of_a_caller_deletes_its_sub_runs_and_says_how_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    nested_runs(db, "s", "s0")
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert main(["runs", "rm", "s", "--db", str(db)]) == 1
    assert "journal entries, and its 2 sub-runs? [y/N]" in capsys.readouterr().out
    assert main(["runs", "rm", "s", "--db", str(db), "--yes"]) == 0
    assert "deleted run s and its 2 sub-runs" in capsys.readouterr().out
    with SQLiteStore(db) as store:
        assert {r.run_id for r in store.runs()} == {
            "s0", "s0\u203atoolu_c", "s0\u203atoolu_c\u203atoolu_a"}


class Crash(BaseException):
    """Stands for the process dying: not an `Exception`, so nothing turns it into a result."""


def test_rm_of_a_sub_run_whose_caller_is_unfinished_is_refused_before_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `rm` deleted the sub-run alone: the caller's resume ran the agent's call again, which
    # found no sub-run and started the sub-agent over, its charge made a second time.
    charged: list[int] = []

    @tool
    def charge(order: int) -> str:
        """Charge an order."""
        charged.append(order)
        raise Crash  # the process dies after the charge, inside the sub-run

    def client(script: list[Any]) -> AsyncClient:
        return AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)

    clerk = Agent("claude-sonnet-4-5", name="clerk", description="Charges.", tools=[charge],
                  client=client([reply(tool_calls=[("charge", {"order": 1}, "toolu_s1")])]))
    caller = Agent("claude-sonnet-4-5", tools=[clerk.as_tool()], client=client(
        [reply(tool_calls=[("clerk", {"task": "Charge 1."}, "toolu_p1")])]))
    db = tmp_path / "runs.db"
    with SQLiteStore(db) as store, pytest.raises(Crash):
        caller.run_sync("Charge order 1", run_id="r1", store=store)
    assert charged == [1]

    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # were it asked, it would delete
    assert main(["runs", "rm", "r1\u203atoolu_p1", "--db", str(db)]) == 2
    captured = capsys.readouterr()
    assert "[y/N]" not in captured.out
    assert ("cannot delete sub-run 'r1\u203atoolu_p1' alone: its run 'r1' is interrupted, and "
            "resuming it runs the call that made this sub-run again") in captured.err
    assert "Delete run 'r1' instead, which deletes its sub-runs with it" in captured.err
    with SQLiteStore(db) as store:
        assert store.header("r1\u203atoolu_p1") is not None
    assert main(["runs", "rm", "r1", "--db", str(db), "--yes"]) == 0  # as the error says
    assert "deleted run r1 and its 1 sub-run" in capsys.readouterr().out


def test_show_of_a_run_with_a_context_policy_s_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A context policy journals its inputs (a token count, an overflow) as "context" entries,
    # which runs show took for a status: a KeyError traceback.
    db = tmp_path / "runs.db"
    with SQLiteStore(db) as store:
        lease = store.claim("long", fingerprint="f-p", model="m", agent="a").lease
        store.append_many(lease, [
            ("start", {"messages": [{"role": "user", "content": "go"}], "seed": 1}),
            ("context", {"count": 11759}),
            ("reply", {"role": "assistant", "content": [{"type": "text", "text": "Done."}]}),
            ("status", {"status": "finished", "reason": "end_turn"}),
        ])
        store.release(lease)
    assert main(["runs", "show", "long", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "claude: Done." in captured.out
    assert '· context: {"count": 11759}' in captured.err and "· finished" in captured.err


def test_a_run_whose_journal_cannot_be_read_is_listed_marked_and_show_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One unreadable journal failed `runs list` for the whole store.
    db = tmp_path / "runs.db"
    start: dict[str, object] = {"messages": [{"role": "user", "content": "go"}], "seed": 1}
    with SQLiteStore(db) as store:
        for run_id in ("good", "bad"):
            lease = store.claim(run_id, fingerprint="f", model="m", agent="a").lease
            store.append(lease, "start", start)
            store.release(lease)
    journal = db.parent / "runs.db.journals" / "2.log"
    journal.unlink()
    journal.mkdir()  # a folder in its place
    assert main(["runs", "list", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    rows = {line.split()[0]: line for line in captured.out.splitlines()
            if line.strip().startswith(("good", "bad"))}
    assert rows["good"].split()[1] == "interrupted" and rows["bad"].split()[1] == "unreadable"
    assert f"run bad: cannot read the run journal {journal}" in captured.err
    assert main(["runs", "show", "bad", "--db", str(db)]) == 1
    assert f"cannot read the run journal {journal}" in capsys.readouterr().err


KEYLESS_MODULE = '''
from agentkit import Agent, tool

@tool
async def charge(order: int) -> str:
    """Charge an order."""
    return f"charged order {order}"

orders = Agent("claude-sonnet-4-5", tools=[charge])  # its runs make their own client
'''


def test_resume_of_a_finished_run_prints_its_result_without_an_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"keyless_agent_{abs(hash(tmp_path))}"
    (tmp_path / f"{name}.py").write_text(KEYLESS_MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    script = [reply(tool_calls=[("charge", {"order": 7}, "toolu_1")]), text_reply("Charged.")]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
    db = tmp_path / "runs.db"
    with SQLiteStore(db) as store:
        Agent("claude-sonnet-4-5", tools=[module.charge], client=client).run_sync(
            "Charge order 7", run_id="orders-1", store=store
        )
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    try:
        code = main(["runs", "resume", "orders-1", "--db", str(db), "--agent", f"{name}:orders"])
    finally:
        sys.modules.pop(name, None)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Charged." in captured.out


def test_show_of_a_paused_sub_run_says_nothing_resumes_it_and_suggests_no_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A sub-agent with no approve callback pauses its sub-run, and its caller's model is told
    # the calls were not run: `show` suggested `runs resume 'r1›toolu_p1' --approve ...`,
    # which is refused (a sub-run resumes with its caller, whose call has its answer).
    @tool(requires_approval=True)
    def charge(order: int) -> str:
        """Charge an order."""
        return "charged"

    def client(script: list[Any]) -> AsyncClient:
        return AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)

    clerk = Agent("claude-sonnet-4-5", name="clerk", description="Charges.", tools=[charge],
                  client=client([reply(tool_calls=[("charge", {"order": 1}, "toolu_s1")])]))
    caller = Agent("claude-sonnet-4-5", tools=[clerk.as_tool()], client=client(
        [reply(tool_calls=[("clerk", {"task": "Charge 1."}, "toolu_p1")]), text_reply("No.")]))
    db = tmp_path / "runs.db"
    with SQLiteStore(db) as store:
        caller.run_sync("Charge order 1", run_id="r1", store=store)
    assert main(["runs", "show", "r1\u203atoolu_p1", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "awaiting a decision: charge (toolu_s1)" in captured.out
    assert "runs resume" not in captured.err and "--approve" not in captured.err
    assert ("a sub-agent's run: its caller r1 was told these calls were not run, and nothing "
            "resumes it") in captured.err
