"""The OpenAI-compatible API: chat completions, completions, models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from aistack.chat.service import ChatService
from aistack.gateway.auth import Caller
from aistack.gateway.body import declares, parse
from aistack.gateway.disconnect import unless_client_leaves
from aistack.gateway.middleware import request_log
from aistack.gateway.responses import JSONResponse
from aistack.gateway.streaming import EVENT_STREAM, sse_response
from aistack.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingParams,
    StreamOptions,
)
from aistack.wire.openai import ChatCompletion, Completion, Model, ModelList

router = APIRouter(prefix="/v1", tags=["openai"])


def _chat(http: Request) -> ChatService:
    return http.app.state.container.chat


def _start(http: Request, body: SamplingParams) -> tuple[dict[str, Any], bool]:
    """The access log entry, and whether the client asked for usage: streams always ask the
    backend for it, so the log has exact tokens."""
    access = request_log(http.scope)
    access["model"] = body.model
    access["stream"] = body.stream
    if ignored := body.ignored():  # named in the access log, never forwarded (vLLM warns the same way)
        access["ignored_fields"] = [name[:64] for name in ignored[:20]]
    wants_usage = body.include_usage
    if body.stream:
        body.stream_options = StreamOptions(include_usage=True)
    return access, wants_usage


def _finish(access: dict[str, Any], result: dict[str, Any]) -> JSONResponse:
    access.update(result.get("usage") or {})
    choices = result.get("choices") or [{}]
    access["finish_reason"] = choices[0].get("finish_reason")
    return JSONResponse(result)


@router.post("/chat/completions", response_model=ChatCompletion, responses=EVENT_STREAM,
             openapi_extra=declares(ChatCompletionRequest))
async def chat_completions(http: Request, caller: Caller) -> Any:
    body = await parse(http, ChatCompletionRequest)
    access, wants_usage = _start(http, body)
    if body.stream:
        return await sse_response(await _chat(http).chat_stream(caller, body, access), access, wants_usage)
    return _finish(access, await unless_client_leaves(http, _chat(http).chat(caller, body, access)))


@router.post("/completions", response_model=Completion, responses=EVENT_STREAM,
             openapi_extra=declares(CompletionRequest))
async def completions(http: Request, caller: Caller) -> Any:
    body = await parse(http, CompletionRequest)
    access, wants_usage = _start(http, body)
    if body.stream:
        return await sse_response(_chat(http).complete_stream(caller, body), access, wants_usage)
    return _finish(access, await unless_client_leaves(http, _chat(http).complete(caller, body)))


@router.get("/models", response_model=ModelList)
async def list_models(http: Request, caller: Caller) -> JSONResponse:
    return JSONResponse({"object": "list", "data": await _chat(http).models(caller)})


@router.get("/models/{model_id:path}", response_model=Model)
async def get_model(model_id: str, http: Request, caller: Caller) -> JSONResponse:
    return JSONResponse(await _chat(http).model(caller, model_id))
