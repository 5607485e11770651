"""Agents: so far the Redis Streams bus for hand-offs between agents (bus.py)."""
