"""What routing and rate limiting cost, and what clients see during a blue-green switch.

1. Gateway overhead, side by side in one run, against a stub upstream that answers at once:
   plain upstream (routing and limits off), the slot router, the router plus the in-process
   rate limiter, and the router plus the Redis rate limiter (127.0.0.1:6379).
2. p99 latency seen by streaming clients in steady state against during a switch, with two real
   slot gateways on the embedded model started by the process runtime.

    python benchmarks/deploy.py [--requests 1000] [--steady-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402
from inference import load, percentile  # noqa: E402
from support.servers import BIN, ServerProcess, free_port  # noqa: E402

ADMIN = {"Authorization": "Bearer bench-admin"}
MODEL = "smollm2-135m-instruct"


def front(tmp: Path, name: str, env: dict[str, str]) -> ServerProcess:
    port = free_port()
    base = {"AISTACK_PROFILES": "", "AISTACK_HOME": str(tmp / name), "AISTACK_SETTINGS_DIR": str(tmp),
            "AISTACK_SERVER__PORT": str(port), "AISTACK_SERVER__LOG_LEVEL": "warning",
            "AISTACK_DEPLOY__ADMIN_KEYS": "[bench-admin]", "AISTACK_DEPLOY__REFRESH_INTERVAL": "0.2"}
    return ServerProcess([str(BIN / "aistack"), "serve"], port, "/health", {**base, **env}, log=tmp / f"{name}.log")


def routed(tmp: Path, name: str, stub: str, env: dict[str, str]) -> ServerProcess:
    gateway = front(tmp, name, {"AISTACK_LLM__BACKEND": "slots", **env})
    http = httpx.Client(base_url=gateway.url, headers=ADMIN, timeout=120)
    http.put("/v1/admin/slots/stub", json={"url": stub + "/v1", "runtime": "external"}).raise_for_status()
    result = http.post("/v1/admin/slots/stub/deploy", json={"smoke_tests": [{"prompt": "hi", "expect": "."}]}).json()
    assert result["ok"], result
    return gateway


def overhead(requests: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="aistack-bench-deploy-"))
    port = free_port()
    stub = ServerProcess([sys.executable, str(ROOT / "benchmarks" / "stub_upstream.py"), str(port)], port,
                         "/v1/models", log=tmp / "stub.log")
    unlimited = {"AISTACK_DEPLOY__RATE_LIMIT__ENABLED": "true", "AISTACK_DEPLOY__RATE_LIMIT__BURST": "100000000",
                 "AISTACK_DEPLOY__RATE_LIMIT__REQUESTS_PER_MINUTE": "100000000"}
    arms = {
        "upstream, routing and limits off": front(tmp, "plain", {"AISTACK_LLM__BACKEND": "openai",
                                                                 "AISTACK_LLM__OPENAI__BASE_URL": stub.url + "/v1"}),
        "slot router": routed(tmp, "router", stub.url, {}),
        "slot router + memory limiter": routed(tmp, "memory", stub.url, unlimited),
        "slot router + Redis limiter": routed(tmp, "redis", stub.url, {
            **unlimited, "AISTACK_DEPLOY__RATE_LIMIT__BACKEND": "redis",
            "AISTACK_DEPLOY__RATE_LIMIT__KEY_PREFIX": f"bench:{uuid.uuid4().hex}:"}),
    }
    lines = [f"Gateway overhead of routing and rate limits: non-streaming chat to a stub upstream that answers at "
             f"once, {requests} requests per cell after 200 warm-up, arms alternated in two halves:", "",
             "| clients | arm | p50 | p95 | requests/s |", "|---|---|---|---|---|"]
    try:
        for concurrency in (1, 16):
            found: dict[str, list[float]] = {name: [] for name in arms}
            elapsed: dict[str, float] = {name: 0.0 for name in arms}
            for name, gateway in arms.items():
                asyncio.run(load(gateway.url, concurrency, 200))
            for _ in range(2):
                for name, gateway in arms.items():
                    started = time.perf_counter()
                    found[name] += asyncio.run(load(gateway.url, concurrency, requests // 2))
                    elapsed[name] += time.perf_counter() - started
            for name, latencies in found.items():
                lines.append(f"| {concurrency} | {name} | {percentile(latencies, 50) * 1000:.2f} ms | "
                             f"{percentile(latencies, 95) * 1000:.2f} ms | {len(latencies) / elapsed[name]:.0f} |")
    finally:
        for gateway in arms.values():
            gateway.stop()
        stub.stop()
    return lines


def switch_latency(steady_seconds: float, clients: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="aistack-bench-switch-"))
    gateway = front(tmp, "front", {"AISTACK_LLM__BACKEND": "slots", "AISTACK_DEPLOY__DRAIN_GRACE": "120"})
    http = httpx.Client(base_url=gateway.url, headers=ADMIN, timeout=600)
    for name in ("blue", "green"):
        port = free_port()
        http.put(f"/v1/admin/slots/{name}", json={
            "url": f"http://127.0.0.1:{port}/v1", "model": MODEL, "runtime": "process", "version": name,
            "command": [str(BIN / "aistack"), "serve", "--port", str(port)],
            "env": {"AISTACK_HOME": str(tmp / name), "AISTACK_SETTINGS_DIR": str(tmp), "AISTACK_PROFILES": "test",
                    "AISTACK_LLM__LLAMACPP__MODELS__SMOLLM2-135M-INSTRUCT__MAX_QUEUE": "64"}}).raise_for_status()
    assert http.post("/v1/admin/slots/blue/deploy", json={}).json()["ok"]
    samples: list[tuple[float, float, bool]] = []  # (start, seconds, ok)
    stop = threading.Event()

    def client(n: int) -> None:
        import openai

        sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=300)
        while not stop.is_set():
            started = time.time()
            try:
                for _ in sdk.chat.completions.create(model=MODEL, max_tokens=8, stream=True,
                                                     messages=[{"role": "user", "content": "Say hello."}]):
                    pass
                samples.append((started, time.time() - started, True))
            except openai.OpenAIError:
                samples.append((started, time.time() - started, False))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    try:
        for t in threads:
            t.start()
        time.sleep(steady_seconds)
        switch_start = time.time()
        result = http.post("/v1/admin/slots/green/deploy", json={}).json()
        switch_end = time.time()
        time.sleep(steady_seconds / 2)
        stop.set()
        for t in threads:
            t.join()
    finally:
        gateway.stop()
    steady = [s for t, s, ok in samples if t + s < switch_start]
    during = [s for t, s, ok in samples if t < switch_end and t + s > switch_start]
    failed = sum(1 for _, _, ok in samples if not ok)
    return [f"Blue-green switch under load: {clients} streaming clients (max_tokens 8) through the slot router to "
            f"the embedded model; the switch (start green, health, smoke test, switch, drain, stop blue) took "
            f"{switch_end - switch_start:.1f} s, ok={result['ok']}.", "",
            "| window | requests | p50 | p99 | failed |", "|---|---|---|---|---|",
            f"| steady state | {len(steady)} | {percentile(steady, 50):.2f} s | {percentile(steady, 99):.2f} s | - |",
            f"| overlapping the switch | {len(during)} | {percentile(during, 50):.2f} s | "
            f"{percentile(during, 99):.2f} s | {failed} in the whole run |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--steady-seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    lines = [f"## deploy.py, {datetime.date.today()}", "", f"Machine: {machine()}.", ""]
    lines += overhead(args.requests) + [""] + switch_latency(args.steady_seconds, args.clients) + [""]
    report = "\n".join(lines)
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
