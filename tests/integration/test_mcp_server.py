"""aistack as an MCP server, driven by the official MCP client (the `mcp` SDK): over the gateway's
streamable HTTP endpoint with team keys (list, search with citations, ask, an agent run, scopes,
another team's collection, no key, the key's rate limit, token budget and usage ledger), and over
stdio from `aistack mcp serve`."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from support.servers import BIN, ServerProcess, start_gateway, start_prometheus_on_a_down_target

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
ADMIN = {"Authorization": "Bearer the-admin-key"}
TOOLS = {"list_collections", "search_collection", "ask_collection", "start_agent_run", "read_agent_run",
         "query_prometheus"}
TIDES = ("The harbour of Port Veyra has two high tides a day. The ferry to the lighthouse leaves at 07:40 "
         "from pier 3, and the harbour master's office closes at 16:00.")
ORCHARD = "The Lindqvist orchard grows eleven kinds of apple. Picking starts in the second week of September."
HELPER = {"helper": {"description": "Answers briefly.", "instructions": "Answer in one short sentence.", "tools": []}}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("mcp")
    with start_prometheus_on_a_down_target(tmp_path_factory.mktemp("mcp-prometheus")) as prometheus, start_gateway(
            {"AISTACK_DEPLOY__ADMIN_KEYS": '["the-admin-key"]', "AISTACK_AGENTS__DEFINITIONS": json.dumps(HELPER),
             "AISTACK_AGENTS__PROMETHEUS_URL": prometheus.url}, tmp, "mcp") as server:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            keys = {}
            for team in ("red", "blue", "green"):
                assert http.post("/v1/admin/teams", json={"name": team}, headers=ADMIN).status_code == 201
            for name, team, scopes in (("red", "red", ["chat", "rag:read", "rag:write", "agents:run"]),
                                       ("red-chat", "red", ["chat"]), ("ops", "red", ["deploy"]), ("blue", "blue", ["chat", "rag:read", "agents:run"])):
                made = http.post("/v1/admin/keys", json={"team": team, "scopes": scopes}, headers=ADMIN)
                keys[name] = made.json()["secret"]
            made = http.post("/v1/admin/keys", json={"team": "red", "scopes": ["rag:read", "chat"], "token_budget": 40},
                             headers=ADMIN)
            keys["red-budget"] = made.json()["secret"]
            made = http.post("/v1/admin/keys", json={"team": "green", "scopes": ["rag:read"], "requests_per_minute": 3},
                             headers=ADMIN)
            keys["green-slow"] = made.json()["secret"]
            red = {"Authorization": f"Bearer {keys['red']}"}
            assert http.post("/v1/collections", json={"name": "harbour"}, headers=red).status_code == 201
            for title, text in (("port-veyra.md", TIDES), ("orchard.md", ORCHARD)):
                ingested = http.post("/v1/collections/harbour/documents", json={"text": text, "title": title},
                                     headers=red)
                assert ingested.status_code == 200, ingested.text
        yield server, keys


@asynccontextmanager
async def over_http(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http, \
            streamable_http_client(url + "/mcp", http_client=http) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> tuple[bool, Any]:
    """(is_error, the structured result or the error's text)."""
    result = await session.call_tool(tool, arguments)
    if result.is_error:
        return True, " ".join(getattr(block, "text", "") for block in result.content)
    return False, result.structured_content.get("result", result.structured_content)


async def test_the_mcp_client_lists_searches_and_asks_over_http(gateway) -> None:
    server, keys = gateway
    async with over_http(server.url, keys["red"]) as session:
        assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
        failed, collections = await call(session, "list_collections")
        assert not failed and [c["name"] for c in collections] == ["harbour"]
        failed, hits = await call(session, "search_collection", query="When does the lighthouse ferry leave?",
                                  collection="harbour", top_k=2)
        assert not failed and hits[0]["filename"] == "port-veyra.md" and "07:40" in hits[0]["text"]
        assert hits[0]["citation"] == "[Source: port-veyra.md]"
        failed, answer = await call(session, "ask_collection", question="When does the lighthouse ferry leave?",
                                    collection="harbour")
        assert not failed and answer["answer"] and answer["sources"][0]["filename"] == "port-veyra.md"
        failed, run = await call(session, "start_agent_run", agent="helper", task="Name a primary colour.")
        assert not failed and run["status"] == "completed" and run["agent"] == "helper"
        failed, read = await call(session, "read_agent_run", thread_id=run["thread_id"])
        assert not failed and read["thread_id"] == run["thread_id"]
        failed, message = await call(session, "query_prometheus", query="up")
        assert failed and "'deploy' scope" in message


async def test_scopes_and_teams_hold_over_mcp(gateway) -> None:
    server, keys = gateway
    async with over_http(server.url, keys["red-chat"]) as session:
        failed, message = await call(session, "search_collection", query="ferry", collection="harbour")
        assert failed and "'rag:read' scope" in message
    async with over_http(server.url, keys["red"]) as session:
        failed, run = await call(session, "start_agent_run", agent="helper", task="Say yes.")
        assert not failed, run
    async with over_http(server.url, keys["blue"]) as session:
        failed, message = await call(session, "search_collection", query="ferry", collection="harbour")
        assert failed and "harbour" in message and "07:40" not in message
        failed, collections = await call(session, "list_collections")
        assert not failed and collections == []
        failed, message = await call(session, "read_agent_run", thread_id=run["thread_id"])
        assert failed and "no run" in message  # red's run is not blue's to read
    async with over_http(server.url, keys["ops"]) as session:
        failed, found = await call(session, "query_prometheus", query="vector(42)")
        assert not failed and found["series"][0]["value"] == "42", found
    for key in (None, "not-a-key"):
        answer = httpx.post(server.url + "/mcp", headers={"Authorization": f"Bearer {key}"} if key else {},
                            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert answer.status_code == 401 and answer.json()["error"]["type"] == "authentication_error"


def mcp_post(server: ServerProcess, key: str) -> httpx.Response:
    return httpx.post(server.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=60,
                      headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"})


async def test_mcp_spends_the_keys_token_budget_and_lands_in_the_usage_ledger(gateway) -> None:
    server, keys = gateway
    async with over_http(server.url, keys["red-budget"]) as session:
        await session.list_tools()  # the client checks results against these: no request after the ask
        failed, answer = await call(session, "ask_collection", question="When does the lighthouse ferry leave?",
                                    collection="harbour")
        assert not failed, answer
    # the answer's prompt alone is over the key's 40-token budget: every later request is refused
    refused = mcp_post(server, keys["red-budget"])
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota", refused.text
    chat = httpx.post(server.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {keys['red-budget']}"},
                      json={"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    assert chat.status_code == 429 and chat.json()["error"]["code"] == "insufficient_quota"
    for _ in range(50):  # the ledger flushes each second
        rows = httpx.get(server.url + "/v1/usage", params={"team": "red", "by": "model"}, headers=ADMIN,
                         timeout=10).json()["data"]
        if any(r["model"] == "smollm2-135m-instruct" and r["prompt_tokens"] > 40 for r in rows):
            break
        await anyio.sleep(0.2)
    else:
        raise AssertionError(f"the MCP answer's usage never reached the ledger: {rows}")


def test_mcp_requests_count_against_the_keys_rate_limit(gateway) -> None:
    server, keys = gateway
    answers = [mcp_post(server, keys["green-slow"]) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200], answers[0].text
    assert answers[3].status_code == 429 and answers[3].json()["error"]["code"] == "rate_limit_exceeded"
    assert int(answers[3].headers["retry-after"]) >= 1


async def test_aistack_mcp_serve_over_stdio(tmp_path: Path) -> None:
    env = {**os.environ, "AISTACK_HOME": str(tmp_path / "home"), "AISTACK_PROFILES": "test",
           "AISTACK_SETTINGS_DIR": str(tmp_path)}
    keyed = await _created_key(env, ["chat"])
    for key, refused in ((None, False), (keyed, True)):
        args = ["mcp", "serve", *(["--key", key] if key else [])]
        params = StdioServerParameters(command=str(BIN / "aistack"), args=args, env=env)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
            failed, found = await call(session, "list_collections")
            assert failed == refused
            assert ("'rag:read' scope" in found) if refused else found == []


async def _created_key(env: dict[str, str], scopes: list[str]) -> str:
    import anyio

    await anyio.run_process([str(BIN / "aistack"), "teams", "create", "red"], env=env)
    args = [str(BIN / "aistack"), "keys", "create", "--team", "red", "--json", *[f"--scope={s}" for s in scopes]]
    done = await anyio.run_process(args, env=env)
    return json.loads(done.stdout)["secret"]
