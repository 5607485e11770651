"""The LLM judge on the real embedded model: whatever the answer, its schema-constrained output
parses and the score is a number in [0, 1] (never NaN, never a parse failure)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aistack.evaluation.judge import Judge
from aistack.llm import create_llm
from aistack.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
CONTEXT = ["Qdrant listens on port 6333 for REST and on port 6334 for gRPC. Snapshots go to S3 every night."]
ANSWERS = [
    "Qdrant uses port 6334 for gRPC [Source: ports.md].",
    "Qdrant uses port 6334 for gRPC. It was written by Microsoft in 1995. It runs only on Windows.",
    "I don't know.",
    "6333 6334 S3 nightly REST gRPC ports ports ports " * 8,
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def judge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Judge]:
    home = Path(tmp_path_factory.mktemp("judge"))
    settings = load_settings(environ={"AISTACK_PROFILES": "test", "AISTACK_HOME": str(home)})
    llm = create_llm(settings)
    await llm.start()
    yield Judge(llm, "smollm2-135m-instruct", settings.eval)
    await llm.close()


@pytest.mark.parametrize("answer", ANSWERS)
async def test_the_judge_always_returns_a_parsed_score(judge: Judge, answer: str) -> None:
    verdict = await judge.faithfulness(answer, CONTEXT)
    assert verdict.score is not None and not math.isnan(verdict.score) and 0.0 <= verdict.score <= 1.0
    assert verdict.note is None, verdict.note  # the claims came from the judge, not the fallback
    assert 1 <= len(verdict.claims) <= judge.settings.judge_max_claims
    assert len(verdict.supported) == len(verdict.claims)


async def test_nothing_to_judge_is_none_not_nan(judge: Judge) -> None:
    assert (await judge.faithfulness("An answer.", [])).score is None
    assert (await judge.faithfulness("", CONTEXT)).score is None
