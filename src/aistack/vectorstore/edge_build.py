"""Builds one indexed qdrant-edge shard, in a process of its own: `EdgeShard.optimize()` holds
Python's interpreter lock for the whole HNSW build (17 s at 100k points here), which in the
gateway would stop every request. The parent exports the points (vectors.npy, points.jsonl),
runs `python -m aistack.vectorstore.edge_build <folder>`, and loads <folder>/shard when it exits 0."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

DENSE = "dense"
BATCH = 1000


def shard_config(dimension: int):  # type: ignore[no-untyped-def]
    import qdrant_edge as edge

    return edge.EdgeConfig(vectors={DENSE: edge.EdgeVectorParams(size=dimension, distance=edge.Distance.Cosine)})


def build(folder: Path) -> None:
    import qdrant_edge as edge

    vectors = np.load(folder / "vectors.npy")
    rows = [json.loads(line) for line in (folder / "points.jsonl").read_text().splitlines()]
    shard = edge.EdgeShard.create(str(folder / "shard"), shard_config(int(vectors.shape[1])))
    try:
        for start in range(0, len(rows), BATCH):
            shard.update(edge.UpdateOperation.upsert_points([
                edge.Point(row["id"], {DENSE: vectors[start + n].tolist()}, row["payload"])
                for n, row in enumerate(rows[start:start + BATCH])]))
        shard.update(edge.UpdateOperation.create_field_index("source", edge.PayloadSchemaType.Keyword))
        shard.optimize()
        shard.flush()
    finally:
        shard.close()


if __name__ == "__main__":
    build(Path(sys.argv[1]))
