"""``docent doctor`` against a real (stand-in or real) Ollama, through the installed command."""

import os
import subprocess
import sys
from pathlib import Path


def run_doctor(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update(env_overrides)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_all_checks_pass(ollama_host, embed_model, chat_model, tmp_path):
    result = run_doctor(
        {
            "OLLAMA_HOST": ollama_host,
            "DOCENT_EMBED_MODEL": embed_model,
            "DOCENT_CHAT_MODEL": chat_model,
            "DOCENT_CHROMA_PATH": str(tmp_path / "chroma"),
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * 5
    assert "ocr: RapidOCR, up to 30 pages a file" in result.stdout
    assert f"embedding model: {embed_model}" in result.stdout
    assert f"chat model: {chat_model}" in result.stdout


def test_missing_model_prints_the_exact_pull_command(ollama_host, embed_model, tmp_path):
    result = run_doctor(
        {
            "OLLAMA_HOST": ollama_host,
            "DOCENT_EMBED_MODEL": embed_model,
            "DOCENT_CHAT_MODEL": "no-such-model:7b",
            "DOCENT_CHROMA_PATH": str(tmp_path / "chroma"),
        }
    )
    assert result.returncode == 1
    assert "FAIL chat model: no-such-model:7b is not pulled" in result.stdout
    assert "fix: ollama pull no-such-model:7b" in result.stdout


def test_pull_of_an_unknown_model_reports_it_and_fails(ollama_host, embed_model, tmp_path):
    result = run_doctor(
        {
            "OLLAMA_HOST": ollama_host,
            "DOCENT_EMBED_MODEL": embed_model,
            "DOCENT_CHAT_MODEL": "no-such-model:7b",
            "DOCENT_CHROMA_PATH": str(tmp_path / "chroma"),
        },
        "--pull",
    )
    assert result.returncode == 1
    assert "could not pull no-such-model:7b" in result.stdout


def test_ollama_down_and_unwritable_chroma_are_both_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_doctor(
        {"OLLAMA_HOST": "127.0.0.1:9", "DOCENT_CHROMA_PATH": str(Path(blocker) / "chroma")}
    )
    assert result.returncode == 1
    assert "FAIL ollama: no answer at http://127.0.0.1:9" in result.stdout
    assert "fix: start Ollama with `ollama serve`" in result.stdout
    assert "FAIL chroma: cannot write to" in result.stdout
    assert "fix: set DOCENT_CHROMA_PATH to a writable folder" in result.stdout


def test_chroma_server_down_is_reported(tmp_path):
    result = run_doctor(
        {"OLLAMA_HOST": "127.0.0.1:9", "DOCENT_CHROMA_HOST": "127.0.0.1", "DOCENT_CHROMA_PORT": "9"}
    )
    assert "FAIL chroma: Chroma server at 127.0.0.1:9 does not answer" in result.stdout
