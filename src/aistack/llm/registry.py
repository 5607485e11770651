"""LLM backends by the name used in settings (`llm.backend`). Imports are lazy."""

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
    "slots": ("aistack.deploy.routing", "SlotRouter", None),
    "fake": ("aistack.llm.fake", "FakeBackend", None),
}


def create_llm(settings: Settings, name: str | None = None) -> LLMBackend:
    return backend_class("LLM", BACKENDS, name or settings.llm.backend)(settings)
