"""The slowest /health answer (polled every 20 ms) while a gateway on the embedded model processes
a 20,000-page PDF (20,000 chunks to embed), 20 MB of Markdown (read and split whole; its repeated
paragraphs are stored once each, so little is embedded) and a long prompt with a 200-field JSON
schema. The maximum, not a percentile, which would hide a
single stall.

    python benchmarks/responsiveness.py
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import append_report, machine  # noqa: E402
from support.responsiveness import big_markdown, big_pdf, health_while, long_prompt, upload  # noqa: E402
from support.servers import start_gateway  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aistack-bench-health-"))
    pdf = big_pdf(tmp / "big.pdf", 20_000).read_bytes()
    markdown = big_markdown(20).encode()
    rows = []
    with start_gateway({"AISTACK_INGEST__MAX_UPLOAD_BYTES": str(64 << 20)}, tmp, "health") as gateway:
        work = {
            f"a 20,000-page PDF ({len(pdf) / 1e6:.1f} MB)": upload(gateway.url, "big-pdf", "big.pdf", pdf, "application/pdf"),
            f"{len(markdown) / 1e6:.1f} MB of Markdown": upload(gateway.url, "big-md", "big.md", markdown, "text/markdown"),
            "a 600-word prompt with a 200-field JSON schema": long_prompt(gateway.url),
        }
        for name, call in work.items():
            response, slowest, polls = health_while(gateway.url, call)
            assert response.status_code == 200, response.text
            rows.append(f"| {name} | {response.elapsed.total_seconds():.1f} s | {polls} | {slowest * 1000:.0f} ms |")
    report = "\n".join([
        f"## /health while the gateway works ({datetime.date.today()}, {machine()})", "",
        "The slowest /health answer, polled every 20 ms, while one request runs on a gateway on the embedded model "
        "(before PDFs were parsed in helper processes, the 20,000-page PDF stalled it for 663 ms; before parsing left "
        "the event loop, for 61.5 s):", "",
        "| work | took | polls | slowest /health |", "|---|---|---|---|", *rows, ""])
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
