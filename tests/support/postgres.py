"""A throwaway Postgres server for tests and benchmarks: `initdb` into a temporary directory,
`pg_ctl start` on a free port of 127.0.0.1 (no other address, trust auth, its socket in the
same directory), and `pg_ctl stop` plus the directory removed on leaving, whatever happened.

As root, Postgres refuses to run, so its commands run as the `postgres` user (`runuser`), and
the directory is handed to that user. Binaries come from the PATH, else from
`/usr/lib/postgresql/*/bin` (Debian's `postgresql` package; `.ci/run` installs it).

    with postgres_server() as server:
        url = server.url("mydb")   # postgresql://postgres@127.0.0.1:PORT/mydb
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "PostgresUnavailable", "postgres_server"]

_USER = "postgres"


class PostgresUnavailable(Exception):
    """Postgres cannot start here; the message says why (for a visible skip)."""


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A running server: loopback only, user `postgres`, no password."""

    port: int
    directory: Path

    def url(self, database: str) -> str:
        """A URL for `database` (DBOS creates a missing system database itself)."""
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server, yield it, always stop it.

    Raises:
        PostgresUnavailable: no binaries, no `postgres` user to run them as root, or the
            server would not start (its log is in the message).
    """
    bindir = _bindir()
    as_user = _as_user()
    directory = Path(tempfile.mkdtemp(prefix="agentkit-pg-"))
    data, log = directory / "data", directory / "log"
    started = False
    try:
        if as_user:
            record = pwd.getpwnam(_USER)
            os.chown(directory, record.pw_uid, record.pw_gid)
        _run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", _USER,
              "--auth=trust", "-E", "UTF8", "--no-sync"], "initdb")
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory}"
        _run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
              "-t", "60", "-o", options, "start"], "pg_ctl start", log)
        started = True
        yield PostgresServer(port, directory)
    finally:
        if started:
            subprocess.run(
                [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True, check=False, timeout=60,
            )
        shutil.rmtree(directory, ignore_errors=True)


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found is not None:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if versions:
        return versions[-1].parent
    raise PostgresUnavailable(
        "no Postgres binaries (pg_ctl) on the PATH or in /usr/lib/postgresql/*/bin; "
        "install them with `apt-get install -y postgresql`"
    )


def _as_user() -> list[str]:
    """The prefix that runs a command as `postgres` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {_USER!r} user to run Postgres as"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and `runuser` is missing")
    return [runuser, "-u", _USER, "--"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise PostgresUnavailable(
            f"{what} failed ({done.returncode}): {done.stderr.strip()[-2000:]} {tail}".strip()
        )
