"""A small Ollama API server for tests: no Ollama can run here. It follows Ollama's API documentation
(docs/api.md) for the endpoints aistack uses, and their shapes:

- `GET /api/tags`: {"models": [{"name", "model", "modified_at", "size", "digest", "details": {...}}]}
- `POST /api/pull` {"model", "stream"}: NDJSON progress, "pulling manifest", then per layer
  {"status": "pulling <digest>", "digest", "total", "completed"}, "verifying sha256 digest",
  "writing manifest", "success"; an unknown model ends with {"error": "pull model manifest: file does not exist"}
- `GET /v1/models`: the OpenAI-compatible list of local models (owned_by "library")
- `GET /api/version`

    python tests/support/ollama_server.py PORT
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from datetime import UTC, datetime

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def details(family: str, parameters: str, quantization: str) -> dict:
    return {"parent_model": "", "format": "gguf", "family": family, "families": [family],
            "parameter_size": parameters, "quantization_level": quantization}


# What the "registry" offers: layers (digest, bytes) and details
LIBRARY = {
    "llama3.2:1b": {"layers": [(digest("llama3.2:1b model"), 1_321_082_688), (digest("llama3.2:1b license"), 7_711)],
                    "details": details("llama", "1.2B", "Q8_0")},
    "smollm2:135m": {"layers": [(digest("smollm2 model"), 270_898_368)], "details": details("llama", "134.52M", "F16")},
}
LOCAL: dict[str, dict] = {
    "smollm2:135m": {"modified_at": "2026-11-01T10:00:00Z", **LIBRARY["smollm2:135m"]},
}


def tag(name: str, model: dict) -> dict:
    size = sum(layer[1] for layer in model["layers"])
    return {"name": name, "model": name, "modified_at": model["modified_at"], "size": size,
            "digest": digest(name)[7:], "details": model["details"]}


async def tags(_: Request) -> Response:
    return JSONResponse({"models": [tag(name, model) for name, model in LOCAL.items()]})


async def openai_models(_: Request) -> Response:
    return JSONResponse({"object": "list", "data": [
        {"id": name, "object": "model", "created": 1761991200, "owned_by": "library"} for name in LOCAL]})


async def version(_: Request) -> Response:
    return JSONResponse({"version": "0.12.6"})


async def pull(request: Request) -> Response:
    body = orjson.loads(await request.body() or b"{}")
    name = body.get("model") or body.get("name") or ""
    if ":" not in name:
        name += ":latest"

    async def progress():
        yield {"status": "pulling manifest"}
        if name not in LIBRARY:
            yield {"error": "pull model manifest: file does not exist"}
            return
        for layer, total in LIBRARY[name]["layers"]:
            for step in range(0, 5):
                yield {"status": f"pulling {layer[7:19]}", "digest": layer, "total": total,
                       "completed": total * step // 4}
                await asyncio.sleep(0.01)
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        LOCAL[name] = {"modified_at": datetime.now(UTC).isoformat(), **LIBRARY[name]}
        yield {"status": "success"}

    if body.get("stream", True) is False:
        events = [event async for event in progress()]
        last = events[-1]
        return JSONResponse(last, status_code=500 if "error" in last else 200)

    async def lines():
        async for event in progress():
            yield orjson.dumps(event) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


app = Starlette(routes=[
    Route("/api/tags", tags), Route("/api/pull", pull, methods=["POST"]), Route("/api/version", version),
    Route("/v1/models", openai_models),
])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
