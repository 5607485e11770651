"""Retrieval metrics over ranked lists of document names, and latency percentiles."""

from __future__ import annotations

import math


def precision_at_k(ranked: list[str], relevant: set[str], k: int, relevant_chunks: int) -> float:
    """Relevant chunks in the top k over min(k, the chunks the relevant files hold): returning
    fewer than k never raises it, and a question whose files hold 2 chunks can still score 1."""
    room = min(k, relevant_chunks)
    return sum(1 for r in ranked[:k] if r in relevant) / room if room > 0 else 0.0


def returned_precision(ranked: list[str], relevant: set[str]) -> float:
    """Share of what was returned that is relevant: the seed's precision@5, which a threshold that
    returns fewer chunks raises. Kept under this name for comparison; precision_at_k is the figure.
    Returning nothing for an answerable question scores 0."""
    return sum(1 for r in ranked if r in relevant) / len(ranked) if ranked else 0.0


def hit_at_k(ranked: list[str], relevant: set[str], k: int) -> float:
    """1 when a relevant chunk is among the top k, else 0."""
    return 1.0 if any(r in relevant for r in ranked[:k]) else 0.0


def chunks_held(chunks_by_file: dict[str, int], relevant: set[str]) -> int:
    """How many chunks of the collection the relevant files hold (their filename -> chunk count)."""
    return sum(chunks_by_file.get(name, 0) for name in relevant)


def recall(ranked: list[str], relevant: set[str]) -> float:
    """Share of the relevant documents that were returned."""
    return len(relevant & set(ranked)) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: list[str], relevant: set[str]) -> float:
    return next((1.0 / n for n, r in enumerate(ranked, start=1) if r in relevant), 0.0)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def ndcg(ranked: list[str], relevant: set[str], k: int) -> float:
    """nDCG@k with binary gains. A document gains once, at its first chunk, so several chunks of
    one relevant file cannot push the score above 1."""
    seen: set[str] = set()
    dcg = 0.0
    for position, doc in enumerate(ranked[:k], start=1):
        if doc in relevant and doc not in seen:
            seen.add(doc)
            dcg += 1 / math.log2(position + 1)
    ideal = sum(1 / math.log2(position + 1) for position in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def context_precision(ranked: list[str], relevant: set[str]) -> float:
    """ragas' context precision: the mean of precision@i over the ranks i that hold a relevant
    chunk, so relevant chunks ranked first score higher. Every chunk of a relevant file is
    relevant."""
    hits = 0
    total = 0.0
    for position, doc in enumerate(ranked, start=1):
        if doc in relevant:
            hits += 1
            total += hits / position
    return total / hits if hits else 0.0


def keyword_recall(answer: str, keywords: list[str]) -> float | None:
    """Share of the expected keywords the answer contains (case-insensitive)."""
    if not keywords:
        return None
    text = answer.lower()
    return sum(1 for k in keywords if k.lower() in text) / len(keywords)
