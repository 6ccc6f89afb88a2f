"""The `telemetry` fixture: agentkit instrumented with in-memory exporters for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from telemetry import Telemetry, install


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    yield from install(monkeypatch)
