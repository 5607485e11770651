"""Agents: LangGraph runs with tools, approvals and durable checkpoints.

- service.py: start, resume, approve or reject, and read back runs by thread id;
- graph.py, supervisor.py: the seed's agent graph and supervisor pattern;
- tools.py, builtin.py: typed tools with timeouts, and the seed's tools made safe;
- checkpoints.py: SQLite or PostgreSQL checkpoints, so a killed run resumes;
- bus.py, worker.py: Redis Streams hand-offs, run once by whichever worker claims them;
- model.py: the model a node calls, in process or through a gateway."""
