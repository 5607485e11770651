"""`aistack eval`: a dataset through one pipeline configuration, scored per question.

Retrieval is scored against `relevant_sources`; answers by faithfulness (a lexical estimate
always, an LLM judge when asked) and keyword recall; every stage is timed against the seed's
budgets (200 ms retrieval, 2,500 ms generation, 3 s in all)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aistack.evaluation import metrics as m
from aistack.evaluation.dataset import Dataset, EvalQuestion
from aistack.evaluation.faithfulness import lexical_faithfulness
from aistack.evaluation.judge import Judge
from aistack.evaluation.retrieval import chunks_by_file
from aistack.knowledge.pipeline import Question
from aistack.wire.knowledge import RetrievalOptions

if TYPE_CHECKING:
    from aistack.knowledge.ingest import IngestSummary
    from aistack.knowledge.service import KnowledgeService
    from aistack.llm.base import LLMBackend
    from aistack.settings import Settings


class PipelineConfig(BaseModel):
    """Everything that decides an answer; logged as the run's params and pipeline.json."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    collection: str
    corpus: str | None = Field(None, description="Folder ingested into the collection before the run.")
    embedder: str
    llm_model: str
    chunk_size: int
    chunk_overlap: int
    top_k: int
    retrieval: Literal["dense", "hybrid"]
    rerank: Literal["none", "late_interaction"]
    score_threshold: float | None = None
    temperature: float
    max_tokens: int
    answers: bool = True
    judge: Literal["none", "llm"] = "none"
    judge_model: str | None = None

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def options(self) -> RetrievalOptions:
        return RetrievalOptions(collection=self.collection, top_k=self.top_k, retrieval=self.retrieval,
                                rerank=self.rerank, score_threshold=self.score_threshold)

    def question(self, text: str, seed: int | None = None) -> Question:
        """A question answered with this configuration's model, temperature and max_tokens."""
        return Question(text, self.llm_model, self.temperature, self.max_tokens, seed)


def embedder_name(settings: Settings) -> str:
    e = settings.embeddings
    model = {"onnx": e.onnx.model_name, "sentence_transformers": e.sentence_transformers.model,
             "openai": e.openai.model}[e.backend]
    return f"{e.backend}:{model}"


