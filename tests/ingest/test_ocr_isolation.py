"""OCR inside the isolated reader, the settings that steer it, ``docent doctor``'s OCR line,
and a machine without the ``ocr`` extra (simulated in a child process)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from ingest.chunking import ChunkingPlan
from ingest.isolation import IsolatedReader
from ingest.ocr import INSTALL_HINT, REQUIRED_MODULES, OcrOptions, failure_reason
from ingest.results import FileFailure
from retrieval.doctor import OCR_MODULES, check_ocr, run_checks
from retrieval.ollama_client import OllamaAdmin
from retrieval.settings import IngestSettings, Settings
from tests.ingest.ocr_fixtures import AUDIT, PUMP, scanned_pdf, word_recall

PLAN = ChunkingPlan(size=60, overlap=8, limit=126)


@pytest.fixture(scope="module")
def reader():
    reader = IsolatedReader(workers=1, timeout_seconds=120, memory_mb=2048)
    yield reader
    reader.close()


def test_a_scan_is_ocrd_in_the_worker(reader):
    outcome = reader.read("scan.pdf", scanned_pdf(AUDIT, PUMP), PLAN)
    assert outcome.ocr_pages == {1, 2}
    page_two = " ".join(p.text for p in outcome.pieces if p.page == 2)
    assert word_recall(PUMP, page_two) >= 0.95


def test_the_workers_ocr_options_come_from_the_reader():
    off = IsolatedReader(1, 60, 2048, ocr=OcrOptions(enabled=False))
    spent = IsolatedReader(1, 60, 2048, ocr=OcrOptions(time_budget_seconds=-1))
    try:
        with pytest.raises(FileFailure) as no_ocr:
            off.read("scan.pdf", scanned_pdf(AUDIT), PLAN)
        assert no_ocr.value.message == "no text layer (scanned?); OCR is off (DOCENT_OCR=false)"
        with pytest.raises(FileFailure) as no_time:
            spent.read("scan.pdf", scanned_pdf(AUDIT), PLAN)
        assert "no page was read by OCR" in no_time.value.message
    finally:
        off.close()
        spent.close()


def test_ocr_out_of_memory_is_reported_with_the_setting_to_raise():
    small = IsolatedReader(1, 120, 700)
    try:
        with pytest.raises(FileFailure) as caught:
            small.read("scan.pdf", scanned_pdf(AUDIT), PLAN)
    finally:
        small.close()
    assert caught.value.reason == "no_text"
    assert caught.value.message == (
        "no text layer (scanned?), and no page was read by OCR; OCR failed on page(s) 1: "
        "needs more memory than DOCENT_INGEST_FILE_MEMORY_MB allows (1536 or more)"
    )


def test_an_engine_that_cannot_be_loaded_within_the_memory_cap_is_reported_as_memory():
    # under an address-space cap the loader may fail to map one of the engine's native
    # libraries while it is imported: Python raises ImportError, not MemoryError (it made
    # the test above fail once, with the reason "ImportError")
    probe = textwrap.dedent(
        """
        import resource
        from ingest.ocr import failure_reason
        resource.setrlimit(resource.RLIMIT_AS, (250 * 2**20, 250 * 2**20))
        try:
            from rapidocr import RapidOCR
            RapidOCR()
        except ImportError as exc:
            print(failure_reason(exc))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip() == (
        "needs more memory than DOCENT_INGEST_FILE_MEMORY_MB allows (1536 or more)"
    ), done.stderr[-2000:]
    assert failure_reason(ImportError("No module named 'rapidocr'")) == "ImportError"


def test_ocr_stops_starting_pages_before_the_file_times_out():
    reader = IsolatedReader(1, 8.0, 2048)
    assert reader.ocr.time_budget_seconds == 6.0
    explicit = IsolatedReader(1, 8.0, 2048, ocr=OcrOptions(time_budget_seconds=2.0))
    assert explicit.ocr.time_budget_seconds == 2.0
    reader.close()
    explicit.close()


def test_settings_turn_ocr_off_and_set_the_page_budget(monkeypatch):
    monkeypatch.setenv("DOCENT_OCR", "false")
    monkeypatch.setenv("DOCENT_OCR_MAX_PAGES", "7")
    monkeypatch.setenv("DOCENT_INGEST_FILE_TIMEOUT_SECONDS", "40")
    options = OcrOptions.from_settings(IngestSettings())
    assert options == OcrOptions(enabled=False, max_pages=7, time_budget_seconds=30.0)
    assert IngestSettings(ocr=True).ocr is True


def test_doctor_says_whether_ocr_is_on():
    settings = Settings()
    assert OCR_MODULES == REQUIRED_MODULES
    check = check_ocr(settings)
    assert (check.name, check.ok, check.fix) == ("ocr", True, None)
    assert check.detail.startswith("RapidOCR")
    settings.ingest.ocr = False
    off = check_ocr(settings)
    assert off.ok
    assert "DOCENT_OCR=false" in off.detail
    assert asyncio.run(check_names(settings))[-1] == "ocr"


async def check_names(settings: Settings) -> list[str]:
    admin = OllamaAdmin(settings.ollama.base_url)
    try:
        return [check.name for check in await run_checks(settings, admin)]
    finally:
        await admin.aclose()


WITHOUT_OCR = textwrap.dedent(
    """
    import json, sys

    sys.modules["rapidocr"] = None  # as if not installed: find_spec None, import fails
    from ingest.loaders import load_document
    from ingest.results import FileFailure
    from retrieval.doctor import check_ocr
    from retrieval.settings import Settings

    data = open(sys.argv[1], "rb").read()
    try:
        load_document("scan.pdf", data)
        failure = None
    except FileFailure as exc:
        failure = [exc.reason, exc.message]
    check = check_ocr(Settings())
    print(json.dumps({"failure": failure, "doctor": [check.ok, check.detail, check.fix]}))
    """
)


def test_without_the_extra_scans_stay_no_text_and_doctor_says_how_to_enable(tmp_path):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned_pdf(AUDIT))
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OCR, str(scan)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["failure"] == [
        "no_text",
        f"no text layer (scanned?); OCR is not installed: {INSTALL_HINT}",
    ]
    ok, detail, fix = result["doctor"]
    assert ok is True  # OCR is optional: doctor does not fail without it
    assert detail.startswith("not installed (missing rapidocr)")
    assert fix == INSTALL_HINT
