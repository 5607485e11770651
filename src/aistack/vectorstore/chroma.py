"""Chroma: a server over HTTP (`chroma run`), or a persistent local folder.

Chroma keeps only scalar metadata, so `page: None` is left out and the user's metadata dict is
stored as JSON; both come back as they went in. Scores are cosine similarity (1 - distance)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.errors import NotFoundError

from aistack.errors import BackendUnavailable, Conflict, NotFound
from aistack.settings import Settings
from aistack.settings.data import ChromaSettings
from aistack.vectorstore.base import (
    SOURCE,
    CollectionInfo,
    DocumentInfo,
    Hit,
    Point,
    Where,
    summarise,
)

PAGE = 1000
T = TypeVar("T")


def chroma_where(where: Where | None) -> dict[str, Any] | None:
    if not where:
        return None
    clauses = [{k: {"$in": list(v)}} if isinstance(v, (list, tuple)) else {k: v} for k, v in where.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def to_chroma(payload: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in payload.items() if v is not None and k != "metadata"}
    if payload.get("metadata"):
        flat["metadata"] = json.dumps(payload["metadata"], sort_keys=True)
    return flat


def from_chroma(metadata: dict[str, Any] | None) -> dict[str, Any]:
    payload = dict(metadata or {})
    payload.setdefault("page", None)
    payload["metadata"] = json.loads(payload["metadata"]) if "metadata" in payload else {}
    return payload


class ChromaStore:
    name = "chroma"

    def __init__(self, config: ChromaSettings, home: Path):
        """`home`: where an embedded Chroma keeps its folder when `config.path` is empty."""
        chroma_settings = chromadb.Settings(anonymized_telemetry=False)
        if config.url:
            url = urlparse(config.url)
            self.location = config.url
            try:
                self.client = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1", port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https", settings=chroma_settings,
                )
            except Exception as exc:  # the client checks the server as it is built
                raise BackendUnavailable("the Chroma server cannot be reached", detail=f"{config.url}: {exc}") from None
        else:
            path = Path(config.path or home / "chroma")
            path.mkdir(parents=True, exist_ok=True)
            self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            self.location = str(path)
        self.lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ChromaStore:
        return cls(settings.vectorstore.chroma, settings.home)

    def _collection(self, name: str) -> Any:
        try:
            return self.client.get_collection(name, embedding_function=None)
        except (NotFoundError, ValueError):
            raise NotFound(f"collection '{name}' does not exist") from None
        except Exception as exc:
            raise BackendUnavailable("the Chroma server cannot be reached", detail=f"{self.location}: {exc}") from None

    def _with(self, name: str, action: Callable[[Any], T]) -> T:
        with self.lock:
            return action(self._collection(name))

    def create_collection(self, name: str, dimension: int, metadata: dict[str, Any]) -> CollectionInfo:
        with self.lock:
            if name in self._names():
                raise Conflict(f"collection '{name}' already exists")
            meta = {k: v for k, v in {**metadata, "dimension": dimension}.items() if v is not None}
            self.client.create_collection(
                name, metadata=meta, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
        return self.describe(name)

    def _names(self) -> list[str]:
        return sorted(c if isinstance(c, str) else c.name for c in self.client.list_collections())

    def list_collections(self) -> list[CollectionInfo]:
        with self.lock:
            names = self._names()
        return [self.describe(name) for name in names]

    def describe(self, name: str) -> CollectionInfo:
        def info(collection: Any) -> CollectionInfo:
            metadata = dict(collection.metadata or {})
            return CollectionInfo(name, int(metadata.get("dimension", 0)), collection.count(), metadata)

        return self._with(name, info)

    def delete_collection(self, name: str) -> None:
        with self.lock:
            self._collection(name)
            self.client.delete_collection(name)

    def upsert(self, name: str, points: list[Point]) -> None:
        if not points:
            return
        self._with(name, lambda c: c.upsert(
            ids=[p.id for p in points],
            embeddings=[np.asarray(p.vector, dtype=np.float32) for p in points],
            documents=[p.text for p in points],
            metadatas=[to_chroma(p.payload) for p in points],
        ))

    def search(self, name: str, vector: np.ndarray, limit: int,
               score_threshold: float | None = None, where: Where | None = None) -> list[Hit]:
        result = self._with(name, lambda c: c.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=limit,
            where=chroma_where(where), include=["documents", "metadatas", "distances"],
        ))
        hits = [
            Hit(id_, 1.0 - float(distance), text or "", from_chroma(meta))
            for id_, distance, text, meta in zip(
                result["ids"][0], result["distances"][0], result["documents"][0], result["metadatas"][0]
            )
        ]
        return [h for h in hits if score_threshold is None or h.score >= score_threshold]

    def _get(self, name: str, where: Where | None, include: list[str]) -> Iterator[tuple[str, Any, Any, Any]]:
        offset = 0
        while True:
            page = self._with(name, lambda c: c.get(where=chroma_where(where), include=include,
                                                    limit=PAGE, offset=offset))
            ids = page["ids"]
            for n, id_ in enumerate(ids):
                yield (
                    id_,
                    page["embeddings"][n] if "embeddings" in include else None,
                    page["documents"][n] if "documents" in include else None,
                    page["metadatas"][n] if "metadatas" in include else None,
                )
            if len(ids) < PAGE:
                return
            offset += PAGE

    def ids_for_source(self, name: str, source: str) -> set[str]:
        return {id_ for id_, *_ in self._get(name, {SOURCE: source}, [])}

    def delete_ids(self, name: str, ids: set[str]) -> None:
        if ids:
            self._with(name, lambda c: c.delete(ids=list(ids)))

    def documents(self, name: str) -> list[DocumentInfo]:
        return summarise(meta or {} for *_, meta in self._get(name, None, ["metadatas"]))

    def points(self, name: str) -> Iterator[Point]:
        for id_, vector, text, meta in self._get(name, None, ["embeddings", "documents", "metadatas"]):
            yield Point(id_, np.asarray(vector, dtype=np.float32), text or "", from_chroma(meta))

    def ping(self) -> None:
        self.client.heartbeat()

    def close(self) -> None:
        pass
