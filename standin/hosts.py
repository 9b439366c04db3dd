"""Loaded model instances: lazy loading, keep_alive expiry, and ``/api/ps`` entries."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from dataclasses import dataclass, field
from typing import Any

from standin.keepalive import DEFAULT_KEEP_ALIVE
from standin.models.chat import SmolLMEngine
from standin.models.echo import EchoChat
from standin.models.embedding import MiniLMEmbedder
from standin.models.synthetic import HashEmbedder
from standin.registry import MODELS, ModelSpec, format_time

FAR_FUTURE = 9_000_000_000.0  # about year 2255, what /api/ps shows for "forever"


@dataclass
class EngineSettings:
    """How engines are built."""

    threads: int = 1
    threads_batch: int = 2
    embed_threads: int = 2
    embed_batch: int = 16


@dataclass
class ModelHost:
    """One model: its engine once loaded and when it expires."""

    spec: ModelSpec
    settings: EngineSettings
    embedder: MiniLMEmbedder | HashEmbedder | None = None
    chat: SmolLMEngine | EchoChat | None = None
    expires_at: float = 0.0
    context_length: int = 0
    busy: int = field(default=0)

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory."""
        if self.spec.kind == "embedding":
            return self.embedder is not None
        return self.chat is not None and self.chat.loaded

    def load(self, n_ctx: int) -> float:
        """Load (or reload for another num_ctx) in the calling thread; return seconds spent."""
        started = time.perf_counter()
        if self.spec.kind == "embedding":
            if self.embedder is None and self.spec.synthetic:
                self.embedder = HashEmbedder(self.spec.embedding_length, self.spec.context_length)
            elif self.embedder is None:
                self.embedder = MiniLMEmbedder(
                    self.spec.files[0].path,
                    self.spec.files[1].path,
                    max_tokens=self.spec.context_length,
                    threads=self.settings.embed_threads,
                    sub_batch=self.settings.embed_batch,
                )
            self.context_length = self.spec.context_length
        else:
            if self.chat is None and self.spec.synthetic:
                self.chat = EchoChat()
            elif self.chat is None:
                self.chat = SmolLMEngine(
                    self.spec.weights,
                    threads=self.settings.threads,
                    threads_batch=self.settings.threads_batch,
                )
            self.chat.load(n_ctx)
            self.context_length = self.chat.n_ctx
        return time.perf_counter() - started

    def unload(self) -> None:
        """Free the weights."""
        self.embedder = None
        if self.chat is not None:
            self.chat.unload()
        self.context_length = 0
        self.expires_at = 0.0

    def touch(self, keep_alive: float | None) -> None:
        """Restart the expiry clock after a request (``keep_alive`` seconds, default 5m)."""
        seconds = DEFAULT_KEEP_ALIVE if keep_alive is None else keep_alive
        self.expires_at = FAR_FUTURE if math.isinf(seconds) else time.time() + seconds

    def ps_entry(self) -> dict[str, Any]:
        """This model's ``/api/ps`` entry."""
        expires = self.expires_at or time.time() + DEFAULT_KEEP_ALIVE
        stamp = dt.datetime.fromtimestamp(min(expires, FAR_FUTURE), tz=dt.UTC)
        return {
            "name": self.spec.name,
            "model": self.spec.name,
            "size": self.spec.size(),
            "digest": self.spec.digest(),
            "details": self.spec.details(),
            "expires_at": format_time(stamp),
            "size_vram": 0,
            "context_length": self.context_length,
        }


class Hosts:
    """All model hosts, plus the task that unloads expired ones."""

    def __init__(self, settings: EngineSettings) -> None:
        self.by_name = {spec.name: ModelHost(spec, settings) for spec in MODELS}
        self._reaper: asyncio.Task[None] | None = None

    def get(self, spec: ModelSpec) -> ModelHost:
        """The host of a model."""
        return self.by_name[spec.name]

    def loaded(self) -> list[ModelHost]:
        """Loaded models, longest time left first."""
        hosts = [h for h in self.by_name.values() if h.loaded]
        return sorted(hosts, key=lambda h: h.expires_at, reverse=True)

    def start(self) -> None:
        """Start unloading expired models in the background."""
        self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def stop(self) -> None:
        """Stop the background task and unload everything."""
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        for host in self.by_name.values():
            host.unload()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.time()
            for host in self.by_name.values():
                if host.loaded and host.busy == 0 and host.expires_at and host.expires_at <= now:
                    host.unload()
