"""English stopwords for BM25: the 33 words of bm25s's list (MIT licence).

Copied so that nothing imports bm25s (and scipy under it); the SciFact figures were
measured with exactly these words.
"""

STOPWORDS_EN: tuple[str, ...] = (
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "but",
    "by",
    "for",
    "if",
    "in",
    "into",
    "is",
    "it",
    "no",
    "not",
    "of",
    "on",
    "or",
    "such",
    "that",
    "the",
    "their",
    "then",
    "there",
    "these",
    "they",
    "this",
    "to",
    "was",
    "will",
    "with",
)
