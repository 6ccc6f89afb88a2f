"""The command line as a newcomer meets it: results on stdout and the rest on stderr, streaming
with a spinner, model names checked, approval before model-written code, inputs from files,
a user's own recipe, exit codes, a clear error for a missing extra, parallel runs taking
turns in the display."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agentkit import ModelRequest, RunUsage, TextChunk, TurnFinished
from agentkit.cli import chat as chat_module
from agentkit.cli.common import DEFAULT_MODEL
from agentkit.cli.display import Display, usage_line
from agentkit.cli.main import main
from agentkit.cli.resolve import model_problem
from agentkit.testing import FakeServer, Fault, FunctionModel, reply, tool_results
from agentkit.workflows import Recipe, recipes

GREET = '''
from agentkit import Limits, tool
from agentkit.testing import FunctionModel, reply, tool_results
from agentkit.workflows import Recipe, RecipeContext


@tool
def wave(to: str) -> str:
    """Wave at someone."""
    return f"waved at {to}"


async def run(ctx: RecipeContext) -> str:
    limits = Limits(max_turns=1) if ctx.inputs["name"] == "limit" else None
    agent = ctx.agent(tools=[wave], limits=limits)
    return (await ctx.run(agent, f"Greet {ctx.inputs['name']}.")).text


def offline(inputs: dict[str, str]) -> FunctionModel:
    def play(body: dict[str, object]) -> object:
        if inputs["name"] == "limit" and not tool_results(body):
            return reply(tool_calls=[("wave", {"to": "limit"})])
        return f"Hello, {inputs['name']}!"

    return FunctionModel(play)


RECIPE = Recipe(name="greet", description="Greets someone.", run=run, offline_model=offline,
                inputs={"name": "world"})
'''


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def greet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's own recipe in a file of its own (not installed)."""
    path = tmp_path / "greet_recipe.py"
    path.write_text(GREET, encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))  # the module-path form adds the cwd
    return path


class Terminal(io.StringIO):
    """Lines typed at a terminal."""

    def isatty(self) -> bool:
        return True


# -- stdout is for results --------------------------------------------------------------------


