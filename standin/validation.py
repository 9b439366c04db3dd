"""Request bodies decoded the way Ollama's Go server does, with Go's error wording."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from standin.errors import MISSING_BODY_MESSAGE, OllamaError

# JSON kinds Go reports in unmarshal errors.
_GO_KIND = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
}

# field -> accepted JSON kinds, with the Go type named in errors
FieldSpec = tuple[tuple[str, ...], str]

STRING: FieldSpec = (("string",), "string")
BOOL: FieldSpec = (("bool",), "bool")
OBJECT: FieldSpec = (("object",), "map[string]interface {}")
ARRAY: FieldSpec = (("array",), "[]api.Message")
INT_ARRAY: FieldSpec = (("array",), "[]int")
INT: FieldSpec = (("number",), "int")
ANY: FieldSpec = (("object", "array", "string", "bool", "number"), "interface {}")
DURATION: FieldSpec = (("string", "number"), "api.Duration")
THINK: FieldSpec = (("bool", "string"), "api.ThinkValue")
TOOLS: FieldSpec = (("array",), "api.Tools")

_COMMON: dict[str, FieldSpec] = {
    "model": STRING,
    "name": STRING,
    "stream": BOOL,
    "options": OBJECT,
    "keep_alive": DURATION,
}

SCHEMAS: dict[str, dict[str, FieldSpec]] = {
    "ChatRequest": {
        **_COMMON,
        "messages": ARRAY,
        "format": ANY,
        "tools": TOOLS,
        "think": THINK,
        "truncate": BOOL,
    },
    "GenerateRequest": {
        **_COMMON,
        "prompt": STRING,
        "suffix": STRING,
        "system": STRING,
        "template": STRING,
        "context": INT_ARRAY,
        "raw": BOOL,
        "format": ANY,
        "images": (("array",), "[]api.ImageData"),
        "think": THINK,
        "truncate": BOOL,
    },
    "EmbedRequest": {**_COMMON, "input": ANY, "truncate": BOOL, "dimensions": INT},
    "EmbeddingRequest": {**_COMMON, "prompt": STRING},
    "ShowRequest": {**_COMMON, "system": STRING, "verbose": BOOL},
    "PullRequest": {**_COMMON, "insecure": BOOL},
}


def go_kind(value: object) -> str:
    """The JSON kind of a decoded value, as Go names it."""
    for python_type, kind in _GO_KIND.items():
        if type(value) is python_type:
            return kind
    return "null"


async def read_json(request: Request, struct: str) -> dict[str, Any]:
    """Decode and type-check a request body against one of Ollama's request structs.

    Raises:
        OllamaError: 400 with the message Ollama's Go decoder would give.
    """
    body = await request.body()
    if not body.strip():
        raise OllamaError(400, MISSING_BODY_MESSAGE)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise OllamaError(400, _syntax_message(body.decode("utf-8", "replace"), error)) from None
    except UnicodeDecodeError:
        raise OllamaError(400, "invalid character in request body") from None
    if not isinstance(data, dict):
        kind = go_kind(data)
        if kind == "null":
            return {}
        raise OllamaError(400, f"json: cannot unmarshal {kind} into Go value of type api.{struct}")
    for key, (kinds, go_type) in SCHEMAS[struct].items():
        value = data.get(key)
        if value is None:
            continue
        kind = go_kind(value)
        if kind not in kinds:
            field_name = f"{struct}.{key}"
            message = f"json: cannot unmarshal {kind} into Go struct field {field_name}"
            raise OllamaError(400, f"{message} of type {go_type}")
    return data


def _syntax_message(text: str, error: json.JSONDecodeError) -> str:
    if error.pos >= len(text.rstrip()):
        return "unexpected EOF"
    char = text[error.pos]
    if error.msg.startswith("Expecting property name"):
        return f"invalid character '{char}' looking for beginning of object key string"
    if error.msg.startswith("Expecting ',' delimiter") or error.msg.startswith("Expecting ':'"):
        where = "object key" if "':'" in error.msg else "array element"
        return f"invalid character '{char}' after {where}"
    if error.msg.startswith("Extra data"):
        return f"invalid character '{char}' after top-level value"
    return f"invalid character '{char}' looking for beginning of value"
