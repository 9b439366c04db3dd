"""Ollama request fields Docent answers but does not act on: ``keep_alive`` and ``tools``.

- ``keep_alive: 0`` with an empty prompt is Ollama's unload request: answered with
  ``done_reason: "unload"`` as Ollama does, while Docent's models stay loaded (other
  collections and clients share them).
- ``tools``: Docent models call no tools (``/api/show`` lists no ``tools`` capability), so a
  request with tools is refused with Ollama's own answer for such models (400
  ``... does not support tools``) instead of being silently answered without them.
"""

from __future__ import annotations

import re

_ZERO_DURATION = re.compile(r"(?:0+(?:\.0*)?(?:ns|us|µs|ms|s|m|h)?)+")


def is_zero_keep_alive(value: int | float | str | None) -> bool:
    """Whether ``keep_alive`` is zero (``0``, ``"0"``, ``"0s"``, ``"0m0s"``...): unload now."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return _ZERO_DURATION.fullmatch(value.strip()) is not None
