"""Registered pipelines as model names: a chat completion for `rag-pipeline@champion` answers
with the configuration that alias points at (collection, top_k, retrieval, model, temperature).
Moving the alias in MLflow changes what the gateway serves within `ttl` seconds, no restart."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from aistack.errors import BackendUnavailable
from aistack.registry import MissingDependency
from aistack.settings import Settings

if TYPE_CHECKING:
    from aistack.evaluation.runner import PipelineConfig


LOCK_STRIPES = 16


class PipelineResolver:
    def __init__(self, settings: Settings, ttl: float = 30.0):
        self.settings = settings
        self.ttl = ttl
        self._cache: dict[str, tuple[float, PipelineConfig]] = {}
        # striped by alias: a slow lookup holds up only the aliases of its stripe, and client-chosen
        # names cannot grow the set
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]

    def alias_in(self, model: str) -> str | None:
        """`champion` for `rag-pipeline@champion`; None for an ordinary model name."""
        name, at, alias = model.partition("@")
        return alias if at and name == self.settings.tracking.registered_model and alias else None

    def _fresh(self, alias: str) -> PipelineConfig | None:
        cached = self._cache.get(alias)
        return cached[1] if cached and time.monotonic() - cached[0] < self.ttl else None

    def resolve(self, alias: str) -> PipelineConfig:
        """Blocking (MLflow's client): call it from a worker thread. A cached alias answers without
        waiting; requests for one alias that is not cached share one lookup."""
        config = self._fresh(alias)
        if config is not None:
            return config
        with self._locks[hash(alias) % LOCK_STRIPES]:
            config = self._fresh(alias)
            if config is not None:
                return config
            from aistack.tracking.mlflow import Tracking

            try:
                config = Tracking(self.settings).pipeline(alias)
            except MissingDependency as exc:
                raise BackendUnavailable(str(exc)) from None
            self._cache[alias] = (time.monotonic(), config)
            return config
