"""The readiness checks: is everything Docent needs there, and if not, what to do.

One set of checks for both doors: ``docent doctor`` prints them all (``label: detail``
and the fix), ``/readyz`` returns the readiness ones (``name``, ``ok``,
:attr:`Check.message`); optional features (OCR) are the doctor's alone. Ollama is asked
through :class:`retrieval.ollama_client.OllamaAdmin`.

To add a check, write an ``async def (settings, ollama) -> list[Check]`` and append it
to :data:`READINESS` (needed to serve) or :data:`CHECKS` (reported by the doctor).
"""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from retrieval.errors import DocentError, OllamaUnavailable
from retrieval.ollama_client import OllamaAdmin, normalise_model_name
from retrieval.settings import ChromaSettings, Settings

CHROMA_PROBE_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    """The outcome of one check.

    Attributes:
        name: stable id (``ollama``, ``embed_model``, ``chat_model``, ``chroma``).
        label: what a person reads (``embedding model``).
        ok: whether it passed.
        detail: what was found.
        fix: what to do about a failure.
        missing_model: the model to pull, when that is the failure.
    """

    name: str
    label: str
    ok: bool
    detail: str
    fix: str | None = None
    missing_model: str | None = None

    @property
    def message(self) -> str:
        """The detail, and the fix when there is one (one sentence each)."""
        return f"{self.detail}; fix: {self.fix}" if self.fix else self.detail


CheckGroup = Callable[[Settings, OllamaAdmin], Awaitable[list[Check]]]


def model_check(name: str, label: str, model: str, available: set[str]) -> Check:
    """Is ``model`` among the models Ollama lists?"""
    if normalise_model_name(model) in available:
        return Check(name, label, True, model)
    return Check(
        name, label, False, f"{model} is not pulled", f"ollama pull {model}", missing_model=model
    )


async def ollama_checks(settings: Settings, ollama: OllamaAdmin) -> list[Check]:
    """Ollama answers, and has both configured models (model checks only if it answers)."""
    try:
        available = await ollama.models()
    except OllamaUnavailable:
        return [
            Check(
                "ollama",
                "ollama",
                False,
                f"no answer at {ollama.url}",
                "start Ollama with `ollama serve`, or set OLLAMA_HOST to where it runs",
            )
        ]
    except DocentError as exc:
        return [
            Check(
                "ollama",
                "ollama",
                False,
                f"Ollama at {ollama.url} cannot list its models: {exc.message}",
                "check that OLLAMA_HOST points to an Ollama server",
            )
        ]
    return [
        Check("ollama", "ollama", True, f"Ollama at {ollama.url} lists {len(available)} models"),
        model_check("embed_model", "embedding model", settings.ollama.embed_model, available),
        model_check("chat_model", "chat model", settings.ollama.chat_model, available),
    ]


def _folder_problem(chroma: ChromaSettings) -> str | None:
    try:
        chroma.path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=chroma.path, prefix=".docent-doctor-"):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


async def chroma_checks(settings: Settings, ollama: OllamaAdmin) -> list[Check]:
    """Can Docent use its Chroma location: a writable folder, or a live server?"""
    chroma = settings.chroma
    if not chroma.is_server:
        problem = await asyncio.to_thread(_folder_problem, chroma)
        if problem is None:
            return [Check("chroma", "chroma", True, f"embedded at {chroma.path}")]
        return [
            Check(
                "chroma",
                "chroma",
                False,
                f"cannot write to {chroma.path} ({problem})",
                "set DOCENT_CHROMA_PATH to a writable folder",
            )
        ]
    scheme = "https" if chroma.ssl else "http"
    try:
        async with httpx.AsyncClient(timeout=CHROMA_PROBE_SECONDS) as http:
            answer = await http.get(f"{scheme}://{chroma.host}:{chroma.port}/api/v2/heartbeat")
            answer.raise_for_status()
    except httpx.HTTPError as exc:
        return [
            Check(
                "chroma",
                "chroma",
                False,
                f"Chroma server at {chroma.host}:{chroma.port} does not answer "
                f"({type(exc).__name__})",
                "start it with `chroma run --path DIR --port PORT`, or unset "
                "DOCENT_CHROMA_HOST to use embedded Chroma",
            )
        ]
    return [Check("chroma", "chroma", True, f"server at {chroma.host}:{chroma.port}")]


OCR_MODULES = ("rapidocr", "onnxruntime", "pypdfium2", "PIL")
"""What OCR needs (as ``ingest.ocr.REQUIRED_MODULES``; retrieval may not import ingest)."""


def check_ocr(settings: Settings) -> Check:
    """Is OCR (the optional ``ocr`` extra) there? Never fails: it only says how to enable."""
    if not settings.ingest.ocr:
        detail = "off (DOCENT_OCR=false): scanned pages and images end as no_text"
        return Check("ocr", "ocr", True, detail)
    missing = [name for name in OCR_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return Check(
            "ocr",
            "ocr",
            True,
            f"not installed (missing {', '.join(missing)}): scanned pages and images end as "
            "no_text",
            'pip install -e ".[ocr]"  (or: bash scripts/setup.sh)',
        )
    return Check(
        "ocr", "ocr", True, f"RapidOCR, up to {settings.ingest.ocr_max_pages} pages a file"
    )


async def ocr_checks(settings: Settings, ollama: OllamaAdmin) -> list[Check]:
    """The OCR check, as a check group."""
    return [check_ocr(settings)]


READINESS: tuple[CheckGroup, ...] = (ollama_checks, chroma_checks)
"""What Docent needs to serve (``/readyz``), in the order the checks are reported."""
CHECKS: tuple[CheckGroup, ...] = (*READINESS, ocr_checks)
"""Every check group ``docent doctor`` reports: readiness, then optional features."""


async def run_checks(
    settings: Settings, ollama: OllamaAdmin, groups: Sequence[CheckGroup] = CHECKS
) -> list[Check]:
    """Run check groups concurrently (default: all); the checks in the groups' order."""
    results = await asyncio.gather(*(group(settings, ollama) for group in groups))
    return [check for group in results for check in group]


def missing_models(checks: list[Check]) -> list[str]:
    """The models that failed checks say to pull."""
    return [check.missing_model for check in checks if check.missing_model is not None]
