"""One plugin registry: what an installed package adds to aistack, without a line changed here.

A package names a module in the `aistack.plugins` entry-point group:

    [project.entry-points."aistack.plugins"]
    acme = "acme_aistack"

aistack imports it once, on first need (a backend lookup, the agents' tools, the CLI), and the
module registers what it brings as it is imported:

    from aistack import plugins
    plugins.backend("llm", "acme", "acme_aistack.llm:AcmeBackend")        # llm.backend: acme
    plugins.backend("embeddings", "acme", "acme_aistack.embed:AcmeEmbedder", extra="acme")
    plugins.backend("vectorstore", "acme", "acme_aistack.store:AcmeStore")
    plugins.command("acme", typer_app)                                     # aistack acme ...

Agent tools are registered by aistack.agents.tools' `@tool` decorator in a module loaded the
same way (or named in `agents.plugins`). A backend class provides `from_settings(settings)`, as the
built-in ones do. A module that fails to import is skipped and named where it matters: in the
error for a backend nobody knows, and by `aistack plugins`."""

from __future__ import annotations

import importlib
import logging
import threading
from importlib.metadata import entry_points
from typing import Any

GROUP = "aistack.plugins"
SEAMS = ("llm", "embeddings", "vectorstore")
log = logging.getLogger("aistack.plugins")

_backends: dict[str, dict[str, tuple[str, str, str | None]]] = {seam: {} for seam in SEAMS}
_commands: dict[str, Any] = {}
_loaded: dict[str, str] = {}  # entry-point name -> module
_failed: dict[str, str] = {}  # entry-point name -> why it could not be imported
_lock = threading.Lock()
_done = False


def backend(seam: str, name: str, target: str, extra: str | None = None) -> None:
    """Register `target` ("module:Class") as the `name` backend of `seam` (llm, embeddings, vectorstore)."""
    if seam not in SEAMS:
        raise ValueError(f"unknown seam '{seam}'; the seams are: {', '.join(SEAMS)}")
    module, _, cls = target.partition(":")
    if not module or not cls:
        raise ValueError(f"a backend is 'module:Class', not '{target}'")
    _backends[seam][name] = (module, cls, extra)


def command(name: str, typer_app: Any) -> None:
    """Register a typer app as `aistack <name> ...`."""
    _commands[name] = typer_app


def load() -> None:
    """Import every module of the `aistack.plugins` group, once per process."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        for found in entry_points(group=GROUP):
            try:
                importlib.import_module(found.value.partition(":")[0])
                _loaded[found.name] = found.value
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop aistack
                _failed[found.name] = f"{type(exc).__name__}: {exc}"
                log.warning("plugin '%s' (%s) not loaded: %s", found.name, found.value, _failed[found.name])
        _done = True


def backends(seam: str) -> dict[str, tuple[str, str, str | None]]:
    load()
    return dict(_backends[seam])


def commands() -> dict[str, Any]:
    load()
    return dict(_commands)


def loaded() -> dict[str, str]:
    load()
    return dict(_loaded)


def failed() -> dict[str, str]:
    load()
    return dict(_failed)
