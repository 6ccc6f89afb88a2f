"""The command line showing a value that holds a lone surrogate: a reply's escaped `"\\ud800"`
(valid JSON), a tool's text from a file name decoded with `surrogateescape`. UTF-8 cannot
carry such a character: stdout and stderr write it as its escape instead of failing the
command (`capsys` captures through a strict UTF-8 stream, as a UTF-8 terminal or pipe
writes), and JSON output stays JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import Agent, AsyncClient, Recipe, RecipeContext, SQLiteStore, tool
from agentkit.cli.main import main
from agentkit.testing import FunctionModel, ScriptedTransport, reply, text_reply, tool_results

NAME = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # 'caf\udce9.txt'


@tool
def listing(path: str = ".") -> str:
    """List a folder."""
    return f"{NAME} a\ud800b"  # a tool's text: sent (and journaled) with its escapes


class Answer(BaseModel):
    answer: str


async def _run(ctx: RecipeContext) -> Any:
    agent = ctx.agent(tools=[listing], stream=ctx.inputs["stream"] == "yes")
    result = await ctx.run(agent, "List it.")
    output = ctx.inputs["output"]
    if output == "model":
        return Answer(answer=result.text)
    return result.text if output == "text" else {"answer": result.text}


def _model(inputs: dict[str, str]) -> FunctionModel:
    def play(body: dict[str, Any]) -> Any:
        results = tool_results(body)
        if results:
            return reply(f"Found {results[0]['content']} \udfff.")
        return reply("Looking a\ud800b.", thinking="t\ud800", tool_calls=[("listing", {})])

    return FunctionModel(play)


LISTING = Recipe(name="listing", description="Lists a folder.", run=_run,
                 offline_model=_model, inputs={"output": "text", "stream": "yes"})
ANSWER = "Found caf\\udce9.txt a\\ud800b \\udfff."


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    from agentkit.workflows import recipe as registry

    installed = registry.recipes
    monkeypatch.setattr(registry, "recipes", lambda: {**installed(), "listing": LISTING})


@pytest.mark.parametrize("stream", ["yes", "no"])
def test_run_shows_a_lone_surrogate_as_its_escape(
    capsys: pytest.CaptureFixture[str], stream: str
) -> None:
    assert main(["run", "listing", "--input", f"stream={stream}"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ANSWER + "\n"
    assert "→ listing {}" in captured.err
    assert "← listing result: caf\\udce9.txt a\\ud800b" in captured.err
    assert "Looking a\\ud800b." in captured.err


def test_run_writes_a_structured_output_holding_one_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "listing", "--input", "output=json"]) == 0
    out = capsys.readouterr().out
    # The reply's own lone surrogate is the character again; the tool's text held escapes.
    assert json.loads(out) == {"answer": "Found caf\\udce9.txt a\\ud800b \udfff."}


@pytest.mark.parametrize("output", ["text", "model"])
def test_a_recipe_run_as_a_script_prints_one_as_its_escape(
    capsys: pytest.CaptureFixture[str], output: str
) -> None:
    assert LISTING.main([f"output={output}"]) == 0
    out = capsys.readouterr().out
    if output == "text":
        assert out == ANSWER + "\n"
    else:  # JSON, the reply's surrogate as its JSON escape
        assert json.loads(out) == {"answer": "Found caf\\udce9.txt a\\ud800b \udfff."}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store holding run `odd-1`: its prompt, reply, thinking, tool input and result hold
    lone surrogates."""
    script = [reply("Looking a\ud800b.", thinking="t\udfff",
                    tool_calls=[("listing", {"path": "x\ud800"}, "toolu_1")]),
              text_reply("Done a\ud800b.")]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
    agent = Agent("claude-sonnet-4-5", tools=[listing], client=client)
    db = tmp_path / "runs.db"
    with SQLiteStore(db) as runs:
        agent.run_sync("Prompt a\ud800b", run_id="odd-1", store=runs)
    return db


def test_runs_list_and_show_a_run_whose_journal_holds_one(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "list", "--db", str(store)]) == 0
    assert "odd-1" in capsys.readouterr().out
    assert main(["runs", "show", "odd-1", "--db", str(store)]) == 0
    out = capsys.readouterr().out
    assert "you: Prompt a\\ud800b" in out
    assert "claude: Looking a\\ud800b." in out and "claude: Done a\\ud800b." in out
    assert "caf\\udce9.txt a\\ud800b" in out


def test_a_pipe_gets_utf8_with_the_escape(store: Path) -> None:
    # The installed script's own streams, a pipe: neither Python's default for stdout
    # ("strict", or "surrogateescape" in a C locale) nor a raw byte that is not UTF-8.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONIO", "PYTHONUTF8"))}
    done = subprocess.run(
        [sys.executable, "-m", "agentkit", "runs", "show", "odd-1", "--db", str(store)],
        capture_output=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert "you: Prompt a\\ud800b" in done.stdout.decode()  # strict UTF-8
