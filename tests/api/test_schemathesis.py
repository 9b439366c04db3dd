"""Property-based tests from the app's own OpenAPI schema: no input makes a 5xx, and
every status is documented, and every response with a documented schema matches it (body and
content type).

Runs against the app wired with fakes (ScriptedChat, FakeEmbedder, in-memory Chroma).
Every operation is included, streaming and upload routes too; 15 examples each in the
default run, 100 with ``DOCENT_FULL_SUITE=1`` (the hostile-input suite of issue 10).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.services import Services
from retrieval.store import ChunkStore
from tests.api.conftest import COLLECTION, DOCS, FakeUpstream, fake_runtime, make_settings
from tests.fakes import FakeEmbedder, ScriptedChat
from tests.stores import fill_store


def build_app() -> FastAPI:
    """The app with fakes; built at import because schemathesis parametrizes from it."""
    path = Path(tempfile.mkdtemp(prefix="docent-schemathesis-"))
    # schemathesis calls the app as http://testserver: a configured host name
    app_settings = make_settings(path, max_upload_mb=1, allowed_hosts=["testserver"])
    embedder = FakeEmbedder()
    store = ChunkStore.ephemeral()
    asyncio.run(fill_store(store, COLLECTION, DOCS, embedder))
    runtime = fake_runtime(app_settings, store, embedder, ScriptedChat(), FakeUpstream())
    services = Services.from_runtime(runtime)
    return create_app(services=services)


EXAMPLES = 100 if os.environ.get("DOCENT_FULL_SUITE") == "1" else 15

schema = schemathesis.openapi.from_asgi("/openapi.json", build_app())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            response_schema_conformance,
            content_type_conformance,
        ]
    )
