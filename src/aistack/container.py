"""Composition root: Settings -> backends -> services. Tests override one binding by keyword."""

from __future__ import annotations

from typing import Any

from aistack.llm import LLMBackend, create_llm
from aistack.settings import Settings


class Container:
    def __init__(self, settings: Settings, **overrides: Any):
        self.settings = settings
        self._bindings: dict[str, Any] = dict(overrides)

    @property
    def llm(self) -> LLMBackend:
        if "llm" not in self._bindings:
            self._bindings["llm"] = create_llm(self.settings)
        return self._bindings["llm"]

    async def start(self) -> None:
        await self.llm.start()

    async def close(self) -> None:
        if "llm" in self._bindings:
            await self._bindings["llm"].close()

    def default_model(self) -> str | None:
        """The model the CLI uses when none is given: the configured default, else the first."""
        llm = self.settings.llm
        if llm.default_model:
            return llm.default_model
        if llm.backend == "llamacpp":
            return next(iter(llm.llamacpp.models), None)
        if llm.backend == "fake":
            return next(iter(llm.fake.models), None)
        return None
