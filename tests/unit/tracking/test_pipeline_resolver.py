"""Lookups of registered pipelines (`rag-pipeline@alias`) do not wait on each other: a cached alias
answers while another alias' MLflow lookup hangs, and one alias asked by many is looked up once.
MLflow itself is replaced here (control flow only; tests/integration/test_eval_tracking.py runs it)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from aistack.evaluation.runner import PipelineConfig
from aistack.settings import Settings
from aistack.tracking import mlflow as tracking_module
from aistack.tracking.pipelines import LOCK_STRIPES, PipelineResolver

pytestmark = pytest.mark.unit
CONFIG = PipelineConfig(collection="docs", embedder="e", llm_model="m", chunk_size=512, chunk_overlap=64, top_k=3,
                        retrieval="dense", rerank="none", temperature=0.0, max_tokens=32)


def test_a_hung_lookup_holds_up_neither_cached_aliases_nor_other_stripes(monkeypatch: pytest.MonkeyPatch) -> None:
    release, calls = threading.Event(), []

    class Tracking:
        def __init__(self, settings: Settings):
            pass

        def pipeline(self, alias: str) -> PipelineConfig:
            calls.append(alias)
            if alias == "slow":
                release.wait(10)
            return CONFIG

    monkeypatch.setattr(tracking_module, "Tracking", Tracking)
    resolver = PipelineResolver(Settings())
    resolver.resolve("cached")
    other = next(a for a in (f"a{i}" for i in range(100)) if hash(a) % LOCK_STRIPES != hash("slow") % LOCK_STRIPES)
    with ThreadPoolExecutor(4) as pool:
        hung = [pool.submit(resolver.resolve, "slow") for _ in range(3)]
        time.sleep(0.2)
        started = time.monotonic()
        assert resolver.resolve("cached") == CONFIG and resolver.resolve(other) == CONFIG
        assert time.monotonic() - started < 1
        release.set()
        assert all(f.result(timeout=10) == CONFIG for f in hung)
    assert calls.count("slow") == 1 and calls.count("cached") == 1  # asked three times, looked up once
