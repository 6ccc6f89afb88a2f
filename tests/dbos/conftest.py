"""Fixtures of the DBOS tests: a system database on SQLite (a file) or on a real Postgres 15
started for the session (`tests/support/postgres.py`), and DBOS launched on it in the test's
own event loop (so the runs it recovers run there too), destroyed after the test.

Every test that takes `system_db` runs on both; the Postgres ones skip, with the reason,
only when Postgres cannot start on this machine."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

pytest.importorskip("dbos", reason="the dbos extra is not installed: pip install 'agentkit[dbos]'")

from dbos import DBOS
from postgres import PostgresServer, PostgresUnavailable, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except PostgresUnavailable as exc:
            pytest.skip(f"Postgres could not start here: {exc}")
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def system_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty system database URL (DBOS creates the database itself)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.url(f"dbos_{uuid.uuid4().hex[:12]}")


@pytest_asyncio.fixture
async def launched(system_db: str) -> AsyncIterator[str]:
    """DBOS launched on `system_db` for this test; yields the URL."""
    DBOS(config={"name": "agentkit-tests", "system_database_url": system_db,
                 "executor_id": "test-executor"})
    DBOS.launch()
    try:
        yield system_db
    finally:
        DBOS.destroy(destroy_registry=False)
