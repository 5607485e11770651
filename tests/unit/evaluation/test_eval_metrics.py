from __future__ import annotations

import math

import pytest

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
from aistack.knowledge.retrieve import fuse
from aistack.vectorstore import Hit

pytestmark = pytest.mark.unit


def test_precision_recall_mrr() -> None:
    ranked = ["a.md", "b.md", "a.md"]
    assert returned_precision(ranked, {"a.md"}) == pytest.approx(2 / 3)
    assert returned_precision([], {"a.md"}) == 0.0
    assert hit_at_k(ranked, {"b.md"}, 5) == 1.0 and hit_at_k(ranked, {"b.md"}, 1) == 0.0
    assert recall(ranked, {"a.md", "c.md"}) == 0.5
    assert reciprocal_rank(ranked, {"b.md"}) == 0.5 and reciprocal_rank(ranked, {"z"}) == 0.0


def test_precision_at_k_divides_by_k_capped_by_the_chunks_that_exist() -> None:
    # the relevant file holds 10 chunks: two of them in the top 5 is 2/5, however few came back
    assert precision_at_k(["a", "x", "a", "x", "x"], {"a"}, 5, 10) == pytest.approx(2 / 5)
    assert precision_at_k(["a", "a"], {"a"}, 5, 10) == pytest.approx(2 / 5)  # returning less never raises it
    assert returned_precision(["a", "a"], {"a"}) == 1.0  # the seed's figure does
    # it holds 2 chunks: both in the top 5 is perfect, and only the top k count
    assert precision_at_k(["a", "x", "a"], {"a"}, 5, 2) == 1.0
    assert precision_at_k(["x", "x", "a"], {"a"}, 2, 2) == 0.0
    assert precision_at_k([], {"a"}, 5, 0) == 0.0
    assert chunks_held({"a": 3, "b": 4, "c": 9}, {"a", "b", "z"}) == 7


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
    assert math.isnan(percentile([], 50)) and math.isnan(mean([]))


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    hit = lambda i: Hit(i, 0.0, i, {})  # noqa: E731
    fused = fuse([[hit("a"), hit("b"), hit("c")], [hit("c"), hit("b")]], 3)
    assert [h.id for h in fused] == ["c", "b", "a"]  # 1/63 + 1/61 > 1/62 + 1/62 > 1/61
    assert fused[0].score == pytest.approx(1 / 63 + 1 / 61)
