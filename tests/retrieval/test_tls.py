"""TLS of the Ollama clients: no certificates read for ``http://`` hosts, https verified.

Real TLS on localhost: a server with a self-signed certificate, trusted (or not) through
``SSL_CERT_FILE``, as httpx's default context reads it.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from retrieval.errors import OllamaUnavailable
from retrieval.ollama_client import OllamaAdmin, make_async_client
from retrieval.tls import DeferredTrustContext, client_verify


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _Tags(BaseHTTPRequestHandler):
    """``GET /api/tags`` answers one model; with a ``target``, everything redirects there."""

    target = ""

    def do_GET(self) -> None:
        if not self.target:
            body = json.dumps({"models": [{"model": "served-over-tls:latest"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(307)
            self.send_header("Location", f"{self.target}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


def _serve(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    served, key = _self_signed(tmp_path, "served")
    other, _ = _self_signed(tmp_path, "other")
    return {"served": served, "key": key, "other": other}


@pytest.fixture
def https_host(certs: dict[str, Path]) -> Iterator[str]:
    """An HTTPS server on localhost with the ``served`` certificate."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tags)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["served"], certs["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


@pytest.fixture
def redirecting_http_host(https_host: str) -> Iterator[str]:
    """A plain HTTP server redirecting every request to the HTTPS one."""
    handler = type("Redirect", (_Tags,), {"target": f"https://{https_host}"})
    yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), handler))


def test_an_http_host_gets_a_verifying_context_without_certificates_read() -> None:
    context = client_verify("http://localhost:11434")

    assert isinstance(context, DeferredTrustContext)
    assert not context.trust_loaded
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


async def test_clients_of_an_http_host_read_no_certificates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import certifi

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    reads: list[str] = []
    where = certifi.where
    monkeypatch.setattr(certifi, "where", lambda: reads.append("read") or where())

    admin = OllamaAdmin("http://127.0.0.1:11434")
    clients = [make_async_client("http://h:1", 5.0)]
    assert reads == []
    clients.append(make_async_client("https://h:1", 5.0))  # the probe sees a default context
    assert reads == ["read"]
    await admin.aclose()
    for client in clients:
        await client.close()


def test_an_https_host_keeps_httpx_default_verification() -> None:
    assert client_verify("https://ollama.example:443") is True
    assert client_verify("HTTPS://ollama.example:443") is True


async def test_an_https_host_is_verified(
    https_host: str, certs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["served"]))
    admin = OllamaAdmin(f"https://{https_host}")
    try:
        assert await admin.models() == {"served-over-tls:latest"}
    finally:
        await admin.aclose()

    monkeypatch.setenv("SSL_CERT_FILE", str(certs["other"]))
    untrusting = OllamaAdmin(f"https://{https_host}")
    try:
        with pytest.raises(OllamaUnavailable):
            await untrusting.models()
    finally:
        await untrusting.aclose()


@pytest.mark.parametrize("trusted", [True, False])
async def test_an_http_host_redirecting_to_https_is_verified(
    redirecting_http_host: str,
    certs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    trusted: bool,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["served" if trusted else "other"]))
    admin = OllamaAdmin(f"http://{redirecting_http_host}")
    try:
        if trusted:
            assert await admin.models() == {"served-over-tls:latest"}
        else:
            with pytest.raises(OllamaUnavailable):
                await admin.models()
    finally:
        await admin.aclose()


def test_the_deferred_context_loads_its_certificates_once(
    certs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["served"]))
    context = DeferredTrustContext()

    context.load_trust()
    context.load_trust()

    assert context.trust_loaded
    assert context.cert_store_stats()["x509_ca"] == 1
