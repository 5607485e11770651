"""Run a development set through the retriever: questions with the files that answer them, and
off-topic questions that should retrieve nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aistack.evaluation.dataset import EvalQuestion, load_dataset
from aistack.evaluation.metrics import (
    chunks_held,
    hit_at_k,
    mean,
    percentile,
    precision_at_k,
    recall,
    reciprocal_rank,
    returned_precision,
)
from aistack.knowledge.retrieve import Retriever
from aistack.vectorstore.base import VectorStore
from aistack.wire.knowledge import RetrievalOptions


def load_questions(path: Path) -> list[EvalQuestion]:
    return load_dataset(path).questions


def chunks_by_file(store: VectorStore, collection: str) -> dict[str, int]:
    """Filename -> the chunks the collection holds of it (what precision@k's denominator needs)."""
    counts: dict[str, int] = {}
    for doc in store.documents(collection):
        counts[doc.filename] = counts.get(doc.filename, 0) + doc.chunks
    return counts


def evaluate(retriever: Retriever, questions: list[EvalQuestion], options: RetrievalOptions) -> dict[str, Any]:
    answerable = [q for q in questions if q.relevant]
    off_topic = [q for q in questions if not q.relevant]
    k = options.top_k or retriever.settings.rag.top_k
    held = chunks_by_file(retriever.store, options.collection or retriever.settings.rag.default_collection)
    scores: dict[str, list[float]] = {"precision": [], "returned": [], "hit": [], "recall": [], "mrr": []}
    latencies: list[float] = []
    misses: list[str] = []
    for q in answerable:
        result = retriever.retrieve(q.question, options)
        latencies.append(result.milliseconds)
        ranked = [h.payload.get("filename", "") for h in result.hits]
        scores["precision"].append(precision_at_k(ranked, q.relevant, k, chunks_held(held, q.relevant)))
        scores["returned"].append(returned_precision(ranked, q.relevant))
        scores["hit"].append(hit_at_k(ranked, q.relevant, k))
        scores["recall"].append(recall(ranked, q.relevant))
        scores["mrr"].append(reciprocal_rank(ranked, q.relevant))
        if not q.relevant & set(ranked):
            misses.append(q.question)
    refused = 0
    for q in off_topic:
        result = retriever.retrieve(q.question, options)
        latencies.append(result.milliseconds)
        refused += not result.hits
    return {
        "questions": len(answerable), "off_topic": len(off_topic),
        f"precision@{k}": round(mean(scores["precision"]), 3),
        "returned_precision": round(mean(scores["returned"]), 3), f"hit@{k}": round(mean(scores["hit"]), 3),
        f"recall@{k}": round(mean(scores["recall"]), 3),
        "mrr": round(mean(scores["mrr"]), 3),
        "off_topic_refused": round(refused / len(off_topic), 3) if off_topic else None,
        "p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2),
        "misses": misses,
    }
