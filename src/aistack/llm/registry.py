"""LLM backends by the name used in settings (`llm.backend`). Imports are lazy; each backend takes
its own settings section through its `from_settings`.

`slots` is not here: it routes over the deployment's slot table, which sits above this layer, so
the composition root builds it (aistack.llm.routing.SlotRouter over aistack.deploy.view.SlotView)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aistack.registry import Backends, MissingDependency, UnknownBackend, backend_class

if TYPE_CHECKING:
    from aistack.llm.base import LLMBackend
    from aistack.settings import Settings

__all__ = ["BACKENDS", "MissingDependency", "UnknownBackend", "create_llm"]

BACKENDS: Backends = {
    "llamacpp": ("aistack.llm.llamacpp", "LlamaCppBackend", "embedded"),
    "openai": ("aistack.llm.openai_compat", "OpenAICompatBackend", None),
    "fake": ("aistack.llm.fake", "FakeBackend", None),
}


def create_llm(settings: Settings, name: str | None = None) -> LLMBackend:
    return backend_class("LLM", "llm", BACKENDS, name or settings.llm.backend).from_settings(settings)
