"""httpx's command line, deferred by `agentkit._api.httpx_cli`: still there when it is used.

Each test runs in a fresh interpreter, as the deferral acts when httpx is first imported
(`tests/test_cold_start.py` checks that a plain run no longer loads it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("click")  # without click httpx has no command line to defer


def _run(code: str, *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_agentkit_then_httpx_leaves_its_command_line_unloaded_until_asked() -> None:
    printed = _run(
        """
        import sys
        import agentkit, httpx
        print("httpx._main" in sys.modules, "click" in sys.modules)
        import httpx._main
        print(type(httpx._main.main).__name__, sys.modules["httpx._main"] is httpx._main)
        """
    )
    assert printed.split() == ["False", "False", "Command", "True"]


def test_httpx_main_runs_the_real_command_line() -> None:
    printed = _run(
        """
        import sys
        import agentkit, httpx
        sys.argv = ["httpx", "--help"]
        try:
            httpx.main()
        except SystemExit as exc:
            print("exit", exc.code)
        """
    )
    assert "Usage: httpx <URL> [OPTIONS]" in printed
    assert printed.rstrip().endswith("exit 0")


def test_httpx_imported_before_agentkit_is_left_as_it_is() -> None:
    printed = _run(
        """
        import sys
        import httpx, agentkit
        print("httpx._main" in sys.modules, type(httpx.main).__name__)
        """
    )
    assert printed.split() == ["True", "Command"]
