"""Optional Bearer-key authentication for the /v1 API."""

from __future__ import annotations

import hmac

from fastapi import Request

from aistack.errors import AuthenticationFailed


class APIKeyAuth:
    """No keys: open. Keys given: one of them, compared in constant time. A blank key never
    matches (`Bearer \xa0` used to match a configured empty string), and a list of only blank
    keys locks the API rather than opening it."""

    def __init__(self, keys: list[str]):
        self.required = bool(keys)
        self.keys = [key.strip().encode() for key in keys if key.strip()]

    async def __call__(self, request: Request) -> None:
        if not self.required:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed(
                "Missing API key: send it as 'Authorization: Bearer <key>'."
            )
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, key) for key in self.keys):
            raise AuthenticationFailed("Incorrect API key provided.")
