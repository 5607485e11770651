"""Two teams on one gateway (in process, the real embedded Qdrant and embedder, S3 through moto):
team blue's key is tried against every route that touches team red's collection, documents, agent
run, approval, snapshot and usage. Each answer is a 404 (or a 403 for a missing scope), and afterwards
the store shows nothing changed. Then red shares its collection and blue may read it, only."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage
from support.agent_fakes import Scripted, calling
from support.servers import ServerProcess, start_moto

from aistack.agents.service import AgentService
from aistack.container import Container
from aistack.gateway.app import create_app
from aistack.settings.model import FakeLLMSettings, LLMSettings, Settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
ADMIN = {"Authorization": "Bearer the-admin-key"}
DOC = "The red team's pager rotation starts on Mondays at 09:00 and the escalation number is 5551234."


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_moto(tmp_path_factory.mktemp("moto-access"))
    yield server
    server.stop()


def restart_then_answer(messages: list, tools: list[str]) -> AIMessage:
    if not any(getattr(m, "type", "") == "tool" for m in messages):
        return calling("restart_docker_service", service_name="vllm")
    return AIMessage("Restarted.")


@pytest.fixture
async def gateway(tmp_path: Path, s3: ServerProcess) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\nexit 0\n")
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    settings = Settings(
        home=tmp_path / "home", llm=LLMSettings(backend="fake", fake=FakeLLMSettings(reply="ok", delay=0.0)),
        deploy={"admin_keys": ["the-admin-key"]}, server={"gc_threshold": None},
        snapshots={"endpoint_url": s3.url, "bucket": "teams", "access_key": "test", "secret_key": "test"},
        agents={"docker": {"command": [str(docker), "compose"], "allowed_services": ["vllm"]},
                "definitions": {"ops": {"tools": ["restart_docker_service"], "instructions": "Ops."}}})
    agents = AgentService(settings, model=Scripted(restart_then_answer))
    container = Container(settings, agents=agents)
    app = create_app(container)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as http:
            yield http, container


async def key_for(http: httpx.AsyncClient, team: str, scopes: list[str]) -> dict[str, str]:
    made = await http.post("/v1/admin/keys", json={"team": team, "scopes": scopes}, headers=ADMIN)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['secret']}"}


USER = ["chat", "embeddings", "rag:read", "rag:write", "agents:run", "agents:approve", "snapshots"]


async def test_team_blue_can_neither_see_nor_touch_team_reds_data(gateway) -> None:
    http, container = gateway
    for team in ("red", "blue"):
        assert (await http.post("/v1/admin/teams", json={"name": team}, headers=ADMIN)).status_code == 201
    red, blue = await key_for(http, "red", USER + ["deploy"]), await key_for(http, "blue", USER)

    assert (await http.post("/v1/collections", json={"name": "docs"}, headers=red)).status_code == 201
    ingested = await http.post("/v1/collections/docs/documents", json={"text": DOC, "title": "pager"}, headers=red)
    assert ingested.status_code == 200, ingested.text
    source = (await http.get("/v1/collections/docs/documents", headers=red)).json()["data"][0]["source"]
    run = await http.post("/v1/agents/ops/runs", json={"input": "restart vllm", "thread_id": "red-run"}, headers=red)
    assert run.json()["status"] == "awaiting_approval", run.text
    snap = await http.post("/v1/snapshots", json={"collection": "docs"}, headers=red)
    assert snap.status_code == 201, snap.text
    key = snap.json()["data"][0]["key"]
    points_before = container.store.describe("red__docs").points

    # blue names red's things every way it can: plainly (its own namespace) and qualified
    attempts: list[tuple[str, str, dict[str, Any]]] = []
    for name in ("docs", "red:docs"):
        attempts += [
            ("GET", f"/v1/collections/{name}", {}),
            ("DELETE", f"/v1/collections/{name}", {}),
            ("GET", f"/v1/collections/{name}/documents", {}),
            ("DELETE", f"/v1/collections/{name}/documents", {"params": {"source": source}}),
            # blue's plain "docs" is its own collection: writing there makes it (checked below)
            ("POST", f"/v1/collections/{name}/documents", {"json": {"text": "blue was here"}} if ":" in name else None),
            ("POST", "/v1/retrieve", {"json": {"query": "pager rotation", "collection": name}}),
            ("POST", "/v1/rag/answer", {"json": {"question": "When does the rotation start?", "collection": name}}),
            ("POST", "/v1/chat/completions", {"json": {"model": "fake", "messages": [{"role": "user", "content": "x"}],
                                                       "rag": {"collection": name}}}),
            ("GET", f"/v1/collections/{name}/shares", {}),
            ("PUT", f"/v1/collections/{name}/shares", {"json": {"team": "blue", "access": "write"}}),
            ("POST", "/v1/snapshots", {"json": {"collection": name}}),
            ("GET", "/v1/snapshots", {"params": {"collection": name}} if ":" in name else None),
        ]
    attempts += [
        ("GET", "/v1/agents/runs/red-run", {}),
        ("GET", "/v1/agents/ops/runs/red-run", {}),
        ("POST", "/v1/agents/ops/runs/red-run/resume", {"json": {}}),
        ("POST", "/v1/agents/ops/runs/red-run/approve", {"json": {}}),
        ("POST", "/v1/agents/ops/runs/red-run/reject", {"json": {}}),
        ("POST", "/v1/snapshots/restore", {"json": {"key": key}}),
        ("POST", "/v1/snapshots/restore", {"json": {"key": key, "collection": "mine"}}),
    ]
    for method, path, options in attempts:
        if options is None:
            continue
        answer = await http.request(method, path, headers=blue, **options)
        assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
        assert "red__" not in answer.text.replace(key, "") and DOC[:20] not in answer.text  # (the key it sent, echoed)
    for method, path in (("GET", "/v1/admin/keys"), ("POST", "/v1/admin/teams"), ("GET", "/v1/admin/slots"),
                         ("GET", "/v1/usage?team=red"), ("GET", "/v1/usage")):
        assert (await http.request(method, path, headers=blue, json={"name": "x"})).status_code == 403

    # what blue may list shows nothing of red's
    assert (await http.get("/v1/collections", headers=blue)).json()["data"] == []
    assert (await http.get("/v1/agents/ops/runs", headers=blue)).json()["data"] == []
    assert (await http.get("/v1/snapshots", headers=blue)).json()["data"] == []
    assert (await http.post("/v1/snapshots/prune", json={}, headers=blue)).json() == {"kept": [], "deleted": []}

    # an upload named as red's document lands in blue's own collection, red's chunks stay
    upload = await http.post("/v1/collections/docs/documents", headers=blue,
                             files={"files": (source, b"blue's own text about pagers", "text/plain")})
    assert upload.status_code == 200, upload.text
    assert container.store.describe("red__docs").points == points_before
    assert [d.source for d in container.store.documents("red__docs")] == [source]
    assert container.store.describe("blue__docs").points >= 1

    # red's run still waits, its snapshot is still there, and red sees all of it
    mine = await http.get("/v1/agents/runs/red-run", headers=red)
    assert mine.json()["status"] == "awaiting_approval" and mine.json()["team"] == "red"
    assert [s["key"] for s in (await http.get("/v1/snapshots", headers=red)).json()["data"]] == [key]
    assert [c["name"] for c in (await http.get("/v1/collections", headers=red)).json()["data"]] == ["docs"]


async def test_a_share_lets_another_team_read_and_nothing_more(gateway) -> None:
    http, container = gateway
    for team in ("red", "blue"):
        await http.post("/v1/admin/teams", json={"name": team}, headers=ADMIN)
    red, blue = await key_for(http, "red", USER), await key_for(http, "blue", USER)
    await http.post("/v1/collections/docs/documents", json={"text": DOC}, headers=red)
    shared = await http.put("/v1/collections/docs/shares", json={"team": "blue"}, headers=red)
    assert shared.status_code == 200 and shared.json()["access"] == "read"

    found = await http.post("/v1/retrieve", json={"query": "pager rotation", "collection": "red:docs"}, headers=blue)
    assert found.status_code == 200 and found.json()["collection"] == "red:docs" and found.json()["data"]
    listed = [c["name"] for c in (await http.get("/v1/collections", headers=blue)).json()["data"]]
    assert listed == ["red:docs"]
    assert (await http.post("/v1/collections/red:docs/documents", json={"text": "blue"}, headers=blue)).status_code == 404
    assert (await http.delete("/v1/collections/red:docs", headers=blue)).status_code == 404

    await http.put("/v1/collections/docs/shares", json={"team": "blue", "access": "write"}, headers=red)
    added = await http.post("/v1/collections/red:docs/documents", json={"text": "Blue adds a note."}, headers=blue)
    assert added.status_code == 200, added.text
    assert (await http.delete("/v1/collections/red:docs", headers=blue)).status_code == 404  # writing is not owning
    await http.delete("/v1/collections/docs/shares/blue", headers=red)
    assert (await http.get("/v1/collections/red:docs", headers=blue)).status_code == 404
    assert container.store.describe("red__docs").points >= 2


async def test_scopes_and_model_lists_are_enforced(gateway) -> None:
    http, _ = gateway
    await http.post("/v1/admin/teams", json={"name": "red", "models": ["fake"]}, headers=ADMIN)
    reader = await key_for(http, "red", ["rag:read"])
    chat = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
    denied = await http.post("/v1/chat/completions", json=chat, headers=reader)
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    assert "'chat' scope" in denied.json()["error"]["message"]
    assert (await http.post("/v1/collections", json={"name": "x-docs"}, headers=reader)).status_code == 403
    assert (await http.post("/v1/agents/ops/runs", json={"input": "hi"}, headers=reader)).status_code == 403
    no_deploy = await key_for(http, "red", ["agents:run"])
    refused = await http.post("/v1/agents/ops/runs", json={"input": "restart vllm"}, headers=no_deploy)
    assert refused.status_code == 403 and "deploy" in refused.json()["error"]["message"]  # the tool's scope
    narrow = await http.post("/v1/admin/keys", json={"team": "red", "scopes": ["chat"], "models": ["other"]},
                             headers=ADMIN)
    other = {"Authorization": f"Bearer {narrow.json()['secret']}"}
    assert (await http.post("/v1/chat/completions", json=chat, headers=other)).status_code == 404
    assert (await http.get("/v1/models", headers=other)).json()["data"] == []
    me = (await http.get("/v1/me", headers=other)).json()
    assert me["team"] == "red" and me["scopes"] == ["chat"] and me["models"] == []
