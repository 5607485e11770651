"""Vector stores by the name used in settings (`vectorstore.backend`). Imports are lazy; each backend
takes its own settings section through its `from_settings`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aistack.registry import Backends, backend_class

if TYPE_CHECKING:
    from aistack.settings import Settings
    from aistack.vectorstore.base import VectorStore

BACKENDS: Backends = {
    "qdrant": ("aistack.vectorstore.qdrant", "QdrantStore", None),
    "chroma": ("aistack.vectorstore.chroma", "ChromaStore", "chroma"),
    "pgvector": ("aistack.vectorstore.pgvector", "PgvectorStore", "pgvector"),
}


def create_store(settings: Settings, name: str | None = None) -> VectorStore:
    return backend_class("vector store", "vectorstore", BACKENDS, name or settings.vectorstore.backend).from_settings(settings)
