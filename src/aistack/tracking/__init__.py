"""Experiment tracking: MLflow runs for evaluations, and the registry of RAG pipelines."""
