"""A short load run seen through Prometheus: token throughput and latency, plotted for
docs/observability.md from real scraped data.

The gateway (embedded SmolLM2) is scraped every second by a real Prometheus using the rendered
configuration, while 1, then 2, then 4 streaming clients send requests. The plot shows what an
operator's dashboard would: one model serves one request at a time, so more clients raise
latency and queue depth, not throughput. The report cross-checks the scraped token total with
the usage the clients received.

    python benchmarks/observability.py [--phase-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.servers import start_gateway, start_prometheus  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402

MODEL = "smollm2-135m-instruct"
PROMPTS = ["Explain what a GPU does.", "Write a haiku about servers.", "List three uses of RAG.",
           "Describe Prometheus in two sentences."]
SERIES = {
    "tokens/s": "sum(rate(llm_tokens_generated_total[5s]))",
    "p50": "histogram_quantile(0.50, sum by (le) (rate(llm_inference_duration_seconds_bucket[10s])))",
    "p95": "histogram_quantile(0.95, sum by (le) (rate(llm_inference_duration_seconds_bucket[10s])))",
    "p99": "histogram_quantile(0.99, sum by (le) (rate(llm_inference_duration_seconds_bucket[10s])))",
    "TTFT p95": "histogram_quantile(0.95, sum by (le) (rate(llm_time_to_first_token_seconds_bucket[10s])))",
    "queue": "sum(llm_queue_depth)",
    "active": "sum(llm_active_requests)",
}


async def client(url: str, until: float, usage: list[int], n: int) -> None:
    from openai import APIStatusError, AsyncOpenAI

    sdk = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    i = n
    while time.monotonic() < until:
        try:
            stream = await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], max_tokens=64,
                stream=True, stream_options={"include_usage": True})
            async for chunk in stream:
                if chunk.usage:
                    usage.append(chunk.usage.completion_tokens)
        except APIStatusError:  # 429 when the queue is full: back off briefly
            await asyncio.sleep(0.2)
        i += 1


async def load(url: str, phases: list[int], seconds: float) -> tuple[list[int], list[tuple[float, int]]]:
    usage: list[int] = []
    marks = []
    for clients in phases:
        marks.append((time.time(), clients))
        until = time.monotonic() + seconds
        await asyncio.gather(*[client(url, until, usage, n) for n in range(clients)])
    return usage, marks


def query_range(prometheus: str, expr: str, start: float, end: float) -> list[tuple[float, float]]:
    answer = httpx.get(prometheus + "/api/v1/query_range",
                       params={"query": expr, "start": start, "end": end, "step": 1}, timeout=30).json()
    result = answer["data"]["result"]
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def plot(data: dict[str, list[tuple[float, float]]], marks: list[tuple[float, int]], start: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    panels = [(axes[0], ["tokens/s"], "tokens/s generated"), (axes[1], ["p50", "p95", "p99", "TTFT p95"], "seconds"),
              (axes[2], ["active", "queue"], "requests")]
    for ax, names, label in panels:
        for name in names:
            points = [(t - start, v) for t, v in data[name] if v == v]  # NaN: no request ended in the window
            if points:
                ax.plot(*zip(*points), label=name)
        ax.set_ylabel(label)
        ax.legend(loc="upper left", fontsize=8)
        for when, clients in marks:
            ax.axvline(when - start, color="grey", linestyle=":")
            if ax is axes[0]:
                ax.annotate(f"{clients} client{'s' if clients > 1 else ''}", (when - start + 1, 0),
                            fontsize=8, color="grey", xycoords=("data", "axes fraction"), va="bottom")
    axes[0].set_title("aistack gateway under load, scraped by Prometheus every 1 s (SmolLM2-135M, CPU)")
    axes[2].set_xlabel("seconds into the run")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase-seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "observability-load.png")
    args = parser.parse_args()
    from aistack.observability.render import render
    from aistack.settings import Settings
    from aistack.settings.observability import ObservabilitySettings

    tmp = Path(tempfile.mkdtemp(prefix="aistack-obs-bench-"))
    gateway = start_gateway({}, tmp, "gateway")
    config = ObservabilitySettings.model_validate({
        "scrape_interval": "1s", "evaluation_interval": "1s", "alertmanager": {"targets": []},
        "targets": {"gateway": [f"127.0.0.1:{gateway.port}"], "vllm": [], "qdrant": [], "node_exporter": [],
                    "dcgm": []}})
    render(Settings(observability=config), tmp / "config")
    prometheus = start_prometheus(tmp / "config" / "prometheus.yml", tmp)
    try:
        time.sleep(3)
        start = time.time()
        usage, marks = asyncio.run(load(gateway.url, [1, 2, 4], args.phase_seconds))
        time.sleep(3)
        end = time.time()
        data = {name: query_range(prometheus.url, expr, start, end) for name, expr in SERIES.items()}
        scraped = httpx.get(prometheus.url + "/api/v1/query",
                            params={"query": "sum(llm_tokens_generated_total)"}).json()["data"]["result"]
    finally:
        prometheus.stop()
        gateway.stop()
    plot(data, marks, start, args.out)
    scraped_tokens = int(float(scraped[0]["value"][1])) if scraped else 0
    rows = []
    bounds = [m[0] for m in marks] + [end]
    for (when, clients), until in zip(marks, bounds[1:]):
        def mean(name: str) -> float:
            values = [v for t, v in data[name] if when + 5 <= t <= until and v == v]
            return sum(values) / len(values) if values else float("nan")
        rows.append(f"| {clients} | {mean('tokens/s'):.1f} | {mean('p50'):.2f} | {mean('p95'):.2f} | "
                    f"{mean('TTFT p95'):.3f} | {mean('queue'):.2f} |")
    report = "\n".join([
        f"## Observability load run ({datetime.date.today()})", "",
        f"Machine: {machine()}. Embedded SmolLM2-135M (test profile), streaming chat, max_tokens 64, "
        f"{args.phase_seconds:.0f} s per phase; Prometheus scraping every 1 s. Values are means of the "
        "scraped series within each phase (first 5 s skipped). Plot: docs/img/observability-load.png.", "",
        "| clients | tokens/s | latency p50 (s) | latency p95 (s) | TTFT p95 (s) | queue depth |",
        "|---|---|---|---|---|---|", *rows, "",
        f"Token counter check: Prometheus' `sum(llm_tokens_generated_total)` = {scraped_tokens}; the clients' "
        f"streamed `usage.completion_tokens` summed = {sum(usage)} ({len(usage)} requests).", ""])
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
