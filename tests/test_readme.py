"""The README's Python examples run as written, offline, each on its own.

Each ```python block runs in a fresh namespace (a reader copies one block, not the README), as
its own script, with `ANTHROPIC_BASE_URL` pointing at a loopback `FakeServer` serving the
generic offline model `tool_model` (the one `agentkit` commands use): it answers with text, or
with a structured answer when one is asked for, and the fakes add signed thinking blocks when
thinking is on, as the real API does. So the examples exercise the real loop end to end.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agentkit._api.wire import Message
from agentkit.testing import FakeServer, FunctionModel, reply, tool_model, tool_results

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_readme_python_example_runs_on_its_own(
    block: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write files (a run store)
    with FakeServer(tool_model) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-readme-test")
        namespace: dict[str, Any] = {"__name__": "__main__"}
        exec(compile(block, str(README), "exec"), namespace)


def test_the_headline_example_thinks_then_follows_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Thinking on, then `history=`: the follow-up must echo the first reply's signed thinking.
    monkeypatch.chdir(tmp_path)
    with FakeServer(tool_model) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-readme-test")
        namespace: dict[str, Any] = {"__name__": "__main__"}
        exec(compile(BLOCKS[0], str(README), "exec"), namespace)
        first = server.requests[0].body
        last = server.requests[-1].body
    assert first["thinking"]["type"] == "enabled"
    assert namespace["result"].output.city == "example"
    echoed = [b for m in last["messages"] if m["role"] == "assistant" for b in m["content"]]
    assert echoed[0]["type"] == "thinking" and echoed[0]["signature"]
    assert namespace["follow_up"].output.city == "example"


def _calls_the_tools(body: dict[str, Any]) -> Message | str:
    """Claude charging order 1: the lookup and the charge in one turn, then a summary."""
    if tool_results(body):
        return "Charged order 1."
    calls = [("lookup", {"order": 1}, "toolu_look"), ("charge", {"order": 1}, "toolu_charge")]
    return reply(tool_calls=calls)


def test_the_durable_runs_example_keys_its_charge_and_calls_no_model_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What the example's comments say: the charge sees `"{run_id}:{tool_use_id}"`, and the
    # same call again returns the stored run "(no model call)", its tools not run again.
    (block,) = [b for b in BLOCKS if "SQLiteStore(" in b and "run_sync" in b]
    monkeypatch.chdir(tmp_path)
    with FakeServer(FunctionModel(_calls_the_tools)) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-readme-test")
        namespace: dict[str, Any] = {"__name__": "__main__"}
        exec(compile(block, str(README), "exec"), namespace)
        requests = len(server.requests)
    assert requests == 2  # the first run's two turns; none for `again`
    assert namespace["charged"] == ["1 orders-2026-12-06:toolu_charge"]
    assert namespace["again"].text == "Charged order 1."
    assert (tmp_path / "runs.db").is_file() and (tmp_path / "runs.db.journals").is_dir()


def test_the_dbos_example_attaches_to_its_finished_workflow_and_keys_the_bill(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What the example's comments say: the second run attaches ("nothing ran again"), and the
    # bill sees `"{workflow_id}:{tool_use_id}"`.
    pytest.importorskip("dbos", reason="the dbos extra is not installed")
    from agentkit.dbos import _agent

    monkeypatch.setattr(_agent, "_REGISTERED", {})  # the block may have run in this process
    (block,) = [b for b in BLOCKS if "DBOSAgent(" in b and "workflow_id=" in b]
    monkeypatch.chdir(tmp_path)

    def bills(body: dict[str, Any]) -> Message | str:
        if results := tool_results(body):
            return str(results[0]["content"])
        return reply(tool_calls=[("bill", {"order": 7}, "toolu_bill")])

    with FakeServer(FunctionModel(bills)) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-readme-test")
        exec(compile(block, str(README), "exec"), {"__name__": "__main__"})
        answers = [r.body["messages"][-1]["content"] for r in server.requests]
    assert len(answers) == 2  # the first run's two turns; the second attached
    assert answers[1][0]["content"] == (
        "billed order 7 (idempotency key billing-2026-12-06:toolu_bill)"
    )
