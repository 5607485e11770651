"""OpenAI's Responses API: create (plain or streamed as typed events), read, list input items,
delete. Scope `chat` (and `rag:read` for file_search); a stored response is its caller's
(responses/service.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from aistack.gateway.auth import Caller
from aistack.gateway.body import declares, parse
from aistack.gateway.disconnect import unless_client_leaves
from aistack.gateway.middleware import request_log
from aistack.gateway.responses import JSONResponse
from aistack.gateway.streaming import typed_event_response
from aistack.responses.service import ResponsesService
from aistack.wire.responses import InputItemList, Response, ResponseDeleted, ResponsesRequest

router = APIRouter(prefix="/v1/responses", tags=["openai"])
# /openapi.json: created with `"stream": true`, the answer is typed server-sent events
TYPED_EVENTS: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {"schema": {
    "type": "string", "description": "`event: <type>` and `data: <JSON>` per event, from response.created to "
    "response.completed (or response.incomplete / response.failed); no [DONE]."}}}}}


def _service(http: Request) -> ResponsesService:
    return http.app.state.container.responses


@router.post("", response_model=Response, responses=TYPED_EVENTS, openapi_extra=declares(ResponsesRequest))
async def create_response(http: Request, caller: Caller) -> Any:
    body = await parse(http, ResponsesRequest)
    access = request_log(http.scope)
    access.update(model=body.model, stream=body.stream)
    if body.stream:
        return await typed_event_response(await _service(http).create_stream(caller, body, access), access)
    response = await unless_client_leaves(http, _service(http).create(caller, body, access))
    usage = response.get("usage") or {}
    access.update(prompt_tokens=usage.get("input_tokens", 0), completion_tokens=usage.get("output_tokens", 0),
                  finish_reason=response["status"])
    return JSONResponse(response)


@router.get("/{response_id}", response_model=Response)
async def get_response(response_id: str, http: Request, caller: Caller) -> JSONResponse:
    return JSONResponse(await _service(http).get(caller, response_id))


@router.get("/{response_id}/input_items", response_model=InputItemList)
async def list_input_items(response_id: str, http: Request, caller: Caller) -> JSONResponse:
    items = await _service(http).input_items(caller, response_id)
    return JSONResponse({"object": "list", "data": items, "first_id": items[0].get("id") if items else None,
                         "last_id": items[-1].get("id") if items else None, "has_more": False})


@router.delete("/{response_id}", response_model=ResponseDeleted)
async def delete_response(response_id: str, http: Request, caller: Caller) -> JSONResponse:
    await _service(http).delete(caller, response_id)
    return JSONResponse({"id": response_id, "object": "response.deleted", "deleted": True})
