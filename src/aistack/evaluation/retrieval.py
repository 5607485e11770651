"""Run a development set through the retriever: questions with the files that answer them, and
off-topic questions that should retrieve nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aistack.evaluation.dataset import EvalQuestion, load_dataset
from aistack.evaluation.metrics import (
    mean,
    percentile,
    precision,
    recall,
    reciprocal_rank,
)
from aistack.knowledge.retrieve import Retriever
from aistack.wire.knowledge import RetrievalOptions


def load_questions(path: Path) -> list[EvalQuestion]:
    return load_dataset(path).questions


def evaluate(retriever: Retriever, questions: list[EvalQuestion], options: RetrievalOptions) -> dict[str, Any]:
    answerable = [q for q in questions if q.relevant]
    off_topic = [q for q in questions if not q.relevant]
    scores: dict[str, list[float]] = {"precision": [], "recall": [], "mrr": []}
    latencies: list[float] = []
    misses: list[str] = []
    for q in answerable:
        result = retriever.retrieve(q.question, options)
        latencies.append(result.milliseconds)
        ranked = [h.payload.get("filename", "") for h in result.hits]
        scores["precision"].append(precision(ranked, q.relevant))
        scores["recall"].append(recall(ranked, q.relevant))
        scores["mrr"].append(reciprocal_rank(ranked, q.relevant))
        if not q.relevant & set(ranked):
            misses.append(q.question)
    refused = 0
    for q in off_topic:
        result = retriever.retrieve(q.question, options)
        latencies.append(result.milliseconds)
        refused += not result.hits
    k = options.top_k or retriever.settings.rag.top_k
    return {
        "questions": len(answerable), "off_topic": len(off_topic),
        f"precision@{k}": round(mean(scores["precision"]), 3), f"recall@{k}": round(mean(scores["recall"]), 3),
        "mrr": round(mean(scores["mrr"]), 3),
        "off_topic_refused": round(refused / len(off_topic), 3) if off_topic else None,
        "p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2),
        "misses": misses,
    }
