"""The vector store seam. Collections use cosine distance; points carry the chunk text and a
flat payload (source, filename, page, chunk_index, char_count, content_hash, ingested_at, ...).

Point IDs are chosen by the caller (deterministic UUIDs), so writing a point twice is a no-op.
Calls are synchronous: the gateway runs them in worker threads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

# Payload fields every store returns; filters may use any scalar payload field.
SOURCE = "source"
Where = dict[str, Any]  # {field: value} or {field: [values]}: all fields must match


@dataclass
class Point:
    id: str
    vector: np.ndarray
    text: str
    payload: dict[str, Any]


@dataclass
class Hit:
    id: str
    score: float
    text: str
    payload: dict[str, Any]


@dataclass
class CollectionInfo:
    name: str
    dimension: int
    points: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class DocumentInfo:
    source: str
    filename: str
    chunks: int
    ingested_at: str


@runtime_checkable
class VectorStore(Protocol):
    name: str
    location: str  # URL or folder, for messages
    lock: Any  # held by this process's writers; a consistent export holds it too

    def create_collection(self, name: str, dimension: int, metadata: dict[str, Any]) -> CollectionInfo:
        """Raises Conflict when it exists."""

    def list_collections(self) -> list[CollectionInfo]: ...

    def describe(self, name: str) -> CollectionInfo:
        """Raises NotFound when it does not exist (every per-collection call does)."""

    def delete_collection(self, name: str) -> None: ...

    def upsert(self, name: str, points: list[Point]) -> None: ...

    def search(self, name: str, vector: np.ndarray, limit: int,
               score_threshold: float | None = None, where: Where | None = None) -> list[Hit]:
        """Nearest points by cosine similarity (higher is closer), best first."""

    def ids_for_source(self, name: str, source: str) -> set[str]: ...

    def delete_ids(self, name: str, ids: set[str]) -> None: ...

    def documents(self, name: str) -> list[DocumentInfo]: ...

    def points(self, name: str) -> Iterator[Point]:
        """Every point with its vectors (snapshots, checks)."""

    def ping(self) -> None:
        """Raise when the store cannot be reached (for /ready)."""

    def close(self) -> None: ...


def summarise(payloads: Iterator[dict[str, Any]]) -> list[DocumentInfo]:
    """One DocumentInfo per source from chunk payloads."""
    docs: dict[str, DocumentInfo] = {}
    for payload in payloads:
        source = payload.get(SOURCE, "")
        doc = docs.get(source)
        if doc is None:
            docs[source] = DocumentInfo(source, payload.get("filename", ""), 1, payload.get("ingested_at", ""))
        else:
            doc.chunks += 1
            doc.ingested_at = max(doc.ingested_at, payload.get("ingested_at", ""))
    return sorted(docs.values(), key=lambda d: d.source)
