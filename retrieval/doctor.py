"""``docent doctor``: is everything Docent needs there, and if not, what exactly to do."""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import ollama

from retrieval.ollama_client import make_client
from retrieval.settings import Settings


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def normalise_model_name(name: str) -> str:
    """``llama3.2`` and ``llama3.2:latest`` are the same model to Ollama."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def check_ollama(settings: Settings) -> tuple[Check, set[str] | None]:
    """Ask Ollama for its version and its model list."""
    url = settings.ollama.base_url
    timeout = min(settings.ollama.timeout_seconds, 10.0)
    client = make_client(url, timeout=timeout)
    try:
        answer = httpx.get(f"{url}/api/version", timeout=timeout)
        answer.raise_for_status()
        version = answer.json().get("version", "?")
        models = {normalise_model_name(m.model or "") for m in client.list().models}
    except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as exc:
        return (
            Check(
                "ollama",
                False,
                f"no answer at {url} ({type(exc).__name__})",
                "start Ollama with `ollama serve`, or set OLLAMA_HOST to where it runs",
            ),
            None,
        )
    return Check("ollama", True, f"Ollama {version} at {url}"), models


def check_model(role: str, model: str, available: set[str] | None) -> Check:
    """Is ``model`` among the models Ollama lists?"""
    name = f"{role} model"
    if available is None:
        return Check(name, False, f"{model}: cannot tell, Ollama is not answering")
    if normalise_model_name(model) in available:
        return Check(name, True, model)
    return Check(name, False, f"{model} is not pulled", f"ollama pull {model}")


def check_chroma(settings: Settings) -> Check:
    """Can Docent use its Chroma location (a writable folder, or a live server)?"""
    chroma = settings.chroma
    if chroma.is_server:
        scheme = "https" if chroma.ssl else "http"
        url = f"{scheme}://{chroma.host}:{chroma.port}/api/v2/heartbeat"
        try:
            httpx.get(url, timeout=5.0).raise_for_status()
        except httpx.HTTPError as exc:
            return Check(
                "chroma",
                False,
                f"Chroma server at {chroma.host}:{chroma.port} does not answer "
                f"({type(exc).__name__})",
                "start it with `chroma run --path DIR --port PORT`, or unset "
                "DOCENT_CHROMA_HOST to use embedded Chroma",
            )
        return Check("chroma", True, f"server at {chroma.host}:{chroma.port}")
    path = chroma.path
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".docent-doctor-"):
            pass
    except OSError as exc:
        return Check(
            "chroma",
            False,
            f"cannot write to {path} ({exc.strerror or type(exc).__name__})",
            "set DOCENT_CHROMA_PATH to a writable folder",
        )
    return Check("chroma", True, f"embedded at {path}")


OCR_MODULES = ("rapidocr", "onnxruntime", "pypdfium2", "PIL")
"""What OCR needs (as ``ingest.ocr.REQUIRED_MODULES``; retrieval may not import ingest)."""


def check_ocr(settings: Settings) -> Check:
    """Is OCR (the optional ``ocr`` extra) there? Never fails: it only says how to enable."""
    if not settings.ingest.ocr:
        return Check("ocr", True, "off (DOCENT_OCR=false): scanned pages and images end as no_text")
    missing = [name for name in OCR_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return Check(
            "ocr",
            True,
            f"not installed (missing {', '.join(missing)}): scanned pages and images end as "
            "no_text",
            'pip install -e ".[ocr]"  (or: bash scripts/setup.sh)',
        )
    return Check("ocr", True, f"RapidOCR, up to {settings.ingest.ocr_max_pages} pages a file")


def run_checks(settings: Settings) -> list[Check]:
    """All checks, in the order they are printed."""
    ollama_check, models = check_ollama(settings)
    return [
        ollama_check,
        check_model("embedding", settings.ollama.embed_model, models),
        check_model("chat", settings.ollama.chat_model, models),
        check_chroma(settings),
        check_ocr(settings),
    ]


@dataclass(frozen=True)
class PullProgress:
    """One status line of ``/api/pull``."""

    status: str
    completed: int | None
    total: int | None


def pull_model(settings: Settings, model: str) -> Iterator[PullProgress]:
    """Pull ``model`` through Ollama's ``/api/pull``, yielding its progress."""
    client = make_client(settings.ollama.base_url, timeout=3600.0)
    for part in client.pull(model, stream=True):
        yield PullProgress(part.status or "", part.completed, part.total)


def missing_models(checks: list[Check], settings: Settings) -> list[str]:
    """The configured models that a failed check says are not pulled."""
    roles: dict[str, Callable[[], str]] = {
        "embedding model": lambda: settings.ollama.embed_model,
        "chat model": lambda: settings.ollama.chat_model,
    }
    return [
        roles[c.name]()
        for c in checks
        if c.name in roles and not c.ok and c.fix and c.fix.startswith("ollama pull")
    ]
