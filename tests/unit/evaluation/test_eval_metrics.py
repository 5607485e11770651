from __future__ import annotations

import math

import pytest

from aistack.evaluation.metrics import (
    mean,
    percentile,
    precision,
    recall,
    reciprocal_rank,
)
from aistack.knowledge.retrieve import fuse
from aistack.vectorstore import Hit

pytestmark = pytest.mark.unit


def test_precision_recall_mrr() -> None:
    ranked = ["a.md", "b.md", "a.md"]
    assert precision(ranked, {"a.md"}) == pytest.approx(2 / 3)
    assert precision([], {"a.md"}) == 0.0
    assert recall(ranked, {"a.md", "c.md"}) == 0.5
    assert reciprocal_rank(ranked, {"b.md"}) == 0.5 and reciprocal_rank(ranked, {"z"}) == 0.0


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
    assert math.isnan(percentile([], 50)) and math.isnan(mean([]))


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    hit = lambda i: Hit(i, 0.0, i, {})  # noqa: E731
    fused = fuse([[hit("a"), hit("b"), hit("c")], [hit("c"), hit("b")]], 3)
    assert [h.id for h in fused] == ["c", "b", "a"]  # 1/63 + 1/61 > 1/62 + 1/62 > 1/61
    assert fused[0].score == pytest.approx(1 / 63 + 1 / 61)
