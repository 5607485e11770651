"""sentence-transformers embedders, for models such as the seed's BAAI/bge-large-en-v1.5 on a GPU.

Needs `pip install 'aistack[sentence-transformers]'` (torch). Serving on the default embedder
never imports this module."""

from __future__ import annotations

import numpy as np
from sentence_transformers import SentenceTransformer

from aistack.embeddings.base import normalise
from aistack.settings import Settings
from aistack.settings.data import SentenceTransformersSettings


class SentenceTransformersEmbedder:
    name = "sentence_transformers"

    def __init__(self, config: SentenceTransformersSettings, batch_size: int = 32):
        self.st = SentenceTransformer(config.model, device=config.device)
        self.model = config.model
        self.query_prefix = config.query_prefix
        self.batch_size = batch_size
        get_dimension = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        self.dimension = int(get_dimension())

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceTransformersEmbedder:
        return cls(settings.embeddings.sentence_transformers, settings.embeddings.batch_size)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.st.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([self.query_prefix + text])[0]

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self.st.tokenizer(texts)["input_ids"])

    def close(self) -> None:
        pass
