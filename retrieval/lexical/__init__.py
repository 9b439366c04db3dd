"""BM25 lexical retrieval on tantivy, kept current with the Chroma collections it mirrors.

- :mod:`retrieval.lexical.analyzer`: the terms (stemming, stopwords, CJK bigrams).
- :mod:`retrieval.lexical.engine`: one collection's tantivy index.
- :mod:`retrieval.lexical.indexes`: every collection's index, a store subscriber that
  catches up from the change log.
- :mod:`retrieval.lexical.changelog`: the change log other processes catch up from.
"""

from retrieval.lexical.analyzer import Analyzer, default_analyzer, default_stemmer
from retrieval.lexical.changelog import ChangeLog, track_changes
from retrieval.lexical.indexes import LexicalIndexes

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
