"""The one way the CLI reaches a gateway: the Bearer header, the OpenAI error body read as a
ClientError, JSON calls and server-sent events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson


class ClientError(Exception):
    """Something the user should read: the gateway's or backend's error message."""


def error_message(response: httpx.Response) -> str:
    """The message of an OpenAI-shaped error body, or the start of whatever came instead."""
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


def check_response(url: str, response: httpx.Response) -> None:
    """Raise the gateway's error message (OpenAI error shape) as a ClientError."""
    if response.status_code < 400:
        return
    response.read()
    raise ClientError(f"{url} answered {response.status_code}: {error_message(response)}")


def unreachable(url: str, exc: httpx.HTTPError) -> ClientError:
    return ClientError(f"cannot reach the gateway at {url}: {exc}")


class Gateway:
    """An HTTP client of one gateway, with its key."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float | httpx.Timeout = 300.0,
                 headers: dict[str, str] | None = None):
        self.url = url.rstrip("/")
        auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url, headers={**auth, **(headers or {})}, timeout=timeout)

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response, whatever its status; a ClientError when the gateway cannot be reached."""
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer; an error answer is a ClientError with the gateway's message."""
        response = self.send(method, path, **kwargs)
        check_response(self.url, response)
        return response.json()

    def events(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The JSON events of a server-sent-events response; an error event becomes a ClientError."""
        try:
            with self.http.stream("POST", path, json=body) as response:
                check_response(self.url, response)
                for line in response.iter_lines():
                    if not line.startswith("data:") or line.endswith("[DONE]"):
                        continue
                    chunk = orjson.loads(line[5:])
                    if "error" in chunk:
                        raise ClientError(chunk["error"]["message"])
                    yield chunk
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None

    def close(self) -> None:
        self.http.close()
