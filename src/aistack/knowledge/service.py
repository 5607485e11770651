"""The knowledge service: collections, documents, ingest, retrieval and grounded answers, one
set of rules for the gateway, the CLI, evaluation and the MLflow pyfunc.

Every method is async and does its blocking work (the store, parsing, embedding) in a worker
thread, so no caller can block an event loop with it. The embedder and the LLM are built on
first use: listing collections loads neither."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from aistack.embeddings import Embedder
from aistack.errors import InvalidRequest
from aistack.knowledge import collections, sources
from aistack.knowledge.ingest import FileResult, Ingestor, IngestSummary, load_or_error
from aistack.knowledge.loaders import Document, LoadError
from aistack.knowledge.pipeline import Question, RagPipeline
from aistack.knowledge.retrieve import Retrieval, RetrievalOptions, Retriever, source_of
from aistack.llm.base import LLMBackend
from aistack.settings import Settings
from aistack.vectorstore import CollectionInfo, DocumentInfo, VectorStore

if TYPE_CHECKING:
    from aistack.metrics import Metrics

Progress = Callable[[FileResult], None]
Upload = tuple[str | None, bytes]  # (file name, content)


async def _offload(func: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)


class KnowledgeService:
    def __init__(self, settings: Settings, store: VectorStore, embedder: Callable[[], Embedder],
                 llm: Callable[[], LLMBackend], default_model: str | None = None, metrics: Metrics | None = None):
        self.settings, self.store, self.metrics = settings, store, metrics
        self._embedder, self._llm, self.default_model = embedder, llm, default_model

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.settings, self._embedder(), self.store, self.metrics)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.settings, self._embedder(), self.store, self.metrics)

    def ingestor_for(self, **ingest: Any) -> Ingestor:
        """An ingestor with other ingest settings (evaluation tries chunkings this way)."""
        settings = self.settings.model_copy(update={"ingest": self.settings.ingest.model_copy(update=ingest)})
        return Ingestor(settings, self._embedder(), self.store, self.metrics)

    @cached_property
    def pipeline(self) -> RagPipeline:
        return RagPipeline(self.settings, self.retriever, self._llm(), self.default_model)

    # collections

    async def collections(self) -> list[CollectionInfo]:
        return await _offload(self.store.list_collections)

    async def create_collection(self, name: str, score_threshold: float | None = None, top_k: int | None = None,
                                retrieval: str | None = None) -> CollectionInfo:
        embedder = await _offload(self._embedder)
        return await _offload(lambda: collections.create(self.store, embedder, name, score_threshold, top_k, retrieval))

    async def describe_collection(self, name: str) -> CollectionInfo:
        return await _offload(self.store.describe, collections.check_name(name))

    async def delete_collection(self, name: str) -> None:
        await _offload(self.store.delete_collection, collections.check_name(name))

    # documents

    async def documents(self, collection: str) -> list[DocumentInfo]:
        return await _offload(self.store.documents, collections.check_name(collection))

    async def delete_document(self, collection: str, source: str) -> int:
        """The chunks removed; a source the collection does not hold is a 400 naming it."""
        def delete() -> int:
            ids = self.store.ids_for_source(collections.check_name(collection), source)
            self.store.delete_ids(collection, ids)
            return len(ids)

        removed = await _offload(delete)
        if not removed:
            raise InvalidRequest(f"no document with source '{source}' in collection '{collection}'", param="source")
        return removed

    # ingest

    async def ingest(self, collection: str, documents: Callable[[], Iterable[Document | LoadError]],
                     progress: Progress | None = None) -> IngestSummary:
        """Ingest what `documents()` yields; it runs in the worker thread too (files load there)."""
        collections.check_name(collection)
        return await _offload(lambda: self.ingestor.ingest(collection, documents(), progress))

    async def ingest_files(self, collection: str, paths: list[Path], progress: Progress | None = None) -> IngestSummary:
        """Files this process can read (the CLI in process); an unreadable one fails alone."""
        return await self.ingest(collection, lambda: (load_or_error(p) for p in paths), progress)

    async def ingest_uploads(self, collection: str, uploads: list[Upload], metadata: dict[str, Any]) -> IngestSummary:
        labels = [sources.upload_label(name) for name, _ in uploads]  # a bad name fails the request at once
        return await self.ingest(collection, lambda: (sources.load_upload(label, data, metadata)
                                                      for label, (_, data) in zip(labels, uploads)))

    async def ingest_text(self, collection: str, text: str, title: str | None, metadata: dict[str, Any]) -> IngestSummary:
        return await self.ingest(collection, lambda: [sources.text_document(text, title, metadata)])

    async def ingest_path(self, collection: str, path: str, include: list[str] | None,
                          exclude: list[str] | None) -> IngestSummary:
        """A folder on the server, which must lie inside ingest.allowed_paths."""
        config = self.settings.ingest
        found = await _offload(lambda: list(sources.allowed_files(
            path, config.allowed_paths, include or config.include, config.exclude if exclude is None else exclude)))
        return await self.ingest(collection, lambda: found)

    # retrieval and answers

    async def retrieve(self, query: str, options: RetrievalOptions) -> Retrieval:
        return await _offload(lambda: self.retriever.retrieve(query, options))

    def passages(self, query: str, collection: str, top_k: int) -> list[dict[str, Any]]:
        """The best passages with their sources (blocking: the agents' knowledge tool runs in a
        graph's worker thread)."""
        found = self.retriever.retrieve(query, RetrievalOptions(collection=collection, top_k=top_k))
        return [{**{k: v for k, v in source_of(hit).items() if v is not None}, "text": hit.text} for hit in found.hits]

    async def answer(self, question: Question, options: RetrievalOptions) -> dict[str, Any]:
        pipeline = await _offload(lambda: self.pipeline)
        return await pipeline.chat(pipeline.request(question), options)

    async def answer_stream(self, question: Question, options: RetrievalOptions) -> AsyncIterator[dict[str, Any]]:
        """Errors before the first chunk (bad collection, unknown model, queue full) are raised."""
        pipeline = await _offload(lambda: self.pipeline)
        return await pipeline.chat_stream(pipeline.request(question), options)
