"""Where a client's requests go: the default transports' TLS trust, shared by every client,
and the proxy switch. What a client does with its route is in `test_client.py`."""

import threading

import certifi
import pytest

from agentkit._api import transport
from agentkit._api.transport import env_proxies, tls_verify


def test_env_proxies_sees_https_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme in ("http", "https", "all"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    assert not env_proxies()
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert env_proxies()


def test_tls_contexts_are_built_once_per_trust_and_shared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A context costs ~2 ms of CPU and the CA bundle ~20 ms more: each client used to build
    # its own. Plain http:// trusts nothing; https:// the CA bundle, or SSL_CERT_FILE's.
    monkeypatch.setattr(transport, "_TLS_CONTEXTS", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    trusted = tls_verify("https://api.example.com")
    assert tls_verify("HTTPS://other.example.com:8443") is trusted
    assert trusted.cert_store_stats()["x509_ca"] > 0
    plain = tls_verify("http://127.0.0.1:9")
    assert tls_verify("HTTP://localhost") is plain and plain is not trusted
    assert plain.cert_store_stats()["x509_ca"] == 0
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    own = tls_verify("https://api.example.com")
    assert own is not trusted and own.cert_store_stats()["x509_ca"] > 0
    assert tls_verify("https://api.example.com") is own


def test_a_tls_context_needed_in_two_threads_at_once_is_built_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "_TLS_CONTEXTS", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    start, got = threading.Barrier(2), []

    def make() -> None:
        start.wait()
        got.append(tls_verify("https://api.example.com"))

    threads = [threading.Thread(target=make) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 2 and got[0] is got[1]
