"""Fixtures of the MCP tests: the test server over HTTP and SSE, one process per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_helpers import serve


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The test server over streamable HTTP on 127.0.0.1 (one per test module)."""
    yield from serve("--http")


@pytest.fixture(scope="module")
def sse_url() -> Iterator[str]:
    """The test server over the legacy HTTP+SSE transport on 127.0.0.1."""
    yield from serve("--sse")