def test_run_writes_only_the_answer_to_stdout(
    greet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(greet), "-i", "name=Ada"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "Hello, Ada!\n"
    err = captured.err.splitlines()
    assert err[0].startswith("offline (no ANTHROPIC_API_KEY set)")
    assert err[1] == "greet · name: Ada"  # what is being answered, before anything else
    assert "offline, nothing billed (the real API would cost $" in err[-1]


def test_models_json_is_valid_json_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    captured = capsys.readouterr()
    assert [m["id"] for m in json.loads(captured.out)]
    assert captured.err.startswith("offline")


def test_usage_line_offline_says_nothing_was_billed() -> None:
    usage = RunUsage()
    usage.add_turn({"input_tokens": 1000, "output_tokens": 10}, "claude-sonnet-4-6")
    assert usage_line(usage).endswith("$0.0032")
    assert usage_line(usage, offline=True).endswith(
        "offline, nothing billed (the real API would cost $0.0032)")


# -- streaming and the spinner ----------------------------------------------------------------


def test_run_streams_the_recipes_model_calls(
    greet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeServer(FunctionModel(lambda body: "Hi from the API")) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        assert main(["run", str(greet), "--online"]) == 0
        bodies = [r.body for r in server.requests]
    assert [b["stream"] for b in bodies] == [True]
    assert capsys.readouterr().out == "Hi from the API\n"


def _display(*, terminal: bool) -> tuple[Display, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    status = Console(file=err, force_terminal=terminal, width=80)
    return Display(Console(file=out, width=80), status=status), out, err


def test_a_spinner_names_the_model_while_waiting_on_a_terminal() -> None:
    display, out, err = _display(terminal=True)
    display(ModelRequest(1, {"model": "claude-sonnet-4-6", "messages": []}))
    display(TextChunk(1, "Hi"))
    assert "waiting for claude-sonnet-4-6" in err.getvalue()
    assert out.getvalue() == "Hi"


def test_no_spinner_off_a_terminal() -> None:
    display, out, err = _display(terminal=False)
    display(ModelRequest(1, {"model": "claude-sonnet-4-6", "messages": []}))
    display(TextChunk(1, "Hi"))
    assert err.getvalue() == "" and out.getvalue() == "Hi"


# -- model names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "code", "expected"),
    [
        ("claude-sonet-4-6", 0, "warning: unknown model 'claude-sonet-4-6': agentkit's model "
         "table does not list it; did you mean 'claude-sonnet-4-6'?"),
        ("claude-sonnet-4-5", 0, "warning: model 'claude-sonnet-4-5' is deprecated and will be "
         "retired; use 'claude-sonnet-5-5'"),
        ("claude-3-opus-latest", 2, "error: model 'claude-3-opus-latest' is retired: the API "
         "rejects every request to it; use 'claude-opus-4-8' instead"),
    ],
    ids=["typo", "deprecated", "retired"],
)
def test_model_names_are_checked_against_the_table(
    greet: Path, capsys: pytest.CaptureFixture[str], model: str, code: int, expected: str
) -> None:
    assert main(["run", str(greet), "--model", model]) == code
    assert expected in capsys.readouterr().err


def test_a_current_model_runs_without_a_word(
    greet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(greet), "--model", "claude-haiku-5-5"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_defaults_are_current_models() -> None:
    assert model_problem(DEFAULT_MODEL) is None
    assert model_problem(Recipe.__dataclass_fields__["model"].default) is None
    for name, recipe in recipes().items():
        assert model_problem(recipe.model) is None, name


def test_chat_warns_about_a_mistyped_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
    assert main(["chat", "--model", "claude-opus-4-9"]) == 0
    assert "unknown model 'claude-opus-4-9'" in capsys.readouterr().err


# -- approval before model-written code -------------------------------------------------------


def _analyst(body: dict[str, Any]) -> Any:
    results = tool_results(body)
    if results:
        return reply(f"Python said: {results[0]['content']}")
    return reply(tool_calls=[("run_python", {"code": "x = 6 * 7\nprint(x)"})])


def _analyse(monkeypatch: pytest.MonkeyPatch, stdin: io.StringIO, *flags: str) -> int:
    if "data-analyst" not in recipes():
        pytest.skip("agentkit_recipes is not installed")
    monkeypatch.setattr(sys, "stdin", stdin)
    with FakeServer(FunctionModel(_analyst)) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        return main(["run", "data-analyst", "--online", *flags])


def test_model_written_python_is_shown_and_asked_about_at_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _analyse(monkeypatch, Terminal("y\n")) == 0
    captured = capsys.readouterr()
    assert "? run_python wants to run this code:\n    x = 6 * 7\n    print(x)\n" in captured.err
    assert "allow? [y/N]" in captured.err
    assert "42" in captured.out


def test_model_written_python_refused_at_the_terminal_is_not_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _analyse(monkeypatch, Terminal("n\n")) == 0
    captured = capsys.readouterr()
    assert "the user refused this call" in captured.out and "42" not in captured.out


def test_without_a_terminal_model_written_python_is_refused_unless_yes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _analyse(monkeypatch, io.StringIO("y\n")) == 0  # a piped "y" is not an answer
    captured = capsys.readouterr()
    assert "refused run_python: it needs approval and stdin is not a terminal" in captured.err
    assert "pass --yes" in captured.err and "42" not in captured.out
    assert _analyse(monkeypatch, io.StringIO(""), "--yes") == 0
    captured = capsys.readouterr()
    assert "wants to run" not in captured.err and "42" in captured.out


# -- inputs ---------------------------------------------------------------------------------


def test_an_empty_input_is_bad_usage(greet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(greet), "--input", "name="]) == 2
    assert "input 'name' is empty" in capsys.readouterr().err


def test_an_input_can_come_from_a_file(
    greet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "name.txt").write_text("Dee", encoding="utf-8")
    assert main(["run", str(greet), "-i", f"name=@{tmp_path / 'name.txt'}"]) == 0
    assert capsys.readouterr().out == "Hello, Dee!\n"
    assert main(["run", str(greet), "-i", "name=@@home"]) == 0  # @@: a literal @
    assert capsys.readouterr().out == "Hello, @home!\n"
    assert main(["run", str(greet), "-i", f"name=@{tmp_path / 'none.txt'}"]) == 2
    assert "cannot read" in capsys.readouterr().err


# -- a user's own recipe --------------------------------------------------------------------


def test_run_takes_a_recipe_by_module_path(
    greet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(greet.parent)
    monkeypatch.delitem(sys.modules, "greet_recipe", raising=False)
    assert main(["run", "greet_recipe:RECIPE", "-i", "name=Bo"]) == 0
    assert capsys.readouterr().out == "Hello, Bo!\n"
    assert main(["run", "greet_recipe"]) == 0  # RECIPE by default
    assert capsys.readouterr().out == "Hello, world!\n"
    monkeypatch.delitem(sys.modules, "greet_recipe", raising=False)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("greet_recipe:NOPE", "has no 'NOPE'"),
        ("greet_recipe:wave", "is a Tool, not an agentkit Recipe"),
        ("no_such_module_xyz:RECIPE", "no module named 'no_such_module_xyz'"),
        ("missing.py", "no recipe file 'missing.py'"),
    ],
)
def test_a_bad_recipe_path_is_bad_usage(
    greet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    spec: str, expected: str,
) -> None:
    monkeypatch.chdir(greet.parent)
    monkeypatch.delitem(sys.modules, "greet_recipe", raising=False)
    assert main(["run", spec]) == 2
    assert expected in capsys.readouterr().err
    monkeypatch.delitem(sys.modules, "greet_recipe", raising=False)


def test_batch_takes_a_recipe_from_a_file(
    greet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inputs.write_text('{"id": 1, "name": "Cy"}\n', encoding="utf-8")
    assert main(["batch", str(greet), str(inputs), "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["output"] == "Hello, Cy!"


# -- exit codes and errors ------------------------------------------------------------------


def test_a_limit_tells_a_cli_user_what_to_do(
    greet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(greet), "-i", "name=limit"]) == 3
    err = capsys.readouterr().err
    assert "the run stopped at its max_turns limit" in err and "raise them there" in err
    assert ".result" not in err and "so far: 1 request" in err


def test_chat_exits_130_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(prompt: str) -> str | None:
        raise KeyboardInterrupt

    monkeypatch.setattr(chat_module, "read_line", interrupted)
    assert main(["chat"]) == 130


def test_chat_exits_1_after_a_failed_turn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("first\nsecond\n"))
    with FakeServer([Fault.error(400, message="no"), "fine"]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        assert main(["chat"]) == 1
    captured = capsys.readouterr()
    assert "HTTP 400" in captured.err and "fine" in captured.out


def test_web_researcher_without_the_tools_extra_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if "web-researcher" not in recipes():
        pytest.skip("agentkit_recipes is not installed")
    monkeypatch.setitem(sys.modules, "markdownify", None)  # as if not installed
    assert main(["run", "web-researcher"]) == 2
    err = capsys.readouterr().err
    assert "needs the 'tools' extra (markdownify not installed)" in err
    assert "pip install 'agentkit[tools]'" in err


# -- parallel runs ----------------------------------------------------------------------------


def test_parallel_streamed_runs_take_turns_in_the_display() -> None:
    display, out, _ = _display(terminal=False)
    done = reply("x")
    for event in [
        TextChunk(1, "a1 ", run_id="A"), TextChunk(1, "b1 ", run_id="B"),
        TextChunk(1, "a2", run_id="A"), TextChunk(1, "b2", run_id="B"),
        TurnFinished(1, done, None, run_id="B"), TurnFinished(1, done, None, run_id="A"),
    ]:
        display(event)
    assert out.getvalue() == "a1 a2\nb1 b2\n"
