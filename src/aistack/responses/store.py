"""Stored responses (`store: true`, OpenAI's default): the response object, and the conversation
items that led to it, so that `previous_response_id` can continue it. SQLite under the data home,
or PostgreSQL (`responses.store_url`) when gateways share it. Rows older than
`responses.retention_days` are dropped as new ones are written."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aistack.sqlstore import SqlStore

MIGRATIONS = [[
    """CREATE TABLE IF NOT EXISTS responses (
        id TEXT PRIMARY KEY, team TEXT NOT NULL, owner TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        response TEXT NOT NULL, conversation TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS responses_created_at ON responses (created_at)",
]]


@dataclass(frozen=True)
class Stored:
    id: str
    team: str
    owner: str
    response: dict[str, Any]
    conversation: list[dict[str, Any]]  # the items before this response's output, its input last

    def history(self) -> list[dict[str, Any]]:
        """What a response continuing this one sees before its own input: the items, then the output."""
        return self.conversation + self.response.get("output", [])


class ResponseStore:
    """Blocking calls: the service runs them in worker threads."""

    def __init__(self, location: str, timeout: float, retention_days: float):
        self.sql = SqlStore(location, "responses", MIGRATIONS, connect_timeout=timeout)
        self.retention_seconds = retention_days * 86_400

    def put(self, stored: Stored) -> None:
        now = time.time()
        with self.sql.transaction() as db:
            db.execute("DELETE FROM responses WHERE created_at < ?", (now - self.retention_seconds,))
            db.execute("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                       (stored.id, stored.team, stored.owner, now, json.dumps(stored.response),
                        json.dumps(stored.conversation)))

    def get(self, response_id: str) -> Stored | None:
        cutoff = time.time() - self.retention_seconds
        with self.sql.transaction(write=False) as db:
            row = db.execute("SELECT id, team, owner, response, conversation FROM responses "
                             "WHERE id = ? AND created_at >= ?", (response_id, cutoff)).fetchone()
        if row is None:
            return None
        return Stored(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]))

    def delete(self, response_id: str) -> bool:
        with self.sql.transaction() as db:
            return db.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount > 0
