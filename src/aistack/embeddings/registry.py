"""Embedders by the name used in settings (`embeddings.backend`). Imports are lazy; each backend
takes its own settings section through its `from_settings`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aistack.registry import Backends, backend_class

if TYPE_CHECKING:
    from aistack.embeddings.base import Embedder
    from aistack.settings import Settings

BACKENDS: Backends = {
    "onnx": ("aistack.embeddings.onnx", "OnnxEmbedder", None),
    "sentence_transformers": (
        "aistack.embeddings.sentence_transformers", "SentenceTransformersEmbedder", "sentence-transformers"
    ),
    "openai": ("aistack.embeddings.openai_compat", "OpenAIEmbedder", None),
}


def create_embedder(settings: Settings, name: str | None = None) -> Embedder:
    return backend_class("embeddings", "embeddings", BACKENDS, name or settings.embeddings.backend).from_settings(settings)
