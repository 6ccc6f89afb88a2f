"""Fixtures of the run viewer's tests: a store of runs made by real agents, and a client of
the viewer over it (the builders live in `tests/support/ui_runs.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient
from ui_runs import SECRET, Runs, viewer


@pytest_asyncio.fixture
async def runs(tmp_path: Path) -> AsyncIterator[Runs]:
    made = Runs(tmp_path / "runs.db")
    try:
        yield made
    finally:
        await made.aclose()


@pytest_asyncio.fixture
async def api(runs: Runs) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of the viewer over `runs`' store (the API key set in its environment)."""
    async with TestClient(viewer(runs, {"ANTHROPIC_API_KEY": SECRET})) as client:
        yield client
