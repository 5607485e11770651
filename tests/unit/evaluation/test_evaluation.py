"""Evaluation arithmetic against hand-worked examples, dataset validation, the lexical
faithfulness estimate and the bootstrap comparison."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from aistack.errors import InvalidRequest
from aistack.evaluation.compare import compare
from aistack.evaluation.dataset import load_dataset
from aistack.evaluation.faithfulness import lexical_faithfulness, sentences
from aistack.evaluation.metrics import (
    context_precision,
    keyword_recall,
    ndcg,
    recall,
    returned_precision,
)
from aistack.evaluation.runner import QuestionResult, pipeline_config, summarise
from aistack.settings import Settings
from aistack.tracking.pipelines import PipelineResolver

pytestmark = pytest.mark.unit
LOG2 = math.log2


def test_ndcg_hand_worked() -> None:
    # relevant at ranks 1 and 3 of 3, two relevant files: (1 + 1/log2 4) / (1 + 1/log2 3)
    assert ndcg(["a", "x", "b"], {"a", "b"}, 3) == pytest.approx((1 + 1 / LOG2(4)) / (1 + 1 / LOG2(3)))
    assert ndcg(["x", "a"], {"a"}, 5) == pytest.approx(1 / LOG2(3))


def test_ndcg_edge_cases() -> None:
    assert ndcg(["x", "y"], set(), 5) == 0.0  # no relevant document
    assert ndcg([], {"a"}, 5) == 0.0  # nothing retrieved
    assert ndcg(["a"], {"a"}, 10) == 1.0  # k larger than the results: the ideal is one hit
    # duplicates: three chunks of one relevant file gain once, so the score stays <= 1
    assert ndcg(["a", "a", "a"], {"a", "b"}, 3) == pytest.approx(1 / (1 + 1 / LOG2(3)))
    assert ndcg(["x", "a"], {"a"}, 1) == 0.0  # cut at k


def test_context_precision_follows_ragas() -> None:
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert context_precision(["a", "x", "b"], {"a", "b"}) == pytest.approx((1 + 2 / 3) / 2)
    assert context_precision(["x", "a"], {"a"}) == 0.5
    assert context_precision(["x"], {"a"}) == 0.0 and context_precision([], {"a"}) == 0.0
    assert context_precision(["a", "a"], {"a"}) == 1.0  # every chunk of a relevant file is relevant


def test_precision_and_recall_with_duplicates_and_short_lists() -> None:
    assert returned_precision(["a", "a", "x"], {"a"}) == pytest.approx(2 / 3)  # chunks: two of three relevant
    assert recall(["a", "a", "x"], {"a", "b"}) == 0.5  # files: one of two found
    assert returned_precision(["a"], {"a"}) == 1.0  # fewer results than k: judged on what came back


def test_keyword_recall() -> None:
    assert keyword_recall("Use VFIO and IOMMU.", ["vfio", "iommu", "pcie"]) == pytest.approx(2 / 3)
    assert keyword_recall("anything", []) is None


def test_dataset_reports_bad_lines_by_number_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join([
        '{"question": "Which port?", "relevant_sources": ["ports.md"], "keywords": ["6333"]}',
        "{not json",
        '{"question": "   ", "relevant_sources": []}',
        '{"question": "Missing sources"}',
        "",
        '{"question": "Off topic?", "relevant_sources": [], "reference_answer": "none"}',
        '{"question": "x", "relevant_sources": ["a"], "extra": 1}',
    ]) + "\n")
    dataset = load_dataset(path)
    assert [q.question for q in dataset.questions] == ["Which port?", "Off topic?"]
    assert [p.split(":")[0] for p in dataset.problems] == ["line 2", "line 3", "line 4", "line 7"]
    assert "not valid JSON" in dataset.problems[0] and "blank" in dataset.problems[1]
    assert "relevant_sources" in dataset.problems[2] and "extra" in dataset.problems[3]


def test_dataset_without_usable_questions_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q", "relevant_sources": []}\nnope\n')
    with pytest.raises(InvalidRequest, match="no question with relevant_sources.*line 2"):
        load_dataset(path)
    with pytest.raises(InvalidRequest, match="cannot read"):
        load_dataset(tmp_path / "missing.jsonl")


def test_lexical_faithfulness() -> None:
    context = ["Qdrant listens on port 6333 for REST and 6334 for gRPC."]
    answer = "Qdrant uses port 6334 for gRPC [Source: ports.md]. It was written by Microsoft in 1995."
    assert sentences(answer) == ["Qdrant uses port 6334 for gRPC.", "It was written by Microsoft in 1995."]
    assert lexical_faithfulness(answer, context, 0.6) == 0.5  # the first sentence only
    assert lexical_faithfulness(answer, [], 0.6) is None and lexical_faithfulness("", context, 0.6) is None


def rows(values: list[float], metric: str = "recall") -> list[dict]:
    return [{"question": f"q{i}", metric: v} for i, v in enumerate(values)]


def test_compare_calls_a_consistent_gain_a_win_and_noise_noise() -> None:
    [better] = [d for d in compare(rows([0.5] * 20), rows([0.8] * 19 + [0.5])) if d.metric == "recall"]
    assert better.verdict == "B better" and better.low > 0 and better.delta == pytest.approx(0.285)
    noisy_a, noisy_b = [0.2, 0.9, 0.4, 0.7, 0.1, 0.8] * 3, [0.9, 0.2, 0.7, 0.4, 0.8, 0.1] * 3
    [noise] = [d for d in compare(rows(noisy_a), rows(noisy_b)) if d.metric == "recall"]
    assert noise.verdict == "no clear difference" and noise.low < 0 < noise.high
    # lower is better for latency; questions missing on one side are left out
    [latency] = [d for d in compare(rows([100.0] * 10, "total_ms"), rows([80.0] * 9, "total_ms"))
                 if d.metric == "total_ms"]
    assert latency.verdict == "B better" and latency.questions == 9


def test_summary_and_config_names() -> None:
    settings = Settings()
    config = pipeline_config(settings, "m", top_k=3, chunk_size=512)
    assert config.collection.startswith("eval-512-128-") and config.top_k == 3 and config.retrieval == "hybrid"
    assert pipeline_config(settings, "m", collection="docs").collection == "docs"
    results = [QuestionResult("a", ["x"], ["x"], False, precision=1, recall=1, retrieval_ms=10, generation_ms=100,
                              total_ms=120, faithfulness_lexical=None),
               QuestionResult("b", ["y"], [], False, precision=0, recall=0, retrieval_ms=300, generation_ms=None,
                              total_ms=310, faithfulness_lexical=0.5),
               QuestionResult("c", [], [], True, refused=True, retrieval_ms=5, total_ms=6)]
    summary = summarise(results, config, settings)
    assert summary["precision_at_3"] == 0.5 and summary["off_topic_refused"] == 1.0
    assert summary["faithfulness_lexical"] == 0.5  # undefined scores are left out, never NaN
    assert summary["retrieval_within_budget"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["generation_avg_ms"] == 100  # only questions that generated
    assert "faithfulness_judge" not in summary


def test_pipeline_aliases_are_recognised() -> None:
    resolver = PipelineResolver(Settings())
    assert resolver.alias_in("rag-pipeline@champion") == "champion"
    assert resolver.alias_in("rag-pipeline@") is None and resolver.alias_in("smollm2") is None
    assert resolver.alias_in("other@champion") is None
