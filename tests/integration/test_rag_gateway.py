"""The RAG API on `aistack serve` (embedded SmolLM2, MiniLM, embedded Qdrant), driven over HTTP
and by the official openai SDK: upload, cited answers, the chat-completions extension, errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from support.corpus import BROKEN, mixed_folder
from support.servers import ServerProcess

from aistack.testing.embeddings import EmbedderContract

pytestmark = [pytest.mark.integration]
MODEL = "smollm2-135m-instruct"
EMBEDDER = "all-MiniLM-L6-v2"


@pytest.fixture
def http(embedded_gateway: ServerProcess) -> httpx.Client:
    with httpx.Client(base_url=embedded_gateway.url, timeout=120) as client:
        yield client


@pytest.fixture
def sdk(embedded_gateway: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=embedded_gateway.url + "/v1", api_key="unused", max_retries=0)


def upload(http: httpx.Client, collection: str, root: Path) -> dict:
    files = [("files", (str(p), p.read_bytes())) for p in sorted(root.rglob("*")) if p.is_file()]
    response = http.post(f"/v1/collections/{collection}/documents", files=files)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def collection(http: httpx.Client, tmp_path: Path) -> tuple[str, Path]:
    name = f"docs-{uuid.uuid4().hex[:8]}"
    root = mixed_folder(tmp_path / "docs")
    upload(http, name, root)
    yield name, root
    http.delete(f"/v1/collections/{name}")


def test_upload_mixed_folder_counts_and_reasons(http: httpx.Client, tmp_path: Path) -> None:
    name = f"docs-{uuid.uuid4().hex[:8]}"
    root = mixed_folder(tmp_path / "docs")
    summary = upload(http, name, root)
    assert (summary["files"], summary["added"], summary["failed"]) == (8, 3, 5)
    reasons = {Path(r["source"]).name: r["reason"] for r in summary["results"] if r["status"] == "failed"}
    assert "unsupported file type '.docx'" in reasons.pop("notes.docx")
    assert {k: v.split(" (")[0] for k, v in reasons.items()}.keys() == BROKEN.keys()
    again = upload(http, name, root)
    assert (again["unchanged"], again["chunks_added"]) == (3, 0)
    docs = http.get(f"/v1/collections/{name}/documents").json()["data"]
    assert sorted(d["filename"] for d in docs) == ["gpu.txt", "ops.pdf", "ports.md"]
    assert http.get(f"/v1/collections/{name}").json()["points"] == sum(d["chunks"] for d in docs)


def test_answer_cites_the_file_that_holds_the_fact(http: httpx.Client, collection: tuple[str, Path]) -> None:
    name, _ = collection
    answer = http.post("/v1/rag/answer", json={"question": "Which port does Qdrant use for gRPC?",
                                               "collection": name, "temperature": 0}).json()
    assert answer["sources"][0]["filename"] == "ports.md"
    assert {"filename", "page", "chunk_id", "score"} <= set(answer["sources"][0])
    assert answer["rag"]["context_found"] and answer["usage"]["prompt_tokens"] > 0
    assert answer["answer"].strip()


def test_no_relevant_context_answers_without_the_llm(http: httpx.Client, collection: tuple[str, Path]) -> None:
    name, _ = collection
    answer = http.post("/v1/rag/answer", json={"question": "What is a good banana bread recipe?",
                                               "collection": name}).json()
    assert answer["sources"] == [] and answer["usage"]["total_tokens"] == 0
    assert "does not contain" in answer["answer"]


def test_openai_sdk_turns_rag_on_with_extra_body(sdk: openai.OpenAI, collection: tuple[str, Path]) -> None:
    name, _ = collection
    messages = [{"role": "user", "content": "How many weekly snapshots are kept?"}]
    reply = sdk.chat.completions.create(model=MODEL, messages=messages, max_tokens=32, temperature=0,
                                        extra_body={"rag": {"collection": name, "top_k": 2}})
    sources = reply.model_extra["sources"]
    assert sources[0]["filename"] == "ops.pdf" and sources[0]["page"] == 1 and len(sources) <= 2
    stream = sdk.chat.completions.create(model=MODEL, messages=messages, max_tokens=16, temperature=0, stream=True,
                                         extra_body={"rag": {"collection": name}})
    chunks = list(stream)
    assert chunks[0].model_extra["sources"][0]["filename"] == "ops.pdf"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_retrieve_with_filter(http: httpx.Client, collection: tuple[str, Path]) -> None:
    name, _ = collection
    body = {"query": "GPU passthrough IOMMU", "collection": name, "top_k": 3}
    hits = http.post("/v1/retrieve", json=body).json()["data"]
    assert hits[0]["filename"] == "gpu.txt" and "intel_iommu" in hits[0]["text"]
    filtered = http.post("/v1/retrieve", json={**body, "filter": {"filename": "ports.md"}}).json()["data"]
    assert {h["filename"] for h in filtered} <= {"ports.md"}


def test_documents_delete_one_by_one(http: httpx.Client, collection: tuple[str, Path]) -> None:
    name, root = collection
    source = str(root / "gpu.txt")
    deleted = http.request("DELETE", f"/v1/collections/{name}/documents", params={"source": source}).json()
    assert deleted["chunks_removed"] == 1
    docs = http.get(f"/v1/collections/{name}/documents").json()["data"]
    assert source not in {d["source"] for d in docs}
    again = http.request("DELETE", f"/v1/collections/{name}/documents", params={"source": source})
    assert again.status_code == 400


def test_raw_text_ingest_and_collection_settings(http: httpx.Client) -> None:
    name = f"notes-{uuid.uuid4().hex[:8]}"
    created = http.post("/v1/collections", json={"name": name, "score_threshold": 0.5, "top_k": 1})
    assert created.status_code == 201 and created.json()["metadata"]["score_threshold"] == 0.5
    assert http.post("/v1/collections", json={"name": name}).status_code == 409
    summary = http.post(f"/v1/collections/{name}/documents",
                        json={"text": "The on-call rotation changes every Monday at 09:00.", "title": "oncall.md"}).json()
    assert summary["added"] == 1
    hits = http.post("/v1/retrieve", json={"query": "When does the on-call rotation change?", "collection": name}).json()
    assert hits["top_k"] == 1 and hits["score_threshold"] == 0.5 and hits["data"][0]["filename"] == "oncall.md"
    assert http.delete(f"/v1/collections/{name}").status_code == 200
    assert http.get(f"/v1/collections/{name}").status_code == 404


@pytest.mark.parametrize("method, path, body, status, param", [
    ("POST", "/v1/collections", {"name": "x"}, 400, "collection"),
    ("POST", "/v1/collections", {"name": "ok-name", "bogus": 1}, 400, "bogus"),
    ("GET", "/v1/collections/does-not-exist", None, 404, None),
    ("POST", "/v1/retrieve", {"query": "x", "collection": "does-not-exist"}, 404, None),
    ("POST", "/v1/retrieve", {"query": ""}, 400, "query"),
    ("POST", "/v1/retrieve", {"query": "x", "top_k": 0}, 400, "top_k"),
    ("POST", "/v1/retrieve", {"query": "x", "filter": {"a": {"b": 1}}}, 400, None),
    ("POST", "/v1/rag/answer", {"question": "x", "retrieval": "magic"}, 400, "retrieval"),
    ("POST", "/v1/collections/docs-x/documents", {"path": "/etc"}, 403, None),
    ("POST", "/v1/collections/docs-x/documents", {"text": "a", "path": "/etc"}, 400, None),
    ("POST", "/v1/collections/docs-x/documents", {"text": "   "}, 400, "text"),
    ("POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                      "rag": {"top_k": "many"}}, 400, "rag.top_k"),
])
def test_bad_requests_get_openai_shaped_errors(http: httpx.Client, method: str, path: str, body: dict | None,
                                               status: int, param: str | None) -> None:
    response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and (param is None or error["param"] == param)
    assert http.get("/health").status_code == 200


def test_embeddings_endpoint_with_the_openai_sdk(sdk: openai.OpenAI, http: httpx.Client) -> None:
    result = sdk.embeddings.create(model=EMBEDDER, input=["GPU passthrough", "IOMMU groups", "banana bread"])
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert result.usage.prompt_tokens > 3
    floats = http.post("/v1/embeddings", json={"model": EMBEDDER, "input": "GPU passthrough",
                                               "encoding_format": "float"}).json()
    assert np.allclose(floats["data"][0]["embedding"], vectors[0], atol=1e-6)
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="text-embedding-3-small", input="x")
    for bad in ({"model": EMBEDDER, "input": []}, {"model": EMBEDDER, "input": [[1, 2]]},
                {"model": EMBEDDER, "input": ["ok", ""]}, {"model": EMBEDDER, "input": "x", "dimensions": 3}):
        assert http.post("/v1/embeddings", json=bad).status_code == 400


def test_openai_embedder_against_the_gateway_matches_the_bundled_one(embedded_gateway: ServerProcess) -> None:
    """The `openai` embeddings backend, pointed at a real /v1/embeddings (this gateway's), gives
    the vectors the bundled embedder gives in process."""
    from aistack.embeddings import create_embedder
    from aistack.settings.model import Settings

    settings = Settings.model_validate({"embeddings": {"backend": "openai", "batch_size": 2, "openai": {
        "base_url": embedded_gateway.url + "/v1", "model": EMBEDDER}}})
    remote, local = create_embedder(settings), create_embedder(Settings())
    texts = ["GPU passthrough", "IOMMU groups", "banana bread"]
    try:
        assert remote.dimension == 384
        assert np.allclose(remote.embed_documents(texts), local.embed_documents(texts), atol=1e-5)
        assert np.allclose(remote.embed_query("IOMMU"), local.embed_query("IOMMU"), atol=1e-5)
    finally:
        remote.close()
    broken = create_embedder(Settings.model_validate({"embeddings": {"backend": "openai", "openai": {
        "base_url": embedded_gateway.url + "/v1", "model": "nope"}}}))
    from aistack.errors import UpstreamRejected

    with pytest.raises(UpstreamRejected, match="does not exist") as raised:  # as the LLM client maps it
        broken.embed_query("x")
    assert raised.value.status == 404 and raised.value.code == "model_not_found"


@pytest.fixture(scope="module")
def remote_embedder(embedded_gateway: ServerProcess):
    from aistack.embeddings import create_embedder
    from aistack.settings.model import Settings

    embedder = create_embedder(Settings.model_validate({"embeddings": {"backend": "openai", "openai": {
        "base_url": embedded_gateway.url + "/v1", "model": EMBEDDER}}}))
    yield embedder
    embedder.close()


class TestOpenAIEmbedderThroughTheGateway(EmbedderContract):
    @pytest.fixture
    def embedder(self, remote_embedder):
        return remote_embedder
