"""Every route's answer is the response model it declares in /openapi.json (each field named,
none extra), walked through a gateway in process on the fake backend, and every operation
declares one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from support.gateway import CHAT, make_settings
from support.wire import check

from aistack.container import Container
from aistack.gateway.app import create_app
from aistack.settings.model import Settings

pytestmark = [pytest.mark.unit, pytest.mark.anyio]
ADMIN = {"Authorization": "Bearer wire-admin"}


async def gateway(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings.deploy.admin_keys = [SecretStr("wire-admin")]
    container = Container(settings)
    await container.start()
    app = create_app(container)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                     headers=ADMIN) as http:
            yield http, app
    finally:
        await container.close()


@pytest.fixture
async def fake():
    async for found in gateway(make_settings()):
        yield found


def test_every_operation_declares_its_answer() -> None:
    app = create_app(Container(make_settings()))
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            success = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            assert success.get("content"), f"{method.upper()} {path} declares no answer"


async def test_the_openai_routes(fake) -> None:
    http, app = fake
    check(app, await http.get("/health"))
    check(app, await http.get("/ready"))
    models = check(app, await http.get("/v1/models"))
    check(app, await http.get(f"/v1/models/{models['data'][0]['id']}"))
    check(app, await http.post("/v1/chat/completions", json=CHAT))
    check(app, await http.post("/v1/completions", json={"model": "fake", "prompt": "a b", "max_tokens": 2}))
    for encoding in ("float", "base64"):
        check(app, await http.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": ["a", "b"],
                                                           "encoding_format": encoding}))


async def test_the_rag_routes(fake) -> None:
    http, app = fake
    check(app, await http.post("/v1/collections", json={"name": "wire-docs", "top_k": 3}))
    check(app, await http.get("/v1/collections"))
    check(app, await http.get("/v1/collections/wire-docs"))
    text = "Proxmox passes a GPU through to a VM with VFIO. The IOMMU must be on in the firmware."
    check(app, await http.post("/v1/collections/wire-docs/documents", json={"text": text, "title": "gpu.md"}))
    check(app, await http.post("/v1/collections/wire-docs/documents", files={"files": ("b.md", b"# B\n\nVFIO.")}))
    documents = check(app, await http.get("/v1/collections/wire-docs/documents"))
    check(app, await http.post("/v1/retrieve", json={"query": "GPU passthrough", "collection": "wire-docs",
                                                    "score_threshold": -1}))
    check(app, await http.post("/v1/rag/answer", json={"question": "How does GPU passthrough work?",
                                                      "collection": "wire-docs", "score_threshold": -1}))
    check(app, await http.delete("/v1/collections/wire-docs/documents",
                                 params={"source": documents["data"][0]["source"]}))
    check(app, await http.delete("/v1/collections/wire-docs"))


async def test_the_access_routes(fake) -> None:
    http, app = fake
    check(app, await http.get("/v1/me"))
    check(app, await http.post("/v1/admin/teams", json={"name": "red", "token_budget": 1000}))
    check(app, await http.post("/v1/admin/teams", json={"name": "blue"}))
    check(app, await http.patch("/v1/admin/teams/red", json={"models": ["fake"]}))
    check(app, await http.get("/v1/admin/teams"))
    check(app, await http.post("/v1/admin/users", json={"name": "ana", "team": "red"}))
    check(app, await http.get("/v1/admin/users"))
    key = check(app, await http.post("/v1/admin/keys", json={"team": "red", "user": "ana", "name": "ci"}))
    check(app, await http.get("/v1/admin/keys"))
    red = {"Authorization": f"Bearer {key['secret']}"}
    check(app, await http.get("/v1/me", headers=red))
    check(app, await http.post("/v1/collections", json={"name": "handbook"}, headers=red))
    check(app, await http.put("/v1/collections/handbook/shares", json={"team": "blue"}, headers=red))
    check(app, await http.get("/v1/collections/handbook/shares", headers=red))
    check(app, await http.delete("/v1/collections/handbook/shares/blue", headers=red))
    rotated = check(app, await http.post(f"/v1/admin/keys/{key['id']}/rotate"))
    check(app, await http.post(f"/v1/admin/keys/{rotated['id']}/revoke"))
    await app.state.container.ledger.flush()
    usage = check(app, await http.get("/v1/usage", params={"by": "team"}))
    assert usage["data"] and all("team" in row for row in usage["data"])
    check(app, await http.delete("/v1/admin/teams/blue"))


async def test_the_agent_routes(fake) -> None:
    http, app = fake
    agents = check(app, await http.get("/v1/agents"))
    name = agents["data"][0]["name"]
    run = check(app, await http.post(f"/v1/agents/{name}/runs", json={"input": "Say hello."}))
    check(app, await http.get(f"/v1/agents/runs/{run['thread_id']}"))
    check(app, await http.get(f"/v1/agents/{name}/runs/{run['thread_id']}"))
    check(app, await http.get(f"/v1/agents/{name}/runs"))


@pytest.fixture
async def slots(tmp_path):
    settings = make_settings()
    settings.llm.backend = "slots"
    settings.deploy.store_url = str(tmp_path / "slots.db")
    async for found in gateway(settings):
        yield found


async def test_the_deployment_routes(slots) -> None:
    http, app = slots
    check(app, await http.put("/v1/admin/slots/blue", json={"url": "http://127.0.0.1:9/v1", "version": "1.0",
                                                            "env": {"TOKEN": "secret"}}))
    check(app, await http.put("/v1/admin/slots/blue/weight", json={"weight": 0}))
    check(app, await http.get("/v1/admin/slots"))
    check(app, await http.get("/v1/admin/audit"))
    check(app, await http.get("/v1/admin/ab-report"))
    check(app, await http.delete("/v1/admin/slots/blue"))
