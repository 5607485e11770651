"""A gateway killed mid-deploy, and the one started after it (issue 20, item 10): the slot it
was starting (a process that never gets healthy) is stopped and deployable again; the slot it
served keeps serving, adopted by the new gateway, which stops it when it shuts down."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from support.servers import BIN, ServerProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADMIN = {"Authorization": "Bearer admin-secret"}


def front(tmp: Path) -> ServerProcess:
    port = free_port()
    env = {"AISTACK_PROFILES": "test", "AISTACK_HOME": str(tmp / "front"), "AISTACK_SETTINGS_DIR": str(tmp),
           "AISTACK_SERVER__PORT": str(port), "AISTACK_LLM__BACKEND": "slots",
           "AISTACK_DEPLOY__ADMIN_KEYS": "[admin-secret]", "AISTACK_DEPLOY__REFRESH_INTERVAL": "0.2",
           "AISTACK_DEPLOY__HEALTH_TIMEOUT": "120"}
    return ServerProcess([str(BIN / "aistack"), "serve"], port, "/health", env, log=tmp / f"front-{port}.log")


def running(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0


def slots(server: ServerProcess) -> dict[str, str]:
    listed = httpx.get(server.url + "/v1/admin/slots", headers=ADMIN, timeout=10).json()["data"]
    return {s["name"]: s["state"] for s in listed}


def canary(server: ServerProcess, name: str) -> None:
    """A canary that waits on a slot's health until its gateway dies under it."""
    try:
        httpx.post(f"{server.url}/v1/admin/slots/{name}/canary", headers=ADMIN, json={"weight": 0.5}, timeout=300)
    except httpx.HTTPError:
        pass  # the gateway was killed: what this test is about


def test_a_gateway_after_a_crash_stops_the_stuck_slot_and_adopts_the_serving_one(tmp_path: Path) -> None:
    live_port, stuck_marker = free_port(), f"stuck-slot-{free_port()}"
    first = front(tmp_path)
    http = httpx.Client(base_url=first.url, headers=ADMIN, timeout=120)
    live = {"url": f"http://127.0.0.1:{live_port}/v1", "runtime": "process", "version": "v1",
            "command": [str(BIN / "aistack"), "serve", "--port", str(live_port)],
            "env": {"AISTACK_HOME": str(tmp_path / "live"), "AISTACK_SETTINGS_DIR": str(tmp_path),
                    "AISTACK_LLM__BACKEND": "fake"}}
    stuck = {"url": f"http://127.0.0.1:{free_port()}/v1", "runtime": "process", "version": "v1",
             "command": [sys.executable, "-c", "import time; time.sleep(600)", stuck_marker]}
    second = None
    try:
        assert http.put("/v1/admin/slots/live", json=live).status_code == 200
        assert http.post("/v1/admin/slots/live/deploy", json={}).json()["ok"]
        assert http.put("/v1/admin/slots/stuck", json=stuck).status_code == 200
        threading.Thread(target=canary, args=(first, "stuck"), daemon=True).start()
        deadline = time.monotonic() + 30
        while not (running(stuck_marker) and slots(first).get("stuck") == "starting"):
            assert time.monotonic() < deadline, slots(first)
            time.sleep(0.2)

        first.proc.kill()  # the gateway alone dies: its slots run in sessions of their own
        first.proc.wait()
        assert running(stuck_marker) and running(f"serve --port {live_port}")

        second = front(tmp_path)
        assert slots(second) == {"live": "active", "stuck": "failed"}  # it used to stay `starting` for ever
        assert not running(stuck_marker)  # its process group was stopped
        chat = httpx.post(second.url + "/v1/chat/completions", timeout=30,
                          json={"model": "fake", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200, chat.text  # the adopted slot still serves
        assert httpx.delete(second.url + "/v1/admin/slots/stuck", headers=ADMIN).status_code == 200
        audit = httpx.get(second.url + "/v1/admin/audit", headers=ADMIN).json()["data"]
        assert any(e["actor"] == "recovery" and e["slot"] == "stuck" for e in audit)
    finally:
        http.close()
        for server in (first, second):
            if server is not None:
                server.stop()
    deadline = time.monotonic() + 30
    while running(f"serve --port {live_port}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(f"serve --port {live_port}")  # the adopted slot stopped with the gateway that adopted it
