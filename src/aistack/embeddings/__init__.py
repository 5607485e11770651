"""The embeddings seam: one Protocol (base.py), a registry, and the embedders it names."""

from aistack.embeddings.base import Embedder
from aistack.embeddings.registry import create_embedder

__all__ = ["Embedder", "create_embedder"]
