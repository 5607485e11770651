"""Issue 21's choice of mechanism, measured side by side on one GGUF: continuous batching by
llama.cpp's own `llama-server` (a child process, as Ollama runs its runners), against batched
decoding in this process on llama-cpp-python's low-level batch API.

The in-process arm is a ceiling, not a server: greedy argmax in numpy, no sampler chain, no
grammar, no HTTP, no event loop beside it. If the server reaches it, our own scheduler would buy
nothing. Both arms decode `max_tokens` for each of N sequences at once, prompts of the same shape.

    python benchmarks/batching_candidates.py [--llama-server PATH] [--clients 1 4 16] [--max-tokens 128]

llama-server is the one `make setup` builds beside llama-cpp-python (scripts/build-llama-cpp.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402

PROMPTS = ["Name three colours.", "What is a GPU?", "Write one sentence about the sea.", "Count to ten."]


def chat_prompt(text: str) -> str:
    return f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"


def in_process(gguf: str, clients: int, max_tokens: int, threads: int) -> tuple[float, float]:
    """(aggregate tokens/s, seconds to the last sequence's first token) for `clients` sequences
    decoded together in one llama_batch per step."""
    import llama_cpp as lc

    lc.llama_backend_init()
    model = lc.llama_model_load_from_file(gguf.encode(), lc.llama_model_default_params())
    params = lc.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_seq_max = 512 * clients, 512, clients
    params.n_threads = params.n_threads_batch = threads
    params.kv_unified = True
    ctx = lc.llama_init_from_model(model, params)
    vocab = lc.llama_model_get_vocab(model)
    n_vocab = lc.llama_vocab_n_tokens(vocab)
    batch = lc.llama_batch_init(512, 0, clients)

    def tokens_of(text: str) -> list[int]:
        raw = text.encode()
        out = (lc.llama_token * 512)()
        n = lc.llama_tokenize(vocab, raw, len(raw), out, 512, True, True)
        return list(out[:n])

    def fill(entries: list[tuple[int, int, int, bool]]) -> None:
        batch.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits

    def argmax(i: int) -> int:
        logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, i), shape=(n_vocab,))
        return int(logits.argmax())

    start = time.perf_counter()
    positions, last = [], []
    for seq in range(clients):  # prefill one prompt at a time, as a server admits them
        prompt = tokens_of(chat_prompt(PROMPTS[seq % len(PROMPTS)]))
        fill([(t, p, seq, p == len(prompt) - 1) for p, t in enumerate(prompt)])
        assert lc.llama_decode(ctx, batch) == 0
        last.append(argmax(len(prompt) - 1))
        positions.append(len(prompt))
    first_tokens = time.perf_counter() - start
    for _ in range(max_tokens - 1):
        fill([(last[s], positions[s], s, True) for s in range(clients)])
        assert lc.llama_decode(ctx, batch) == 0
        last = [argmax(s) for s in range(clients)]
        positions = [p + 1 for p in positions]
    elapsed = time.perf_counter() - start
    lc.llama_batch_free(batch)
    lc.llama_free(ctx)
    lc.llama_model_free(model)
    return clients * max_tokens / elapsed, first_tokens


async def server_cell(url: str, clients: int, max_tokens: int) -> tuple[float, float]:
    """(aggregate tokens/s, slowest time to first token) for `clients` streamed chat requests at once."""
    import aiohttp

    async def one(client: aiohttp.ClientSession, n: int) -> tuple[float, int]:
        body = orjson.dumps({"messages": [{"role": "user", "content": PROMPTS[n % len(PROMPTS)]}],
                             "max_tokens": max_tokens, "temperature": 0, "stream": True, "ignore_eos": True})
        started, first, tokens = time.perf_counter(), 0.0, 0
        async with client.post(url + "/v1/chat/completions", data=body,
                               headers={"Content-Type": "application/json"}) as response:
            assert response.status == 200, await response.text()
            async for line in response.content:
                if line.startswith(b"data: {") and b'"content":"' in line:
                    first = first or time.perf_counter() - started
                    tokens += 1
        return first, tokens

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(one(client, n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return sum(t for _, t in results) / elapsed, max(f for f, _ in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-server", help="The llama-server binary (default: the installed one).")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    from support.servers import ServerProcess, free_port

    from aistack.packaged import bundled_llm_gguf, llama_server_binary

    gguf = str(bundled_llm_gguf())
    binary = args.llama_server or str(llama_server_binary())
    rows: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for clients in args.clients:
        port = free_port()
        server = ServerProcess([binary, "-m", gguf, "--host", "127.0.0.1", "--port", str(port),
                                "-np", str(clients), "-c", str(512 * clients), "-t", str(args.threads),
                                "--kv-unified", "--no-webui"], port, "/health",
                               log=Path(f"/tmp/bench-llama-server-{clients}.log"))
        try:
            asyncio.run(server_cell(server.url, clients, 8))  # warm-up
            for _ in range(args.rounds):  # alternate the arms so drift hits both
                rows.setdefault(("llama-server", clients), []).append(
                    asyncio.run(server_cell(server.url, clients, args.max_tokens)))
                rows.setdefault(("in process", clients), []).append(
                    in_process(gguf, clients, args.max_tokens, args.threads))
        finally:
            server.stop()
    lines = [f"## batching_candidates.py, {datetime.date.today()}", "", f"Machine: {machine()}.", "",
             f"SmolLM2-135M Q4_1, {args.threads} threads, N sequences at once, {args.max_tokens} tokens each, greedy; "
             f"median of {args.rounds} alternating rounds. llama-server: `-np N --kv-unified`, streamed chat over "
             "HTTP; in process: one llama_batch a step, numpy argmax, no sampler, no HTTP (a ceiling).", "",
             "| clients | llama-server tok/s | in-process tok/s | server / in-process | llama-server last TTFT | "
             "in-process last first token |", "|---|---|---|---|---|---|"]
    for clients in args.clients:
        server = rows[("llama-server", clients)]
        local = rows[("in process", clients)]
        s_tps, l_tps = statistics.median(r[0] for r in server), statistics.median(r[0] for r in local)
        lines.append(f"| {clients} | {s_tps:.1f} | {l_tps:.1f} | {s_tps / l_tps:.2f}x | "
                     f"{statistics.median(r[1] for r in server):.2f} s | {statistics.median(r[1] for r in local):.2f} s |")
    report = "\n".join(lines)
    print(report)
    if not args.no_append:
        append_report(report)


if __name__ == "__main__":
    main()
