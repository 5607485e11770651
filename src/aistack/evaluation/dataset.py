"""Evaluation datasets: JSONL, one question per line.

    {"question": "...", "relevant_sources": ["gpu.md"], "reference_answer": "...", "keywords": ["vfio"]}

`relevant_sources` are file names; an empty list marks an off-topic question, which should
retrieve nothing. A malformed line is reported with its number and skipped; the run goes on with
the rest, and fails only when no question is usable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aistack.errors import InvalidRequest


class EvalQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    relevant_sources: list[str]
    reference_answer: str | None = None
    keywords: list[str] = Field(default_factory=list)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is blank")
        return value.strip()

    @property
    def relevant(self) -> set[str]:
        return set(self.relevant_sources)


@dataclass
class Dataset:
    path: Path
    questions: list[EvalQuestion] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line 7: ..." for every skipped line

    @property
    def answerable(self) -> list[EvalQuestion]:
        return [q for q in self.questions if q.relevant_sources]


def _problem(number: int, exc: ValidationError) -> str:
    reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
    return f"line {number}: {reasons}"


def load_dataset(path: Path) -> Dataset:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read dataset {path}: {exc}") from None
    dataset = Dataset(path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            dataset.questions.append(EvalQuestion.model_validate_json(line))
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "json_invalid":
                dataset.problems.append(f"line {number}: not valid JSON ({exc.errors()[0]['msg']})")
            else:
                dataset.problems.append(_problem(number, exc))
    if not dataset.answerable:
        found = f"{len(dataset.questions)} usable questions" + (
            f"; problems: {' | '.join(dataset.problems[:5])}" if dataset.problems else "")
        raise InvalidRequest(f"dataset {path} has no question with relevant_sources ({found})")
    return dataset

