"""Chunk sizes against the embedder's window, on the Python documentation corpus (benchmarks/pydocs),
dev and test splits, at the default retrieval settings: how many chunks MiniLM's 256-token window
cuts, and the retrieval figures. Appended to docs/benchmarks.md.

    python benchmarks/retrieval_chunks.py
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

from tokenizers import Tokenizer

from aistack.container import Container
from aistack.embeddings.onnx import TOKENIZER
from aistack.evaluation.retrieval import evaluate, load_questions
from aistack.settings.model import Settings
from aistack.wire.knowledge import RetrievalOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_report, machine  # noqa: E402

PYDOCS = Path(__file__).resolve().parent / "pydocs"
SIZES = [(1024, 128), (768, 96), (512, 64)]  # (chunk_size, chunk_overlap): the seed's, then smaller
WINDOW = 256  # MiniLM's max_seq_length


def main() -> None:
    splits = {name: load_questions(PYDOCS / f"{name}.jsonl") for name in ("dev", "test")}
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    tokenizer.no_truncation()
    lines = [f"\n## Chunk sizes against MiniLM's window, Python documentation, {datetime.date.today()}", "",
             f"Machine: {machine()}. Defaults otherwise (hybrid, threshold 0.2, no margin). precision@5 is not "
             "comparable across sizes (smaller chunks: more of them per file to fill the top 5); hit@5 and MRR "
             "are, by file.", "",
             "| chunk size | chunks | over 256 tokens | split | precision@5 | hit@5 | MRR | off-topic refused |",
             "|---|---|---|---|---|---|---|---|"]
    for size, overlap in SIZES:
        container = Container(Settings(home=Path(tempfile.mkdtemp(prefix=f"chunks-{size}-")),
                                       ingest={"chunk_size": size, "chunk_overlap": overlap}))
        container.knowledge.ingestor.ingest_path("pydocs", PYDOCS / "corpus")
        texts = [p.text for p in container.store.points("pydocs")]
        cut = sum(1 for text in texts if len(tokenizer.encode(text).ids) > WINDOW)
        for split, questions in splits.items():
            r = evaluate(container.knowledge.retriever, questions, RetrievalOptions(collection="pydocs"))
            lines.append(f"| {size} | {len(texts)} | {cut} ({cut / len(texts):.0%}) | {split} | {r['precision@5']:.3f} | "
                         f"{r['hit@5']:.3f} | {r['mrr']:.3f} | {r['off_topic_refused']:.1f} |")
        container.store.close()
    report = "\n".join(lines)
    print(report)
    append_report(report)


if __name__ == "__main__":
    main()
