"""Retrieval metrics over ranked lists of document names, and latency percentiles."""

from __future__ import annotations

import math


def precision(ranked: list[str], relevant: set[str]) -> float:
    """Share of what was returned that is relevant (the seed's precision@5 when at most 5 are
    returned). Returning nothing for an answerable question scores 0."""
    return sum(1 for r in ranked if r in relevant) / len(ranked) if ranked else 0.0


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
