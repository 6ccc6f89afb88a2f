"""Where a client's requests go: the default transports' TLS trust, shared by every client,
and the proxy switch. What a client does with its route is in `test_client.py`."""

import datetime
import ipaddress
import ssl
import threading
from pathlib import Path

import certifi
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from loopback import LoopbackServer

from agentkit._api import transport
from agentkit._api.client import AsyncClient
from agentkit._api.transport import env_proxies, tls_verify
from agentkit._errors import APIConnectionError


def test_env_proxies_sees_https_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme in ("http", "https", "all"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    assert not env_proxies()
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert env_proxies()


def test_tls_contexts_are_built_once_per_trust_and_shared(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
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
    own_bundle = tmp_path / "corporate.pem"
    own_bundle.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(own_bundle))
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


class _Authority:
    """A certificate authority made for one test: its certificate as a CA bundle's PEM, and
    server certificates for 127.0.0.1 it signs."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            self._builder(self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def _builder(
        self, subject: x509.Name, key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )

    def server_context(self, folder: Path) -> ssl.SSLContext:
        """A TLS server context for 127.0.0.1 with a certificate this authority signed."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        cert = (
            self._builder(subject, key.public_key())
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        chain, secret = folder / "server.pem", folder / "server.key"
        chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        secret.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(chain, secret)
        return context


async def _count(request: web.Request) -> web.Response:
    return web.json_response({"input_tokens": 7})


@pytest.mark.asyncio
async def test_a_ca_bundle_rewritten_in_place_is_trusted_by_the_clients_made_after_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A corporate bundle refreshed, or certifi upgraded in place: the same path, new CAs. A
    # client made after the rewrite trusts the new ones; clients made before keep theirs.
    monkeypatch.setattr(transport, "_TLS_CONTEXTS", {})
    old, new = _Authority("Old CA"), _Authority("Example Corporate Root CA, renewed in 2026")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(old.pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    app = web.Application()
    app.router.add_post("/v1/messages/count_tokens", _count)
    server = LoopbackServer(app, host="127.0.0.1")
    await server.start_server(ssl=new.server_context(tmp_path))
    url = f"https://127.0.0.1:{server.port}"
    try:
        before = AsyncClient(api_key="k", base_url=url, max_retries=0)
        assert tls_verify(url) is tls_verify(url)  # an unchanged bundle: one context, shared
        bundle.write_bytes(new.pem)
        after = AsyncClient(api_key="k", base_url=url, max_retries=0)
        async with before, after:
            assert (await after.count_tokens(model="m", messages=[])).input_tokens == 7
            with pytest.raises(APIConnectionError, match="certificate verify failed"):
                await before.count_tokens(model="m", messages=[])
        assert tls_verify(url) is tls_verify(url)
    finally:
        await server.close()


def _subjects(context: ssl.SSLContext) -> list[str]:
    """The common names of the CAs `context` trusts, sorted."""
    return sorted(str(dict(rdn[0] for rdn in ca["subject"])["commonName"])
                  for ca in context.get_ca_certs())


def test_certifi_upgraded_in_place_gives_the_clients_made_after_a_new_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Without SSL_CERT_FILE / SSL_CERT_DIR the trust is certifi's bundle, watched the same way.
    monkeypatch.setattr(transport, "_TLS_CONTEXTS", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    bundle = tmp_path / "cacert.pem"
    bundle.write_bytes(_Authority("Old CA").pem)
    monkeypatch.setattr(certifi, "where", lambda: str(bundle))
    first = tls_verify("https://api.example.com")
    assert tls_verify("https://api.example.com") is first and _subjects(first) == ["Old CA"]
    bundle.write_bytes(_Authority("Upgraded Root CA").pem + _Authority("Second CA").pem)
    second = tls_verify("https://api.example.com")
    assert second is not first and _subjects(second) == ["Second CA", "Upgraded Root CA"]
    assert tls_verify("https://other.example.com") is second
    assert _subjects(first) == ["Old CA"]  # a client made before keeps what it trusted
