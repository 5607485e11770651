"""Backends by the name used in settings, for every seam (llm, embeddings, vectorstore).

Each seam lists name -> (module, class, pip extra), and installed plugins add theirs
(aistack/plugins.py); modules are imported only when chosen, so a missing optional dependency
fails with the `pip install` line that fixes it."""

from __future__ import annotations

import importlib
from typing import Any

from aistack import plugins

Backends = dict[str, tuple[str, str, str | None]]


class MissingDependency(RuntimeError):
    pass


class UnknownBackend(ValueError):
    pass


def backend_class(kind: str, seam: str, backends: Backends, name: str) -> Any:
    """The class of backend `name` of `seam`: a built-in one, else one a plugin registered."""
    if name not in backends:
        backends = {**plugins.backends(seam), **backends}
    if name not in backends:
        broken = plugins.failed()
        hint = f" (plugins that failed to load: {', '.join(sorted(broken))}; see `aistack plugins`)" if broken else ""
        raise UnknownBackend(f"unknown {kind} backend '{name}'; known: {', '.join(sorted(backends))}{hint}")
    module_name, class_name, extra = backends[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = f"pip install 'aistack[{extra}]'" if extra else "pip install aistack"
        raise MissingDependency(
            f"the '{name}' {kind} backend needs {exc.name}, which is not installed: run {hint}"
        ) from None
    return getattr(module, class_name)
