"""`aistack eval compare RUN_A RUN_B`: per-metric differences over the questions both runs
answered, with a paired bootstrap 95% interval, so noise is not called a win."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# per-question columns, and whether higher is better
METRICS = {
    "precision": True, "hit": True, "recall": True, "mrr": True, "ndcg": True, "context_precision": True,
    "faithfulness_lexical": True, "faithfulness_judge": True, "keyword_recall": True,
    "retrieval_ms": False, "generation_ms": False, "total_ms": False,
}


@dataclass
class Difference:
    metric: str
    questions: int
    a: float
    b: float
    low: float  # 95% interval of mean(b - a)
    high: float
    verdict: str  # "A better", "B better", "no clear difference"

    @property
    def delta(self) -> float:
        return self.b - self.a


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return None if number != number else number  # NaN from a table: missing


def paired(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of the questions that both runs scored on `metric`, in the same order."""
    by_question = {r["question"]: _number(r.get(metric)) for r in rows_b}
    pairs = [(a, b) for r in rows_a if (a := _number(r.get(metric))) is not None
             and (b := by_question.get(r["question"])) is not None]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def bootstrap_interval(diffs: np.ndarray, samples: int, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(samples, len(diffs)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def compare(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], samples: int = 2000) -> list[Difference]:
    found = []
    for metric, higher_is_better in METRICS.items():
        a, b = paired(rows_a, rows_b, metric)
        if not len(a):
            continue
        low, high = bootstrap_interval(b - a, samples)
        if low > 0 or high < 0:  # the interval excludes "no change"
            b_higher = low > 0
            verdict = "B better" if b_higher == higher_is_better else "A better"
        else:
            verdict = "no clear difference"
        found.append(Difference(metric, len(a), float(a.mean()), float(b.mean()), low, high, verdict))
    return found
