"""Contract suites, one per seam, shipped with the library (haystack's habit): a backend's test
module subclasses the contract class and provides its fixtures, and passes what every backend of
that seam must do. They need pytest (the `dev` extra); nothing else in aistack imports them.

- llm.LLMContract: `backend` (started) and `model`;
- embeddings.EmbedderContract: `embedder`;
- vectorstore.VectorStoreContract: `store`;
- slotstore.SlotStoreContract: `store`;
- ratelimit.RateLimiterContract: `make_limiter(capacity, per_minute)`;
- tracking.TrackingContract: `tracking` (a Tracking on its store)."""
