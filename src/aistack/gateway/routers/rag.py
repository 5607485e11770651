"""aistack's RAG API: collections, documents (upload, text, server path), retrieval, answers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from aistack.errors import InvalidRequest
from aistack.gateway.auth import Caller
from aistack.gateway.middleware import request_log
from aistack.gateway.responses import JSONResponse
from aistack.gateway.disconnect import unless_client_leaves
from aistack.gateway.body import declares, parse
from aistack.gateway.streaming import EVENT_STREAM, sse_response
from aistack.knowledge import collections
from aistack.knowledge.pipeline import Question
from aistack.knowledge.retrieve import source_of
from aistack.knowledge.service import KnowledgeService, Upload
from aistack.wire import knowledge as wire
from aistack.wire.knowledge import AnswerRequest, CollectionCreate, RetrievalOptions, RetrieveRequest, TextIngest

router = APIRouter(prefix="/v1", tags=["rag"])


def _knowledge(http: Request) -> KnowledgeService:
    return http.app.state.container.knowledge


@router.get("/collections", response_model=wire.CollectionList)
async def list_collections(http: Request, caller: Caller) -> JSONResponse:
    found = await _knowledge(http).collections(caller)
    return JSONResponse({"object": "list", "data": [collections.as_json(c) for c in found]})


@router.post("/collections", status_code=201, response_model=wire.Collection,
             openapi_extra=declares(CollectionCreate))
async def create_collection(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, CollectionCreate)
    info = await _knowledge(http).create_collection(caller, body.name, body.score_threshold, body.top_k, body.retrieval)
    return JSONResponse(collections.as_json(info), status_code=201)


@router.get("/collections/{name}", response_model=wire.Collection)
async def describe_collection(name: str, http: Request, caller: Caller) -> JSONResponse:
    return JSONResponse(collections.as_json(await _knowledge(http).describe_collection(caller, name)))


@router.delete("/collections/{name}", response_model=wire.CollectionDeleted)
async def delete_collection(name: str, http: Request, caller: Caller) -> JSONResponse:
    await _knowledge(http).delete_collection(caller, name)
    return JSONResponse({"object": "collection.deleted", "name": name, "deleted": True})


@router.get("/collections/{name}/documents", response_model=wire.DocumentList)
async def list_documents(name: str, http: Request, caller: Caller) -> JSONResponse:
    docs = await _knowledge(http).documents(caller, name)
    return JSONResponse({"object": "list", "data": [{"object": "document", **vars(d)} for d in docs]})


@router.delete("/collections/{name}/documents", response_model=wire.DocumentDeleted)
async def delete_document(name: str, source: str, http: Request, caller: Caller) -> JSONResponse:
    removed = await _knowledge(http).delete_document(caller, name, source)
    return JSONResponse({"object": "document.deleted", "source": source, "chunks_removed": removed})


UPLOAD = {"type": "object", "required": ["files"], "properties": {
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
    "metadata": {"type": "string", "description": "A JSON object stored with every chunk."}}}


@router.post("/collections/{name}/documents", response_model=wire.IngestSummary,
             openapi_extra=declares(TextIngest, multipart_form_data=UPLOAD))
async def ingest(name: str, http: Request, caller: Caller) -> JSONResponse:
    """multipart/form-data with one or more `files` (and optional `metadata` JSON), or JSON with
    `text` (and `title`), or `path` (a server folder inside ingest.allowed_paths)."""
    knowledge = _knowledge(http)
    if http.headers.get("content-type", "").startswith("multipart/form-data"):
        uploads, metadata = await _uploads(http)
        summary = await knowledge.ingest_uploads(caller, name, uploads, metadata)
    else:
        body = await parse(http, TextIngest)
        if (body.text is None) == (body.path is None):
            raise InvalidRequest("send exactly one of 'text' or 'path' (or upload files as multipart)")
        if body.text is not None:
            summary = await knowledge.ingest_text(caller, name, body.text, body.title, body.metadata)
        else:
            summary = await knowledge.ingest_path(caller, name, body.path, body.include, body.exclude)
    request_log(http.scope).update(collection=name, files=len(summary.files))
    return JSONResponse({"object": "ingest.summary", **summary.as_dict()})


async def _uploads(http: Request) -> tuple[list[Upload], dict[str, Any]]:
    """The uploaded files as (name, bytes), unparsed: parsing is the service's, off the loop."""
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
    return [(f.filename, await f.read()) for f in files], metadata


@router.post("/retrieve", response_model=wire.Retrieved, openapi_extra=declares(RetrieveRequest))
async def retrieve(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, RetrieveRequest)
    options = RetrievalOptions.model_validate(body.model_dump(include=set(RetrievalOptions.model_fields)))
    result = await _knowledge(http).retrieve(caller, body.query, options)
    return JSONResponse({
        "object": "list", "collection": result.collection, "retrieval": result.retrieval,
        "top_k": result.top_k, "score_threshold": result.score_threshold,
        "retrieval_ms": round(result.milliseconds, 2),
        "data": [{"object": "chunk", "text": hit.text, **source_of(hit)} for hit in result.hits],
    })


@router.post("/rag/answer", response_model=wire.RagAnswer, responses=EVENT_STREAM,
             openapi_extra=declares(AnswerRequest))
async def answer(http: Request, caller: Caller) -> Response:
    body = await parse(http, AnswerRequest)
    knowledge = _knowledge(http)
    access = request_log(http.scope)
    question = Question(body.question, body.model, body.temperature, body.max_tokens, stream=body.stream)
    options = RetrievalOptions.model_validate(body.model_dump(include=set(RetrievalOptions.model_fields)))
    access.update(stream=body.stream, rag_collection=options.collection)
    if body.stream:
        chunks = await knowledge.answer_stream(caller, question, options)
        return await sse_response(chunks, access, True)
    result = await unless_client_leaves(http, knowledge.answer(caller, question, options))
    access.update(model=result["model"], **(result.get("usage") or {}))
    return JSONResponse({"object": "rag.answer", "id": result["id"], "model": result["model"],
                         "answer": result["choices"][0]["message"]["content"], "sources": result["sources"],
                         "rag": result["rag"], "usage": result.get("usage")})
