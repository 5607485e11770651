"""Knowledge: collections, ingest (loaders.py, chunking.py, ingest.py), retrieval (dense or
hybrid, rerank), the one RAG pipeline (pipeline.py) and the service over them all (service.py)."""
