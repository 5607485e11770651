"""Blue-green deployment with real processes: a front gateway (llm.backend: slots) starts two
slot gateways on the embedded model through the process runtime, and switches between them while
50 clients stream through it. Then: a failed smoke test rolls back on its own, `aistack rollback`
brings the old slot back, a canary split survives a SIGKILLed slot, and bad admin requests change
nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from support.load import stream_until
from support.servers import BIN, ServerProcess, free_port
from support.cli import invoke
from support.wire import conforms

from aistack.wire import deploy as wire

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADMIN = {"Authorization": "Bearer admin-secret", "X-Aistack-Actor": "ci"}
MODEL = "smollm2-135m-instruct"


class Front:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        port = free_port()
        env = {"AISTACK_PROFILES": "test", "AISTACK_HOME": str(tmp / "front"), "AISTACK_SETTINGS_DIR": str(tmp),
               "AISTACK_SERVER__PORT": str(port), "AISTACK_LLM__BACKEND": "slots",
               "AISTACK_DEPLOY__ADMIN_KEYS": "[admin-secret]", "AISTACK_DEPLOY__DRAIN_GRACE": "120",
               "AISTACK_DEPLOY__REFRESH_INTERVAL": "0.2"}
        self.server = ServerProcess([str(BIN / "aistack"), "serve"], port, "/health", env, log=tmp / "front.log")
        self.url = self.server.url
        self.http = httpx.Client(base_url=self.url, headers=ADMIN, timeout=600)
        self.ports: dict[str, int] = {}

    def define(self, name: str) -> None:
        port = self.ports[name] = free_port()
        env = {"AISTACK_PROFILES": "test", "AISTACK_HOME": str(self.tmp / name), "AISTACK_SETTINGS_DIR": str(self.tmp),
               "AISTACK_LLM__LLAMACPP__MODELS__SMOLLM2-135M-INSTRUCT__MAX_QUEUE": "64"}
        body = {"url": f"http://127.0.0.1:{port}/v1", "model": MODEL, "version": name, "runtime": "process",
                "command": [str(BIN / "aistack"), "serve", "--port", str(port)], "env": env}
        assert self.http.put(f"/v1/admin/slots/{name}", json=body).status_code == 200

    def slots(self) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.http.get("/v1/admin/slots").json()["data"]}

    def report(self) -> dict[str, dict[str, Any]]:
        return {r["slot"]: r for r in self.http.get("/v1/admin/ab-report").json()["data"]}

    def alive(self, name: str) -> bool:
        return subprocess.run(["pgrep", "-f", f"serve --port {self.ports[name]}"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    front = Front(tmp_path_factory.mktemp("deploy"))
    try:
        front.define("blue")
        front.define("green")
        yield front
    finally:
        front.server.stop()  # stops the slot processes it started


def test_blue_green_switch_under_load_loses_nothing(front: Front) -> None:
    first = conforms(wire.DeployResult, front.http.post("/v1/admin/slots/blue/deploy", json={}).json())
    assert first["ok"], first
    assert [s["name"] for s in first["steps"]] == ["start", "health", "smoke tests", "switch"]
    done = threading.Event()
    with ThreadPoolExecutor(50) as pool:
        clients = [pool.submit(stream_until, front.url, done, i, MODEL) for i in range(50)]
        switched = front.http.post("/v1/admin/slots/green/deploy", json={}).json()
        done.set()
        results = [c.result() for c in clients]
    assert switched["ok"], switched
    assert [s["name"] for s in switched["steps"]] == [
        "start", "health", "smoke tests", "switch", "drain blue", "stop blue"]
    assert switched["steps"][4]["detail"] == "no request in flight"
    failures = [f for _, fs in results for f in fs]
    assert failures == [], failures[:5]
    assert sum(c for c, _ in results) >= 50
    slots = front.slots()
    assert (slots["green"]["state"], slots["green"]["weight"], slots["blue"]["state"]) == ("active", 1.0, "stopped")
    assert not front.alive("blue") and front.alive("green")
    report = front.report()
    assert report["blue"]["requests"] > 0 and report["green"]["requests"] > 0
    assert report["blue"]["error_rate"] == 0 and report["green"]["error_rate"] == 0


def test_a_failed_smoke_test_rolls_back_and_rollback_restores(front: Front) -> None:
    before = front.report().get("blue", {}).get("requests", 0)
    failed = conforms(wire.DeployResult, front.http.post(
        "/v1/admin/slots/blue/deploy", json={"smoke_tests": [{"prompt": "Say hi.", "expect": "^NEVER THIS$"}]}).json())
    assert not failed["ok"] and "smoke tests" in failed["error"] and "nothing was switched" in failed["error"]
    assert failed["active"] == ["green"]
    slots = front.slots()
    assert (slots["blue"]["state"], slots["green"]["state"]) == ("failed", "active")
    assert not front.alive("blue")
    sdk = openai.OpenAI(base_url=front.url + "/v1", api_key="unused", max_retries=0)
    sdk.chat.completions.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "hi"}])
    assert front.report().get("blue", {}).get("requests", 0) == before  # traffic never reached it

    # `aistack rollback`: the slot that served before the last switch comes back
    env = {"AISTACK_CLIENT__ADMIN_KEY": "admin-secret"}
    done = invoke("rollback", "--url", front.url, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["active"] == ["blue"]
    assert front.alive("blue") and not front.alive("green")
    status = invoke("deploy", "status", "--url", front.url, env={**env, "COLUMNS": "200"})
    assert "blue" in status.stdout and "active" in status.stdout
    audit = front.http.get("/v1/admin/audit?limit=200").json()["data"]
    assert {"define", "start", "failed", "switch-to", "switch-from", "stop"} <= {e["action"] for e in audit}
    # who: the X-Aistack-Actor name (the CLI sends the user's login) and the admin key's fingerprint
    actors = {e["actor"].split(" (key ")[0] for e in audit}
    assert "ci" in actors and all(" (key " in e["actor"] for e in audit)
    assert any(e["action"] == "switch-to" and e["slot"] == "blue" and not e["actor"].startswith("ci") for e in audit)


def test_a_canary_split_survives_a_killed_slot(front: Front) -> None:
    canary = front.http.post("/v1/admin/slots/green/canary", json={"weight": 1.0}).json()
    assert canary["ok"] and sorted(canary["active"]) == ["blue", "green"]
    sdk = openai.OpenAI(base_url=front.url + "/v1", api_key="unused", max_retries=0, timeout=120)

    def ask(user: int) -> str | None:
        try:
            sdk.with_options(default_headers={"x-aistack-user": f"u{user}"}).chat.completions.create(
                model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "hi"}])
            return None
        except openai.OpenAIError as exc:
            return repr(exc)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, range(16))) == [None] * 16
        pid = int(subprocess.run(["pgrep", "-f", f"serve --port {front.ports['green']}"],
                                 capture_output=True, text=True).stdout.split()[0])
        os.kill(pid, signal.SIGKILL)
        after = list(pool.map(ask, range(16, 56)))
    errors = [e for e in after if e]
    # every user whose sticky slot died is answered by the other one: no request had sent bytes yet
    assert errors == [], errors[:3]
    assert front.report()["green"]["errors"] >= 1  # the failures that triggered the failover


def test_bad_admin_requests_change_nothing(front: Front) -> None:
    spare = {"url": "http://127.0.0.1:9/v1", "runtime": "external"}
    assert front.http.put("/v1/admin/slots/spare", json=spare).status_code == 200
    before = front.slots()
    audit = len(front.http.get("/v1/admin/audit?limit=1000").json()["data"])
    plain = httpx.Client(base_url=front.url, timeout=30)
    cases = [
        (front.http.post("/v1/admin/slots/purple/deploy", json={}), 404),
        (front.http.put("/v1/admin/slots/blue/weight", json={"weight": -1}), 400),
        (front.http.put("/v1/admin/slots/nope/weight", json={"weight": 1}), 404),
        (front.http.put("/v1/admin/slots/spare/weight", json={"weight": 1}), 409),  # stopped: no traffic
        (front.http.delete("/v1/admin/slots/blue"), 409),  # serving
        (front.http.put("/v1/admin/slots/Bad!/weight", json={"weight": 1}), 404),
        (front.http.put("/v1/admin/slots/x", json={"url": "ftp://x"}), 400),
        (plain.get("/v1/admin/slots"), 403),  # anonymous (no user keys here): no `deploy` scope
        (plain.post("/v1/admin/rollback", headers={"Authorization": "Bearer user-key"}), 403),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert front.slots() == before
    assert len(front.http.get("/v1/admin/audit?limit=1000").json()["data"]) == audit


def test_a_vllm_slot_is_defined_from_the_vllm_settings(front: Front) -> None:
    env = {"AISTACK_CLIENT__ADMIN_KEY": "admin-secret", "AISTACK_VLLM__MODEL": "/models/smollm2",
           "AISTACK_VLLM__DEVICE": "cpu", "AISTACK_VLLM__DTYPE": "bfloat16", "AISTACK_VLLM__PYTHON": "/venvs/vllm/bin/python",
           "AISTACK_VLLM__LORA_MODULES": '{"support": "/ft/support/adapter"}'}
    done = invoke("deploy", "define", "vllm", "--slot-url", "http://127.0.0.1:8302/v1", "--vllm", "--url", front.url,
                  env=env)
    assert done.returncode == 0, done.stderr
    try:
        slot = front.slots()["vllm"]
        assert (slot["runtime"], slot["model"]) == ("process", "/models/smollm2")
        command = slot["spec"]["command"]
        assert command[:3] == ["/venvs/vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
        assert command[-4:] == ["--host", "127.0.0.1", "--port", "8302"]
        assert "support=/ft/support/adapter" in command and "--gpu-memory-utilization" not in command
        portless = invoke("deploy", "define", "x", "--slot-url", "http://127.0.0.1/v1", "--vllm", "--url", front.url,
                          env=env)
        assert portless.returncode == 1 and "needs a slot URL with a host and a port" in portless.stderr
        both = invoke("deploy", "define", "x", "--slot-url", "http://127.0.0.1:1/v1", "--vllm", "--command", "true",
                      "--url", front.url, env=env)
        assert both.returncode == 1 and "leave out --command" in both.stderr
    finally:
        front.http.delete("/v1/admin/slots/vllm")


def test_the_gateway_serves_https_with_cert_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "llm.pem", tmp_path / "llm.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AISTACK_")}, "AISTACK_PROFILES": "test",
           "AISTACK_HOME": str(tmp_path / "home"), "AISTACK_SERVER__PORT": str(port),
           "AISTACK_SERVER__TLS_CERT": str(cert), "AISTACK_SERVER__TLS_KEY": str(key)}
    process = subprocess.Popen([str(BIN / "aistack"), "serve"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/health", verify=str(cert), timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.3)
        assert response.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)  # plain HTTP is not served
    finally:
        process.terminate()
        process.wait(15)


def test_slot_env_is_masked_in_the_api_and_the_audit(front: Front) -> None:
    listed = front.http.get("/v1/admin/slots")
    env = {s["name"]: s["spec"]["env"] for s in listed.json()["data"]}["blue"]
    assert "AISTACK_HOME" in env and set(env.values()) == {"**********"}
    audit = front.http.get("/v1/admin/audit")
    assert audit.status_code == 200 and '"define"' in audit.text
    for shown in (listed.text, audit.text):
        assert str(front.tmp / "blue") not in shown  # the value the slot was given
