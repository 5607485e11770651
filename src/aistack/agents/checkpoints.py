"""Where runs are checkpointed after every node: SQLite under the data home by default,
PostgreSQL in production (the seed's choice), so a killed run resumes where it stopped."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aistack.registry import MissingDependency
from aistack.settings import Settings


@dataclass
class Checkpoints:
    saver: Any
    where: str
    closing: Any

    def close(self) -> None:
        self.closing.close()


def open_checkpoints(settings: Settings) -> Checkpoints:
    target = settings.agents.checkpoints
    if target and target.startswith(("postgresql://", "postgres://")):
        return _postgres(target)
    path = Path(target) if target else settings.home / "agents" / "checkpoints.sqlite"
    return _sqlite(path)


def _sqlite(path: Path) -> Checkpoints:
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError:
        raise MissingDependency("SQLite checkpoints need langgraph-checkpoint-sqlite: pip install 'aistack[agents]'") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")  # the CLI can read while a gateway writes
    saver = SqliteSaver(connection)
    saver.setup()
    return Checkpoints(saver, str(path), connection)


def _postgres(url: str) -> Checkpoints:
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool
    except ImportError:
        raise MissingDependency("PostgreSQL checkpoints need langgraph-checkpoint-postgres: "
                                "pip install 'aistack[agents]'") from None
    pool = ConnectionPool(url, min_size=1, max_size=8, open=True, timeout=10,
                          kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
    saver = PostgresSaver(pool)
    saver.setup()
    return Checkpoints(saver, url.split("@")[-1], pool)
