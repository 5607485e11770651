"""Ollama model management: `aistack models pull` through the official client with its streamed
progress, and local model details on `/v1/models` with `llm.openai.flavour: ollama`. No Ollama can
run here: tests/support/ollama_server.py follows Ollama's API documentation for these endpoints."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.cli import invoke
from support.servers import ServerProcess, free_port, start_gateway

pytestmark = pytest.mark.integration
SERVER = Path(__file__).parent.parent / "support" / "ollama_server.py"


@pytest.fixture(scope="module")
def ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess([sys.executable, str(SERVER), str(port)], port, "/api/version",
                           log=tmp_path_factory.mktemp("ollama") / "ollama.log")
    yield server
    server.stop()


def aistack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return invoke(*args, env={"COLUMNS": "200", **(env or {})})


def test_a_pull_streams_progress_and_the_model_becomes_local(ollama: ServerProcess) -> None:
    done = aistack("models", "pull", "llama3.2:1b", "--host", ollama.url, "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["status"] == "pulling manifest" and events[-1]["status"] == "success"
    layers = [e for e in events if e["digest"]]
    assert {e["digest"] for e in layers} == {
        "sha256:" + hashlib.sha256(t.encode()).hexdigest() for t in ("llama3.2:1b model", "llama3.2:1b license")}
    first = [e["completed"] for e in layers if e["total"] == 1_321_082_688]
    assert first == sorted(first) and first[-1] == 1_321_082_688
    names = [m["name"] for m in httpx.get(ollama.url + "/api/tags").json()["models"]]
    assert "llama3.2:1b" in names


def test_the_progress_bar_and_bad_pulls(ollama: ServerProcess) -> None:
    done = aistack("models", "pull", "smollm2:135m", "--host", ollama.url)
    assert done.returncode == 0 and "pulled smollm2:135m" in done.stdout, done.stderr
    unknown = aistack("models", "pull", "no-such-model", "--host", ollama.url)
    assert unknown.returncode == 1
    assert "Ollama could not pull 'no-such-model': pull model manifest: file does not exist" in unknown.stderr
    down = aistack("models", "pull", "llama3.2:1b", "--host", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "is not reachable" in down.stderr and "Traceback" not in down.stderr
    empty = aistack("models", "pull", " ", "--host", ollama.url)
    assert empty.returncode == 1 and "give the model to pull" in empty.stderr


def test_the_ollama_flavour_lists_local_models_with_their_details(ollama: ServerProcess, tmp_path: Path) -> None:
    upstream = {"AISTACK_LLM__BACKEND": "openai", "AISTACK_LLM__OPENAI__BASE_URL": ollama.url + "/v1"}
    (tmp_path / "plain").mkdir()
    (tmp_path / "ollama").mkdir()
    plain = start_gateway(upstream, tmp_path / "plain", "plain")
    try:
        flavoured = start_gateway({**upstream, "AISTACK_LLM__OPENAI__FLAVOUR": "ollama"}, tmp_path / "ollama", "ollama")
    except Exception:
        plain.stop()
        raise
    try:
        assert all("details" not in m for m in httpx.get(plain.url + "/v1/models").json()["data"])
        cards = {m["id"]: m for m in httpx.get(flavoured.url + "/v1/models").json()["data"]}
        assert cards["smollm2:135m"]["details"]["quantization"] == "F16"
        assert cards["smollm2:135m"]["details"]["parameter_size"] == "134.52M"
        assert cards["smollm2:135m"]["details"]["size"] == 270_898_368
        table = aistack("models", "--url", flavoured.url)
        assert table.returncode == 0 and "134.52M" in table.stdout and "0.27 GB" in table.stdout, table.stdout
    finally:
        plain.stop()
        flavoured.stop()
