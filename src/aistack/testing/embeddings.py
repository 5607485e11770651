"""What every embedder does: a fixed dimension, unit vectors, a query embedded as the same text
in a batch would be, neighbours that change nothing, meaning before wording, and a token count.
A backend's test subclasses EmbedderContract and provides an `embedder` fixture."""

from __future__ import annotations

import numpy as np

from aistack.embeddings import Embedder

TEXTS = ["How do I enable IOMMU for GPU passthrough?", "Qdrant answers gRPC on port 6334.",
         "The on-call rotation changes every Monday.", "Bananas are yellow."]
PARAPHRASE = "Turning on IOMMU so a GPU can be passed through to a VM"


class EmbedderContract:
    def test_vectors_have_the_dimension_and_unit_length(self, embedder: Embedder) -> None:
        vectors = embedder.embed_documents(TEXTS)
        assert vectors.shape == (len(TEXTS), embedder.dimension) and embedder.dimension > 0
        assert vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    def test_no_text_is_an_empty_matrix(self, embedder: Embedder) -> None:
        assert embedder.embed_documents([]).shape == (0, embedder.dimension)

    def test_a_query_is_embedded_as_the_same_document(self, embedder: Embedder) -> None:
        query = embedder.embed_query(TEXTS[0])
        assert query.shape == (embedder.dimension,)
        assert float(query @ embedder.embed_documents([TEXTS[0]])[0]) > 0.999

    def test_neighbours_in_a_batch_change_nothing(self, embedder: Embedder) -> None:
        batch = embedder.embed_documents(TEXTS)
        alone = embedder.embed_documents([TEXTS[2]])[0]
        assert float(batch[2] @ alone) > 0.999

    def test_meaning_ranks_before_wording(self, embedder: Embedder) -> None:
        scores = embedder.embed_documents(TEXTS) @ embedder.embed_query(PARAPHRASE)
        assert int(np.argmax(scores)) == 0, scores

    def test_tokens_are_counted(self, embedder: Embedder) -> None:
        one, both = embedder.count_tokens(TEXTS[:1]), embedder.count_tokens(TEXTS[:2])
        assert 0 < one < both
