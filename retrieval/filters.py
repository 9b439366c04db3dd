"""Metadata filters of a search.

Validated once, then expressed as a Chroma ``where`` (dense search) and as tantivy clauses
inside the lexical index (:mod:`retrieval.lexical.engine`); :meth:`MetadataFilter.matches`
is the same predicate in Python, the reference both must agree with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retrieval.errors import InvalidRequest
from retrieval.types import Metadata, MetadataValue

PAGE_MIN = "page_min"
PAGE_MAX = "page_max"


@dataclass(frozen=True)
class MetadataFilter:
    """Equality on stored metadata keys plus an optional inclusive page range."""

    equals: Mapping[str, MetadataValue] = field(default_factory=dict)
    page_min: int | None = None
    page_max: int | None = None

    @classmethod
    def parse(cls, filters: Mapping[str, Any] | None) -> MetadataFilter:
        """Validate request filters such as ``{"source": "a.pdf", "page_min": 2}``.

        Raises:
            InvalidRequest: a key or value that cannot be a filter.
        """
        if not filters:
            return cls()
        if not isinstance(filters, Mapping):
            raise InvalidRequest(
                f"Expected filters as an object of key: value, got {type(filters).__name__}."
            )
        equals: dict[str, MetadataValue] = {}
        pages: dict[str, int] = {}
        for key, value in filters.items():
            if not isinstance(key, str) or not key or key.startswith("$"):
                raise InvalidRequest(
                    f"Expected filter keys to be metadata names like 'source', got {key!r}."
                )
            if key in (PAGE_MIN, PAGE_MAX):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise InvalidRequest(
                        f"Expected {key} to be a whole number >= 0, got {value!r}."
                    )
                pages[key] = value
            elif isinstance(value, str | int | float | bool):
                equals[key] = value
            else:
                raise InvalidRequest(
                    f"Expected filter {key!r} to be a string, number or boolean (equality), "
                    f"got {type(value).__name__}."
                )
        page_min, page_max = pages.get(PAGE_MIN), pages.get(PAGE_MAX)
        if page_min is not None and page_max is not None and page_min > page_max:
            raise InvalidRequest(
                f"Expected page_min <= page_max, got page_min={page_min}, page_max={page_max}."
            )
        return cls(equals=equals, page_min=page_min, page_max=page_max)

    def without(self, key: str) -> MetadataFilter:
        """The same filter minus the equality on ``key``."""
        equals = {k: v for k, v in self.equals.items() if k != key}
        return MetadataFilter(equals=equals, page_min=self.page_min, page_max=self.page_max)

    @property
    def is_empty(self) -> bool:
        return not self.equals and self.page_min is None and self.page_max is None

    def where(self) -> dict[str, Any] | None:
        """The Chroma ``where`` filter, or None when nothing is filtered."""
        clauses: list[dict[str, Any]] = [
            {key: {"$eq": value}} for key, value in self.equals.items()
        ]
        if self.page_min is not None:
            clauses.append({"page": {"$gte": self.page_min}})
        if self.page_max is not None:
            clauses.append({"page": {"$lte": self.page_max}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, metadata: Metadata) -> bool:
        """The same predicate as :meth:`where`, on a chunk's metadata."""
        for key, expected in self.equals.items():
            if key not in metadata or not _same(metadata[key], expected):
                return False
        if self.page_min is None and self.page_max is None:
            return True
        page = metadata.get("page")
        if isinstance(page, bool) or not isinstance(page, int | float):
            return False
        if self.page_min is not None and page < self.page_min:
            return False
        return self.page_max is None or page <= self.page_max


def _same(actual: MetadataValue, expected: MetadataValue) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, str) or isinstance(expected, str):
        return actual == expected
    return float(actual) == float(expected)
