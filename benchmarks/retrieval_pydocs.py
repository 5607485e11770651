"""Retrieval quality on documents nobody here wrote: the Python documentation corpus
(benchmarks/pydocs), its development and test splits side by side, for the defaults and the
settings issue 22 weighs. Appended to docs/benchmarks.md.

Tune on the dev split only; the test split is reported, never tuned on.

    python benchmarks/retrieval_pydocs.py
"""

from __future__ import annotations

import datetime
import sys
import tempfile
import time
from pathlib import Path

from aistack.container import Container
from aistack.evaluation.retrieval import evaluate, load_questions
from aistack.settings.model import Settings
from aistack.wire.knowledge import RetrievalOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_report, machine  # noqa: E402

PYDOCS = Path(__file__).resolve().parent / "pydocs"
# (label, retrieval, rerank, score_threshold, score_margin); None keeps the default
ARMS = [
    ("defaults (hybrid, threshold 0.2, margin 0.1)", None, None, None, None),
    ("hybrid, threshold 0.2, no margin", None, None, None, 2.0),
    ("hybrid, no threshold or margin", None, None, -1.0, 2.0),
    ("dense, no threshold or margin", "dense", None, -1.0, 2.0),
    ("hybrid + late-interaction rerank, no margin", None, "late_interaction", None, 2.0),
]


def main() -> None:
    container = Container(Settings(home=Path(tempfile.mkdtemp(prefix="rag-pydocs-"))))
    started = time.perf_counter()
    summary = container.knowledge.ingestor.ingest_path("pydocs", PYDOCS / "corpus")
    ingest_s = time.perf_counter() - started
    counts = summary.as_dict()
    splits = {name: load_questions(PYDOCS / f"{name}.jsonl") for name in ("dev", "test")}
    lines = [
        f"\n## Retrieval on the Python documentation, {datetime.date.today()}",
        "",
        f"Machine: {machine()}. benchmarks/pydocs: 62 pages of the Python 3.11 docs (38 md, 18 txt, 6 pdf), "
        f"{counts['chunks_added']} chunks ({counts['failed']} files failed), ingested in {ingest_s:.0f} s; 43 questions and 5 off-topic ones per split. "
        "precision@5 is relevant chunks in the top 5 over min(5, the chunks the relevant files hold); returned "
        "precision is the relevant share of what came back (the seed's figure).",
        "",
        "| settings | split | precision@5 | returned precision | hit@5 | MRR | off-topic refused | p50 | p95 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, mode, rerank, threshold, margin in ARMS:
        for split, questions in splits.items():
            options = RetrievalOptions(collection="pydocs", retrieval=mode, rerank=rerank,
                                       score_threshold=threshold, score_margin=margin)
            r = evaluate(container.knowledge.retriever, questions, options)
            lines.append(f"| {label} | {split} | {r['precision@5']:.3f} | {r['returned_precision']:.3f} | "
                         f"{r['hit@5']:.3f} | {r['mrr']:.3f} | {r['off_topic_refused']:.1f} | "
                         f"{r['p50_ms']:.1f} ms | {r['p95_ms']:.1f} ms |")
    container.store.close()
    report = "\n".join(lines)
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
