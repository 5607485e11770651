"""RAG: collections, retrieval (dense or hybrid), and answers that cite their sources."""
