"""Retrieval quality on documents nobody here wrote: the Python documentation corpus
(benchmarks/pydocs), its development and test splits side by side, for the defaults and the
settings issue 22 weighs. Appended to docs/benchmarks.md.

Tune on the dev split only; the test split is reported, never tuned on.

One arm is not in the product: BM25 over the whole collection (an in-memory index of every chunk)
fused with the dense hits by reciprocal rank, the candidate that Qdrant's sparse vectors or
PostgreSQL's full-text search would implement. It measures whether that is worth building.

    python benchmarks/retrieval_pydocs.py
"""

from __future__ import annotations

import datetime
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from aistack.container import Container
from aistack.embeddings import bm25
from aistack.evaluation.retrieval import evaluate, load_questions
from aistack.knowledge.retrieve import Retrieval, Retriever, fuse
from aistack.settings.model import Settings
from aistack.vectorstore.base import Hit
from aistack.wire.knowledge import RetrievalOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_report, machine  # noqa: E402

PYDOCS = Path(__file__).resolve().parent / "pydocs"
# (label, retrieval, rerank, score_threshold, score_margin); None keeps the default
ARMS = [
    ("defaults (hybrid, threshold 0.2, no margin)", None, None, None, None),
    ("hybrid, threshold 0.2, margin 0.1 (the old default)", None, None, None, 0.1),
    ("hybrid, no threshold or margin", None, None, -1.0, 2.0),
    ("dense, threshold 0.2, no margin", "dense", None, None, None),
    ("hybrid + late-interaction rerank", None, "late_interaction", None, None),
]


class WholeCollectionKeywords(Retriever):
    """Dense hits above the threshold (none: refuse), fused by RRF with BM25 over every chunk."""

    def __init__(self, base: Retriever, collection: str, wide: int = 20):
        super().__init__(base.settings, base.embedder, base.store)
        points = list(base.store.points(collection))
        self.collection, self.wide = collection, wide
        self.vectors = {p.id: p.vector / np.linalg.norm(p.vector) for p in points}
        self.docs = [(p, Counter(bm25.terms(p.text))) for p in points]
        self.average = sum(sum(c.values()) for _, c in self.docs) / len(self.docs)
        self.df = Counter(t for _, c in self.docs for t in c)

    def keywords(self, query: str, vector: np.ndarray) -> list[Hit]:
        n = len(self.docs)
        idf = {t: math.log(1 + (n - self.df[t] + 0.5) / (self.df[t] + 0.5)) for t in set(bm25.terms(query))
               if self.df[t]}
        scored = []
        for point, counts in self.docs:
            norm = bm25.K1 * (1 - bm25.B + bm25.B * sum(counts.values()) / self.average)
            score = sum(idf[t] * counts[t] * (bm25.K1 + 1) / (counts[t] + norm) for t in idf if t in counts)
            if score > 0:
                scored.append((score, point))
        scored.sort(key=lambda pair: -pair[0])
        return [Hit(p.id, float(np.dot(vector, self.vectors[p.id])), p.text, p.payload) for _, p in scored[:self.wide]]

    def retrieve(self, query: str, options: RetrievalOptions | None = None, label: str | None = None) -> Retrieval:
        started = time.perf_counter()
        vector = self.embedder.embed_query(query)
        threshold = self.settings.rag.score_threshold
        dense = self.store.search(self.collection, vector, self.wide, threshold)
        hits: list[Hit] = []
        if dense:  # keywords reorder and add, but an off-topic question (no dense hit) is still refused
            keyword = self.keywords(query, vector / np.linalg.norm(vector))
            by_id = {h.id: h for h in keyword + dense}  # cosine scores, not RRF's
            hits = [by_id[h.id] for h in fuse([dense, keyword], self.wide)]
        return Retrieval(self.collection, query, hits[:5], 5, threshold, "whole",
                         (time.perf_counter() - started) * 1000)


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
    base = container.knowledge.retriever
    arms = [(label, base, RetrievalOptions(collection="pydocs", retrieval=mode, rerank=rerank,
                                           score_threshold=threshold, score_margin=margin))
            for label, mode, rerank, threshold, margin in ARMS]
    arms.append(("not built: dense + BM25 over the whole collection, RRF, threshold 0.2",
                 WholeCollectionKeywords(base, "pydocs"), RetrievalOptions(collection="pydocs")))
    for label, retriever, options in arms:
        for split, questions in splits.items():
            r = evaluate(retriever, questions, options)
            lines.append(f"| {label} | {split} | {r['precision@5']:.3f} | {r['returned_precision']:.3f} | "
                         f"{r['hit@5']:.3f} | {r['mrr']:.3f} | {r['off_topic_refused']:.1f} | "
                         f"{r['p50_ms']:.1f} ms | {r['p95_ms']:.1f} ms |")
    container.store.close()
    report = "\n".join(lines)
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
