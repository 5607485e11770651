"""Evaluation: retrieval metrics on a development set (precision@k, recall@k, MRR, latency)."""
