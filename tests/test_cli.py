"""The `agentkit` command line, end to end and offline: `main([...])` in-process, the output
captured; a tiny recipe of our own plays every path (text, thinking, a tool call, an API
error, a limit), and the real recipes run too when they are installed."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import Limits, Recipe, RecipeContext, recipes, tool
from agentkit.cli.main import main
from agentkit.testing import FakeServer, Fault, FunctionModel, echo_model, reply, tool_results

ROOT = Path(__file__).resolve().parents[1]


@tool
def shout(text: str) -> str:
    """Say `text` loudly."""
    return text.upper() + "!"


async def _shout_run(ctx: RecipeContext) -> str:
    limits = Limits(max_turns=1) if ctx.inputs["topic"] == "limit" else None
    agent = ctx.agent(tools=[shout], stream=True, limits=limits)
    result = await ctx.run(agent, f"Shout about {ctx.inputs['topic']}.")
    return result.text


def _shout_model(inputs: dict[str, str]) -> FunctionModel:
    def play(body: dict[str, Any]) -> Any:
        if inputs["topic"] == "fail":
            return Fault.error(400, message="the topic 'fail' is refused")
        results = tool_results(body)
        if results:
            return reply(f"Claude heard: {results[0]['content']}")
        call = ("shout", {"text": inputs["topic"]})
        return reply("Let me shout.", thinking="They want noise.", tool_calls=[call])

    return FunctionModel(play)


SHOUT = Recipe(
    name="shout",
    description="Shouts about a topic with a tool.",
    run=_shout_run,
    offline_model=_shout_model,
    inputs={"topic": "tides"},
)


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without credentials, so 'offline by default' is what is tested."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def shout_recipe(monkeypatch: pytest.MonkeyPatch) -> Recipe:
    """The registry (which the CLI reads) has our recipe next to the installed ones."""
    from agentkit.workflows import recipe as registry

    installed = registry.recipes
    monkeypatch.setattr(registry, "recipes", lambda: {**installed(), "shout": SHOUT})
    return SHOUT


def _stdin(monkeypatch: pytest.MonkeyPatch, *lines: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in lines)))


# -- run ----------------------------------------------------------------------------------------


def test_run_streams_thinking_text_tool_calls_and_usage(
    shout_recipe: Recipe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "shout", "--input", "topic=waves"]) == 0
    captured = capsys.readouterr()
    # stdout is not a terminal here: it gets the answer only, everything else is on stderr.
    assert captured.out == "Claude heard: WAVES!\n"
    err = captured.err
    lines = err.splitlines()
    assert lines[0].startswith("offline (no ANTHROPIC_API_KEY set)")
    assert lines[1] == "shout · topic: waves"
    assert "They want noise." in err
    assert "Let me shout." in err
    assert '→ shout {"text": "waves"}' in lines
    assert "← shout result: WAVES!" in lines
    assert "Claude heard: WAVES!" in lines  # streamed as it came
    assert lines[-1].startswith("2 requests · input ")
    assert "(the real API would cost $" in lines[-1]


def test_run_without_recipe_lists_them(
    shout_recipe: Recipe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "shout" in out and "Shouts about a topic with a tool." in out
    assert "--input topic=…  (default: tides)" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "nope"], ["no recipe named 'nope'", "shout"]),
        (["run", "shout", "--input", "colour=red"], ["'colour'", "topic"]),
        (["run", "shout", "--input", "topic"], ["expected key=value"]),
    ],
    ids=["unknown-recipe-lists-the-recipes", "unknown-input-names-the-inputs", "malformed-input"],
)
def test_a_bad_recipe_or_input_exits_2_saying_what_was_wrong(
    shout_recipe: Recipe, capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert [e for e in expected if e not in err] == []


def test_online_without_credentials_exits_2_naming_the_variables(
    shout_recipe: Recipe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "shout", "--online"]) == 2
    err = capsys.readouterr().err
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        assert name in err


def test_online_goes_to_the_configured_api(
    shout_recipe: Recipe, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A loopback gateway needs no key; the recipe's own offline script is not used.
    with FakeServer(echo_model) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        assert main(["run", "shout", "--online", "--model", "claude-haiku-4-5"]) == 0
        assert server.requests[0].body["model"] == "claude-haiku-4-5"
    out = capsys.readouterr().out
    assert "offline" not in out
    assert "echo: Shout about tides." in out


def test_api_error_exits_1_with_the_request_id(
    shout_recipe: Recipe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "shout", "-i", "topic=fail"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: the run failed: HTTP 400: ")
    assert "the topic 'fail' is refused" in err
    assert "(request-id: req_" in err


def test_a_rejected_key_names_the_variables(
    shout_recipe: Recipe, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeServer([Fault.error(401)]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-wrong")
        assert main(["run", "shout"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "ANTHROPIC_API_KEY" in err and "sk-wrong" not in err


def test_limit_exits_3_with_the_usage_so_far(
    shout_recipe: Recipe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "shout", "-i", "topic=limit"]) == 3
    captured = capsys.readouterr()
    assert "max_turns" in captured.err
    assert "so far: 1 request · " in captured.err


def test_every_installed_recipe_runs_offline(capsys: pytest.CaptureFixture[str]) -> None:
    installed = recipes()
    if not installed:
        pytest.skip("no recipes installed (agentkit_recipes is absent)")
    for name in installed:
        assert main(["run", name, "--offline"]) == 0, capsys.readouterr().err
        captured = capsys.readouterr()
        assert captured.out.strip(), name  # the answer, on stdout
        assert " request" in captured.err.splitlines()[-1], name


# -- chat ---------------------------------------------------------------------------------------


def test_chat_keeps_the_conversation_and_saves_and_loads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    saved, after_reset, after_load = (tmp_path / n for n in ("a.json", "b.json", "c.json"))
    _stdin(
        monkeypatch,
        "hello", "", "/save " + str(saved),
        "/reset", "again", "/save " + str(after_reset),
        "/load " + str(saved), "once more", "/save " + str(after_load),
        "/usage", "/exit", "never read",
    )
    assert main(["chat", "--system", "Be brief."]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert captured.err.splitlines()[-1].startswith("session: 3 requests")
    assert "echo: hello" in out and "echo: again" in out and "echo: once more" in out
    assert "never read" not in out
    texts = [
        [m["content"][0]["text"] if isinstance(m["content"], list) else m["content"]
         for m in json.loads(path.read_text())["messages"]]
        for path in (saved, after_reset, after_load)
    ]
    assert texts[0] == ["hello", "echo: hello"]
    assert texts[1] == ["again", "echo: again"]
    assert texts[2] == ["hello", "echo: hello", "once more", "echo: once more"]
    assert capsys.readouterr().err == ""
    assert out.count("echo: hello") == 1


def test_chat_online_streams_from_the_configured_api(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "first", "second")
    with FakeServer(echo_model) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        assert main(["chat", "--model", "claude-haiku-4-5", "--system", "Be brief."]) == 0
        bodies = [r.body for r in server.requests]
    assert [b["stream"] for b in bodies] == [True, True]
    assert bodies[1]["system"] == "Be brief." and bodies[1]["model"] == "claude-haiku-4-5"
    assert len(bodies[1]["messages"]) == 3  # the first exchange, then the new message
    out = capsys.readouterr().out
    assert "offline" not in out and "echo: second" in out


def test_chat_load_rejects_a_broken_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"role": "assistant", "content": "hi"}] * 2))
    _stdin(monkeypatch, f"/load {broken}", f"/load {tmp_path / 'missing.json'}", "hi")
    assert main(["chat"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("could not load") == 2
    assert "echo: hi" in captured.out


def test_chat_tools_run_and_shell_asks_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "use current_datetime", "use run_command", "n")
    assert main(["chat", "--tools", "clock,shell", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().err
    assert "→ current_datetime {}" in out
    assert "← current_datetime result: 20" in out
    assert "? run_command wants to run" in out
    assert "← run_command error: Not run: the user refused this call." in out


def test_chat_file_writes_ask_first_and_run_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "use write_file", "y", "use read_file")
    assert main(["chat", "--tools", "files", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().err
    assert "? write_file wants to run" in out and "? read_file" not in out
    assert (tmp_path / "example").read_text() == "example"
    assert "← read_file result: 1 example" in out


def test_chat_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--tools", "files,teleport"]) == 2
    assert "'teleport'" in capsys.readouterr().err
    assert main(["chat", "--tools", "sqlite"]) == 2
    assert "--db" in capsys.readouterr().err
    assert main(["chat", "--thinking", "lots"]) == 2  # before reading any input
    assert "thinking='lots' is not a thinking setting" in capsys.readouterr().err


# -- models, tools ------------------------------------------------------------------------------


def test_models_offline_as_a_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "claude-sonnet-4-5-20250929" in out and "Claude Sonnet 4.5" in out
    assert "200,000" in out
    assert main(["models", "--offline", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out[out.index("[") :])
    assert {m["id"] for m in data} >= {"claude-haiku-4-5-20251001"}


def test_a_gateways_model_names_are_shown_as_they_are_never_as_markup() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from agentkit.cli.console import models_table

    console = Console(record=True, width=120)
    odd = SimpleNamespace(id="[/x]model", display_name="[bold]Odd", created_at=None,
                          max_input_tokens=None, max_tokens=None)
    models_table(console, [odd])  # rich raises on a closing tag that matches nothing
    out = console.export_text()
    assert "[/x]model" in out and "[bold]Odd" in out


def test_tools_lists_each_tool_with_its_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    families = {f["family"]: f for f in data}
    assert {"files", "shell", "calculator", "clock"} <= set(families)
    calc = families["calculator"]["tools"][0]
    assert calc["name"] == "calculator"
    assert calc["input_schema"]["required"] == ["expression"]
    assert main(["tools", "calculator"]) == 0
    out = capsys.readouterr().out
    assert "calculator" in out and '"expression"' in out and "read_file" not in out
    assert main(["tools", "nosuch"]) == 2


# -- batch --------------------------------------------------------------------------------------


def test_batch_records_failures_and_resumes(
    shout_recipe: Recipe, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inputs.write_text('{"id": "a", "topic": "sea"}\n\n{"topic": "fail"}\n{"id": 7}\n')
    args = ["batch", "shout", str(inputs), "--out", str(out), "--concurrency", "2"]
    assert main(args) == 1
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["a"]["ok"] is True and records["a"]["output"] == "Claude heard: SEA!"
    assert records[7]["output"] == "Claude heard: TIDES!"  # the recipe's default input
    assert records[3]["ok"] is False and "the topic 'fail' is refused" in records[3]["error"]
    assert records["a"]["usage"]["requests"] == 2 and records["a"]["cost_usd"] > 0
    captured = capsys.readouterr()
    first = captured.out + captured.err
    assert "2 done, 1 failed, 0 skipped; results in" in first
    assert "item 3 failed: RunError: the model request failed: HTTP 400: " in first
    assert "rerun the same command to run the failed" in first
    assert captured.err.splitlines()[-1].startswith("total: 4 requests")

    assert main(args) == 1
    captured = capsys.readouterr()
    second = captured.out + captured.err
    assert "skipping 2 items already done" in second
    assert "0 done, 1 failed, 2 skipped" in second
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1])["id"] == 3


def test_batch_online_shares_one_client_and_honours_concurrency(
    shout_recipe: Recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentkit.workflows import recipe as registry

    run_recipe = registry.run_recipe
    clients: set[int] = set()
    active = peak = 0

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal active, peak
        clients.add(id(kwargs["client"]))
        active += 1
        peak = max(peak, active)
        for _ in range(5):  # yield, so the other items get their chance to start
            await anyio.sleep(0)
        try:
            return await run_recipe(*args, **kwargs)
        finally:
            active -= 1

    monkeypatch.setattr(registry, "run_recipe", counting)
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inputs.write_text("{}\n" * 5)
    with FakeServer(_shout_model({"topic": "online"})) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        assert main(["batch", "shout", str(inputs), "--out", str(out), "-c", "2"]) == 0
        assert len(server.requests) == 10
    assert peak == 2 and len(clients) == 1 and None not in clients
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == [1, 2, 3, 4, 5]
    assert {r["output"] for r in records} == {"Claude heard: ONLINE!"}


def test_batch_reruns_an_item_whose_record_a_crash_cut(
    shout_recipe: Recipe, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inputs.write_text('{"id": "a"}\n{"id": "b"}\n')
    out.write_text('{"id": "a", "ok": true}\n{"id": "b", "ok": tr')
    assert main(["batch", "shout", str(inputs), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[1] == '{"id": "b", "ok": tr'
    assert json.loads(lines[2])["id"] == "b" and len(lines) == 3
    assert "1 done, 0 failed, 1 skipped" in capsys.readouterr().out


def test_batch_rejects_bad_input_files(
    shout_recipe: Recipe, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out.jsonl")
    for text, message in (
        ('{"topic": "a"}\n[1]\n', "line 2 is not a JSON object"),
        ('{"id": 1}\n{"id": 1}\n', "repeats id 1"),
        ("{oops\n", "line 1 is not JSON"),
        ('{"colour": "red"}\n', "has no input named 'colour'"),
    ):
        path = tmp_path / "in.jsonl"
        path.write_text(text)
        assert main(["batch", "shout", str(path), "--out", out]) == 2
        assert message in capsys.readouterr().err
    assert not os.path.exists(out)
    assert main(["batch", "shout", str(tmp_path / "none.jsonl"), "--out", out]) == 2
    assert main(["batch", "shout", str(path), "--out", out, "--concurrency", "0"]) == 2
    path.write_text('{"topic": "a"}\n')
    assert main(["batch", "shout", str(path), "--out", str(tmp_path / "no" / "out")]) == 2
    assert "cannot use" in capsys.readouterr().err


# -- help, and the real process ------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["run"], ["chat"], ["models"], ["tools"], ["batch"]])
def test_help_everywhere(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "exit codes:" in out
    assert out.startswith(f"usage: agentkit {' '.join(command)}".rstrip())
    if command == ["chat"]:
        assert "/save FILE" in out and "/load FILE" in out and "/reset" in out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_python_dash_m_agentkit_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    done = subprocess.run(
        [sys.executable, "-m", "agentkit", "--help"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: agentkit" in done.stdout


def test_the_readmes_first_command_runs_offline() -> None:
    """The README opens with `agentkit run <recipe>`: through the console script, no key."""
    script = Path(sys.executable).with_name("agentkit")
    readme = ROOT / "README.md"
    found = re.search(r"agentkit run ([\w-]+)", readme.read_text()) if readme.exists() else None
    if not script.exists() or found is None:
        pytest.skip("no agentkit console script, or no `agentkit run` in README.md")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    done = subprocess.run(
        [str(script), "run", found[1]], capture_output=True, text=True, env=env,
        cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("offline") and " requests · input " in lines[-1]
    assert done.stdout.strip() and "offline" not in done.stdout
