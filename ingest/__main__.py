"""``python -m ingest PATH...``: the same command as ``docent ingest``.

A program, not a library module (nothing imports it): it starts the one CLI, which
lives at the top of the import chain in ``api/cli``.
"""

from api.cli import ingest_main

if __name__ == "__main__":
    ingest_main()
