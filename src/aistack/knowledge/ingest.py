"""load -> chunk -> embed -> upsert, one file at a time, safe to interrupt and re-run.

For each file: chunks whose ID the collection lacks are embedded and written, then the file's
chunks that are no longer in it are deleted. Unchanged chunks are never re-embedded; a re-run
after a crash finishes the job and leaves no stale chunk."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aistack.embeddings import Embedder
from aistack.knowledge.chunking import Chunk, chunk_document, splitter
from aistack.knowledge.loaders import Document, LoadError, discover, load_file
from aistack.knowledge import collections
from aistack.settings import Settings
from aistack.vectorstore import Point, VectorStore

if TYPE_CHECKING:
    from aistack.metrics import Metrics

UPSERT_BATCH = 64


@dataclass
class FileResult:
    source: str
    filename: str
    status: str  # added | updated | unchanged | failed
    chunks: int = 0
    added: int = 0
    removed: int = 0
    reason: str | None = None


@dataclass
class IngestSummary:
    collection: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "files": len(self.files),
            "added": self.count("added"), "updated": self.count("updated"),
            "unchanged": self.count("unchanged"), "failed": self.count("failed"),
            "chunks_added": sum(f.added for f in self.files),
            "chunks_removed": sum(f.removed for f in self.files),
            "seconds": round(self.seconds, 3),
            "results": [vars(f) for f in self.files],
        }


Progress = Callable[[FileResult], None]


class Ingestor:
    def __init__(self, settings: Settings, embedder: Embedder, store: VectorStore,
                 metrics: Metrics | None = None):
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.metrics = metrics
        self.split = splitter(settings.ingest)
        self.batch_size = settings.embeddings.batch_size

    def ingest(self, collection: str, documents: Iterable[Document | LoadError],
               progress: Progress | None = None) -> IngestSummary:
        started = time.perf_counter()
        collections.ensure(self.store, self.embedder, collection)
        summary = IngestSummary(collection)
        for item in documents:
            if isinstance(item, LoadError):
                result = FileResult(item.source, Path(item.source).name, "failed", reason=item.reason)
            else:
                result = self._one(collection, item)
            summary.files.append(result)
            if self.metrics and result.status in ("added", "updated"):
                self.metrics.rag_documents.labels(collection=collection).inc()
                self.metrics.rag_chunks.labels(collection=collection).inc(result.added)
            if progress:
                progress(result)
        summary.seconds = time.perf_counter() - started
        return summary

    def ingest_path(self, collection: str, root: Path, progress: Progress | None = None,
                    include: list[str] | None = None, exclude: list[str] | None = None) -> IngestSummary:
        config = self.settings.ingest
        paths = list(discover(root, include or config.include, exclude if exclude is not None else config.exclude))
        return self.ingest(collection, (load_or_error(p) for p in paths), progress)

    def _one(self, collection: str, document: Document) -> FileResult:
        chunks = chunk_document(document, self.split)
        old = self.store.ids_for_source(collection, document.source)
        new = [c for c in chunks if c.id not in old]
        stamp = datetime.now(timezone.utc)
        for start in range(0, len(new), UPSERT_BATCH):
            batch = new[start : start + UPSERT_BATCH]
            self.store.upsert(collection, self._points(document, batch, stamp))
        stale = old - {c.id for c in chunks}
        self.store.delete_ids(collection, stale)
        status = "added" if not old else ("updated" if new or stale else "unchanged")
        return FileResult(document.source, document.filename, status, len(chunks), len(new), len(stale))

    def _points(self, document: Document, chunks: list[Chunk], stamp: datetime) -> list[Point]:
        vectors = self.embedder.embed_documents([c.text for c in chunks])
        return [
            Point(c.id, vector, c.text, {
                "source": document.source, "filename": document.filename, "page": c.page,
                "headings": c.headings, "chunk_index": c.chunk_index, "char_count": len(c.text),
                "content_hash": c.content_hash, "file_hash": document.file_hash,
                "ingested_at": stamp.isoformat(timespec="seconds"), "ingested_ts": stamp.timestamp(),
                "metadata": document.metadata,
            })
            for c, vector in zip(chunks, vectors)
        ]


def load_or_error(path: Path) -> Document | LoadError:
    try:
        return load_file(path)
    except LoadError as error:
        return error
