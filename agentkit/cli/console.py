"""The rich consoles of the `agentkit` command line, and its tables: models, ready tools,
batch progress.

Owns how a console is made (stdout or stderr, resolved at write time, no colour-guessing) and
the listings that are not a run's events (`display` renders those). Rules: rich is imported
by the functions that draw, and nothing here imports agentkit's run machinery, so `agentkit
tools` lists the tools without loading the events of a run. Uses public names only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

__all__ = ["make_console", "models_table", "progress_bar", "tool_listing"]


def make_console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), resolved at write time so captured streams work."""
    from rich.console import Console

    # Answer text and previews are shown as they are: not colour-guessed (highlight), and no
    # `:name:` turned into an emoji (a model's `:smile:` or a path's `a:b:c` stays as written).
    return Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=True)


def models_table(console: Console, models: list[Any]) -> None:
    """`GET /v1/models` entries as a table: id, display name, created, token limits."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    # Ids are what people copy: never cut or wrapped.
    table.add_column("id", no_wrap=True, min_width=max((len(m.id) for m in models), default=2))
    for title in ("display name", "created", "max in", "max out"):
        table.add_column(title, no_wrap=True, justify="right" if "max" in title else "left")
    for m in models:
        table.add_row(  # a gateway's text: shown as it is, never as markup
            Text(m.id),
            Text(m.display_name or ""),
            (m.created_at or "")[:10],
            _count(m.max_input_tokens),
            _count(m.max_tokens),
        )
    console.print(table)


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "?"


def tool_listing(console: Console, families: list[Any]) -> None:
    """Each ready tool family: a rule with its summary, then each tool and its input schema."""
    from rich.json import JSON
    from rich.rule import Rule
    from rich.text import Text

    for family in families:
        console.print(Rule(Text(f"{family.name}: {family.summary}"), align="left"))
        console.print(f"use: {family.usage}", style="dim", markup=False)
        for t in family.example():
            console.print(t.name, style="bold", markup=False)
            console.print(t.description, markup=False)
            console.print(JSON.from_data(t.input_schema, indent=2))


def progress_bar(console: Console) -> Progress:
    """A progress bar (items done of total, elapsed, remaining); silent off a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
