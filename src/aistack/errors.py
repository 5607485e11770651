"""Errors that reach a user. Each carries the HTTP status and OpenAI error fields it maps to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class AistackError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 detail: str | None = None):
        """`detail` is for the operator (the gateway's log, the in-process CLI), never the API:
        internal addresses and a client library's own words go there."""
        super().__init__(message)
        self.message = message
        self.param = param
        self.detail = detail
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(AistackError):
    status = 400
    type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class AuthenticationFailed(AistackError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class ModelNotFound(AistackError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"

    def __init__(self, model: str, known: list[str]):
        super().__init__(
            f"The model '{model}' does not exist. Available models: {', '.join(known) or 'none'}.",
            param="model",
        )


class RequestTimeout(AistackError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class PayloadTooLarge(AistackError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class QueueFull(AistackError):
    status = 429
    type = "rate_limit_error"
    code = "queue_full"

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimited(AistackError):
    """A key sent more than its share (deploy.rate_limit)."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class QuotaExceeded(AistackError):
    """A token budget is spent: OpenAI's answer to a spent quota (429 insufficient_quota)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


class BackendUnavailable(AistackError):
    status = 503
    type = "server_error"
    code = "backend_unavailable"


class UpstreamError(AistackError):
    """The upstream could not be reached, or answered with a server error."""

    status = 502
    type = "upstream_error"
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamRejected(AistackError):
    """The upstream answered 4xx: pass its status and message through to the client."""

    def __init__(self, status: int, message: str, *, type: str, param: str | None, code: str | None):
        super().__init__(message, param=param, code=code)
        self.status = status
        self.type = type


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """message, type, param, code from an OpenAI error body (or a plain one)."""
    try:
        data = json.loads(body)
    except ValueError:
        return (body.decode("utf-8", "replace")[:500] or None), None, None, None
    error = data.get("error", data) if isinstance(data, dict) else {}
    if isinstance(error, str):
        return error, None, None, None
    if not isinstance(error, dict):
        return None, None, None, None
    message = error.get("message") or error.get("detail")
    code = error.get("code")
    return (str(message) if message is not None else None, error.get("type"), error.get("param"),
            str(code) if code is not None else None)


def upstream_rejection(status: int, body: bytes, service: str, url: str) -> AistackError:
    """What an upstream's error answer becomes, the same for every OpenAI-compatible client: a 4xx
    passes through with its own status and message (an unknown model stays a 404); a 5xx is a 502
    that names neither the upstream's address nor its words (the log line has both)."""
    message, type_, param, code = _error_fields(body)
    if status >= 500:
        return UpstreamError(f"the {service} failed with HTTP {status}", detail=f"{url}: {message}")
    return UpstreamRejected(status, message or f"the {service} answered HTTP {status}",
                            type=type_ or "invalid_request_error", param=param, code=code)


def upstream_failure(exc: BaseException, timed_out: bool, service: str, url: str) -> UpstreamError:
    """A connection that failed or timed out, without the address (the detail has it)."""
    detail = f"{url}: {exc or type(exc).__name__}"
    if timed_out:
        return UpstreamTimeout(f"the {service} timed out ({type(exc).__name__})", detail=detail)
    return UpstreamError(f"the {service} is unreachable ({type(exc).__name__})", detail=detail)


class NotFound(AistackError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class Conflict(AistackError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class StoreLocked(AistackError):
    """The embedded vector store folder is held by another process (usually a running gateway)."""

    status = 503
    type = "server_error"
    code = "store_locked"


class Forbidden(AistackError):
    status = 403
    type = "permission_error"
    code = "forbidden"


def _union_tag(part: Any) -> bool:
    """pydantic's name for a union branch in an error's location ("str", "list[...]")."""
    return isinstance(part, str) and (part in ("str", "int", "float", "bool", "dict", "list") or "[" in part)


def _wrong_branch(error: Any, loc: list[str], locs: list[list[str]]) -> bool:
    """A union branch whose type did not match (`input` is not a string) while another branch went
    deeper (`input.0.call_id` is missing): the deeper one says what is wrong."""
    return str(error.get("type", "")).endswith("_type") and any(
        len(other) > len(loc) and other[:len(loc)] == loc for other in locs)


def validation_error(errors: Sequence[Any], prefix: tuple[str, ...] = ()) -> InvalidRequest:
    """Malformed JSON and invalid parameters (pydantic's errors), as one 400 naming the first bad
    field; `prefix` is where the validated part sits in the request."""
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid")
        where = detail.get("ctx", {}).get("error", "")
        return InvalidRequest(f"We could not parse the JSON body of your request: {where}".rstrip(": "))
    parts, first_param = [], None
    own = [e for e in errors if e.get("type") == "value_error"]  # our validators' words beat a union's noise
    located = [(e, [str(p) for p in (*prefix, *e.get("loc", ())) if p != "body" and not _union_tag(p)])
               for e in own or errors]
    for e, loc in located:
        if _wrong_branch(e, loc, [other for _, other in located]):
            continue
        param = ".".join(loc) or None
        first_param = first_param or param
        parts.append(f"{param or 'body'}: {e.get('msg')}")
    return InvalidRequest("Invalid request: " + "; ".join(parts), param=first_param)
