"""Options more than one subcommand parses (imported when a command runs, not at start-up)."""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.errors import InvalidRequest
from retrieval.search import MODES
from retrieval.settings import RetrievalMode


def parse_modes(given: Sequence[str]) -> list[RetrievalMode]:
    """``--mode`` values as retrieval modes, in order, without repeats.

    Raises:
        InvalidRequest: a value is not a mode.
    """
    chosen: list[RetrievalMode] = []
    for name in given:
        found = next((mode for mode in MODES if mode == name), None)
        if found is None:
            raise InvalidRequest(f"Expected --mode to be one of {', '.join(MODES)}, got {name!r}.")
        if found not in chosen:
            chosen.append(found)
    return chosen


def parse_mode(given: str | None) -> RetrievalMode | None:
    """One ``--mode`` value (None: the settings' mode).

    Raises:
        InvalidRequest: the value is not a mode.
    """
    return None if given is None else parse_modes([given])[0]
