"""sqlite_toolset: read-only three ways, one statement, row cap, timeout, schema listing."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from agentkit_tools.sqlite import sqlite_toolset
from isolated import run_isolated

from agentkit import Tool, UsageError

Call = Callable[..., Awaitable[str]]  # the `ok` and `refused` fixtures (conftest.py)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        connection.executemany(
            "INSERT INTO items (name, price) VALUES (?, ?)",
            [(f"item{i}", i * 1.5) for i in range(1, 11)] + [("blob", None)],
        )
        connection.execute("CREATE INDEX items_name ON items (name)")
    connection.close()
    return path


def query_tool(db: Path, **options: float) -> Tool | None:
    return sqlite_toolset(db, **options).get("sqlite_query")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_select_returns_a_table(db: Path, ok: Call) -> None:
    text = await ok(query_tool(db), sql="SELECT id, name, price FROM items WHERE id <= 2")
    assert text == "id | name | price\n1 | item1 | 1.5\n2 | item2 | 3.0\n(2 rows)"
    with_params = await ok(
        query_tool(db), sql="SELECT name, price FROM items WHERE name = ?", params=["blob"]
    )
    assert with_params == "name | price\nblob | NULL\n(1 row)"


@pytest.mark.asyncio
async def test_rows_are_capped(db: Path, ok: Call) -> None:
    text = await ok(query_tool(db, max_rows=3), sql="SELECT id FROM items ORDER BY id")
    assert text.splitlines() == [
        "id",
        "1",
        "2",
        "3",
        "(3 rows shown; more rows exist, add a LIMIT/OFFSET or aggregate)",
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO items (name) VALUES ('x')",
        "UPDATE items SET price = 0",
        "DELETE FROM items",
        "DROP TABLE items",
        "CREATE TABLE t (x)",
        "CREATE TEMP TABLE t (x)",
        "ALTER TABLE items ADD COLUMN y",
        "PRAGMA query_only = OFF",
        "PRAGMA writable_schema = ON",
        "PRAGMA journal_mode = WAL",
        "ATTACH DATABASE ':memory:' AS other",
        "VACUUM",
        "REPLACE INTO items (id, name) VALUES (1, 'x')",
    ],
)
async def test_writes_are_refused(db: Path, sql: str, refused: Call) -> None:
    before = db.read_bytes()
    message = await refused(query_tool(db), sql=sql)
    assert "read-only" in message or "not authorized" in message
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["shop.sqlite3"]


@pytest.mark.asyncio
async def test_writes_hidden_in_a_second_statement_are_refused(
    db: Path, ok: Call, refused: Call
) -> None:
    message = await refused(query_tool(db), sql="SELECT 1; DELETE FROM items")
    assert "one statement" in message
    assert "11" in await ok(query_tool(db), sql="SELECT count(*) FROM items")


@pytest.mark.asyncio
async def test_introspection_pragmas_are_allowed(db: Path, ok: Call) -> None:
    text = await ok(query_tool(db), sql="PRAGMA table_info(items)")
    assert "name" in text.splitlines()[0]
    assert "price" in text


@pytest.mark.asyncio
async def test_runaway_query_is_stopped(db: Path, refused: Call) -> None:
    sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    assert "was stopped" in await refused(query_tool(db, timeout=0.2), sql=sql)


@pytest.mark.asyncio
async def test_sql_errors_are_reported(db: Path, refused: Call) -> None:
    assert "no such table" in await refused(query_tool(db), sql="SELECT * FROM nope")
    assert "syntax error" in await refused(query_tool(db), sql="SELEC 1")


@pytest.mark.asyncio
async def test_schema_lists_create_statements(db: Path, ok: Call) -> None:
    text = await ok(sqlite_toolset(db).get("sqlite_schema"))
    assert text.startswith("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL);")
    assert "CREATE INDEX items_name ON items (name);" in text


def test_missing_database_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        sqlite_toolset(tmp_path / "missing.sqlite3")
    assert not (tmp_path / "missing.sqlite3").exists()


@pytest.mark.asyncio
async def test_path_with_uri_characters_is_opened_read_only(
    tmp_path: Path, db: Path, ok: Call, refused: Call
) -> None:
    odd = tmp_path / "we?ird#name&mode=rw.sqlite3"
    odd.write_bytes(db.read_bytes())
    assert "(11 rows)" in await ok(query_tool(odd), sql="SELECT id FROM items")
    await refused(query_tool(odd), sql="DELETE FROM items")


_SERIES = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 40) "


def test_a_huge_value_is_refused_before_it_is_built(db: Path) -> None:
    # Was: 500 MB per row, 200 rows fetched at once, 19.6 GB before the timeout could fire.
    # The child's address space is capped, so the old code fails with MemoryError instead of
    # taking the machine down.
    out = run_isolated(
        f"""
        import asyncio, resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from agentkit import RunContext
        from agentkit_tools.sqlite import sqlite_toolset
        tool = sqlite_toolset({str(db)!r}).get("sqlite_query")
        ctx = RunContext(deps=None, tool_use_id="t", tool_name="sqlite_query")
        sql = {_SERIES + "SELECT zeroblob(500000000) FROM n"!r}
        result = asyncio.run(tool.run({{"sql": sql}}, ctx))
        print(result.get("is_error"), result["content"])
        """
    )
    assert out.startswith("True a value is larger than 1000000 bytes"), out


@pytest.mark.asyncio
async def test_output_is_capped_in_bytes(db: Path, ok: Call) -> None:
    sql = _SERIES + "SELECT x, printf('%.400c', 'y') FROM n"
    text = await ok(query_tool(db, max_bytes=5_000), sql=sql)
    assert len(text.encode()) < 5_000 + 200
    assert text.splitlines()[-1] == (
        "(12 rows shown; output cap of 5000 bytes reached, select fewer columns, add a "
        "LIMIT/OFFSET or aggregate)"
    )


@pytest.mark.asyncio
async def test_the_timeout_covers_fetching(db: Path, refused: Call) -> None:
    # The first row comes at once; the endless rest is produced while fetching.
    sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n"
    sql += " WHERE x = 1 OR x > 1e15"
    assert "was stopped" in await refused(query_tool(db, timeout=0.2), sql=sql)
