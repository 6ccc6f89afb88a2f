"""The Postgres the DBOS tests start (`tests/support/postgres.py`): it listens on 127.0.0.1
only, and it is stopped and its directory removed when the block ends, even by an error."""

from __future__ import annotations

import socket

import psycopg
import pytest
from postgres import PostgresServer, postgres_server


def test_the_server_listens_on_loopback_only(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.url("postgres")) as conn:
        row = conn.execute("SHOW listen_addresses").fetchone()
        version = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None and row[0] == "127.0.0.1"
    assert version is not None and int(version[0]) >= 150000


def test_the_server_is_stopped_and_removed_whatever_happens(postgres: PostgresServer) -> None:
    # Depends on `postgres` so that it runs only where Postgres can start.
    with pytest.raises(RuntimeError, match="boom"), postgres_server() as server:
        started = server
        with socket.create_connection(("127.0.0.1", server.port), timeout=10):
            pass
        raise RuntimeError("boom")
    assert not started.directory.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", started.port), timeout=10):
        pass
