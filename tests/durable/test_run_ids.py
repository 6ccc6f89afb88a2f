"""Which run ids a new durable run takes (`check_run_id`), and the command lines agentkit
suggests for a stored run (`runs_command`), which must paste back as the run's id."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentkit import Agent, AsyncClient, SQLiteStore, UsageError
from agentkit._durable.journal import runs_command, shell_word
from agentkit.testing import ScriptedTransport, text_reply

UNSHOWABLE = [  # (id, the character, its position, what the error calls it)
    ("\x1b[31mred", "U+001B", 0, "a control character"),
    ("first\nsecond", "U+000A", 5, "a control character"),
    ("tab\there", "U+0009", 3, "a control character"),
    ("c1-\x9b31m", "U+009B", 3, "a control character"),
    ("invoice-\u202efdp.exe", "U+202E RIGHT-TO-LEFT OVERRIDE", 8,
     "an invisible formatting character"),
    ("orders\u200b-1", "U+200B ZERO WIDTH SPACE", 6, "an invisible formatting character"),
    ("line\u2028sep", "U+2028 LINE SEPARATOR", 4, "a line separator"),
]


@pytest.mark.parametrize(("run_id", "char", "at", "what"), UNSHOWABLE)
def test_a_new_run_id_holding_a_control_or_invisible_character_is_refused_naming_it(
    tmp_path: Path, run_id: str, char: str, at: int, what: str
) -> None:
    # Such an id was stored, then listed raw (a right-to-left override makes one id look like
    # another: "Trojan Source") or escaped (a command line shown could not be pasted back).
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply("no")]))
    agent = Agent("claude-sonnet-4-5", client=client)
    with SQLiteStore(tmp_path / "runs.db") as store:
        with pytest.raises(UsageError) as refused:
            agent.run_sync("hi", run_id=run_id, store=store)
        with pytest.raises(UsageError):
            store.claim(run_id, fingerprint="f", model="m", agent="a")
        assert store.runs() == []
    message = str(refused.value)
    assert f"run_id={run_id!r} holds " in message
    assert f"({char}) at position {at}, {what}" in message
    assert "Nothing was stored" in message
    for hidden in ("\x1b", "\n", "\t", "\x9b", "\u202e", "\u200b", "\u2028"):
        assert hidden not in message  # the message itself shows them escaped


@pytest.mark.parametrize("run_id", ["orders-2026-12-06", "commandes été", "注文-1", "😀 x",
                                    "nb\xa0sp", "-x7Gq"])
def test_an_id_of_visible_characters_in_any_script_is_taken(tmp_path: Path, run_id: str) -> None:
    with SQLiteStore(tmp_path / "runs.db") as store:
        assert store.claim(run_id, fingerprint="f", model="m", agent="a").created


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("run_id", [
    "plain-1", "it's a \\ test", "-x7Gq", "\x1b[31mred", "first\nsecond", "c1-\x9b31m",
    "invoice-\u202efdp.exe", "orders\u200b-1", "nb\xa0sp", "😀\U000e0001",
])
def test_the_command_line_shown_for_a_stored_run_pastes_back_as_its_id(run_id: str) -> None:
    # The command lines shown (a paused run's resume, the store's "delete the run") quoted an
    # id holding a control character with the character in it, then shown escaped: pasted,
    # the line named another run. A store path whose name is not UTF-8 is written back too.
    db = "/tmp/my runs/\udcff.db"
    line = runs_command("resume", run_id, db, "--agent app:orders")
    assert line.isprintable()
    argv = bash_words(line)
    assert argv[argv.index(b"--db") + 1] == db.encode("utf-8", "surrogateescape")
    assert run_id.encode() in argv and argv[0] == b"agentkit"
    assert shell_word("plain-1") == "plain-1" and shell_word("a b") == "'a b'"


def bash_words(line: str) -> list[bytes]:
    """The words bash reads `line` as."""
    done = subprocess.run(
        ["bash", "-c", f'printf "%s\\0" {line}'], capture_output=True, check=True,
        env={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
    )
    return done.stdout.split(b"\0")[:-1]
