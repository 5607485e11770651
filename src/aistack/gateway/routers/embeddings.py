"""POST /v1/embeddings in the OpenAI format (float lists, or base64 as the openai SDK asks)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Request

from aistack.errors import InvalidRequest
from aistack.gateway.auth import Caller
from aistack.gateway.responses import JSONResponse
from aistack.gateway.body import declares, parse
from aistack.wire.openai import EmbeddingList, EmbeddingRequest

router = APIRouter(prefix="/v1", tags=["openai"])


def texts_of(body: EmbeddingRequest) -> list[str]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("input must be a string or a non-empty list of strings (token arrays are not "
                             "supported)", param="input")
    if any(not t.strip() for t in texts):
        raise InvalidRequest("input must not contain empty strings", param="input")
    return texts


@router.post("/embeddings", response_model=EmbeddingList, openapi_extra=declares(EmbeddingRequest))
async def embeddings(http: Request, caller: Caller) -> JSONResponse:
    body = await parse(http, EmbeddingRequest)
    done = await http.app.state.container.embeddings.embed(caller, body.model, texts_of(body), body.dimensions)
    return JSONResponse({
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
                 for i, v in enumerate(done.vectors)],
        "model": done.model,
        "usage": {"prompt_tokens": done.tokens, "total_tokens": done.tokens},
    })


def _encode(vector: np.ndarray, encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return [float(x) for x in vector]
