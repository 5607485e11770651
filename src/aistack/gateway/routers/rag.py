"""aistack's RAG API: collections, documents (upload, text, server path), retrieval, answers."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aistack.errors import InvalidRequest
from aistack.gateway.middleware import request_log
from aistack.gateway.responses import JSONResponse
from aistack.gateway.routers.openai import parse
from aistack.gateway.streaming import sse_response
from aistack.ingest import sources
from aistack.llm.protocol import ChatCompletionRequest
from aistack.rag import collections
from aistack.rag.retrieve import RetrievalOptions, source_of

router = APIRouter(prefix="/v1", tags=["rag"])


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


class RetrieveRequest(RetrievalOptions):
    query: str = Field(min_length=1)


class AnswerRequest(RetrievalOptions):
    question: str = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)


def _container(http: Request) -> Any:
    return http.app.state.container


async def _run(func: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)


@router.get("/collections")
async def list_collections(http: Request) -> JSONResponse:
    found = await _run(_container(http).store.list_collections)
    return JSONResponse({"object": "list", "data": [collections.as_json(c) for c in found]})


@router.post("/collections", status_code=201)
async def create_collection(http: Request) -> JSONResponse:
    body = await parse(http, CollectionCreate)
    c = _container(http)
    info = await _run(lambda: collections.create(c.store, c.embedder, body.name, body.score_threshold,
                                                 body.top_k, body.retrieval))
    return JSONResponse(collections.as_json(info), status_code=201)


@router.get("/collections/{name}")
async def describe_collection(name: str, http: Request) -> JSONResponse:
    return JSONResponse(collections.as_json(await _run(_container(http).store.describe, collections.check_name(name))))


@router.delete("/collections/{name}")
async def delete_collection(name: str, http: Request) -> JSONResponse:
    await _run(_container(http).store.delete_collection, collections.check_name(name))
    return JSONResponse({"object": "collection.deleted", "name": name, "deleted": True})


@router.get("/collections/{name}/documents")
async def list_documents(name: str, http: Request) -> JSONResponse:
    docs = await _run(_container(http).store.documents, collections.check_name(name))
    return JSONResponse({"object": "list", "data": [{"object": "document", **vars(d)} for d in docs]})


@router.delete("/collections/{name}/documents")
async def delete_document(name: str, source: str, http: Request) -> JSONResponse:
    store = _container(http).store

    def delete() -> int:
        ids = store.ids_for_source(collections.check_name(name), source)
        store.delete_ids(name, ids)
        return len(ids)

    removed = await _run(delete)
    if not removed:
        raise InvalidRequest(f"no document with source '{source}' in collection '{name}'", param="source")
    return JSONResponse({"object": "document.deleted", "source": source, "chunks_removed": removed})


@router.post("/collections/{name}/documents")
async def ingest(name: str, http: Request) -> JSONResponse:
    """multipart/form-data with one or more `files` (and optional `metadata` JSON), or JSON with
    `text` (and `title`), or `path` (a server folder inside ingest.allowed_paths)."""
    c = _container(http)
    collections.check_name(name)
    if http.headers.get("content-type", "").startswith("multipart/form-data"):
        documents = await _uploads(http)
    else:
        body = await parse(http, TextIngest)
        if (body.text is None) == (body.path is None):
            raise InvalidRequest("send exactly one of 'text' or 'path' (or upload files as multipart)")
        if body.text is not None:
            documents = [sources.text_document(body.text, body.title, body.metadata)]
        else:
            config = c.settings.ingest
            documents = sources.allowed_files(body.path, config.allowed_paths, body.include or config.include,
                                              config.exclude if body.exclude is None else body.exclude)
    summary = await _run(c.ingestor.ingest, name, documents)
    request_log(http.scope).update(collection=name, files=len(summary.files))
    return JSONResponse({"object": "ingest.summary", **summary.as_dict()})


async def _uploads(http: Request) -> list[Any]:
    form = await http.form(max_files=10_000)
    try:
        metadata = orjson.loads(form.get("metadata") or "{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"metadata is not valid JSON: {exc}", param="metadata") from None
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be a JSON object", param="metadata")
    files = [v for _, v in form.multi_items() if not isinstance(v, str)]
    if not files:
        raise InvalidRequest("no files in the upload: send them as multipart fields named 'files'", param="files")
    return [sources.load_upload(f.filename, await f.read(), metadata) for f in files]


@router.post("/retrieve")
async def retrieve(http: Request) -> JSONResponse:
    body = await parse(http, RetrieveRequest)
    result = await _container(http).rag.retrieve(body.query, body)
    return JSONResponse({
        "object": "list", "collection": result.collection, "retrieval": result.retrieval,
        "top_k": result.top_k, "score_threshold": result.score_threshold,
        "retrieval_ms": round(result.milliseconds, 2),
        "data": [{"object": "chunk", "text": hit.text, **source_of(hit)} for hit in result.hits],
    })


@router.post("/rag/answer")
async def answer(http: Request) -> Response:
    body = await parse(http, AnswerRequest)
    c = _container(http)
    access = request_log(http.scope)
    model = body.model or c.settings.rag.model or c.default_model()
    if not model:
        raise InvalidRequest("no model given and no llm.default_model configured", param="model")
    chat = ChatCompletionRequest.model_validate({
        "model": model, "messages": [{"role": "user", "content": body.question}], "stream": body.stream,
        "temperature": body.temperature, "max_tokens": body.max_tokens,
        **({"stream_options": {"include_usage": True}} if body.stream else {}),
    })
    options = RetrievalOptions.model_validate(body.model_dump(include=set(RetrievalOptions.model_fields)))
    access.update(model=model, stream=body.stream, rag_collection=options.collection)
    if body.stream:
        return await sse_response(await c.rag.chat_stream(chat, options), access, True)
    result = await c.rag.chat(chat, options)
    access.update(result.get("usage") or {})
    return JSONResponse({"object": "rag.answer", "id": result["id"], "model": result["model"],
                         "answer": result["choices"][0]["message"]["content"], "sources": result["sources"],
                         "rag": result["rag"], "usage": result.get("usage")})
