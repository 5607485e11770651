"""The vector store seam: one Protocol (base.py), a registry, and the stores it names."""

from aistack.vectorstore.base import (
    CollectionInfo,
    DocumentInfo,
    Hit,
    Point,
    VectorStore,
)
from aistack.vectorstore.registry import create_store

__all__ = ["CollectionInfo", "DocumentInfo", "Hit", "Point", "VectorStore", "create_store"]
