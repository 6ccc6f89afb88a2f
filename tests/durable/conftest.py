"""Fixtures of the run store's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from disk import small_disk as mounted


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 256 KiB tmpfs of its own (root only), unmounted afterwards."""
    with mounted(tmp_path / "disk") as disk:
        yield disk
