"""A gateway on the `openai` backend, in front of real peers, driven by the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from support.servers import ServerProcess, free_port, start_gateway

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def upstream_env(url: str, **extra: str) -> dict[str, str]:
    return {"AISTACK_LLM__BACKEND": "openai", "AISTACK_LLM__OPENAI__BASE_URL": url + "/v1", **extra}


@pytest.fixture(scope="module")
def front(embedded_gateway: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A second gateway that needs an API key (from a file) and forwards to the embedded one."""
    tmp = tmp_path_factory.mktemp("front")
    (tmp / "keys").write_text("team-key\n")
    server = start_gateway(upstream_env(embedded_gateway.url, AISTACK_SERVER__API_KEYS_FILE=str(tmp / "keys")), tmp, "front")
    yield server
    server.stop()


def test_sdk_through_two_gateways(front: ServerProcess, embedded_gateway: ServerProcess) -> None:
    sdk = openai.OpenAI(base_url=front.url + "/v1", api_key="team-key", max_retries=0)
    direct = openai.OpenAI(base_url=embedded_gateway.url + "/v1", api_key="x", max_retries=0)
    assert [m.id for m in sdk.models.list()] == [MODEL]
    via = sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=10, temperature=0)
    ref = direct.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=10, temperature=0)
    assert via.choices[0].message.content == ref.choices[0].message.content
    assert via.usage.model_dump() == ref.usage.model_dump()
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=10, temperature=0,
                                              stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ref.choices[0].message.content
    assert chunks[-1].usage.total_tokens == ref.usage.total_tokens
    plain = list(sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=4, stream=True))
    assert all(c.usage is None for c in plain)  # usage only when asked, though the gateway asked upstream


def test_wrong_key_then_upstream_404_passes_through(front: ServerProcess) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=front.url + "/v1", api_key="wrong", max_retries=0).models.list()
    sdk = openai.OpenAI(base_url=front.url + "/v1", api_key="team-key", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        sdk.chat.completions.create(model="gpt-9", messages=QUESTION)
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        sdk.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=5000)


def test_upstream_down_is_502_and_not_ready(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    env = {**upstream_env(dead, AISTACK_LLM__OPENAI__RETRIES="1"), "AISTACK_PROFILES": "test",
           "AISTACK_SERVER__PORT": str(port), "AISTACK_SETTINGS_DIR": str(tmp_path)}
    server = ServerProcess([str(Path(__import__("sys").executable).parent / "aistack"), "serve"], port,
                           "/health", env, log=tmp_path / "dead.log")
    try:
        ready = httpx.get(server.url + "/ready")
        assert ready.status_code == 503 and "unreachable" in ready.json()["llm"]["error"]
        hidden = dead.removeprefix("http://")  # the upstream's address is internal: the log has it, no body does
        assert hidden not in ready.text
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as info:
                sdk.chat.completions.create(model=MODEL, messages=QUESTION, stream=stream)
            assert info.value.status_code == 502
            assert info.value.body["type"] == "upstream_error"
            assert hidden not in str(info.value.body)
        assert hidden in server.log()
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        server.stop()


def test_slow_upstream_is_504(embedded_gateway: ServerProcess, tmp_path: Path) -> None:
    env = upstream_env(embedded_gateway.url, AISTACK_LLM__OPENAI__READ_TIMEOUT="0.3")
    server = start_gateway(env, tmp_path, "slow")
    try:
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            sdk.completions.create(model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=300, temperature=0)
        assert info.value.status_code == 504
        assert sdk.models.list().data  # still serving
    finally:
        server.stop()


def test_made_up_model_names_add_no_metric_series(front: ServerProcess) -> None:
    """Clients choose `model`: 500 distinct made-up names (the upstream answers 404 to each) count
    under `unknown`, and /metrics keeps the series it had."""
    headers = {"Authorization": "Bearer team-key"}
    with httpx.Client(base_url=front.url, headers=headers, timeout=30) as http:
        def series() -> set[str]:
            text = http.get("/metrics").text
            return {line.split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}

        http.post("/v1/chat/completions", json={"model": "warm-up-name", "messages": QUESTION, "max_tokens": 1})
        before = series()
        for n in range(500):
            answer = http.post("/v1/chat/completions",
                               json={"model": f"made-up-{n}-" + "x" * 200, "messages": QUESTION, "max_tokens": 1})
            assert answer.status_code == 404, answer.text
        after = series()
    assert after - before == set(), sorted(after - before)[:5]
    assert not any("made-up" in name for name in after)
    unknown = [line for line in http_metrics(front) if line.startswith('llm_requests_total{model="unknown",status="invalid"}')]
    assert unknown and float(unknown[0].split(" ")[1]) >= 500


def http_metrics(server: ServerProcess) -> list[str]:
    return httpx.get(server.url + "/metrics", timeout=30).text.splitlines()
