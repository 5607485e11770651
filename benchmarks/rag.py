"""RAG benchmarks, appended to docs/benchmarks.md.

1. Ingestion throughput (chunks/s) on a generated mixed corpus (Markdown, text, PDF), aistack's
   pipeline on its default store (qdrant-edge) and on qdrant-client's local mode (the default
   until 2026-12), against the seed's own (LangChain DirectoryLoader + RecursiveCharacterTextSplitter,
   the same MiniLM model batched as the seed asks, batch_size=64, local mode). The corpus is cut
   into shards and the pipelines take turns shard by shard, so machine noise hits all alike. Then
   the same folder is ingested again (nothing changed).
2. Retrieval quality of both pipelines' collections on the development set (equal quality check).
3. Retrieval latency p50/p95 at 10k and 100k chunks (synthetic unit vectors and texts; the query
   is embedded for real), dense and hybrid.
4. End-to-end answer latency on the embedded SmolLM2 against the seed's budget (retrieval 200 ms,
   total 3 s), with time to first token.

    python benchmarks/rag.py [--corpus-mb 50] [--shards 10] [--sizes 10000,100000] [--answers 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
from common import append_report, machine  # noqa: E402

from aistack.container import Container  # noqa: E402
from aistack.evaluation.metrics import mean, percentile, recall, reciprocal_rank  # noqa: E402
from aistack.evaluation.retrieval import evaluate, load_questions  # noqa: E402
from aistack.llm.protocol import ChatCompletionRequest  # noqa: E402
from aistack.wire.knowledge import RetrievalOptions  # noqa: E402
from aistack.settings.model import Settings  # noqa: E402
from aistack.vectorstore import Point  # noqa: E402

DEVSET = ROOT / "benchmarks" / "devset"
MODEL = "smollm2-135m-instruct"


# --- corpus -------------------------------------------------------------------------------

def vocabulary() -> list[str]:
    words = set()
    for path in (DEVSET / "corpus").iterdir():
        words.update(w.strip(".,:;()`'\"") for w in path.read_text().split())
    return sorted(w for w in words if w.isalpha() and len(w) > 2)


def sentences() -> list[str]:
    """Real English prose: the sentences of the package descriptions installed beside aistack
    (random words embed 2.5x faster or slower than prose, so a made-up text would mislead)."""
    import re
    import site

    found = []
    for base in site.getsitepackages():
        for path in sorted(Path(base).glob("*.dist-info/METADATA")):
            for sentence in re.split(r"(?<=[.!?])\s+", path.read_text(errors="ignore")):
                sentence = " ".join(sentence.split())
                if 6 <= len(sentence.split()) <= 40 and sentence.isascii() and not any(ch in sentence for ch in "|=<>{}[]`#*\\"):
                    found.append(sentence)
    return found


def paragraph(rng: random.Random, pool: list[str]) -> str:
    return " ".join(rng.choice(pool) for _ in range(rng.randint(3, 7)))


def make_corpus(root: Path, megabytes: float, shards: int, seed: int = 7) -> list[Path]:
    """Files of about 100 KB: 60% Markdown with headings, 25% text, 15% PDF (by text bytes)."""
    from support.corpus import write_pdf

    rng = random.Random(seed)
    words = sentences()
    target = int(megabytes * 1024 * 1024)
    folders = [root / f"shard{n:02d}" for n in range(shards)]
    for folder in folders:
        folder.mkdir(parents=True)
    written, n = 0, 0
    while written < target:
        kind = rng.choices(["md", "txt", "pdf"], weights=[60, 25, 15])[0]
        size = 100_000 if kind != "pdf" else 30_000
        parts, length = [], 0
        while length < size:
            text = paragraph(rng, words)
            if kind == "md" and rng.random() < 0.2:
                text = f"## {' '.join(rng.choice(words).split()[:4]).title()}\n\n{text}"
            parts.append(text)
            length += len(text) + 2
        folder = folders[n % shards]
        if kind == "pdf":
            write_pdf(folder / f"doc{n:05d}.pdf", ["\n\n".join(parts[i : i + 4]) for i in range(0, len(parts), 4)])
        else:
            (folder / f"doc{n:05d}.{kind}").write_text(f"# Document {n}\n\n" + "\n\n".join(parts))
        written += length
        n += 1
    return folders


# --- the seed's pipeline ------------------------------------------------------------------

def st_style_encode(embedder, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The same MiniLM, run the way sentence-transformers' encode(batch_size=64) runs a model:
    texts sorted by length, batches of 64 padded to their longest, mean pooling, normalised."""
    ids = embedder._encode(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        group = order[start : start + batch_size]
        out[group] = embedder._run([ids[i] for i in group])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def seed_pipeline(folder: Path, client, collection: str, embedder) -> int:
    """ingestion.py + embedding_service.py from the seed, with the same loaders per type
    (TextLoader stands in for UnstructuredMarkdownLoader, which needs models downloaded at run
    time; it is the faster of the two, so the comparison favours the seed)."""
    import warnings

    warnings.filterwarnings("ignore")
    from langchain_community.document_loaders import (
        DirectoryLoader,
        PyPDFLoader,
        TextLoader,
    )
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from qdrant_client.models import PointStruct

    loaders = {".pdf": (PyPDFLoader, {}), ".txt": (TextLoader, {"encoding": "utf-8"}),
               ".md": (TextLoader, {"encoding": "utf-8"})}
    documents = []
    for ext, (loader_cls, kwargs) in loaders.items():
        loader = DirectoryLoader(str(folder), glob=f"**/*{ext}", loader_cls=loader_cls, loader_kwargs=kwargs,
                                 show_progress=False)
        documents.extend(loader.load())
    splitter = RecursiveCharacterTextSplitter(chunk_size=1024, chunk_overlap=128,
                                              separators=["\n\n", "\n", ". ", " ", ""], length_function=len)
    chunks = splitter.split_documents(documents)
    for i, chunk in enumerate(chunks):
        chunk.metadata["chunk_index"] = i
        chunk.metadata["char_count"] = len(chunk.page_content)
        chunk.metadata["filename"] = Path(chunk.metadata.get("source", "")).name
    texts = [c.page_content for c in chunks]
    vectors = st_style_encode(embedder, texts)
    points = [PointStruct(id=str(uuid.uuid5(uuid.NAMESPACE_DNS, hashlib.sha256(t.encode()).hexdigest())),
                          vector=v.tolist(), payload={"text": t, "source": c.metadata.get("source", ""),
                                                      "chunk_index": c.metadata["chunk_index"],
                                                      "metadata": c.metadata})
              for t, v, c in zip(texts, vectors, chunks)]
    client.upsert(collection_name=collection, points=points)
    return len(points)


def seed_collection(client, name: str, dimension: int) -> None:
    from qdrant_client.models import Distance, OptimizersConfigDiff, VectorParams

    client.create_collection(name, vectors_config=VectorParams(size=dimension, distance=Distance.COSINE),
                             optimizers_config=OptimizersConfigDiff(indexing_threshold=20000, memmap_threshold=50000))


# --- 1 and 2: ingestion -------------------------------------------------------------------

def ingestion(megabytes: float, shards: int) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    folders = make_corpus(work / "corpus", megabytes, shards)
    size = sum(p.stat().st_size for p in (work / "corpus").rglob("*") if p.is_file())
    files = sum(1 for p in (work / "corpus").rglob("*") if p.is_file())
    c = Container(Settings(home=work / "home"))
    local = Container(Settings.model_validate({"home": str(work / "home-local"),
                                               "vectorstore": {"qdrant": {"embedded": "local"}}}))
    client = QdrantClient(path=str(work / "seed-qdrant"))  # the seed's pipeline keeps qdrant-client's local mode
    shipped = Container(Settings.model_validate({"home": str(work / "home"),
                                                 "embeddings": {"onnx": {"quantize": "none"}}})).embedder
    embedders = {"seed": shipped, "seed-int8": c.embedder}  # the file as shipped; aistack's int8 run
    for name in embedders:
        seed_collection(client, name, c.embedder.dimension)
    times = {"aistack": 0.0, "aistack-local": 0.0, "seed": 0.0, "seed-int8": 0.0, "again": 0.0}
    chunks = {"aistack": 0, "aistack-local": 0, "seed": 0, "seed-int8": 0}
    for folder in folders:
        for name, container in (("aistack", c), ("aistack-local", local)):
            start = time.perf_counter()
            summary = container.knowledge.ingestor.ingest_path("bench", folder)
            times[name] += time.perf_counter() - start
            chunks[name] += sum(f.chunks for f in summary.files)
        for name, embedder in embedders.items():
            start = time.perf_counter()
            chunks[name] += seed_pipeline(folder, client, name, embedder)
            times[name] += time.perf_counter() - start
        print(f"{folder.name}: " + ", ".join(f"{k} {v:.0f}s" for k, v in times.items()), flush=True)
    for folder in folders:
        start = time.perf_counter()
        c.knowledge.ingestor.ingest_path("bench", folder)
        times["again"] += time.perf_counter() - start
    rate = {k: chunks[k] / times[k] for k in chunks}
    quality = ingestion_quality(work)
    c.store.close()
    local.store.close()
    client.close()
    return [
        f"Ingestion: {size / 1e6:.1f} MB in {files} files (Markdown, text, PDF; generated from real prose), "
        f"{shards} shards taken in turns by the pipelines. MiniLM ONNX, one thread. aistack on its default "
        "store (qdrant-edge) and on qdrant-client's local mode (the default until 2026-12); the seed's pipeline on "
        "local mode.",
        "",
        "| pipeline | chunks | seconds | chunks/s |",
        "|---|---|---|---|",
        f"| seed (LangChain loaders + splitter, encode batch_size=64), model file as shipped | {chunks['seed']} | {times['seed']:.1f} | {rate['seed']:.1f} |",
        f"| seed, with aistack's dynamic int8 run of the model | {chunks['seed-int8']} | {times['seed-int8']:.1f} | {rate['seed-int8']:.1f} |",
        f"| aistack, local mode | {chunks['aistack-local']} | {times['aistack-local']:.1f} | {rate['aistack-local']:.1f} |",
        f"| aistack | {chunks['aistack']} | {times['aistack']:.1f} | {rate['aistack']:.1f} |",
        f"| ratio aistack / aistack on local mode | | | **{rate['aistack'] / rate['aistack-local']:.2f}x** "
        "(target >= 2x) |",
        f"| ratio aistack / seed | | | **{rate['aistack'] / rate['seed']:.2f}x** (target >= 1.5x); "
        f"{rate['aistack'] / rate['seed-int8']:.2f}x against the seed on the int8 run |",
        f"| aistack again, nothing changed | 0 new | {times['again']:.1f} | {chunks['aistack'] / times['again']:.0f} checked/s |",
        "",
        *quality,
    ]


def ingestion_quality(work: Path) -> list[str]:
    """Both pipelines ingest the development corpus; dense top-5 without threshold on each."""
    c = Container(Settings(home=work / "quality"))
    questions = [q for q in load_questions(DEVSET / "questions.jsonl") if q.relevant]
    c.knowledge.ingestor.ingest_path("dev", DEVSET / "corpus")
    ours = evaluate(c.knowledge.retriever, questions, RetrievalOptions(collection="dev", retrieval="dense",
                                                             score_threshold=-1, score_margin=2))
    client = QdrantClient(path=str(work / "quality-seed"))
    seed_collection(client, "seed-dev", c.embedder.dimension)
    seed_pipeline(DEVSET / "corpus", client, "seed-dev", c.embedder)
    recalls, ranks = [], []
    for q in questions:
        hits = client.query_points("seed-dev", query=c.embedder.embed_query(q.question).tolist(), limit=5).points
        ranked = [h.payload["metadata"]["filename"] for h in hits]
        recalls.append(recall(ranked, q.relevant))
        ranks.append(reciprocal_rank(ranked, q.relevant))
    client.close()
    c.store.close()
    return [
        f"Equal quality: dense top-5 on the development set ({len(questions)} questions), no threshold:",
        "",
        "| collection built by | recall@5 | MRR |",
        "|---|---|---|",
        f"| seed pipeline | {mean(recalls):.3f} | {mean(ranks):.3f} |",
        f"| aistack | {ours['recall@5']:.3f} | {ours['mrr']:.3f} |",
    ]


# --- 0: embedding throughput ---------------------------------------------------------------

def embedding(passages: int = 96) -> list[str]:
    """200-word passages of real prose, one onnxruntime thread, taken in turns: the bundled file
    batched as sentence-transformers does (64, padded), the bundled file one passage per run, and
    aistack's default (dynamic int8, one passage per run)."""
    rng = random.Random(5)
    pool = sentences()
    texts = []
    for _ in range(passages):
        words: list[str] = []
        while len(words) < 200:
            words += rng.choice(pool).split()
        texts.append(" ".join(words[:200]))
    home = Path(tempfile.mkdtemp(prefix="rag-embed-"))
    plain = Container(Settings.model_validate({"home": str(home), "embeddings": {"onnx": {"quantize": "none"}}})).embedder
    fast = Container(Settings(home=home)).embedder
    ways = {"padded": lambda part: st_style_encode(plain, part), "plain": plain.embed_documents,
            "aistack": fast.embed_documents}
    timing = dict.fromkeys(ways, 0.0)
    for way in ways.values():
        way(texts[:4])
    for start in range(0, passages, 32):
        for name, way in ways.items():
            t = time.perf_counter()
            way(texts[start : start + 32])
            timing[name] += time.perf_counter() - t
    tokens = statistics.median(len(ids) for ids in fast._encode(texts))
    return [f"Embedding throughput: {passages} passages of 200 words of real prose (median {tokens:.0f} tokens "
            "after the 256 cut), all-MiniLM-L6-v2, one thread:", "",
            "| how | passages/s |", "|---|---|",
            f"| bundled file as shipped, batches of 64 padded (sentence-transformers' way) | {passages / timing['padded']:.1f} |",
            f"| bundled file as shipped, one passage per run | {passages / timing['plain']:.1f} |",
            f"| aistack default: dynamic int8, one passage per run | {passages / timing['aistack']:.1f} (target >= 30) |"]


# --- 2b: quality of each retrieval mode -----------------------------------------------------

def quality() -> list[str]:
    c = Container(Settings(home=Path(tempfile.mkdtemp(prefix="rag-quality-"))))
    c.knowledge.ingestor.ingest_path("dev", DEVSET / "corpus")
    questions = load_questions(DEVSET / "questions.jsonl")
    answerable = sum(1 for q in questions if q.relevant)
    lines = [f"Retrieval quality on the development set (benchmarks/devset: {answerable} questions with the "
             f"file that answers each, {len(questions) - answerable} off-topic ones):", "",
             "precision@5 is relevant chunks in the top 5 over min(5, the chunks the relevant files hold); "
             "returned precision is the seed's figure, the relevant share of what came back.", "",
             "| retrieval | threshold | margin | precision@5 | returned precision | hit@5 | recall@5 | MRR "
             "| off-topic refused | p50 | p95 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [("dense", "none", -1.0, 2.0), ("dense", "none", None, 2.0), ("dense", "none", None, None),
            ("hybrid", "none", None, None), ("dense", "late_interaction", None, None),
            ("hybrid", "late_interaction", None, None)]
    for mode, rerank, threshold, margin in rows:
        r = evaluate(c.knowledge.retriever, questions, RetrievalOptions(collection="dev", retrieval=mode, rerank=rerank,
                                                              score_threshold=threshold, score_margin=margin))
        name = mode + (" + rerank" if rerank != "none" else "")
        lines.append(f"| {name} | {'default' if threshold is None else threshold} | "
                     f"{'default' if margin is None else 'off'} | {r['precision@5']:.3f} | {r['returned_precision']:.3f} | "
                     f"{r['hit@5']:.3f} | {r['recall@5']:.3f} | "
                     f"{r['mrr']:.3f} | {r['off_topic_refused']:.1f} | {r['p50_ms']:.1f} ms | {r['p95_ms']:.1f} ms |")
    c.store.close()
    return lines


# --- 3: retrieval latency at scale ----------------------------------------------------------

def latency(sizes: list[int], queries: int = 100) -> list[str]:
    rng = np.random.default_rng(3)
    words = vocabulary()
    lines = ["Retrieval latency (embed the query + search embedded Qdrant, in process; synthetic unit vectors "
             "and texts; the 200 ms budget is the seed's):", "",
             "| chunks | dense p50 | dense p95 | hybrid p50 | hybrid p95 |", "|---|---|---|---|---|"]
    questions = [q.question for q in load_questions(DEVSET / "questions.jsonl")]
    for size in sizes:
        c = Container(Settings(home=Path(tempfile.mkdtemp(prefix="rag-latency-"))))
        c.store.create_collection("scale", 384, {"embedder": c.embedder.model})
        for start in range(0, size, 1000):
            vectors = rng.standard_normal((min(1000, size - start), 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            points = []
            for n, v in enumerate(vectors):
                text = " ".join(words[i] for i in rng.integers(0, len(words), 150))
                points.append(Point(str(uuid.uuid4()), v, text, {"source": f"s{(start + n) // 50}",
                                                                 "filename": "synthetic.txt"}))
            c.store.upsert("scale", points)
        row = [str(size)]
        for mode in ("dense", "hybrid"):
            times = []
            for n in range(queries):
                options = RetrievalOptions(collection="scale", retrieval=mode, score_threshold=-1)
                times.append(c.knowledge.retriever.retrieve(questions[n % len(questions)], options).milliseconds)
            row += [f"{percentile(times, 50):.1f} ms", f"{percentile(times, 95):.1f} ms"]
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
        c.store.close()
    return lines


# --- 4: end-to-end answers ------------------------------------------------------------------

def answers(count: int) -> list[str]:
    c = Container(Settings(home=Path(tempfile.mkdtemp(prefix="rag-answer-"))))
    c.knowledge.ingestor.ingest_path("dev", DEVSET / "corpus")
    questions = [q.question for q in load_questions(DEVSET / "questions.jsonl") if q.relevant][:count]

    async def run() -> list[tuple[float, float, float, int]]:
        await c.start()
        results = []
        for question in questions:
            request = ChatCompletionRequest.model_validate({
                "model": MODEL, "messages": [{"role": "user", "content": question}], "stream": True,
                "stream_options": {"include_usage": True}})
            start = time.perf_counter()
            first, tokens, retrieval_ms = 0.0, 0, 0.0
            async for chunk in await c.knowledge.pipeline.chat_stream(request, RetrievalOptions(collection="dev")):
                retrieval_ms = chunk.get("rag", {}).get("retrieval_ms", retrieval_ms)
                if chunk.get("choices") and chunk["choices"][0]["delta"].get("content") and not first:
                    first = time.perf_counter() - start
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
            results.append((retrieval_ms, first * 1000, (time.perf_counter() - start) * 1000, tokens))
        await c.close()
        return results

    results = asyncio.run(run())
    col = list(zip(*results))
    return [f"End-to-end answers ({len(results)} development-set questions, embedded SmolLM2-135M, 1 thread, "
            f"defaults: top_k 5, max_tokens {c.settings.rag.max_tokens}, {c.settings.rag.max_context_chars} context chars):",
            "", "| | p50 | p95 | budget |", "|---|---|---|---|",
            f"| retrieval | {percentile(list(col[0]), 50):.0f} ms | {percentile(list(col[0]), 95):.0f} ms | 200 ms |",
            f"| time to first token | {percentile(list(col[1]), 50):.0f} ms | {percentile(list(col[1]), 95):.0f} ms | |",
            f"| total | {percentile(list(col[2]), 50):.0f} ms | {percentile(list(col[2]), 95):.0f} ms | 3000 ms |",
            f"| tokens generated | {statistics.median(col[3]):.0f} | {max(col[3])} (max) | |"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus-mb", type=float, default=50)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--answers", type=int, default=10)
    parser.add_argument("--skip", default="", help="comma list of: embedding,ingestion,quality,latency,answers")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    lines = [f"## rag.py, {datetime.date.today()}", "", f"Machine: {machine()}.", ""]
    if "embedding" not in skip:
        lines += embedding() + [""]
    if "quality" not in skip:
        lines += quality() + [""]
    if "answers" not in skip:
        lines += answers(args.answers) + [""]
    if "latency" not in skip:
        lines += latency([int(s) for s in args.sizes.split(",")]) + [""]
    if "ingestion" not in skip:
        lines += ingestion(args.corpus_mb, args.shards) + [""]
    report = "\n".join(lines)
    print(report)
    if not args.no_append:
        append_report(report)


if __name__ == "__main__":
    main()
