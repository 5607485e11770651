"""Optional Bearer-key authentication for the /v1 API."""

from __future__ import annotations

import hmac

from fastapi import Request

from aistack.errors import AuthenticationFailed


class APIKeyAuth:
    def __init__(self, keys: list[str]):
        self.keys = [key.encode() for key in keys]

    async def __call__(self, request: Request) -> None:
        if not self.keys:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed(
                "Missing API key: send it as 'Authorization: Bearer <key>'."
            )
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, key) for key in self.keys):
            raise AuthenticationFailed("Incorrect API key provided.")
