"""Every error leaves the gateway in the OpenAI shape: {"error": {message, type, param, code}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from aistack.errors import AistackError, validation_error
from aistack.gateway.disconnect import ClientDisconnected
from aistack.gateway.middleware import request_log
from aistack.gateway.responses import JSONResponse

log = logging.getLogger("aistack.gateway")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error the gateway answers, in OpenAI's shape."""
    error: ErrorDetail


# Declared on every /v1 operation, so /openapi.json says what can go wrong and in which shape
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody, "description": text} for status, text in {
    400: "Invalid request: the param names the field", 401: "No valid API key", 403: "Not allowed",
    404: "No such model, collection, document, run or snapshot", 408: "The body did not arrive in time",
    409: "Conflicts with the current state", 413: "The body is too large",
    429: "Rate limit, token limit or a full model queue (see Retry-After)",
    502: "The upstream model server failed", 503: "A backend this needs is unavailable or not configured",
    504: "The upstream model server timed out"}.items()}
STATUS_TYPES = {401: "authentication_error", 404: "invalid_request_error", 405: "invalid_request_error"}


def error_response(error: AistackError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers())


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ClientDisconnected)
    async def _gone(request: Request, _: ClientDisconnected) -> Response:
        request_log(request.scope)["finish_reason"] = "cancelled"
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it

    @app.exception_handler(AistackError)
    async def _aistack(_: Request, exc: AistackError) -> JSONResponse:
        if exc.detail:
            log.warning("%s (%s)", exc.message, exc.detail)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc.errors()))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        """The traceback goes to the log; the client gets the request id to quote, never the
        exception's text (it can name internal hosts, paths or credentials)."""
        log.exception("unexpected error")
        request_id = request_log(request.scope).get("request_id", "")
        return error_response(AistackError(
            f"internal error (request {request_id}): the gateway log has the details"))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        error = AistackError(str(exc.detail))
        error.status = exc.status_code
        error.type = STATUS_TYPES.get(exc.status_code, "invalid_request_error")
        return error_response(error)


def stream_error_event(error: AistackError | Exception) -> dict[str, Any]:
    """The SSE event sent when a stream fails after it started."""
    if isinstance(error, AistackError):
        return error.body()
    return AistackError(f"generation failed: {error}").body()
