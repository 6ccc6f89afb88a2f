"""Shared fixtures. The recorded real traffic lives in `../shared/conformance/real/`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "real"
"""The real recorded exchanges (see its SOURCES.md); absent outside the project workspace."""


@pytest.fixture(scope="session")
def load_real() -> Callable[[str], dict[str, Any]]:
    """Load one recorded exchange by name (`"stream_text"`, `"vendor_fixtures/…"`).

    Skips the test, saying why, when the corpus is not next to the repository.
    """

    def load(name: str) -> dict[str, Any]:
        path = REAL_DIR / f"{name}.json"
        if not path.is_file():
            pytest.skip(f"real corpus file {path} is absent (expected ../shared next to the repo)")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    return load
