"""The gateway against LiteLLM's proxy, side by side in one run, and the collector's share of the tail.

A neutral upstream, nginx answering /v1/chat/completions at once with a fixed body; wrk at 1, 16
and 64 connections; each gateway runs alone, pinned to one core (taskset -c 1), wrk on the other.
Arms:
- aistack with the access layer on (a team key, team quotas, the usage ledger), its collector
  tuned (the default: gc.freeze and server.gc_threshold);
- the same with Python's collector defaults (server.gc_threshold empty): the p99 before and after;
- LiteLLM's proxy (`litellm --config`, one worker, a master key) from its own venv
  (~/.cache/aistack/litellm-venv: pip install 'litellm[proxy]==1.80.17'; later releases need a
  litellm-proxy package that is not on PyPI).

    python benchmarks/gateway.py [--seconds 15]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402
from support.servers import BIN, ServerProcess, free_port  # noqa: E402

LITELLM = Path(os.environ.get("AISTACK_LITELLM_VENV", Path.home() / ".cache" / "aistack" / "litellm-venv"))
ANSWER = {"id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": "stub",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
MODELS = {"object": "list", "data": [{"id": "stub", "object": "model", "created": 0, "owned_by": "stub"}]}
NGINX = """worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  server {{
    listen 127.0.0.1:{port};
    location /v1/chat/completions {{ default_type application/json; return 200 '{answer}'; }}
    location /v1/models {{ default_type application/json; return 200 '{models}'; }}
  }}
}}
"""
WRK = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""
BODY = {"model": "stub", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}


def pinned(args: list[str]) -> list[str]:
    return ["taskset", "-c", "1", *args]


def upstream(tmp: Path) -> ServerProcess:
    port = free_port()
    (tmp / "nginx.conf").write_text(NGINX.format(tmp=tmp, port=port, answer=json.dumps(ANSWER),
                                                 models=json.dumps(MODELS)))
    return ServerProcess(["taskset", "-c", "0", "nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], port,
                         "/v1/models", log=tmp / "nginx.log")


def aistack(tmp: Path, name: str, stub: str, env: dict[str, str]) -> tuple[ServerProcess, str]:
    port = free_port()
    base = {"AISTACK_PROFILES": "", "AISTACK_HOME": str(tmp / name), "AISTACK_SETTINGS_DIR": str(tmp),
            "AISTACK_SERVER__PORT": str(port), "AISTACK_SERVER__LOG_LEVEL": "warning",
            "AISTACK_LLM__BACKEND": "openai", "AISTACK_LLM__OPENAI__BASE_URL": stub + "/v1",
            "AISTACK_DEPLOY__ADMIN_KEYS": "[bench-admin]"}
    server = ServerProcess(pinned([str(BIN / "aistack"), "serve"]), port, "/health", {**base, **env},
                           log=tmp / f"{name}.log")
    admin = {"Authorization": "Bearer bench-admin"}
    limits = {"requests_per_minute": 1e9, "tokens_per_minute": 1e12, "token_budget": 10**15}
    httpx.post(server.url + "/v1/admin/teams", json={"name": "bench", **limits}, headers=admin).raise_for_status()
    made = httpx.post(server.url + "/v1/admin/keys", json={"team": "bench", "scopes": ["chat"]}, headers=admin)
    made.raise_for_status()
    return server, made.json()["secret"]


def litellm(tmp: Path, stub: str) -> tuple[ServerProcess, str]:
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(json.dumps({
        "model_list": [{"model_name": "stub", "litellm_params": {"model": "openai/stub", "api_base": stub + "/v1",
                                                                 "api_key": "none"}}],
        "general_settings": {"master_key": "sk-bench"}}))
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "DISABLE_ADMIN_UI": "True"}
    server = ServerProcess(pinned([str(LITELLM / "bin" / "litellm"), "--config", str(config), "--port", str(port),
                                   "--num_workers", "1"]), port, "/health/liveliness", env, log=tmp / "litellm.log",
                           timeout=180)
    return server, "sk-bench"


def wrk(url: str, key: str, connections: int, seconds: int, tmp: Path) -> dict[str, float]:
    script = tmp / "post.lua"
    script.write_text(WRK.format(body=json.dumps(BODY), key=key))
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", str(script), url + "/v1/chat/completions"], capture_output=True, text=True,
                         check=True).stdout
    found = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for q in ("50", "99"):
        value, unit = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        found[f"p{q}"] = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found["errors"] = float(errors.group(1)) if errors else 0.0
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aistack-bench-gateway-"))
    stub = upstream(tmp)
    makers = {
        "aistack, access layer on, collector tuned": lambda: aistack(tmp, "tuned", stub.url, {}),
        "aistack, access layer on, collector defaults": lambda: aistack(
            tmp, "defaults", stub.url, {"AISTACK_SERVER__GC_THRESHOLD": "[]"}),
        "LiteLLM proxy 1.80.17": lambda: litellm(tmp, stub.url),
    }
    rows = []
    try:
        for name, make in makers.items():
            server, key = make()  # one gateway at a time: each alone on its core
            try:
                wrk(server.url, key, 16, 3, tmp)  # warm-up
                for connections in (1, 16, 64):
                    found = wrk(server.url, key, connections, args.seconds, tmp)
                    rows.append((connections, name, found))
            finally:
                server.stop()
    finally:
        stub.stop()
    by = {(c, n): f for c, n, f in rows}
    lines = [f"Gateway throughput against LiteLLM's proxy: non-streaming chat to an nginx stub that answers at once, "
             f"wrk for {args.seconds} s per cell, each gateway alone on one core (taskset), wrk on the other, "
             "log level warning for both:", "",
             "| connections | arm | requests/s | p50 | p99 | non-2xx | vs LiteLLM |", "|---|---|---|---|---|---|---|"]
    for connections, name, found in sorted(rows, key=lambda r: r[0]):
        peer = by.get((connections, "LiteLLM proxy 1.80.17"))
        ratio = f"{found['rps'] / peer['rps']:.1f}x" if peer and peer["rps"] else "-"
        lines.append(f"| {connections} | {name} | {found['rps']:,.0f} | {found['p50']:.2f} ms | {found['p99']:.2f} ms |"
                     f" {found['errors']:.0f} | {ratio} |")
    report = "\n".join([f"## Gateway against LiteLLM ({datetime.date.today()}, {machine()})", "", *lines, ""])
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
