"""LLM backends by the name used in settings (`llm.backend`). Imports are lazy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aistack.llm.base import LLMBackend
    from aistack.settings import Settings

# name -> (module, class, pip extra that provides its dependencies)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "llamacpp": ("aistack.llm.llamacpp", "LlamaCppBackend", "embedded"),
    "openai": ("aistack.llm.openai_compat", "OpenAICompatBackend", None),
    "fake": ("aistack.llm.fake", "FakeBackend", None),
}


class MissingDependency(RuntimeError):
    pass


class UnknownBackend(ValueError):
    pass


def create_llm(settings: Settings, name: str | None = None) -> LLMBackend:
    name = name or settings.llm.backend
    if name not in BACKENDS:
        raise UnknownBackend(f"unknown LLM backend '{name}'; known: {', '.join(sorted(BACKENDS))}")
    module_name, class_name, extra = BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = f"pip install 'aistack[{extra}]'" if extra else "pip install aistack"
        raise MissingDependency(
            f"the '{name}' LLM backend needs {exc.name}, which is not installed: run {hint}"
        ) from None
    return getattr(module, class_name)(settings)
