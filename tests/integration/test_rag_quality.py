"""Retrieval quality on the development set (benchmarks/devset): the defaults keep the seed's
target on the seed's metric, precision@5 is the honest one, and each optional stage (hybrid,
reranking) must not make the ranking worse."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistack.container import Container
from aistack.errors import InvalidRequest
from aistack.evaluation.retrieval import evaluate, load_questions
from aistack.wire.knowledge import RetrievalOptions
from aistack.settings.model import Settings

pytestmark = pytest.mark.integration
DEVSET = Path(__file__).parents[2] / "benchmarks" / "devset"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory):
    c = Container(Settings(home=tmp_path_factory.mktemp("devset")))
    c.knowledge.ingestor.ingest_path("dev", DEVSET / "corpus")
    yield c, load_questions(DEVSET / "questions.jsonl")
    c.store.close()


def test_devset_has_thirty_questions_or_more(dev) -> None:
    _, questions = dev
    assert sum(1 for q in questions if q.relevant) >= 30
    names = {p.name for p in (DEVSET / "corpus").iterdir()}
    assert all(q.relevant <= names for q in questions)


def test_the_python_docs_splits_are_disjoint_and_name_real_files() -> None:
    """benchmarks/pydocs: the corpus nobody here wrote (benchmarks/retrieval_pydocs.py reports it)."""
    pydocs = DEVSET.parent / "pydocs"
    names = {p.name for p in (pydocs / "corpus").iterdir()}
    dev, test = (load_questions(pydocs / f"{split}.jsonl") for split in ("dev", "test"))
    assert {q.question for q in dev}.isdisjoint(q.question for q in test)
    assert all(q.relevant <= names for q in dev + test)
    assert sum(1 for q in dev if q.relevant) >= 30 and sum(1 for q in test if q.relevant) >= 30
    assert {p.suffix for p in (pydocs / "corpus").iterdir()} == {".md", ".txt", ".pdf"}


def test_defaults_on_the_development_set(dev) -> None:
    """precision@5 (relevant chunks in the top 5 over min(5, the chunks the relevant files hold))
    at the defaults, which were chosen on the Python-docs dev split (no score margin); the floor
    guards against a regression. The seed's target (0.75) was for its own metric, the relevant
    share of what came back, which the old 0.1 margin reached by returning fewer chunks."""
    c, questions = dev
    report = evaluate(c.knowledge.retriever, questions, RetrievalOptions(collection="dev"))
    assert report["precision@5"] >= 0.65
    assert report["hit@5"] >= 0.95 and report["recall@5"] >= 0.95
    assert report["off_topic_refused"] == 1.0
    seeds = evaluate(c.knowledge.retriever, questions, RetrievalOptions(collection="dev", score_margin=0.1))
    assert seeds["returned_precision"] > 0.75


def test_precision_at_5_is_not_raised_by_returning_less(dev) -> None:
    """The score margin drops hits far below the best one: the seed's metric rises with it,
    precision@5 does not."""
    c, questions = dev
    margin = evaluate(c.knowledge.retriever, questions, RetrievalOptions(collection="dev", score_margin=0.1))
    none = evaluate(c.knowledge.retriever, questions, RetrievalOptions(collection="dev"))
    assert margin["returned_precision"] > none["returned_precision"]
    assert margin["precision@5"] <= none["precision@5"]


def test_hybrid_and_reranking_improve_the_ranking(dev) -> None:
    c, questions = dev
    mrr = {(mode, rerank): evaluate(c.knowledge.retriever, questions, RetrievalOptions(
        collection="dev", retrieval=mode, rerank=rerank))["mrr"]
        for mode in ("dense", "hybrid") for rerank in ("none", "late_interaction")}
    assert mrr[("hybrid", "none")] > mrr[("dense", "none")]
    assert mrr[("dense", "late_interaction")] > mrr[("dense", "none")]


def test_margin_trims_weak_hits(dev) -> None:
    c, _ = dev
    question = "Which port does Qdrant use for gRPC?"
    loose = c.knowledge.retriever.retrieve(question, RetrievalOptions(collection="dev", score_margin=2)).hits
    tight = c.knowledge.retriever.retrieve(question, RetrievalOptions(collection="dev", score_margin=0.05)).hits
    assert len(tight) < len(loose) and all(h.score >= tight[0].score - 0.05 for h in tight)


def test_reranking_needs_token_embeddings(dev) -> None:
    c, _ = dev

    class PooledOnly:
        name, model, dimension = "openai", "all-MiniLM-L6-v2", 384

        def embed_query(self, text: str):
            return c.embedder.embed_query(text)

    from aistack.knowledge.retrieve import Retriever

    retriever = Retriever(c.settings, PooledOnly(), c.store)
    with pytest.raises(InvalidRequest, match="late_interaction reranking needs token embeddings"):
        retriever.retrieve("Which port does Qdrant use?", RetrievalOptions(collection="dev", rerank="late_interaction"))
