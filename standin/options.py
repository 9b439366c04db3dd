"""Ollama's ``options`` object mapped onto sampling settings, with Ollama's type errors."""

from __future__ import annotations

from typing import Any

from standin.errors import OllamaError
from standin.models.chat import DEFAULT_CTX, Sampling
from standin.registry import ModelSpec

_INTS = {"num_ctx", "num_predict", "num_keep", "top_k", "seed", "repeat_last_n", "num_batch"}
_FLOATS = {
    "temperature",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
}


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OllamaError(500, f'option "{key}" must be of type integer')
    return int(value)


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OllamaError(500, f'option "{key}" must be of type float32')
    return float(value)


def sampling_from(spec: ModelSpec, options: dict[str, Any] | None) -> Sampling:
    """Build sampling settings from the model's defaults and a request's ``options``.

    Unknown options are ignored, as Ollama does (it only logs a warning).

    Raises:
        OllamaError: when an option has the wrong JSON type.
    """
    sampling = Sampling(stop=list(spec.parameters.get("stop", [])))
    values = options or {}
    for key, value in values.items():
        if value is None:
            continue
        if key in _INTS:
            number = _as_int(key, value)
            if key == "seed":
                sampling.seed = number if number >= 0 else None
            elif hasattr(sampling, key):
                setattr(sampling, key, number)
        elif key in _FLOATS:
            number_f = _as_float(key, value)
            if hasattr(sampling, key):
                setattr(sampling, key, number_f)
        elif key == "stop":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise OllamaError(500, 'option "stop" must be of type array')
            sampling.stop = list(value)
    if sampling.num_ctx <= 0:
        sampling.num_ctx = DEFAULT_CTX
    return sampling
