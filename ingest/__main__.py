"""``python -m ingest PATH...``: the same command as ``docent ingest``."""

from ingest.cli import main

if __name__ == "__main__":
    main()
