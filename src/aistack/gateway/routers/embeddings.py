"""POST /v1/embeddings in the OpenAI format (float lists, or base64 as the openai SDK asks)."""

from __future__ import annotations

import base64
from typing import Any, Literal

import anyio
import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from aistack.errors import InvalidRequest, ModelNotFound
from aistack.gateway.responses import JSONResponse
from aistack.gateway.body import declares, parse

router = APIRouter(prefix="/v1", tags=["openai"])


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    input: str | list[str] | list[int] | list[list[int]]
    model: str = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)


def texts_of(body: EmbeddingRequest, max_inputs: int) -> list[str]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("input must be a string or a non-empty list of strings (token arrays are not "
                             "supported)", param="input")
    if len(texts) > max_inputs:
        raise InvalidRequest(f"at most {max_inputs} inputs per request (embeddings.max_inputs); this one has "
                             f"{len(texts)}", param="input")
    if any(not t.strip() for t in texts):
        raise InvalidRequest("input must not contain empty strings", param="input")
    return texts


@router.post("/embeddings", openapi_extra=declares(EmbeddingRequest))
async def embeddings(http: Request) -> JSONResponse:
    body = await parse(http, EmbeddingRequest)
    embedder = http.app.state.container.embedder
    if body.model != embedder.model:
        raise ModelNotFound(body.model, [embedder.model])
    if body.dimensions is not None and body.dimensions != embedder.dimension:
        raise InvalidRequest(f"{embedder.model} has {embedder.dimension} dimensions; it cannot return "
                             f"{body.dimensions}", param="dimensions")
    limits = http.app.state.container.settings.embeddings
    texts = texts_of(body, limits.max_inputs)
    tokens = await anyio.to_thread.run_sync(embedder.count_tokens, texts)  # before the work, to bound it
    if tokens > limits.max_request_tokens:
        raise InvalidRequest(f"this request has {tokens} tokens; at most {limits.max_request_tokens} per request "
                             "(embeddings.max_request_tokens): send smaller batches", param="input")
    vectors = await anyio.to_thread.run_sync(embedder.embed_documents, texts)
    return JSONResponse({
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
                 for i, v in enumerate(vectors)],
        "model": embedder.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })


def _encode(vector: np.ndarray, encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return [float(x) for x in vector]
