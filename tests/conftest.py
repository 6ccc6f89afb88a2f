"""Shared fixtures and the suite's guards.

- The recorded real traffic lives in `../shared/conformance/real/`; `load_real` reads it.
- No test reaches past loopback: the guard below (installed at import, for the whole session)
  refuses any other address before a packet is sent, and a host name other than `localhost`
  before it is looked up (a DNS query is traffic too). Subprocesses are outside the guard; the
  ones the suite starts (the CLI, the fake server, the ready tools) only talk to loopback.
- Each session gets its own temporary root, so concurrent pytest runs on one machine never
  clean up each other's `tmp_path` folders (pytest's shared root raced under load).
- `frozen_clock` stops the event loop's clock, so a timeout fires when the test says.
- Without `../shared` (a plain clone) the corpus tests skip, and the summary says so in a line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "real"
"""The real recorded exchanges (see its SOURCES.md); absent outside the project workspace."""


# -- the loopback guard ------------------------------------------------------------------------


class NonLoopbackRefused(RuntimeError):
    """A test tried to reach past loopback. Not an `OSError`, so no client retries or maps it."""


LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


def is_loopback(host: object) -> bool:
    """Whether `host` (an address or a name, as a socket call takes it) stays on this machine."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _check(family: int, address: object, call: str) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets and the like never leave the machine
    parts: tuple[object, ...] = cast(tuple[object, ...], address)
    host, port = (parts[0], parts[1]) if isinstance(address, tuple) else (address, None)
    if not is_loopback(host):
        where = f"{host}" if port is None else f"{host} port {port}"
        raise NonLoopbackRefused(
            f"the test suite refused {call} {where}: tests may reach loopback only "
            "(127.0.0.0/8, ::1, localhost). Serve the test from agentkit.testing's FakeServer "
            "or ScriptedTransport, or an httpx.MockTransport."
        )


def refuse_non_loopback() -> None:
    """Patch the socket calls every client goes through (sync, asyncio, aiohttp, httpx)."""
    sock = socket.socket
    if getattr(sock.connect, "loopback_guard", False):
        return
    connect, connect_ex, sendto = sock.connect, sock.connect_ex, sock.sendto
    getaddrinfo, create_connection = socket.getaddrinfo, socket.create_connection

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _check(self.family, address, "a connection to")
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _check(self.family, address, "a connection to")
        return connect_ex(self, address)

    def guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
        _check(self.family, args[-1], "a datagram to")
        return sendto(self, data, *args)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(host):
            try:
                ipaddress.ip_address(str(host.decode() if isinstance(host, bytes) else host))
            except ValueError:  # a name: looking it up would send a DNS query
                _check(socket.AF_INET, host, "a lookup of")
        return getaddrinfo(host, *args, **kwargs)

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        _check(socket.AF_INET, address, "a connection to")  # before it makes a socket to leak
        return create_connection(address, *args, **kwargs)

    guarded_connect.loopback_guard = True  # type: ignore[attr-defined]
    sock.connect = guarded_connect  # type: ignore[method-assign]
    sock.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    sock.sendto = guarded_sendto  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo
    socket.create_connection = guarded_create_connection


refuse_non_loopback()


# -- a private temporary root -------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """A private temporary root for this session, unless `--basetemp` names one."""
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="agentkit-tests-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


_OWN_BASETEMP = pytest.StashKey[str]()


# -- the summary says when the conformance corpus is absent ---------------------------------------

CORPUS_DIR = REAL_DIR.parent
"""`../shared/conformance`: the recorded real and wild API traffic; absent in a plain clone."""


def corpus_note() -> str | None:
    """The summary line saying the corpus tests were skipped, or None when it is present."""
    if CORPUS_DIR.is_dir():
        return None
    return (
        f"conformance corpus absent ({CORPUS_DIR}): the tests on recorded real API traffic "
        "were skipped; put the project's shared/ folder next to this checkout to run them"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One visible line when the corpus tests were skipped (a plain clone has no ../shared)."""
    note = corpus_note()
    if note is not None:
        terminalreporter.write_line(note, yellow=True, bold=True)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def load_real() -> Callable[[str], dict[str, Any]]:
    """Load one recorded exchange by name (`"stream_text"`, `"vendor_fixtures/…"`; from the
    wild corpus, `"wild/…"`).

    Skips the test, saying why, when the corpus is not next to the repository.
    """

    def load(name: str) -> dict[str, Any]:
        path = (CORPUS_DIR if name.startswith("wild/") else REAL_DIR) / f"{name}.json"
        if not path.is_file():
            pytest.skip(f"real corpus file {path} is absent (expected ../shared next to the repo)")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    return load


class FrozenClock:
    """The running event loop's clock, stopped: it moves only when the test calls `advance`.

    anyio's deadlines (`move_on_after`, `fail_after`, `Limits(timeout=...)`, a tool's
    `timeout`) are timers on this clock, so a timeout fires right after the test advances the
    clock past it, once the condition it waited for holds, and never from a busy CPU. Anything
    that sleeps a positive time waits until the clock is advanced.
    """

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time on; timers now due fire at the loop's next iteration."""
        self.now += seconds


@pytest_asyncio.fixture
async def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FrozenClock]:
    loop = asyncio.get_running_loop()
    clock = FrozenClock(loop.time())
    # asyncio's timers and anyio's `current_time()` both read `loop.time()`.
    monkeypatch.setattr(loop, "time", clock.time)
    yield clock


@pytest.fixture
def older_run_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs stored meanwhile take any id an agentkit before stop 26 took: one holding a control
    or an invisible character (a new run now refuses it), as a store it wrote still holds."""
    from agentkit._durable import journal

    monkeypatch.setattr(journal, "_check_shown", lambda run_id: None)
