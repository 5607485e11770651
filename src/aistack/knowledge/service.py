"""The knowledge service: collections, documents, ingest, retrieval and grounded answers, one
set of rules for the gateway, the CLI, evaluation and the MLflow pyfunc.

Every method is async and does its blocking work (the store, parsing, embedding) in a worker
thread, so no caller can block an event loop with it. The embedder and the LLM are built on
first use: listing collections loads neither."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from aistack.embeddings import Embedder
from aistack.errors import Forbidden, InvalidRequest, NotFound
from aistack.knowledge import collections, sources
from aistack.knowledge.ingest import FileResult, Ingestor, IngestSummary, load_or_error
from aistack.knowledge.loaders import Document, LoadError
from aistack.knowledge.owners import Owners, Shares, check_new_name, stored_name
from aistack.knowledge.pipeline import Question, RagPipeline
from aistack.knowledge.retrieve import Retrieval, Retriever, source_of
from aistack.wire.knowledge import RetrievalOptions
from aistack.llm.base import LLMBackend
from aistack.llm.protocol import ChatCompletionRequest
from aistack.principals import Principal
from aistack.settings import Settings
from aistack.vectorstore import CollectionInfo, DocumentInfo, VectorStore

if TYPE_CHECKING:
    from aistack.metrics import Metrics

Progress = Callable[[FileResult], None]
Upload = tuple[str | None, bytes]  # (file name, content)


async def _offload(func: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)


class KnowledgeService:
    """Every method takes the caller: its team owns the collections it makes, it sees its own
    and those shared with it (knowledge/owners.py), and its scopes say whether it may read
    (`rag:read`) or change (`rag:write`) them."""

    def __init__(self, settings: Settings, store: VectorStore, embedder: Callable[[], Embedder],
                 llm: Callable[[], LLMBackend], default_model: str | None = None, metrics: Metrics | None = None,
                 shares: Shares | None = None):
        self.settings, self.store, self.metrics = settings, store, metrics
        self._embedder, self._llm, self.default_model = embedder, llm, default_model
        self.owners = Owners(shares)

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

    async def _resolve(self, caller: Principal, ref: str, write: bool = False) -> str:
        """The store's name for the caller's `ref` (the shares are read off the loop)."""
        caller.require("rag:write" if write else "rag:read")
        return await _offload(self.owners.resolve, caller, ref, "write" if write else "read")

    def _labelled(self, caller: Principal, info: CollectionInfo) -> CollectionInfo:
        return replace(info, name=self.owners.label(caller, info.name))

    # collections

    async def collections(self, caller: Principal) -> list[CollectionInfo]:
        caller.require("rag:read")

        def visible() -> list[CollectionInfo]:
            found = self.store.list_collections()
            names = self.owners.visible(caller, [c.name for c in found])
            return [replace(c, name=names[c.name]) for c in found if c.name in names]

        return await _offload(visible)

    async def create_collection(self, caller: Principal, name: str, score_threshold: float | None = None,
                                top_k: int | None = None, retrieval: str | None = None) -> CollectionInfo:
        """In the caller's own team (an admin may name another: `<team>:<name>`)."""
        caller.require("rag:write")
        team, own = self.owners.parse(caller, name)
        check_new_name(own)
        if team != caller.team and not caller.admin:
            raise Forbidden(f"collections are made in your own team ('{caller.team}'); name it without a team")
        embedder = await _offload(self._embedder)
        made = await _offload(lambda: collections.create(self.store, embedder, stored_name(team, own), score_threshold,
                                                         top_k, retrieval))
        return self._labelled(caller, made)

    async def describe_collection(self, caller: Principal, name: str) -> CollectionInfo:
        stored = await self._resolve(caller, name)
        return self._labelled(caller, await _offload(self.store.describe, stored))

    async def delete_collection(self, caller: Principal, name: str) -> None:
        """Only the owning team (or an admin): a write share lets another team add documents, not
        delete the collection."""
        caller.require("rag:write")
        team, _ = self.owners.parse(caller, name)
        if not caller.sees_team(team):
            raise NotFound(f"Collection '{name}' not found.", param="collection")
        await _offload(self.store.delete_collection, await self._resolve(caller, name, write=True))

    # documents

    async def documents(self, caller: Principal, collection: str) -> list[DocumentInfo]:
        return await _offload(self.store.documents, await self._resolve(caller, collection))

    async def delete_document(self, caller: Principal, collection: str, source: str) -> int:
        """The chunks removed; a source the collection does not hold is a 400 naming it."""
        stored = await self._resolve(caller, collection, write=True)

        def delete() -> int:
            ids = self.store.ids_for_source(stored, source)
            self.store.delete_ids(stored, ids)
            return len(ids)

        removed = await _offload(delete)
        if not removed:
            raise InvalidRequest(f"no document with source '{source}' in collection '{collection}'", param="source")
        return removed

    # ingest

    async def ingest(self, caller: Principal, collection: str, documents: Callable[[], Iterable[Document | LoadError]],
                     progress: Progress | None = None) -> IngestSummary:
        """Ingest what `documents()` yields; it runs in the worker thread too (files load there).
        A collection of the caller's own team is made on first use."""
        team, own = self.owners.parse(caller, collection)
        if team == caller.team:
            check_new_name(own)
        stored = await self._resolve(caller, collection, write=True)
        summary = await _offload(lambda: self.ingestor.ingest(stored, documents(), progress))
        return replace(summary, collection=collection)

    async def ingest_files(self, caller: Principal, collection: str, paths: list[Path],
                           progress: Progress | None = None) -> IngestSummary:
        """Files this process can read (the CLI in process); an unreadable one fails alone."""
        return await self.ingest(caller, collection, lambda: (load_or_error(p) for p in paths), progress)

    async def ingest_uploads(self, caller: Principal, collection: str, uploads: list[Upload],
                             metadata: dict[str, Any]) -> IngestSummary:
        labels = [sources.upload_label(name) for name, _ in uploads]  # a bad name fails the request at once
        return await self.ingest(caller, collection, lambda: (sources.load_upload(label, data, metadata)
                                                              for label, (_, data) in zip(labels, uploads)))

    async def ingest_text(self, caller: Principal, collection: str, text: str, title: str | None,
                          metadata: dict[str, Any]) -> IngestSummary:
        return await self.ingest(caller, collection, lambda: [sources.text_document(text, title, metadata)])

    async def ingest_path(self, caller: Principal, collection: str, path: str, include: list[str] | None,
                          exclude: list[str] | None) -> IngestSummary:
        """A folder on the server, which must lie inside ingest.allowed_paths."""
        config = self.settings.ingest
        found = await _offload(lambda: list(sources.allowed_files(
            path, config.allowed_paths, include or config.include, config.exclude if exclude is None else exclude)))
        return await self.ingest(caller, collection, lambda: found)

    # retrieval and answers

    async def _options(self, caller: Principal, options: RetrievalOptions) -> tuple[RetrievalOptions, str]:
        """The options with the store's collection name, and the caller's name for it."""
        ref = options.collection or self.settings.rag.default_collection
        stored = await self._resolve(caller, ref)
        return options.model_copy(update={"collection": stored}), ref

    async def retrieve(self, caller: Principal, query: str, options: RetrievalOptions) -> Retrieval:
        resolved, ref = await self._options(caller, options)
        return await _offload(lambda: self.retriever.retrieve(query, resolved, ref))

    def passages(self, caller: Principal, query: str, collection: str, top_k: int) -> list[dict[str, Any]]:
        """The best passages with their sources (blocking: the agents' knowledge tool runs in a
        graph's worker thread, with the permissions of whoever started the run)."""
        caller.require("rag:read")
        stored = self.owners.resolve(caller, collection)
        found = self.retriever.retrieve(query, RetrievalOptions(collection=stored, top_k=top_k), collection)
        return [{**{k: v for k, v in source_of(hit).items() if v is not None}, "text": hit.text} for hit in found.hits]

    @staticmethod
    def _may_ask(caller: Principal, request: ChatCompletionRequest) -> None:
        caller.require("chat")
        caller.require_model(request.model)

    async def chat(self, caller: Principal, request: ChatCompletionRequest, options: RetrievalOptions
                   ) -> dict[str, Any]:
        """A chat completion answered from the documents (the OpenAI `rag` extension)."""
        self._may_ask(caller, request)
        resolved, ref = await self._options(caller, options)
        pipeline = await _offload(lambda: self.pipeline)
        return await pipeline.chat(request, resolved, ref)

    async def chat_stream(self, caller: Principal, request: ChatCompletionRequest, options: RetrievalOptions
                          ) -> AsyncIterator[dict[str, Any]]:
        """Errors before the first chunk (bad collection, unknown model, queue full) are raised."""
        self._may_ask(caller, request)
        resolved, ref = await self._options(caller, options)
        pipeline = await _offload(lambda: self.pipeline)
        return await pipeline.chat_stream(request, resolved, ref)

    async def answer(self, caller: Principal, question: Question, options: RetrievalOptions) -> dict[str, Any]:
        pipeline = await _offload(lambda: self.pipeline)
        return await self.chat(caller, pipeline.request(question), options)

    async def answer_stream(self, caller: Principal, question: Question, options: RetrievalOptions
                            ) -> AsyncIterator[dict[str, Any]]:
        pipeline = await _offload(lambda: self.pipeline)
        return await self.chat_stream(caller, pipeline.request(question), options)
