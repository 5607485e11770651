"""How responsive a gateway stays under heavy work: /health polled every 20 ms while the work runs,
and the heavy inputs (a PDF of many pages, megabytes of Markdown, a long prompt with a large JSON
schema). Shared by tests/integration/test_loop_responsiveness.py and benchmarks/responsiveness.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

SCHEMA = {"type": "object", "properties": {f"field_{i}": {"type": "string", "maxLength": 50} for i in range(200)}}


def health_while(url: str, work: Callable[[], httpx.Response]) -> tuple[httpx.Response, float, int]:
    """The work's response, and the slowest /health answer while it ran (with the poll count)."""
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                assert client.get(url + "/health").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        response = work()
    finally:
        done.set()
        poller.join()
    return response, max(latencies), len(latencies)


def big_pdf(path: Path, pages: int, distinct: int | None = None) -> Path:
    """A page a line; with `distinct`, the lines repeat after that many pages (a repeated page is
    stored once: the parse stays whole, the embedding shrinks)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for n in range(pages):
        pdf.add_page()
        entry = n % (distinct or pages)
        pdf.cell(0, 8, f"Entry {entry}: the nightly backup of collection {entry % 97} finished in {entry % 13} min.")
    pdf.output(str(path))
    return path


def big_markdown(megabytes: int) -> str:
    section = "Words about the gateway, its settings and its collections, repeated to make a large file.\n" * 700
    return "".join(f"## Section {n}\n\n{section}\n" for n in range(megabytes * 1024 * 1024 // (len(section) + 20) + 1))


def upload(url: str, collection: str, name: str, data: bytes, kind: str) -> Callable[[], httpx.Response]:
    return lambda: httpx.post(f"{url}/v1/collections/{collection}/documents", timeout=900,
                              files={"files": (name, data, kind)})


def long_prompt(url: str, words: int = 600) -> Callable[[], httpx.Response]:
    body: dict[str, Any] = {"model": "smollm2-135m-instruct", "max_tokens": 8,
                            "messages": [{"role": "user", "content": "word " * words}],
                            "response_format": {"type": "json_schema", "json_schema": {"name": "form", "schema": SCHEMA}}}
    return lambda: httpx.post(url + "/v1/chat/completions", timeout=300, json=body)
