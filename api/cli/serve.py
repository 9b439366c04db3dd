"""``docent serve``: run the API with uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

SWITCH_INTERVAL_S = 0.001
"""How long a thread may keep the GIL while another waits for it, in ``docent serve``.

Python's default is 5 ms: with a writer's analysis or a search's Python work running in
worker threads, the event loop waited up to that long at every switch, several times per
request. At 1 ms, with two threads analysing text beside an event loop (measured here,
two alternating runs of 3 s each), the loop's lag went from 12-14 ms to 2.5 ms p50 and
from 180-220 ms to 50-70 ms p99, and a thread hop's p99 from 96-130 ms to 20-22 ms. Native
code that keeps the GIL (embedded Chroma's writes) is not interrupted either way.
"""


def exposure_problem(host: str, api_keys: Sequence[str], allow_unauthenticated: bool) -> str | None:
    """Why serving on ``host`` would be unsafe, or None when it is fine."""
    from api.auth import is_loopback

    if is_loopback(host) or api_keys or allow_unauthenticated:
        return None
    return (
        f"Refusing to serve on {host} without API keys: anyone who can reach it could read "
        "your documents. Set DOCENT_API_KEYS=key1,key2 (clients send "
        "`Authorization: Bearer <key>`), bind to 127.0.0.1, or pass --allow-unauthenticated."
    )


def serve_command(
    host: Annotated[
        str, typer.Option(help="Address to bind; non-loopback addresses need API keys.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
    allow_unauthenticated: Annotated[
        bool,
        typer.Option(
            "--allow-unauthenticated",
            help="Serve on a non-loopback address without DOCENT_API_KEYS (not recommended).",
        ),
    ] = False,
) -> None:
    """Serve the native API, the Ollama-compatible facade and the OpenAI-compatible endpoints."""
    import uvicorn

    from retrieval.errors import StoreLocked
    from retrieval.locks import WriterClaim
    from retrieval.settings import get_settings

    settings = get_settings()
    problem = exposure_problem(host, settings.api.api_keys, allow_unauthenticated)
    if problem:
        raise typer.BadParameter(problem, param_hint="--host")
    # embedded Chroma serves one process: hold it while serving (see retrieval.locks)
    claim = None if settings.chroma.is_server else WriterClaim(settings.chroma.path.expanduser())
    try:
        if claim is not None:
            claim.acquire(f"docent serve at http://{host}:{port}")
    except StoreLocked as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        uvicorn.run("api.app:create_served_app", factory=True, host=host, port=port)
    finally:
        if claim is not None:
            claim.release()
