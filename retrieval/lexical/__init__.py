"""BM25 lexical retrieval on tantivy, kept current with the Chroma collections it mirrors.

- :mod:`retrieval.lexical.analyzer`: the terms (stemming, stopwords, CJK bigrams).
- :mod:`retrieval.lexical.engine`: one collection's tantivy index.
- :mod:`retrieval.lexical.indexes`: every collection's index, a store subscriber that
  catches up from the change log.
- :mod:`retrieval.lexical.changelog`: the change log other processes catch up from.

The package imports only the analyzer up front: the reader workers analyse chunk texts
with it (:mod:`ingest.reading`) and must not import Chroma or tantivy. The rest is
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrieval.lexical.analyzer import Analyzer, default_analyzer, default_stemmer

if TYPE_CHECKING:
    from retrieval.lexical.changelog import ChangeLog, track_changes
    from retrieval.lexical.indexes import LexicalIndexes

_LAZY = {
    "ChangeLog": "retrieval.lexical.changelog",
    "track_changes": "retrieval.lexical.changelog",
    "LexicalIndexes": "retrieval.lexical.indexes",
}

LEXICAL_SCORE_KEY = "score_lexical"
"""Metadata key carrying a hit's BM25 score (hybrid and lexical modes)."""

__all__ = [
    "LEXICAL_SCORE_KEY",
    "Analyzer",
    "ChangeLog",
    "LexicalIndexes",
    "default_analyzer",
    "default_stemmer",
    "track_changes",
]


def __getattr__(name: str) -> Any:
    """The names of the modules that import Chroma and tantivy, imported when first asked."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
