"""`agentkit batch`'s engine and rate-limit options and its plain progress lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_items import GREET

from agentkit.cli.main import main


@pytest.fixture(autouse=True)
def greet_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentkit.workflows import recipe as registry

    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    installed = registry.recipes
    monkeypatch.setattr(registry, "recipes", lambda: {**installed(), "greet": GREET})


def test_progress_is_plain_lines_off_a_terminal_with_the_pace_and_the_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inputs.write_text("".join(f'{{"name": "n{i}"}}\n' for i in range(20)))
    # 600 requests a minute is 10 a second with a burst of 10: 20 items are held back.
    assert main(["batch", "greet", str(inputs), "--out", str(out), "--rpm", "600"]) == 0
    text = capsys.readouterr().out
    assert "2/20 items (0 failed), " in text and "20/20 items (0 failed), " in text
    assert "items/s, rate limits held it " in text
    assert "20 done, 0 failed, 0 skipped; results in" in text
    assert len(out.read_text().splitlines()) == 20


def test_bad_rate_limits_and_engines_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"name": "a"}\n')
    out = str(tmp_path / "out.jsonl")
    assert main(["batch", "greet", str(inputs), "--out", out, "--rpm", "0"]) == 2
    assert "requests_per_minute must be above 0" in capsys.readouterr().err
    assert main(["batch", "greet", str(inputs), "--out", out, "--engine", "spark"]) == 2
    assert main(["batch", "greet", str(inputs), "--out", out, "--address", "auto"]) == 2
    assert "add --engine ray" in capsys.readouterr().err
    assert not Path(out).exists()


def test_ray_options_reach_the_engine_and_bad_ones_are_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentkit.workflows as workflows
    from agentkit.errors import UsageError
    from agentkit.workflows import RayEngine

    engines: list[object] = []

    async def run_batch(*args: object, engine: object, **kwargs: object) -> None:
        engines.append(engine)
        raise UsageError("stopped before any item ran")

    for name in workflows.__all__:  # loaded now, so no later first use sets the real one back
        getattr(workflows, name)
    monkeypatch.setattr(workflows, "run_batch", run_batch)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"name": "a"}\n')
    out = str(tmp_path / "out.jsonl")
    batch = ["batch", "greet", str(inputs), "--out", out]
    assert main([*batch, "--max-attempts", "2", "--restart-timeout", "9"]) == 2
    assert "--max-attempts and --restart-timeout are for --engine ray" in capsys.readouterr().err
    assert main([*batch, "--engine", "ray", "--max-attempts", "0"]) == 2
    assert "max_attempts must be a whole number, 1 or more, got 0" in capsys.readouterr().err
    assert main([*batch, "--engine", "ray", "--restart-timeout", "-1"]) == 2
    assert "restart_timeout must be a number of seconds more than 0" in capsys.readouterr().err
    assert main([*batch, "--engine", "ray", "--workers", "0"]) == 2
    assert "workers must be a whole number, 1 or more" in capsys.readouterr().err
    assert engines == []  # none of those reached the batch
    assert main([*batch, "--engine", "ray", "--max-attempts", "2", "--restart-timeout", "9"]) == 2
    assert engines == [RayEngine(max_attempts=2, restart_timeout=9.0)]
    assert main([*batch, "--engine", "ray"]) == 2
    assert engines[-1] == RayEngine()  # the engine's own defaults when not given
