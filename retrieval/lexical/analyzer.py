"""Tokenisation for BM25: the terms Docent indexes and searches with.

NFKC, lower case, words of two or more letters or digits, English stopwords removed, an
optional stemmer for Latin-script words; CJK text (which has no spaces) becomes
overlapping character bigrams, so Chinese and Japanese queries match without a word
segmenter.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from retrieval.lexical.stopwords import STOPWORDS_EN
from retrieval.types import LexicalTerms

INDEX_FORMAT = 2
"""Bumped when the indexed terms or the index layout change (a persisted index is rebuilt)."""
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]{{2,}}")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_LATIN_WORD = re.compile(r"[a-z]+")

Stemmer = Callable[[list[str]], list[str]]
"""Stems a list of words (PyStemmer's ``stemWords`` has this shape)."""


def default_stemmer() -> Stemmer | None:
    """PyStemmer's English Snowball stemmer when PyStemmer is installed, else None."""
    try:
        import Stemmer as pystemmer  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    stemmer: Stemmer = pystemmer.Stemmer("english").stemWords
    return stemmer


@dataclass(frozen=True)
class Analyzer:
    """Turns text into BM25 terms.

    Attributes:
        stopwords: words dropped (English by default).
        stemmer: optional stemmer for Latin-script words.
    """

    stopwords: frozenset[str] = frozenset(STOPWORDS_EN)
    stemmer: Stemmer | None = None

    @cached_property
    def signature(self) -> str:
        """Identifies the analysis, so a persisted index built differently is rebuilt."""
        stem = "none" if self.stemmer is None else "stem"
        words = hashlib.sha1("\n".join(sorted(self.stopwords)).encode()).hexdigest()[:8]
        return f"v{INDEX_FORMAT}-{stem}-{words}"

    def analyse(self, text: str) -> LexicalTerms:
        """The terms of ``text`` as the index stores them, signed (see :class:`LexicalTerms`)."""
        return LexicalTerms(self.signature, " ".join(self.terms(text)))

    def terms(self, text: str) -> list[str]:
        """The BM25 terms of ``text``."""
        normal = unicodedata.normalize("NFKC", text).casefold()
        words: list[str] = []
        for token in _TOKEN.findall(normal):
            if _CJK_RUN.fullmatch(token):
                words.extend(_bigrams(token))
            elif token not in self.stopwords:
                words.append(token)
        if self.stemmer is None:
            return words
        latin = [i for i, word in enumerate(words) if _LATIN_WORD.fullmatch(word)]
        stems = self.stemmer([words[i] for i in latin])
        for i, stem in zip(latin, stems, strict=True):
            words[i] = stem
        return words


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def default_analyzer() -> Analyzer:
    """English stopwords, plus stemming when PyStemmer is installed."""
    return Analyzer(stemmer=default_stemmer())
