"""Docent's ingestion: files -> chunks -> embeddings -> Chroma, idempotent and crash-safe.

The Python API is in :mod:`ingest.service` (``ingest_paths``), :mod:`ingest.uploads`
(``ingest_uploads``) and :mod:`ingest.pipeline` (``Ingestor``); this package imports
nothing on purpose, so the reader worker processes start light.
"""

DOCENT_PACKAGE = True
"""Marks this as Docent's own top-level package (checked at start-up: api.cli.installation)."""
