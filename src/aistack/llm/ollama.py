"""Ollama model management through the official `ollama` client: the local models (`/api/tags`)
and pulls with progress (`/api/pull`). Chat still goes through Ollama's OpenAI-compatible `/v1`
with the `openai` backend; `llm.openai.flavour: ollama` adds these."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aistack.errors import BackendUnavailable, InvalidRequest
from aistack.registry import MissingDependency
from aistack.settings.model import OpenAIUpstreamSettings


def ollama_host(config: OpenAIUpstreamSettings) -> str:
    """`llm.openai.ollama_host`, else the upstream base URL without its `/v1`."""
    return (config.ollama_host or config.base_url.rstrip("/").removesuffix("/v1")).rstrip("/")


@dataclass
class PullProgress:
    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


def model_row(model: Any) -> dict[str, Any]:
    details = model.details
    return {
        "id": model.model, "size": model.size, "digest": model.digest,
        "modified_at": model.modified_at.isoformat() if model.modified_at else None,
        "family": details.family if details else None,
        "parameter_size": details.parameter_size if details else None,
        "quantization": details.quantization_level if details else None,
        "format": details.format if details else None,
    }


class OllamaModels:
    def __init__(self, host: str, timeout: float = 30.0):
        try:
            import httpx
            import ollama
        except ImportError:
            raise MissingDependency("Ollama model management needs its client: pip install 'aistack[ollama]'") from None
        self.host = host
        self._ollama = ollama
        self._httpx = httpx
        self.client = ollama.Client(host=host, timeout=timeout)

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except self._ollama.ResponseError as exc:
            raise InvalidRequest(f"Ollama could not {what}: {exc.error}", param="model") from None
        except (self._httpx.HTTPError, ConnectionError) as exc:
            raise BackendUnavailable(f"Ollama at {self.host} is not reachable: {exc}") from None

    def list(self) -> list[dict[str, Any]]:
        return [model_row(m) for m in self._call("list its models", self.client.list).models]

    def pull(self, name: str) -> Iterator[PullProgress]:
        """Progress as Ollama streams it; an unknown model or a failed download raises InvalidRequest."""
        if not name.strip():
            raise InvalidRequest("give the model to pull, such as llama3.2:1b", param="model")
        stream = self._call(f"pull '{name}'", self.client.pull, name, stream=True)
        while True:
            part = self._call(f"pull '{name}'", next, stream, None)
            if part is None:
                return
            yield PullProgress(part.status or "", part.digest, part.total, part.completed)
