"""`agentkit ui`: the command serves the viewer on 127.0.0.1, prints the URL, opens a browser
only when asked, stops on Ctrl-C; a bad file or a taken port is one message and exit code 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest
from ctrl_c import Child, agentkit_command

from agentkit import SQLiteStore
from agentkit._durable.schema import APPLICATION_ID
from agentkit.cli.main import main
from agentkit.cli.viewer import RunReader

FAKE_BROWSER = "import sys; print('browser opened', sys.argv[1], flush=True)"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    SQLiteStore(path).close()
    return path


def serve(store: Path, *options: str, browser: str = "") -> subprocess.Popen[str]:
    """`agentkit ui` in a process whose browser, if it opens one, is a script that says so
    (or the command `browser`)."""
    script = store.parent / "browser.py"
    script.write_text(FAKE_BROWSER, encoding="utf-8")
    env = {**os.environ, "BROWSER": browser or f"{sys.executable} {script} %s"}
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit", "ui", "--db", str(store), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def line(process: subprocess.Popen[str]) -> str:
    """The next line the process prints on stdout, where its result (the URL) goes."""
    assert process.stdout is not None
    return process.stdout.readline()


def note(process: subprocess.Popen[str]) -> str:
    """The next line the process prints on stderr, where its notes go."""
    assert process.stderr is not None
    return process.stderr.readline()


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C; the exit code and what the process printed after (stdout, then stderr)."""
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process.returncode, out + err


def test_it_serves_the_store_on_loopback_and_stops_on_ctrl_c(store: Path) -> None:
    process = serve(store)
    try:
        first = line(process)
        assert first.startswith(f"agentkit ui: the runs of {store} at http://127.0.0.1:")
        url = first.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "api/runs", timeout=30) as response:
            data = json.load(response)
        assert data["runs"] == [] and data["store"] == str(store)
    finally:
        code, rest = stop(process)
    assert code == 0 and "stopped" in rest
    assert "browser opened" not in rest  # nothing opened unless asked


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_a_ctrl_c_that_interrupts_no_wait_of_the_loop_still_stops_it(store: Path) -> None:
    # Swallowed: the loop slept in its selector with nothing due, and a SIGINT that came just
    # before it blocked there interrupted no wait, so the handler that stops the server never
    # ran. Here the loop sleeps and another thread takes the signal (`ELSEWHERE`): the same,
    # every time.
    child = Child(agentkit_command("ui", "--db", str(store), elsewhere=True), store.parent,
                  os.environ, merged=True)
    child.wait_for("agentkit ui: ")
    child.asleep()
    code, rest = child.ctrl_c()
    assert code == 0 and "stopped" in rest


def test_open_opens_the_page_in_a_browser(store: Path) -> None:
    process = serve(store, "--open")
    try:
        url = line(process).split(" at ")[1].split()[0]
        assert line(process).strip() == f"browser opened {url}"
    finally:
        stop(process)


def test_open_says_so_when_no_browser_opens(store: Path) -> None:
    process = serve(store, "--open", browser="false %s")  # a browser that fails to start
    try:
        line(process)
        assert "no web browser was found to open" in note(process)
    finally:
        stop(process)


def test_a_given_port_is_used_and_a_taken_one_is_refused(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["ui", "--db", str(store), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    process = serve(store, "--port", str(port))
    try:
        assert f"http://127.0.0.1:{port}/" in line(process)
    finally:
        stop(process)


def test_a_missing_file_is_refused_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main(["ui", "--db", str(missing)]) == 2
    assert f"no run store at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_a_file_that_is_not_a_run_store_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database, just notes\n" * 100, encoding="utf-8")
    assert main(["ui", "--db", str(text)]) == 2
    assert "is not a SQLite database" in capsys.readouterr().err
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE things (x)")
    before = other.read_bytes()
    assert main(["ui", "--db", str(other)]) == 2
    assert "is not an agentkit run store" in capsys.readouterr().err
    assert other.read_bytes() == before


def test_a_store_of_a_newer_agentkit_is_refused(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with closing(sqlite3.connect(store)) as db:
        db.execute("PRAGMA user_version = 99")
    assert main(["ui", "--db", str(store)]) == 2
    assert "written by a newer agentkit (store format 99" in capsys.readouterr().err


def test_a_bad_port_is_a_usage_error(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for port in ("70000", "²"):  # "²" is a digit to str.isdigit, no number to int()
        assert main(["ui", "--db", str(store), "--port", port]) == 2
        assert f"expected a port from 0 to 65535, got '{port}'" in capsys.readouterr().err


def test_a_store_of_format_1_is_left_as_it_is_with_the_command_that_moves_it_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Format 1 kept each journal as rows (key = run id << 32 | seq) of an `entries` table.
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(old)) as db:
        db.execute(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, "
            "format INTEGER NOT NULL, fingerprint TEXT NOT NULL, model TEXT NOT NULL, "
            "agent TEXT NOT NULL, status TEXT NOT NULL, turns INTEGER NOT NULL DEFAULT 0, "
            "input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0, "
            "cost_usd REAL NOT NULL DEFAULT 0, created REAL NOT NULL, updated REAL NOT NULL, "
            "lease_token TEXT, lease_host TEXT, lease_node TEXT, lease_pid INTEGER, "
            "lease_started INTEGER, lease_expires REAL)"
        )
        db.execute("CREATE TABLE entries (key INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                   "at REAL NOT NULL, payload TEXT NOT NULL)")
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO runs (id, run_id, format, fingerprint, model, agent, status, "
                   "turns, created, updated) VALUES (1, 'old-1', 1, 'f', 'm', 'x', 'finished', "
                   "1, 5, 6)")
        start = {"messages": [{"role": "user", "content": "an old question"}], "seed": 1}
        db.execute("INSERT INTO entries VALUES (?, 'start', 5, ?)",
                   (1 << 32 | 1, json.dumps(start)))
        db.commit()
    before = old.read_bytes()
    assert main(["ui", "--db", str(old)]) == 2
    err = capsys.readouterr().err
    assert "older format (1" in err and f"agentkit runs list --db {old}" in err
    assert old.read_bytes() == before
    assert main(["runs", "list", "--db", str(old)]) == 0  # what the message says to do
    reader = RunReader(old, clock=lambda: 10.0)
    try:
        [run] = reader.page().runs
        assert (run.run_id, run.status, run.prompt, run.entries) == (
            "old-1", "finished", "an old question", 1
        )
    finally:
        reader.close()


@pytest.mark.asyncio
async def test_stopping_closes_connections_still_being_accepted(store: Path) -> None:
    # A browser's speculative connections may be mid-accept when Ctrl-C stops the server:
    # asyncio makes each one's transport a loop iteration after accepting it, and closing the
    # server first left that socket unclosed for the GC to find (a ResourceWarning).
    import argparse
    import asyncio
    import time

    from loopback import unclosed_by_the_gc

    from agentkit.cli.ui import _listen, _serve  # pyright: ignore[reportPrivateUsage]

    for _ in range(3):
        reader = RunReader(str(store), clock=time.time)
        listener = _listen(0)
        args = argparse.Namespace(db=str(store), open=False)
        task = asyncio.create_task(_serve(reader, listener, "http://127.0.0.1/", args))
        while not task.done() and not listener.getsockname()[1]:
            await asyncio.sleep(0)
        for _ in range(50):  # the site started
            await asyncio.sleep(0)
        port = listener.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        await asyncio.sleep(0)  # accepted, their transports not made yet
        task.cancel()
        await asyncio.sleep(0)
        for client in clients:
            client.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        listener.close()
        reader.close()
        assert not unclosed_by_the_gc()
