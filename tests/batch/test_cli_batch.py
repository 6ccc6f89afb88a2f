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