def pipeline_config(settings: Settings, model: str, collection: str | None = None, corpus: Path | None = None,
                    **overrides: Any) -> PipelineConfig:
    """The configuration from settings, with the CLI's overrides (None means: keep)."""
    rag, ingest = settings.rag, settings.ingest
    values: dict[str, Any] = {
        "embedder": embedder_name(settings), "llm_model": model, "chunk_size": ingest.chunk_size,
        "chunk_overlap": ingest.chunk_overlap, "top_k": rag.top_k, "retrieval": rag.retrieval,
        "rerank": rag.rerank, "temperature": rag.temperature, "max_tokens": rag.max_tokens,
        "judge": settings.eval.judge, "judge_model": settings.eval.judge_model or model,
        "corpus": str(corpus) if corpus else None,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    if collection is None:
        # one collection per chunking, so a sweep over chunk sizes never mixes them
        digest = hashlib.sha1(f"{values['embedder']}|{values['chunk_size']}|{values['chunk_overlap']}".encode())
        collection = f"eval-{values['chunk_size']}-{values['chunk_overlap']}-{digest.hexdigest()[:6]}"
    return PipelineConfig(collection=collection, **values)


@dataclass
class QuestionResult:
    question: str
    relevant_sources: list[str]
    retrieved: list[str]
    off_topic: bool
    precision: float | None = None  # precision@k: relevant in the top k over min(k, chunks they hold)
    returned_precision: float | None = None  # relevant share of what came back (the seed's figure)
    hit: float | None = None  # a relevant chunk in the top k
    recall: float | None = None
    mrr: float | None = None
    ndcg: float | None = None
    context_precision: float | None = None
    refused: bool | None = None  # off-topic questions: nothing retrieved
    answer: str | None = None
    faithfulness_lexical: float | None = None
    faithfulness_judge: float | None = None
    judge_note: str | None = None
    keyword_recall: float | None = None
    retrieval_ms: float = 0.0
    generation_ms: float | None = None  # None: nothing was generated (no answers, or no context)
    total_ms: float = 0.0


@dataclass
class EvalReport:
    config: PipelineConfig
    rows: list[QuestionResult]
    metrics: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ingest: dict[str, Any] | None = None

    def table(self) -> dict[str, list[Any]]:
        """Per-question results as columns (what mlflow.log_table takes)."""
        rows = [asdict(r) for r in self.rows]
        return {key: [row[key] for row in rows] for key in rows[0]} if rows else {}


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def summarise(rows: list[QuestionResult], config: PipelineConfig, settings: Settings) -> dict[str, float]:
    answerable = [r for r in rows if not r.off_topic]
    off_topic = [r for r in rows if r.off_topic]
    k = config.top_k
    found: dict[str, float | None] = {
        "questions": len(answerable), "off_topic_questions": len(off_topic),
        f"precision_at_{k}": _mean([r.precision for r in answerable]),
        "returned_precision": _mean([r.returned_precision for r in answerable]),
        f"hit_at_{k}": _mean([r.hit for r in answerable]),
        f"recall_at_{k}": _mean([r.recall for r in answerable]),
        "mrr": _mean([r.mrr for r in answerable]),
        f"ndcg_at_{k}": _mean([r.ndcg for r in answerable]),
        "context_precision": _mean([r.context_precision for r in answerable]),
        "off_topic_refused": _mean([float(bool(r.refused)) for r in off_topic]),
        "faithfulness_lexical": _mean([r.faithfulness_lexical for r in answerable]),
        "faithfulness_judge": _mean([r.faithfulness_judge for r in answerable]),
        "keyword_recall": _mean([r.keyword_recall for r in answerable]),
    }
    budgets = {"retrieval": settings.eval.retrieval_budget_ms, "generation": settings.eval.generation_budget_ms,
               "total": settings.eval.total_budget_ms}
    for stage, budget in budgets.items():
        if stage != "retrieval" and not config.answers:
            continue
        values = [v for r in rows if (v := getattr(r, f"{stage}_ms")) is not None]
        if not values:
            continue
        found[f"{stage}_avg_ms"] = m.mean(values)
        for q in (50, 95, 99):
            found[f"{stage}_p{q}_ms"] = m.percentile(values, q)
        found[f"{stage}_within_budget"] = sum(1 for v in values if v <= budget) / len(values)
    return {k: round(v, 4) for k, v in found.items() if v is not None}


class Evaluator:
    def __init__(self, settings: Settings, knowledge: KnowledgeService, llm: LLMBackend, config: PipelineConfig):
        self.settings, self.knowledge, self.llm, self.config = settings, knowledge, llm, config
        judge_model = config.judge_model or config.llm_model
        self.judge = Judge(llm, judge_model, settings.eval) if config.judge == "llm" else None
        self.chunks_by_file: dict[str, int] = {}  # filled from the collection when a run starts

    def ingest(self) -> IngestSummary | None:
        """Ingest the corpus into the collection with this configuration's chunking (unchanged
        files are skipped, so a second run costs little)."""
        if not self.config.corpus:
            return None
        ingestor = self.knowledge.ingestor_for(chunk_size=self.config.chunk_size, chunk_overlap=self.config.chunk_overlap)
        return ingestor.ingest_path(self.config.collection, Path(self.config.corpus))

    async def run(self, dataset: Dataset, progress: Callable[[QuestionResult], None] | None = None) -> EvalReport:
        summary = self.ingest()
        self.chunks_by_file = chunks_by_file(self.knowledge.retriever.store, self.config.collection)
        self.knowledge.retriever.embedder.embed_query("warm-up")  # model loading is not a question's latency
        rows = []
        for question in dataset.questions:
            rows.append(await self.one(question))
            if progress:
                progress(rows[-1])
        return EvalReport(self.config, rows, summarise(rows, self.config, self.settings), dataset.problems,
                          summary.as_dict() if summary else None)

    async def one(self, q: EvalQuestion) -> QuestionResult:
        started = time.perf_counter()
        retrieval = self.knowledge.retriever.retrieve(q.question, self.config.options())
        ranked = [h.payload.get("filename", "") for h in retrieval.hits]
        row = QuestionResult(q.question, q.relevant_sources, ranked, off_topic=not q.relevant_sources,
                             retrieval_ms=retrieval.milliseconds)
        if row.off_topic:
            row.refused = not ranked
        else:
            relevant = q.relevant
            k = self.config.top_k
            row.precision = m.precision_at_k(ranked, relevant, k, m.chunks_held(self.chunks_by_file, relevant))
            row.returned_precision, row.hit = m.returned_precision(ranked, relevant), m.hit_at_k(ranked, relevant, k)
            row.recall = m.recall(ranked, relevant)
            row.mrr, row.ndcg = m.reciprocal_rank(ranked, relevant), m.ndcg(ranked, relevant, self.config.top_k)
            row.context_precision = m.context_precision(ranked, relevant)
        contexts = await self._answer(q, retrieval, row) if self.config.answers else []
        row.total_ms = (time.perf_counter() - started) * 1000  # judging is not part of answering
        if self.judge and contexts and not row.off_topic:
            verdict = await self.judge.faithfulness(row.answer or "", contexts)
            row.faithfulness_judge, row.judge_note = verdict.score, verdict.note
        return row

    async def _answer(self, q: EvalQuestion, retrieval: Any, row: QuestionResult) -> list[str]:
        """Answer as the RAG pipeline does; returns the context passages the LLM saw."""
        rag = self.knowledge.pipeline
        request = rag.request(self.config.question(q.question, seed=0))
        body, used = rag.request_for(request, retrieval)
        if body is None:
            row.answer = rag.no_context_answer(retrieval)
            return []
        started = time.perf_counter()
        result = await self.llm.chat(body)
        row.generation_ms = (time.perf_counter() - started) * 1000
        row.answer = result["choices"][0]["message"]["content"] or ""
        contexts = [h.text for h in used]
        if not row.off_topic:
            row.faithfulness_lexical = lexical_faithfulness(row.answer, contexts, self.settings.eval.support_threshold)
            row.keyword_recall = m.keyword_recall(row.answer, q.keywords)
        return contexts
