"""Ollama's ``keep_alive``: a number of seconds or a Go duration; negative means forever."""

from __future__ import annotations

import math
import re

from standin.errors import OllamaError

DEFAULT_KEEP_ALIVE = 300.0
FOREVER = math.inf

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string such as ``5m``, ``1h30m`` or ``-1s``.

    Raises:
        OllamaError: 400 with Go's wording when the string is not a duration.
    """
    raw = text
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            raise OllamaError(400, f'time: invalid duration "{raw}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position == 0:
        raise OllamaError(400, f'time: invalid duration "{raw}"')
    return sign * total


def parse_keep_alive(value: object) -> float | None:
    """Seconds to keep a model loaded, ``inf`` for forever, None when not given."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise OllamaError(400, "json: cannot unmarshal bool into Go value of type api.Duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            seconds = parse_go_duration(value)
    else:
        raise OllamaError(400, f"Unsupported type: '{type(value).__name__}'")
    return FOREVER if seconds < 0 else seconds
