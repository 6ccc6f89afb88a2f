"""`python -m agentkit.testing serve`: a bad script or a port in use is one line on stderr and
exit code 2, and `--help` documents the script format."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agentkit.testing import main as serve_main


def test_serve_says_in_one_line_what_is_wrong_with_a_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.jsonl"
    script.write_text('"hi"\n{"content": 5}\n', encoding="utf-8")
    assert serve_main(["serve", "--script", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "script line 2:" in err and "--help" in err
    assert serve_main(["serve", "--script", str(tmp_path / "none.jsonl")]) == 2
    assert "cannot read the script" in capsys.readouterr().err


def test_serve_says_in_one_line_when_the_port_is_taken(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1 port {port}" in err


def test_serve_help_documents_the_script_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        serve_main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "script format" in out and '{"fault": "rate_limit"' in out and '"Hello!"' in out
