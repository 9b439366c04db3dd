"""Start-up: the ingest path imports a format's library only when a file of it is read."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pypdf", "docx", "selectolax", "langchain_text_splitters", "bm25s", "scipy")


def imported_after(code: str) -> list[str]:
    """Which of :data:`HEAVY` a fresh interpreter has imported after running ``code``."""
    report = f"import json, sys; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, check=True
    )
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_ingest_command_path_imports_no_format_library() -> None:
    code = "import api.cli.ingest, ingest.runtime, ingest.service, ingest.stages, retrieval.search"
    assert imported_after(code) == []


def test_reading_a_text_file_imports_only_what_text_needs() -> None:
    code = (
        "from ingest.chunking import ChunkingPlan\n"
        "from ingest.reading import read_and_split\n"
        "plan = ChunkingPlan(size=64, overlap=8, limit=128)\n"
        "out = read_and_split('a.txt', b'Plain words. ' * 50, plan)\n"
        "assert out.pieces"
    )
    assert imported_after(code) == []


def test_reading_a_pdf_imports_pypdf() -> None:
    code = (
        "from ingest.loaders import load_document\n"
        "from ingest.results import FileFailure\n"
        "try:\n    load_document('a.pdf', b'not a pdf')\nexcept FileFailure:\n    pass"
    )
    assert imported_after(code) == ["pypdf"]


def test_what_docent_ingest_starts_before_its_imports_is_light() -> None:
    """The progress display, the scan and the reader server start before chromadb is imported.

    See ``api.cli.ingest.run_ingest``: none of them may import it, or rich, themselves.
    """
    code = (
        "import sys, api.cli.ingest, ingest.progress, ingest.scan, ingest.reader_server\n"
        "heavy = ('chromadb', 'rich', 'ollama', 'ingest.pipeline')\n"
        "assert [m for m in heavy if m in sys.modules] == []"
    )
    assert imported_after(code) == []
