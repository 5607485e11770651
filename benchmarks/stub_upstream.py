"""A minimal OpenAI-compatible upstream that answers at once: the baseline for gateway overhead.

    python benchmarks/stub_upstream.py PORT
"""

from __future__ import annotations

import sys

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWER = orjson.dumps({
    "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": "stub",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "four words of reply"},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
})
MODELS = orjson.dumps({"object": "list", "data": [{"id": "stub", "object": "model", "created": 0, "owned_by": "stub"}]})


async def chat(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


async def models(_: Request) -> Response:
    return Response(MODELS, media_type="application/json")


app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                        Route("/v1/models", models)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
