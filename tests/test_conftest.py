"""The suite's guards (`conftest.py`): loopback only, a private temporary root, a frozen clock.

The refused addresses are TEST-NET ones (192.0.2.0/24, 2001:db8::/32), which no network
routes, and names are looked up through a recording stand-in for the resolver, so even a broken
guard would send nothing anywhere.
"""

from __future__ import annotations

import _socket
import asyncio
import re
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from agentkit import AsyncClient

REFUSED = "tests may reach loopback only"


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The hosts that reached the real resolver; it answers 127.0.0.1 for anything."""
    asked: list[object] = []

    def record(host: object, port: object, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port or 0))]

    monkeypatch.setattr(_socket, "getaddrinfo", record)
    return asked


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback TCP listener (IPv4) accepting in a thread; yields its port."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.05)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    server.accept()[0].close()
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield server.getsockname()[1]
        stop.set()
        thread.join()  # before the socket closes: its descriptor must not be reused under it


# -- refused -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "address"),
    [(socket.AF_INET, ("192.0.2.1", 443)), (socket.AF_INET6, ("2001:db8::1", 443, 0, 0))],
    ids=["ipv4", "ipv6"],
)
def test_a_connection_past_loopback_is_refused_naming_the_address(
    family: int, address: tuple[Any, ...]
) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        with pytest.raises(RuntimeError, match=REFUSED) as caught:
            sock.connect(address)
        with pytest.raises(RuntimeError, match=REFUSED):
            sock.connect_ex(address)
    assert f"{address[0]} port 443" in str(caught.value)
    assert not isinstance(caught.value, OSError)  # no client may retry it as a network error


def test_create_connection_and_datagrams_past_loopback_are_refused() -> None:
    with pytest.raises(RuntimeError, match=re.escape("192.0.2.1 port 80")):
        socket.create_connection(("192.0.2.1", 80), timeout=0.5)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        pytest.raises(RuntimeError, match=re.escape("a datagram to 192.0.2.1 port 53")),
    ):
        udp.sendto(b"x", ("192.0.2.1", 53))


def test_a_name_other_than_localhost_is_not_even_looked_up(resolver: list[object]) -> None:
    with pytest.raises(RuntimeError, match=re.escape("a lookup of api.anthropic.com")):
        socket.getaddrinfo("api.anthropic.com", 443)
    with pytest.raises(RuntimeError, match=REFUSED):
        httpx.get("https://api.anthropic.com/v1/messages")
    assert resolver == []


@pytest.mark.asyncio
async def test_asyncio_and_the_agentkit_client_are_refused_too() -> None:
    with pytest.raises(RuntimeError, match=re.escape("192.0.2.1 port 9")):
        await asyncio.open_connection("192.0.2.1", 9)
    async with AsyncClient(api_key="sk-test", base_url="http://192.0.2.1:9", max_retries=0) as c:
        with pytest.raises(RuntimeError, match=re.escape("192.0.2.1 port 9")):
            await c.create({"model": "m", "max_tokens": 1, "messages": []})


# -- allowed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_connects(listener: int, host: str) -> None:
    with socket.create_connection((host, listener), timeout=5) as sock:
        assert sock.getpeername()[1] == listener


def test_ipv6_loopback_connects() -> None:
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with server, socket.create_connection(("::1", server.getsockname()[1]), timeout=5) as sock:
        assert sock.getpeername()[0] == "::1"


def test_loopback_names_and_addresses_are_resolved(resolver: list[object]) -> None:
    for host in ("localhost", "127.0.0.1", "::1", "192.0.2.1", None):
        socket.getaddrinfo(host, 80)
    assert resolver == ["localhost", "127.0.0.1", "::1", "192.0.2.1", None]


def test_unix_sockets_keep_working(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            peer, _ = server.accept()
            with peer:
                client.sendall(b"ping")
                assert peer.recv(4) == b"ping"
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"pong")
        assert right.recv(4) == b"pong"


# -- the private temporary root and the frozen clock --------------------------------------------


def test_each_session_has_its_own_temporary_root(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    root = Path(pytestconfig.option.basetemp)
    if not root.name.startswith("agentkit-tests-"):
        pytest.skip(f"--basetemp {root} names the root")
    assert tmp_path.parent == root and root.parent == Path(tempfile.gettempdir())


@pytest.mark.asyncio
async def test_a_timeout_fires_only_when_the_frozen_clock_passes_it(frozen_clock: Any) -> None:
    fired = anyio.Event()

    async def wait() -> None:
        with anyio.move_on_after(10):
            await anyio.sleep_forever()
        fired.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        for _ in range(20):
            await anyio.sleep(0)
        assert not fired.is_set()
        frozen_clock.advance(9.9)
        for _ in range(20):
            await anyio.sleep(0)
        assert not fired.is_set()
        frozen_clock.advance(0.2)
        await fired.wait()


# -- the summary line when the conformance corpus is absent ----------------------------------


class _Reporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str, **markup: bool) -> None:
        self.lines.append(line)


def test_the_summary_says_when_the_corpus_tests_were_skipped(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conftest = Path(__file__).with_name("conftest.py")
    plugin: Any = next(p for p in request.config.pluginmanager.get_plugins()
                       if getattr(p, "__file__", None) == str(conftest))
    reporter = _Reporter()
    monkeypatch.setattr(plugin, "CORPUS_DIR", tmp_path / "absent")
    plugin.pytest_terminal_summary(reporter)
    assert len(reporter.lines) == 1 and "conformance corpus absent" in reporter.lines[0]
    assert "skipped" in reporter.lines[0]
    reporter = _Reporter()
    monkeypatch.setattr(plugin, "CORPUS_DIR", tmp_path)
    plugin.pytest_terminal_summary(reporter)
    assert reporter.lines == []
