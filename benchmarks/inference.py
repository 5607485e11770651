"""Inference benchmarks, appended to docs/benchmarks.md.

1. Engines under concurrency (issue 21): 1, 4 and 16 streaming clients, each sending 4 requests
   back to back, max_tokens 128, greedy, in one run and in A B ... B A order: aistack's embedded
   engine through the gateway (llama-server, batching), the engine before it (in process, one
   request at a time, 1 thread), the same llama-server run directly with the gateway's flags (and
   with 1 thread), and vLLM CPU from the venv .ci/run makes. Aggregate tokens/s and p95 TTFT.
2. Embedded model, one client: decode tokens/s and time to first token, streamed through the
   gateway over HTTP, against llama_cpp called directly in this process, in alternating rounds.
3. Gateway overhead: latency of client -> gateway -> upstream minus client -> upstream, p50 and
   p95, at 1 and 16 concurrent clients. The upstream is a stub that answers at once, so the
   difference is the gateway's own cost.

    python benchmarks/inference.py [--rounds 5] [--max-tokens 128] [--requests 2000] [--no-engines]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.servers import ServerProcess, free_port, start_gateway  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402
from streaming import cell, completion_body, percentile  # noqa: E402

PROMPT = "1, 2, 3, 4, 5,"  # greedy SmolLM2 keeps counting: every run reaches max_tokens
MODEL = "smollm2-135m-instruct"
QUEUE = {"AISTACK_LLM__LLAMACPP__MODELS__SMOLLM2-135M-INSTRUCT__MAX_QUEUE": "64"}


def direct_run(llama, max_tokens: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = last = 0.0
    count = 0
    for _ in llama.create_completion(PROMPT, max_tokens=max_tokens, temperature=0, stream=True):
        last = time.perf_counter()
        first = first or last
        count += 1
    return first - start, (count - 1) / (last - first), count


def gateway_run(url: str, max_tokens: int) -> tuple[float, float, int]:
    """Stream through the gateway on a raw socket: the request leaves in one write (httpx writes
    headers and body apart, and the delayed ACK that follows adds about 20 ms to its TTFT)."""
    body = orjson.dumps({"model": MODEL, "prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0,
                         "stream": True, "stream_options": {"include_usage": True}})
    host, port = url.removeprefix("http://").split(":")
    request = (f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    first = last = 0.0
    count = tokens = 0
    buffer = b""
    with socket.create_connection((host, int(port))) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        conn.sendall(request)
        while b"data: [DONE]" not in buffer:
            data = conn.recv(65536)
            if not data:
                break
            now = time.perf_counter()
            buffer += data
            *lines, buffer_tail = buffer.split(b"\n")
            for line in lines:
                if not line.startswith(b"data: {"):
                    continue
                chunk = orjson.loads(line[6:])
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                if chunk["choices"] and chunk["choices"][0]["text"]:
                    last = now
                    first = first or now
                    count += 1
            buffer = buffer_tail if b"data: [DONE]" not in b"\n".join(lines) else b"data: [DONE]"
    return first - start, (count - 1) / (last - first), tokens


def embedded(rounds: int, max_tokens: int, threads: int) -> list[str]:
    from llama_cpp import Llama

    from aistack.packaged import bundled_llm_gguf

    tmp = Path(tempfile.mkdtemp())
    env = {"AISTACK_LLM_THREADS": str(threads), "AISTACK_PROFILES": ""}
    gateway = start_gateway(env, tmp, "bench-embedded")
    llama = Llama(str(bundled_llm_gguf()), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                  n_batch=256, verbose=False)
    direct, via = [], []
    try:
        direct_run(llama, 8), gateway_run(gateway.url, 8)  # warm-up
        for _ in range(rounds):
            direct.append(direct_run(llama, max_tokens))
            via.append(gateway_run(gateway.url, max_tokens))
    finally:
        gateway.stop()
    d_ttft, d_tps = statistics.median(r[0] for r in direct), statistics.median(r[1] for r in direct)
    g_ttft, g_tps = statistics.median(r[0] for r in via), statistics.median(r[1] for r in via)
    assert all(r[2] == max_tokens for r in via), "a gateway run stopped before max_tokens"
    return [
        f"Embedded SmolLM2-135M Q4_1, {threads} thread(s), prompt `{PROMPT}`, {max_tokens} tokens greedy, "
        f"median of {rounds} alternating rounds:",
        "",
        "| path | decode tokens/s | time to first token |",
        "|---|---|---|",
        f"| llama_cpp direct (in process) | {d_tps:.1f} | {d_ttft * 1000:.1f} ms |",
        f"| gateway, HTTP streaming | {g_tps:.1f} | {g_ttft * 1000:.1f} ms |",
        f"| ratio gateway / direct | **{g_tps / d_tps:.3f}x** (target >= 0.95) | +{(g_ttft - d_ttft) * 1000:.1f} ms |",
    ]


def engines(per_client: int, max_tokens: int) -> list[str]:
    """Issue 21's table: the embedded engine under 1, 4 and 16 clients beside its peers."""
    from support.vllm_server import SERVED, start_vllm

    from aistack.llm.llama_server import server_command
    from aistack.packaged import bundled_llm_gguf, llama_server_binary
    from aistack.settings.model import LlamaCppModel
    from aistack.training.base import convert_gguf

    tmp = Path(tempfile.mkdtemp(prefix="aistack-bench-engines-"))
    gguf = bundled_llm_gguf()
    config = LlamaCppModel(n_ctx=2048)  # the bundled model's settings: parallel and threads from this host
    binary = llama_server_binary()
    assert binary is not None, "no llama-server: make setup builds it"
    servers: list[ServerProcess] = []
    arms: dict[str, tuple[ServerProcess, str, dict]] = {}

    def direct(name: str, threads: int) -> None:
        port = free_port()
        command = server_command(binary, gguf, config.model_copy(update={"n_threads": threads}))
        server = ServerProcess([*command, "--port", str(port)], port, "/health", log=tmp / f"{name}.log")
        servers.append(server)
        arms[f"llama-server direct, {threads} thread(s)"] = (server, MODEL, {"ignore_eos": True})

    try:
        env = {**QUEUE, "AISTACK_PROFILES": "", "AISTACK_SERVER__LOG_LEVEL": "warning"}
        for name, extra in (("new", {}), ("old", {"AISTACK_LLM__LLAMACPP__ENGINE": "in_process",
                                                   "AISTACK_LLM_THREADS": "1"})):
            (tmp / name).mkdir()
            servers.append(start_gateway({**env, **extra}, tmp / name, f"bench-{name}"))
        arms["aistack embedded via gateway"] = (servers[0], MODEL, {})
        arms["aistack before (in process, 1 thread)"] = (servers[1], MODEL, {})
        direct("direct-2", config.threads())
        direct("direct-1", 1)
        convert_gguf(gguf, tmp / "hf")
        servers.append(start_vllm(tmp / "hf", tmp, one_process=False))
        arms["vLLM CPU direct"] = (servers[-1], SERVED, {"ignore_eos": True})
        order = list(arms)
        for name in order:  # warm-up: load models, fill caches
            server, model, extra = arms[name]
            asyncio.run(cell(server.url, [completion_body(model, PROMPT, 8, **extra)], 1, 2))
        results: dict[tuple[str, int], tuple[float, float]] = {}
        for clients in (1, 4, 16):
            runs: dict[str, list] = {name: [] for name in order}
            for name in order + order[::-1]:  # A B ... B A: drift on this shared machine hits all alike
                server, model, extra = arms[name]
                body = completion_body(model, PROMPT, max_tokens, **extra)
                runs[name].append(asyncio.run(cell(server.url, [body], clients, max(1, per_client // 2))))
            for name in order:
                tokens, seconds = sum(r[0] for r in runs[name]), sum(r[1] for r in runs[name])
                results[name, clients] = (tokens / seconds, percentile([t for r in runs[name] for t in r[2]], 95))
                print(f"{clients:>2} clients  {name:<40} {results[name, clients][0]:7.1f} tok/s  "
                      f"p95 TTFT {results[name, clients][1]:.2f} s", flush=True)
    finally:
        for server in reversed(servers):
            server.stop()
    new, old, peer = "aistack embedded via gateway", "aistack before (in process, 1 thread)", "llama-server direct, "
    two, one_thread, vllm = f"{peer}{config.threads()} thread(s)", f"{peer}1 thread(s)", "vLLM CPU direct"
    rows = [f"| {clients} | {name} | {results[name, clients][0]:.1f} | {results[name, clients][1]:.2f} s |"
            for clients in (1, 4, 16) for name in order]
    ratio = {c: results[new, c][0] / results[two, c][0] for c in (1, 4, 16)}
    return [
        f"Engines under concurrency: SmolLM2-135M (Q4_1 GGUF; bf16 for vLLM), completions of `{PROMPT}`, "
        f"{max_tokens} tokens greedy, {per_client} requests per client back to back, arms in A B ... B A order. "
        f"The gateway's engine: llama-server with `parallel` {config.sequences()}, {config.threads()} threads, "
        "n_ctx 2048 a sequence (the defaults on this host); llama-server direct runs the same command line.", "",
        "| clients | engine | generated tokens/s | p95 TTFT |", "|---|---|---|---|", *rows, "",
        "Against issue 21's targets:", "",
        f"- 16 clients: {results[new, 16][0] / results[old, 16][0]:.2f}x the engine before (target 2.5x), "
        f"{results[new, 16][0] / results[vllm, 16][0]:.2f}x vLLM CPU (target 0.75x);",
        f"- p95 TTFT {results[new, 4][1]:.2f} s at 4 clients (target 0.5 s), {results[new, 16][1]:.2f} s at 16 "
        "(target 2 s);",
        f"- one client {results[new, 1][0]:.1f} tokens/s (target 100);",
        "- through the gateway / llama-server direct: " + ", ".join(f"{ratio[c]:.2f}x at {c}" for c in (1, 4, 16))
        + " (target 0.95x);",
        f"- threads: llama-server direct with {config.threads()} threads / 1 thread: " + ", ".join(
            f"{results[two, c][0] / results[one_thread, c][0]:.2f}x at {c}" for c in (1, 4, 16)) + ".",
    ]


async def load(url: str, concurrency: int, total: int, headers: dict[str, str] | None = None) -> list[float]:
    """`concurrency` clients, each sending requests back to back. aiohttp, because httpx's own
    connection pool costs about 1 ms of CPU per request at 16 clients and would swamp both arms."""
    import aiohttp

    body = orjson.dumps({"model": "stub", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16})
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector,
                                     headers={"Content-Type": "application/json", **(headers or {})}) as client:
        async def worker(n: int) -> None:
            for _ in range(n):
                start = time.perf_counter()
                async with client.post("/v1/chat/completions", data=body) as response:
                    await response.read()
                latencies.append(time.perf_counter() - start)
                assert response.status == 200, response.status

        await asyncio.gather(*(worker(total // concurrency) for _ in range(concurrency)))
    return latencies


def overhead(requests: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    stub = ServerProcess([sys.executable, str(ROOT / "benchmarks" / "stub_upstream.py"), str(port)], port,
                         "/v1/models", log=tmp / "stub.log")
    gateway = start_gateway({"AISTACK_LLM__BACKEND": "openai", "AISTACK_PROFILES": "",
                             "AISTACK_LLM__OPENAI__BASE_URL": stub.url + "/v1",
                             "AISTACK_SERVER__LOG_LEVEL": "warning"}, tmp, "bench-gateway")
    lines = ["Gateway overhead: non-streaming chat to a stub upstream that answers at once; "
             f"{requests} requests per cell after 200 warm-up; client, gateway and stub share the machine:", "",
             "| clients | direct p50 | direct p95 | via gateway p50 | via gateway p95 | added p50 | added p95 |",
             "|---|---|---|---|---|---|---|"]
    try:
        for concurrency in (1, 16):
            asyncio.run(load(stub.url, concurrency, 200))
            asyncio.run(load(gateway.url, concurrency, 200))
            direct, via = [], []
            for _ in range(2):  # alternate halves so drift hits both
                direct += asyncio.run(load(stub.url, concurrency, requests // 2))
                via += asyncio.run(load(gateway.url, concurrency, requests // 2))
            cells = [percentile(direct, 50), percentile(direct, 95), percentile(via, 50), percentile(via, 95)]
            added = [cells[2] - cells[0], cells[3] - cells[1]]
            lines.append(f"| {concurrency} | " + " | ".join(f"{v * 1000:.2f} ms" for v in cells + added) + " |")
    finally:
        gateway.stop()
        stub.stop()
    lines.append("")
    lines.append("Targets: added p50 <= 2 ms and p95 <= 10 ms at 16 clients.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-client", type=int, default=4, help="Requests per client in the engines table.")
    parser.add_argument("--no-engines", action="store_true", help="Skip the engines table (it needs the vLLM venv).")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    lines = [f"## inference.py, {datetime.date.today()}", "", f"Machine: {machine()}.", ""]
    if not args.no_engines:
        lines += engines(args.per_client, args.max_tokens) + [""]
    lines += embedded(args.rounds, args.max_tokens, args.threads) + [""]
    lines += overhead(args.requests) + [""]
    report = "\n".join(lines)
    print(report)
    if not args.no_append:
        append_report(report)


if __name__ == "__main__":
    main()
