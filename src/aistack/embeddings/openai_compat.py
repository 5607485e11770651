"""Embeddings from any OpenAI-compatible `/v1/embeddings` upstream (vLLM, TEI, Ollama)."""

from __future__ import annotations

import httpx
import numpy as np

from aistack.embeddings.base import batches, normalise
from aistack.errors import upstream_failure, upstream_rejection
from aistack.settings import Settings
from aistack.settings.data import OpenAIEmbedderSettings

SERVICE = "embeddings upstream"


class OpenAIEmbedder:
    name = "openai"

    def __init__(self, config: OpenAIEmbedderSettings, batch_size: int = 32):
        headers = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"} if config.api_key else {}
        self.base_url = config.base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=config.timeout)
        self.model = config.model
        self.batch_size = batch_size
        self._dimension: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEmbedder:
        return cls(settings.embeddings.openai, settings.embeddings.batch_size)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self._embed(["dimension probe"]).shape[1])
        return self._dimension

    def _embed(self, texts: list[str]) -> np.ndarray:
        try:
            response = self.http.post("/embeddings", json={"model": self.model, "input": texts})
        except httpx.HTTPError as exc:
            raise upstream_failure(exc, isinstance(exc, httpx.TimeoutException), SERVICE, self.base_url) from None
        if response.status_code >= 400:
            raise upstream_rejection(response.status_code, response.content, SERVICE, self.base_url)
        rows = sorted(response.json()["data"], key=lambda row: row["index"])
        return normalise(np.array([row["embedding"] for row in rows], dtype=np.float32))

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._embed(batch) for batch in batches(texts, self.batch_size)])

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text])[0]

    def count_tokens(self, texts: list[str]) -> int:
        # An estimate (about four characters a token): the upstream counts with its own tokenizer.
        return sum(max(1, len(text) // 4) for text in texts)

    def close(self) -> None:
        self.http.close()
