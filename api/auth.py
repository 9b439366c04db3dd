"""Bearer API keys (``DOCENT_API_KEYS``), compared in constant time.

The Ollama and OpenAI clients send the same header (``Authorization: Bearer <key>``):
``ollama.Client(headers=...)`` or ``OLLAMA_API_KEY``, and ``openai.OpenAI(api_key=...)``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence

from fastapi import Request

from api.deps import SettingsDep
from retrieval.errors import Unauthorized


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def key_matches(token: str, keys: Sequence[str]) -> bool:
    """Whether ``token`` is one of ``keys``; every key is compared, in constant time."""
    given = token.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched


def check_api_key(authorization: str | None, keys: Sequence[str]) -> None:
    """Refuse an ``Authorization`` header without an accepted key (no-op without keys).

    Raises:
        Unauthorized: the header is missing, malformed or carries an unknown key.
    """
    if not keys:
        return
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized(
            "Missing API key. Send `Authorization: Bearer <key>` with one of DOCENT_API_KEYS."
        )
    if not key_matches(token, keys):
        raise Unauthorized("Invalid API key. Use one of the keys in DOCENT_API_KEYS.")


async def require_api_key(request: Request, settings: SettingsDep) -> None:
    """Refuse the request unless it carries an accepted key (no-op when no keys are set).

    :class:`api.edge.EdgeGuard` already refuses such requests before their bodies are
    read; this dependency also marks the routes that need a key (the guard reads it).

    Raises:
        Unauthorized: the header is missing, malformed or carries an unknown key.
    """
    check_api_key(request.headers.get("authorization"), settings.api.api_keys)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
