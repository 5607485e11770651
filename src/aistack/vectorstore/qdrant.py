"""Qdrant: embedded (a local folder, no setup) or a server/cluster by URL, over gRPC by default.

Each collection has one named dense vector ("dense", cosine)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models

from aistack.errors import (
    AistackError,
    BackendUnavailable,
    Conflict,
    NotFound,
    StoreLocked,
)
from aistack.settings import Settings
from aistack.settings.data import QdrantSettings
from aistack.vectorstore.base import (
    SOURCE,
    CollectionInfo,
    DocumentInfo,
    Hit,
    Point,
    Where,
    summarise,
)

log = logging.getLogger("aistack.vectorstore.qdrant")
DENSE = "dense"
PAGE = 512
T = TypeVar("T")


def qdrant_filter(where: Where | None) -> models.Filter | None:
    if not where:
        return None
    conditions = []
    for key, value in where.items():
        match = models.MatchAny(any=list(value)) if isinstance(value, (list, tuple)) else models.MatchValue(value=value)
        conditions.append(models.FieldCondition(key=key, match=match))
    return models.Filter(must=conditions)


class QdrantStore:
    name = "qdrant"

    def __init__(self, config: QdrantSettings, home: Path):
        """`home`: where embedded Qdrant keeps its folder when `config.path` is empty."""
        self.url = config.url
        if config.url:
            self.client = QdrantClient(
                url=config.url,
                api_key=config.api_key.get_secret_value() if config.api_key else None,
                prefer_grpc=config.prefer_grpc,
                grpc_port=config.grpc_port,
                timeout=int(config.timeout),
            )
            self.path: Path | None = None
            self.lock: AbstractContextManager[Any] = nullcontext()
        else:
            self.path = Path(config.path or home / "qdrant")
            self.path.mkdir(parents=True, exist_ok=True)
            self.client = open_embedded(self.path)
            self.lock = threading.RLock()  # embedded Qdrant is not thread-safe; snapshots hold it too

    @property
    def location(self) -> str:
        return self.url or str(self.path)

    @classmethod
    def from_settings(cls, settings: Settings) -> Any:
        config = settings.vectorstore.qdrant
        if not config.url and config.embedded == "edge":
            from aistack.vectorstore.qdrant_edge import QdrantEdgeStore

            store = QdrantEdgeStore(Path(config.path or settings.home / "qdrant-edge"), config.seal_at)
            if config.path is None:
                migrate_local_mode(settings.home / "qdrant", store)
            return store
        return cls(config, settings.home)

    def _call(self, collection: str, action: Callable[[], T]) -> T:
        """Run a call on one collection; a missing collection is NotFound, an unreachable server
        BackendUnavailable."""
        with self.lock:
            try:
                return action()
            except AistackError:
                raise
            except Exception as exc:
                try:
                    exists = self.client.collection_exists(collection)
                except Exception:
                    raise BackendUnavailable("the Qdrant server cannot be reached",
                                             detail=f"{self.location}: {exc}") from None
                if not exists:
                    raise NotFound(f"collection '{collection}' does not exist") from None
                raise

    def create_collection(self, name: str, dimension: int, metadata: dict[str, Any]) -> CollectionInfo:
        with self.lock:
            if self.client.collection_exists(name):
                raise Conflict(f"collection '{name}' already exists")
            self.client.create_collection(
                name,
                vectors_config={DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
                # The seed's HNSW settings: build the index past 20k points, memmap past 50k.
                optimizers_config=models.OptimizersConfigDiff(indexing_threshold=20000, memmap_threshold=50000),
                metadata={**metadata, "dimension": dimension},
            )
            if self.url:  # payload indexes only exist on a server; embedded Qdrant ignores them
                self.client.create_payload_index(name, SOURCE, models.PayloadSchemaType.KEYWORD)
                self.client.create_payload_index(name, "ingested_ts", models.PayloadSchemaType.FLOAT)
        return self.describe(name)

    def list_collections(self) -> list[CollectionInfo]:
        with self.lock:
            names = sorted(c.name for c in self.client.get_collections().collections)
        return [self.describe(name) for name in names]

    def describe(self, name: str) -> CollectionInfo:
        def info() -> CollectionInfo:
            details = self.client.get_collection(name)
            metadata = dict(details.config.metadata or {})
            vectors = details.config.params.vectors
            dimension = vectors[DENSE].size if isinstance(vectors, dict) else vectors.size
            count = self.client.count(name, exact=True).count
            return CollectionInfo(name, int(dimension), count, metadata)

        return self._call(name, info)

    def delete_collection(self, name: str) -> None:
        with self.lock:
            if not self.client.collection_exists(name):
                raise NotFound(f"collection '{name}' does not exist")
            self.client.delete_collection(name)

    def upsert(self, name: str, points: list[Point]) -> None:
        structs = [
            models.PointStruct(
                id=p.id,
                vector={DENSE: np.asarray(p.vector).tolist()},
                payload={**p.payload, "text": p.text},
            )
            for p in points
        ]
        self._call(name, lambda: self.client.upsert(name, structs, wait=True))

    def _hits(self, response: models.QueryResponse) -> list[Hit]:
        hits = []
        for point in response.points:
            payload = dict(point.payload or {})
            hits.append(Hit(str(point.id), float(point.score), payload.pop("text", ""), payload))
        return hits

    def search(self, name: str, vector: np.ndarray, limit: int,
               score_threshold: float | None = None, where: Where | None = None) -> list[Hit]:
        return self._hits(self._call(name, lambda: self.client.query_points(
            name, query=np.asarray(vector).tolist(), using=DENSE, limit=limit,
            score_threshold=score_threshold, query_filter=qdrant_filter(where), with_payload=True,
        )))

    def _scroll(self, name: str, where: Where | None, payload: Any, vectors: bool) -> Iterator[models.Record]:
        offset = None
        while True:
            records, offset = self._call(name, lambda: self.client.scroll(
                name, scroll_filter=qdrant_filter(where), limit=PAGE, offset=offset,
                with_payload=payload, with_vectors=vectors,
            ))
            yield from records
            if offset is None:
                return

    def ids_for_source(self, name: str, source: str) -> set[str]:
        return {str(r.id) for r in self._scroll(name, {SOURCE: source}, False, False)}

    def delete_ids(self, name: str, ids: set[str]) -> None:
        if ids:
            self._call(name, lambda: self.client.delete(name, models.PointIdsList(points=list(ids)), wait=True))

    def documents(self, name: str) -> list[DocumentInfo]:
        fields = [SOURCE, "filename", "ingested_at"]
        return summarise(r.payload or {} for r in self._scroll(name, None, fields, False))

    def points(self, name: str) -> Iterator[Point]:
        for record in self._scroll(name, None, True, True):
            payload = dict(record.payload or {})
            vector = record.vector[DENSE] if isinstance(record.vector, dict) else record.vector
            yield Point(str(record.id), np.asarray(vector, dtype=np.float32), payload.pop("text", ""), payload)

    def ping(self) -> None:
        with self.lock:
            self.client.get_collections()

    def close(self) -> None:
        with self.lock:
            self.client.close()


MIGRATED = "migrated-from-local-mode.json"


def migrate_local_mode(folder: Path, store: Any) -> None:
    """Once, into an empty qdrant-edge folder: every collection of the local-mode folder that
    aistack used before (<home>/qdrant), copied exactly. The old folder is left as it was."""
    marker = Path(store.path) / MIGRATED
    if marker.exists() or not (folder / "collection").is_dir() or store.list_collections():
        return
    old = QdrantStore(QdrantSettings(path=folder, embedded="local"), folder)
    try:
        from aistack.vectorstore.copy import copy_collection

        copied = {c.name: copy_collection(old, store, c.name) for c in old.list_collections()}
    finally:
        old.close()
    marker.write_text(json.dumps({"from": str(folder), "collections": copied}))
    log.warning("embedded Qdrant moved to qdrant-edge: %d collections copied from %s (it can be removed)",
                len(copied), folder, extra={"fields": {"collections": copied}})


def open_embedded(path: Path) -> QdrantClient:
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        raise StoreLocked(
            f"the embedded Qdrant at {path} is in use by another process, usually a running gateway. "
            "Point the CLI at that gateway (--url, or client.url / AISTACK_CLIENT__URL) so it goes "
            "through its API, or stop the gateway first."
        ) from None
