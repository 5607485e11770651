"""The OpenAI-compatible API: chat completions, completions, models."""

from __future__ import annotations

from typing import Any, TypeVar

import anyio
import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError

from aistack.errors import InvalidRequest, ModelNotFound
from aistack.gateway.errors import validation_error
from aistack.gateway.middleware import request_log
from aistack.gateway.responses import JSONResponse
from aistack.gateway.streaming import sse_response
from aistack.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingParams,
    StreamOptions,
)
from aistack.rag.retrieve import RetrievalOptions

router = APIRouter(prefix="/v1", tags=["openai"])
Body = TypeVar("Body", bound=BaseModel)


async def parse(http: Request, model: type[Body]) -> Body:
    """The JSON body as `model`, whatever Content-Type the client sent (curl -d sends a form)."""
    try:
        data = orjson.loads(await http.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None


def _llm(request: Request) -> Any:
    return request.app.state.container.llm


def _start(http: Request, body: SamplingParams) -> tuple[dict[str, Any], bool]:
    access = request_log(http.scope)
    access["model"] = body.model
    access["stream"] = body.stream
    wants_usage = body.include_usage
    if body.stream:
        body.stream_options = StreamOptions(include_usage=True)
    return access, wants_usage


def _finish(access: dict[str, Any], result: dict[str, Any]) -> JSONResponse:
    access.update(result.get("usage") or {})
    choices = result.get("choices") or [{}]
    access["finish_reason"] = choices[0].get("finish_reason")
    return JSONResponse(result)


async def _generate(http: Request, kind: type[SamplingParams]) -> Any:
    body = await parse(http, kind)
    access, wants_usage = _start(http, body)
    llm = _llm(http)
    chat = kind is ChatCompletionRequest
    rag = rag_options(body) if chat else None
    if chat and (alias := http.app.state.container.pipelines.alias_in(body.model)):
        rag = await registered_pipeline(http, body, alias, rag)
    if rag is not None:
        service = http.app.state.container.rag
        access["rag_collection"] = rag.collection
        if body.stream:
            return await sse_response(await service.chat_stream(body, rag), access, wants_usage)
        return _finish(access, await service.chat(body, rag))
    if body.stream:
        chunks = llm.chat_stream(body) if chat else llm.complete_stream(body)
        return await sse_response(chunks, access, wants_usage)
    return _finish(access, await (llm.chat(body) if chat else llm.complete(body)))


async def registered_pipeline(http: Request, body: Any, alias: str, rag: RetrievalOptions | None) -> RetrievalOptions:
    """`model: rag-pipeline@champion`: the registered configuration answers (the request's own
    temperature, max_tokens and `rag` options still win)."""
    config = await anyio.to_thread.run_sync(http.app.state.container.pipelines.resolve, alias)
    body.model = config.llm_model
    body.temperature = config.temperature if body.temperature is None else body.temperature
    body.max_tokens = body.max_tokens or (None if body.max_completion_tokens else config.max_tokens)
    request_log(http.scope)["pipeline"] = f"{alias}:{config.collection}"
    return rag or config.options()


def rag_options(body: SamplingParams) -> RetrievalOptions | None:
    """The `rag` extension of chat completions (`extra_body={"rag": {"collection": ...}}` in the
    OpenAI SDK): true, or retrieval options. It is taken out so no upstream ever sees it."""
    extra = body.model_extra or {}
    if "rag" not in extra:
        return None
    value = extra.pop("rag")
    if value is False or value is None:
        return None
    try:
        return RetrievalOptions() if value is True else RetrievalOptions.model_validate(value)
    except ValidationError as exc:
        raise validation_error([{**e, "loc": ("rag", *e["loc"])} for e in exc.errors()]) from None


@router.post("/chat/completions")
async def chat_completions(http: Request) -> Any:
    return await _generate(http, ChatCompletionRequest)


@router.post("/completions")
async def completions(http: Request) -> Any:
    return await _generate(http, CompletionRequest)


@router.get("/models")
async def list_models(http: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": await _llm(http).models()})


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, http: Request) -> JSONResponse:
    models = await _llm(http).models()
    for model in models:
        if model["id"] == model_id:
            return JSONResponse(model)
    raise ModelNotFound(model_id, [m["id"] for m in models])
