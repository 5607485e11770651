"""The embeddings seam: text in, L2-normalised float32 vectors out, in batches."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    name: str
    model: str
    dimension: int

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """One unit-length row per text, shape (len(texts), dimension)."""

    def embed_query(self, text: str) -> np.ndarray:
        """One unit-length vector for a search query (some models prefix queries)."""

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for these texts (for /v1/embeddings usage)."""

    def close(self) -> None:
        """Release the model or connections."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
