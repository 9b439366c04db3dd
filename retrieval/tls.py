"""TLS for Docent's HTTP clients to plain ``http://`` hosts: certificates loaded on first use.

An httpx client builds its TLS context when it is created, and httpx's default context
reads every trusted CA certificate (certifi's bundle, about 150): 20-50 ms each, and Docent
builds several clients at start-up (the embedder's per host, the chat model's, the admin
ones) whose hosts are usually ``http://localhost``, where no TLS is ever spoken. For such
a host the client gets a :class:`DeferredTrustContext` instead: the same verification
(hostname checked, certificate required), with the same trusted certificates as httpx
would load, read only when a TLS connection is actually made (e.g. a redirect to
``https://``). ``https://`` hosts keep httpx's own default context.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import urllib.parse


class DeferredTrustContext(ssl.SSLContext):
    """A verifying client context that loads its trusted certificates when first used.

    The certificates are httpx's defaults: ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set,
    else certifi's bundle.
    """

    def __new__(cls) -> DeferredTrustContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self) -> None:
        super().__init__()
        self._trust_lock = threading.Lock()
        self.trust_loaded = False
        """Whether the trusted certificates have been read (a TLS connection was made)."""

    def load_trust(self) -> None:
        """Read the trusted certificates now (once; later calls do nothing)."""
        with self._trust_lock:
            if self.trust_loaded:
                return
            if os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self.trust_loaded = True

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        self.load_trust()
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            session=session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        self.load_trust()
        return super().wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
            session=session,
        )


def client_verify(url: str) -> ssl.SSLContext | bool:
    """The ``verify`` argument of an httpx client for ``url``.

    ``True`` (httpx's default context, built now) for an ``https://`` URL; for any other,
    a :class:`DeferredTrustContext`, which costs nothing unless TLS is spoken.
    """
    if urllib.parse.urlsplit(url).scheme.lower() == "https":
        return True
    return DeferredTrustContext()
