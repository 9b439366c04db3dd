"""The settings tree: environment variables, .env, and OLLAMA_HOST as Ollama reads it."""

from pathlib import Path

import pytest

from retrieval.settings import Settings, get_settings, parse_ollama_host


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("example.com", "http://example.com:11434"),
        ("example.com:56789", "http://example.com:56789"),
        ("http://example.com", "http://example.com:80"),
        ("https://example.com", "https://example.com:443"),
        ("https://example.com:56789/path/", "https://example.com:56789/path"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("[::1]:9999", "http://[::1]:9999"),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
    ],
)
def test_ollama_host_is_read_like_the_ollama_client(raw, expected):
    assert parse_ollama_host(raw) == expected


def test_defaults_are_for_real_users(monkeypatch, tmp_path):
    for name in ("OLLAMA_HOST", "DOCENT_EMBED_MODEL", "DOCENT_CHAT_MODEL", "DOCENT_CHROMA_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.ollama.base_url == "http://127.0.0.1:11434"
    assert settings.ollama.embed_model == "nomic-embed-text"
    assert settings.ollama.chat_model == "llama3.2"
    assert settings.chroma.path.name == "chroma"
    assert "docent" in str(settings.chroma.path)
    assert not settings.chroma.is_server


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:1234")
    monkeypatch.setenv("DOCENT_OLLAMA_HOSTS", "a:1, b:2,a:1")
    monkeypatch.setenv("DOCENT_EMBED_MODEL", "all-minilm")
    monkeypatch.setenv("DOCENT_CHAT_MODEL", "smollm2:135m")
    monkeypatch.setenv("DOCENT_CHROMA_PATH", str(tmp_path / "idx"))
    monkeypatch.setenv("DOCENT_CHROMA_HOST", "chroma.local")
    monkeypatch.setenv("DOCENT_CHUNK_SIZE", "128")
    monkeypatch.setenv("DOCENT_API_KEYS", "k1,k2")
    monkeypatch.setenv("DOCENT_MAX_UPLOAD_MB", "3")
    settings = Settings()
    assert settings.ollama.base_url == "http://gpu-box:1234"
    assert settings.ollama.embed_urls == ["http://a:1", "http://b:2"]
    assert settings.ollama.embed_model == "all-minilm"
    assert settings.ollama.chat_model == "smollm2:135m"
    assert settings.chroma.path == tmp_path / "idx"
    assert settings.chroma.is_server
    assert settings.chunking.size == 128
    assert settings.api.api_keys == ["k1", "k2"]
    assert settings.api.max_upload_mb == 3


def test_embed_urls_default_to_ollama_host(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:5555")
    monkeypatch.delenv("DOCENT_OLLAMA_HOSTS", raising=False)
    assert Settings().ollama.embed_urls == ["http://127.0.0.1:5555"]


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOCENT_CHAT_MODEL", raising=False)
    Path(".env").write_text("DOCENT_CHAT_MODEL=from-dotenv\nDOCENT_RETRIEVAL_K=9\n")
    settings = Settings()
    assert settings.ollama.chat_model == "from-dotenv"
    assert settings.retrieval.k == 9


def test_invalid_value_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCENT_RETRIEVAL_MODE", "psychic")
    with pytest.raises(ValueError, match="mode"):
        Settings()


def test_get_settings_is_cached_not_read_at_import():
    get_settings.cache_clear()
    first = get_settings()
    assert get_settings() is first
    get_settings.cache_clear()
