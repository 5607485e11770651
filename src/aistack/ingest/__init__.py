"""Ingestion: load files (loaders.py), split them (chunking.py), embed and store (pipeline.py)."""
