"""aistack's RAG API: collections, documents, retrieval and answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aistack.wire import Answer, Deleted, ListOf
from aistack.wire.openai import MAX_TOKENS


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    score_threshold: float | None = Field(None, ge=-1, le=1)
    top_k: int | None = Field(None, ge=1, le=100)
    retrieval: str | None = Field(None, pattern="^(dense|hybrid)$")


class TextIngest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    title: str | None = None
    path: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    include: list[str] | None = None
    exclude: list[str] | None = None


class RetrievalOptions(BaseModel):
    """What a caller may set per request; unset fields come from the collection and settings."""

    model_config = ConfigDict(extra="forbid")

    collection: str | None = Field(None, description="Collection to search. Default: rag.default_collection.")
    top_k: int | None = Field(None, ge=1, le=100)
    score_threshold: float | None = Field(None, ge=-1, le=1)
    retrieval: str | None = Field(None, pattern="^(dense|hybrid)$")
    score_margin: float | None = Field(None, ge=0, le=2, description="Drop hits this far below the best one.")
    rerank: str | None = Field(None, pattern="^(none|late_interaction)$")
    filter: dict[str, Any] | None = Field(None, description="{field: value or [values]} on chunk metadata.")


class RetrieveRequest(RetrievalOptions):
    query: str = Field(min_length=1)


class AnswerRequest(RetrievalOptions):
    question: str = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)


class Collection(Answer):
    object: Literal["collection"] = "collection"
    name: str = Field(description="`<team>:<name>` for another team's collection shared with the caller's.")
    dimension: int
    points: int
    metadata: dict[str, Any] = Field(description="The embedder that built it, and its retrieval settings.")


class CollectionList(ListOf[Collection]):
    pass


class CollectionDeleted(Deleted):
    object: Literal["collection.deleted"] = "collection.deleted"
    name: str


class Document(Answer):
    object: Literal["document"] = "document"
    source: str
    filename: str
    chunks: int
    ingested_at: str


class DocumentList(ListOf[Document]):
    pass


class DocumentDeleted(Answer):
    object: Literal["document.deleted"] = "document.deleted"
    source: str
    chunks_removed: int


class FileResult(Answer):
    source: str
    filename: str
    status: Literal["added", "updated", "unchanged", "failed"]
    chunks: int
    added: int
    removed: int
    reason: str | None


class IngestSummary(Answer):
    object: Literal["ingest.summary"] = "ingest.summary"
    collection: str
    files: int
    added: int
    updated: int
    unchanged: int
    failed: int
    chunks_added: int
    chunks_removed: int
    seconds: float
    results: list[FileResult]


class Source(Answer):
    """Where a chunk comes from, and its score."""

    filename: str | None
    source: str | None
    page: int | None
    headings: list[str] | str | None
    chunk_index: int | None
    chunk_id: str
    score: float


class Chunk(Source):
    object: Literal["chunk"] = "chunk"
    text: str


class Retrieved(Answer):
    object: Literal["list"] = "list"
    collection: str
    retrieval: str
    top_k: int
    score_threshold: float
    retrieval_ms: float
    data: list[Chunk]


class CitedSource(Source):
    text: str


class RagAnswer(Answer):
    object: Literal["rag.answer"] = "rag.answer"
    id: str
    model: str
    answer: str | None
    sources: list[CitedSource]
    rag: dict[str, Any] = Field(description="How the context was found: collection, retrieval, top_k, "
                                "score_threshold, retrieval_ms, context_found.")
    usage: dict[str, int] | None
