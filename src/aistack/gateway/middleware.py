"""One pure-ASGI middleware for every HTTP request: X-Request-ID, the body size limit, the
rate-limit headers a limit decision left in the scope, and one
structured access-log line when the response is done (streams included)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from aistack.access.ledger import tokens_of
from aistack.errors import PayloadTooLarge

access_log = logging.getLogger("aistack.access")
BODY_METHODS = {b"POST", b"PUT", b"PATCH"}


def request_log(scope: dict[str, Any]) -> dict[str, Any]:
    """The dict a route fills (model, tokens, finish) for this request's access-log line."""
    return scope.setdefault("state", {}).setdefault("access", {})


class GatewayMiddleware:
    def __init__(self, app: Any, max_body_bytes: int, max_upload_bytes: int | None = None,
                 on_done: Callable[[dict[str, Any]], None] | None = None):
        """`on_done` gets each finished request's log entry, on the loop (the usage ledger queues it)."""
        self.app = app
        self.on_done = on_done
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes or max_body_bytes

    def _limit(self, scope: dict[str, Any]) -> int:
        """Document uploads (POST .../documents) may be larger than other bodies."""
        return self.max_upload_bytes if scope["path"].endswith("/documents") else self.max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        entry = request_log(scope)
        entry["request_id"] = request_id
        status = {"code": 0}

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
                if (limit := scope.get("state", {}).get("ratelimit")) is not None:
                    message["headers"].extend(limit.headers())
            await send(message)

        try:
            too_large = await self._body_too_large(scope, headers, receive)
            if too_large is None:
                await self.app(scope, receive, send_with_id)
            elif too_large is True:
                await self._reject(send_with_id, self._limit(scope))
            else:
                await self.app(scope, too_large, send_with_id)
        finally:
            await self._charge(scope, entry)
            self._log(scope, entry, status["code"], started)
            if self.on_done is not None:
                self.on_done(entry)

    @staticmethod
    async def _charge(scope: dict[str, Any], entry: dict[str, Any]) -> None:
        """The caller's token limits and budgets take what the answer used (the route left its
        usage in the log); the quota layer logs, never raises, when its store is down."""
        charge = scope.get("state", {}).get("charge_tokens")
        used = sum(tokens_of(entry))
        if charge is not None and used:
            await charge(used)

    async def _body_too_large(self, scope: dict[str, Any], headers: dict[bytes, bytes], receive: Any) -> Any:
        """None: fine as it is. True: reject. A callable: the buffered body to replay."""
        if scope["method"].encode() not in BODY_METHODS:
            return None
        length = headers.get(b"content-length")
        if length is not None:
            return True if length.isdigit() and int(length) > self._limit(scope) else None
        return None if b"transfer-encoding" not in headers else await self._buffer(receive, self._limit(scope))

    async def _buffer(self, receive: Any, limit: int) -> Any:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return True
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _reject(self, send: Any, limit: int) -> None:
        error = PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        body = orjson.dumps(error.body())
        await send({"type": "http.response.start", "status": error.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: dict[str, Any], entry: dict[str, Any], status: int, started: float) -> None:
        entry.update(method=scope["method"], path=scope["path"], status=status,
                     latency_ms=round((time.perf_counter() - started) * 1000, 2))
        if scope["path"] in ("/health", "/ready", "/metrics") and status == 200:
            return
        access_log.info("request", extra={"fields": entry})
