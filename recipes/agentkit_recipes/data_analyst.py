"""Data analyst: an autonomous agent that answers questions about a database with SQL and Python.

The agent gets read-only SQLite tools (`sqlite_schema`, `sqlite_query`) and a Python tool
(`run_python`: a fresh interpreter with time and memory limits) from `agentkit_tools`. It
looks at the schema, queries what it needs, computes with Python what SQL does badly
(trends, statistics), and answers with the numbers it found.

`run_python` asks for approval before each run whenever someone can be asked
(`ctx.approve`: `agentkit run data-analyst --online` asks at the terminal, showing the code;
`--yes` allows every call). Unattended (no `approve`, e.g. `agentkit batch` or
`run_recipe(...)` without `approve=`) it runs without asking: the code still runs in a
separate interpreter, in an empty scratch directory, with no credentials in its environment,
but it can read what you can.

With `db=sample` (the default), a small sales database (products, and orders of 2024) is
generated in a temporary directory for the run.

Run it (offline unless a key is set):

    agentkit run data-analyst
    agentkit run data-analyst --input db=shop.sqlite --input question="Who are our top buyers?"
    python -m agentkit_recipes.data_analyst question="..."

Inputs:
    question: what to find out (default: the best-selling category of 2024 and its trend).
    db: path to a SQLite database, or "sample" for the generated one (default: sample).
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import tempfile
from contextlib import closing
from typing import Any

from agentkit_tools import python_toolset, sqlite_toolset

from agentkit import Limits, Recipe, RecipeContext
from agentkit.testing import FunctionModel, reply

from ._offline import tool_texts

QUESTION = (
    "Which product category brought in the most revenue in 2024, and how did its monthly "
    "revenue develop over the year?"
)

SYSTEM = (
    "You are a data analyst. Answer questions about the SQLite database with your tools: "
    "look at the schema first, query only what you need (aggregate in SQL), and use Python "
    "for calculations SQL is bad at. Base every number in your answer on a tool result, and "
    "say how you got it."
)

_PRODUCTS = [
    ("Trail Runner", "footwear", 89.0),
    ("City Sneaker", "footwear", 65.0),
    ("Rain Shell", "outerwear", 120.0),
    ("Down Parka", "outerwear", 240.0),
    ("Merino Tee", "basics", 35.0),
    ("Wool Socks", "basics", 12.0),
    ("Day Pack", "accessories", 55.0),
]


def build_sample_db(path: str) -> None:
    """Write the sample sales database to `path`: seeded, so every run has the same data."""
    rng = random.Random(2024)
    with closing(sqlite3.connect(path)) as db, db:  # commit, then close
        db.execute(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "category TEXT NOT NULL, unit_price REAL NOT NULL)"
        )
        db.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL "
            "REFERENCES products(id), quantity INTEGER NOT NULL, order_date TEXT NOT NULL)"
        )
        db.executemany(
            "INSERT INTO products (name, category, unit_price) VALUES (?, ?, ?)", _PRODUCTS
        )
        orders = []
        for month in range(1, 13):
            # Outerwear sells in the cold months, everything else evenly.
            for _ in range(30):
                product = rng.randint(1, len(_PRODUCTS))
                cold = _PRODUCTS[product - 1][1] == "outerwear" and month in (1, 2, 10, 11, 12)
                quantity = rng.randint(1, 3) * (3 if cold else 1)
                orders.append((product, quantity, f"2024-{month:02d}-{rng.randint(1, 28):02d}"))
        db.executemany(
            "INSERT INTO orders (product_id, quantity, order_date) VALUES (?, ?, ?)", orders
        )


async def run(ctx: RecipeContext) -> str:
    """Let the analyst work on the database until it can answer."""
    with tempfile.TemporaryDirectory(prefix="agentkit-data-analyst-") as scratch:
        db = ctx.inputs["db"]
        if db == "sample":
            db = os.path.join(scratch, "sales.sqlite")
            build_sample_db(db)
        python = python_toolset(requires_approval=ctx.approve is not None)
        agent = ctx.agent(
            system=SYSTEM,
            tools=[sqlite_toolset(os.path.expanduser(db)), python],
            limits=Limits(max_turns=15),
            max_tokens=2048,
        )
        result = await ctx.run(agent, ctx.inputs["question"])
    return result.text


# -- offline: a scripted analyst that reads the schema, queries, computes, answers -----------

_BY_CATEGORY = (
    "SELECT p.category, ROUND(SUM(o.quantity * p.unit_price), 2) AS revenue "
    "FROM orders o JOIN products p ON p.id = o.product_id "
    "WHERE o.order_date LIKE ? GROUP BY p.category ORDER BY revenue DESC"
)
_BY_MONTH = (
    "SELECT substr(o.order_date, 1, 7) AS month, ROUND(SUM(o.quantity * p.unit_price), 2) "
    "AS revenue FROM orders o JOIN products p ON p.id = o.product_id "
    "WHERE p.category = ? AND o.order_date LIKE ? GROUP BY month ORDER BY month"
)
_TREND = """\
import statistics
monthly = {monthly!r}
values = list(monthly.values())
best = max(monthly, key=monthly.get)
worst = min(monthly, key=monthly.get)
slope = statistics.linear_regression(range(len(values)), values).slope
print(f"total: {{sum(values):.2f}}")
print(f"best month: {{best}} ({{monthly[best]:.2f}}), weakest: {{worst}} ({{monthly[worst]:.2f}})")
print(f"first half: {{sum(values[:6]):.2f}}, second half: {{sum(values[6:]):.2f}}")
print(f"trend: {{slope:+.2f}} per month")
"""


def _rows(table: str) -> list[list[str]]:
    """The data rows of a `sqlite_query` result (header and row count left out)."""
    lines = [line for line in table.splitlines()[1:] if not line.startswith("(")]
    return [line.split(" | ") for line in lines]


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """Schema first; revenue by category if the schema has it; the top one by month; Python."""

    def play(body: dict[str, Any]) -> Any:
        done = tool_texts(body)
        if not done:
            return reply("Let me look at the schema.", tool_calls=[("sqlite_schema", {})])
        name, output, failed = done[-1]
        if failed:
            return f"I could not finish: {name} failed with: {output}"
        if name == "sqlite_schema":
            needed = ("orders", "products", "quantity", "unit_price", "category", "order_date")
            missing = [word for word in needed if word not in output]
            if missing:
                return f"This database has no {', '.join(missing)}; I cannot compute revenue."
            args = {"sql": _BY_CATEGORY, "params": ["2024-%"]}
            return reply("Revenue per category:", tool_calls=[("sqlite_query", args)])
        if name == "sqlite_query" and len(done) == 2:
            top = _rows(output)[0][0]
            args = {"sql": _BY_MONTH, "params": [top, "2024-%"]}
            return reply(f"{top} leads; now its months.", tool_calls=[("sqlite_query", args)])
        if name == "sqlite_query":
            monthly = {month: float(value) for month, value in _rows(output)}
            code = _TREND.format(monthly=monthly)
            return reply("Computing the trend.", tool_calls=[("run_python", {"code": code})])
        top, revenue = _rows(done[1][1])[0]
        stats = re.sub(r"^\[exit code 0\]\n", "", output).strip()
        return (
            f"{top.capitalize()} brought in the most revenue in 2024: {revenue} (sqlite_query, "
            f"revenue = quantity x unit_price summed per category).\n"
            f"Its monthly revenue, computed with run_python:\n{stats}"
        )

    return FunctionModel(play)


RECIPE = Recipe(
    name="data-analyst",
    description="Answer a question about a SQLite database with SQL queries and Python.",
    run=run,
    offline_model=offline_model,
    inputs={"question": QUESTION, "db": "sample"},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
