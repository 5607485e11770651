"""The embeddings service: the configured embedder, bounded per request, for callers with the
`embeddings` scope (and the model on their key's allowlist, if it has one)."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import numpy as np

from aistack.embeddings import Embedder
from aistack.errors import InvalidRequest, ModelNotFound
from aistack.principals import Principal
from aistack.settings.data import EmbeddingsSettings


@dataclass
class Embedded:
    vectors: list[np.ndarray]
    model: str
    tokens: int


class EmbeddingService:
    def __init__(self, embedder: Embedder, limits: EmbeddingsSettings):
        self.embedder, self.limits = embedder, limits

    async def embed(self, caller: Principal, model: str, texts: list[str], dimensions: int | None = None) -> Embedded:
        caller.require("embeddings")
        embedder = self.embedder
        if model != embedder.model:
            raise ModelNotFound(model, [embedder.model])
        caller.require_model(model)
        if dimensions is not None and dimensions != embedder.dimension:
            raise InvalidRequest(f"{embedder.model} has {embedder.dimension} dimensions; it cannot return "
                                 f"{dimensions}", param="dimensions")
        if len(texts) > self.limits.max_inputs:
            raise InvalidRequest(f"at most {self.limits.max_inputs} inputs per request (embeddings.max_inputs); this "
                                 f"one has {len(texts)}", param="input")
        tokens = await anyio.to_thread.run_sync(embedder.count_tokens, texts)  # before the work, to bound it
        if tokens > self.limits.max_request_tokens:
            raise InvalidRequest(f"this request has {tokens} tokens; at most {self.limits.max_request_tokens} per "
                                 "request (embeddings.max_request_tokens): send smaller batches", param="input")
        vectors = await anyio.to_thread.run_sync(embedder.embed_documents, texts)
        return Embedded(list(vectors), embedder.model, tokens)
