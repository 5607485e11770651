"""Slots: named upstream deployments (blue, green, or any name), kept in a state store that every
gateway instance reads. SQLite under the data home by default; PostgreSQL in production.

Every change is one transaction that also writes an audit row: who, when, what, from, to."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aistack.errors import Conflict, InvalidRequest, NotFound
from aistack.settings.redact import MASK
from aistack.sqlstore import SqlStore
from aistack.settings import Settings

STATES = ("stopped", "starting", "ready", "active", "draining", "failed")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # fullmatch: "$" would let a trailing newline through
VERSION = re.compile(r"[A-Za-z0-9._:+@-]{1,64}")  # written into nginx's config: no space, newline or ;
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS slots (
        name TEXT PRIMARY KEY, url TEXT NOT NULL, model TEXT, weight DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL, version TEXT, runtime TEXT NOT NULL, spec TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS slot_audit (
        seq INTEGER NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, slot TEXT,
        before TEXT, after TEXT)""",
    # the process behind a `process` slot, and the gateway that started it, so that a gateway
    # started after a crash can adopt or stop it (pids with their start times: a pid is reused)
    """CREATE TABLE IF NOT EXISTS slot_processes (
        name TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL, started BIGINT NOT NULL,
        owner_pid BIGINT NOT NULL, owner_started BIGINT NOT NULL)""",
]


@dataclass(frozen=True)
class SlotProcess:
    name: str
    host: str
    pid: int  # the slot's process group leader (its pid is the group id)
    started: int
    owner_pid: int  # the gateway that started it
    owner_started: int


@dataclass(frozen=True)
class Slot:
    name: str
    url: str  # OpenAI-compatible base URL, with /v1
    model: str | None = None  # the upstream's model name; None passes the client's through
    weight: float = 0.0  # share of traffic among active slots
    state: str = "stopped"
    version: str | None = None
    runtime: str = "external"  # external | process | compose
    spec: dict[str, Any] | None = None  # what the runtime needs (command, env, compose file)

    @property
    def serving(self) -> bool:
        return self.state == "active" and self.weight > 0

    def as_json(self) -> dict[str, Any]:
        """What the API and the audit trail show: env values are masked (they hold keys and
        passwords); the store keeps them, since the runtime needs them."""
        data = asdict(self)
        if data["spec"] and data["spec"].get("env"):
            data["spec"]["env"] = {name: MASK for name in data["spec"]["env"]}
        return data


def check_slot(slot: Slot) -> Slot:
    if not NAME.fullmatch(slot.name):
        raise InvalidRequest(f"slot name '{slot.name}': use 1-32 of a-z, 0-9, '-' and '_'", param="name")
    if slot.version is not None and not VERSION.fullmatch(slot.version):
        raise InvalidRequest(f"slot '{slot.name}': version must be 1-64 of letters, digits and ._:+@-",
                             param="version")
    if slot.weight < 0:
        raise InvalidRequest(f"slot '{slot.name}': weight must be 0 or more, not {slot.weight}", param="weight")
    if slot.state not in STATES:
        raise InvalidRequest(f"slot '{slot.name}': state must be one of {', '.join(STATES)}", param="state")
    if slot.runtime not in ("external", "process", "compose"):
        raise InvalidRequest(f"slot '{slot.name}': runtime must be external, process or compose", param="runtime")
    if not slot.url.startswith(("http://", "https://")):
        raise InvalidRequest(f"slot '{slot.name}': url must be http(s)://host:port/v1", param="url")
    return slot


def store_location(settings: Settings) -> str:
    """`deploy.store_url`, else SQLite under the data home."""
    return settings.deploy.store_url or str(settings.home / "deploy" / "state.db")


class SlotStore:
    """SQLite (a file path) or PostgreSQL (a postgresql:// URL), through aistack's SQL store."""

    def __init__(self, location: str | Path, connect_timeout: float = 5.0):
        """Nothing is read here: the tables are made by the first transaction (a store that is
        down at start-up must not stop the gateway)."""
        self.sql = SqlStore(location, "deploy", [SCHEMA], connect_timeout, lock_table="slots")
        self.location = self.sql.location

    def _transaction(self, write: bool = True) -> Any:
        return self.sql.transaction(write)

    @staticmethod
    def _row(row: tuple) -> Slot:
        name, url, model, weight, state, version, runtime, spec, _ = row
        return Slot(name, url, model, float(weight), state, version, runtime, json.loads(spec) or None)

    def _select(self, db: Any, name: str | None = None) -> list[Slot]:
        query = "SELECT name, url, model, weight, state, version, runtime, spec, updated_at FROM slots"
        rows = db.execute(query + " WHERE name = ?" if name else query + " ORDER BY name",
                          (name,) if name else ()).fetchall()
        return [self._row(r) for r in rows]

    def list(self) -> list[Slot]:
        with self._transaction(write=False) as db:
            return self._select(db)

    def get(self, name: str) -> Slot:
        with self._transaction(write=False) as db:
            return self._get(db, name)

    def _get(self, db: Any, name: str) -> Slot:
        found = self._select(db, name)
        if not found:
            raise NotFound(f"no slot '{name}'")
        return found[0]

    def _write(self, db: Any, slot: Slot, actor: str, action: str, before: Slot | None) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        db.execute("DELETE FROM slots WHERE name = ?", (slot.name,))
        db.execute("INSERT INTO slots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (slot.name, slot.url, slot.model, slot.weight, slot.state, slot.version, slot.runtime,
                    json.dumps(slot.spec or {}), now))
        self._audit(db, actor, action, slot.name, before, slot)

    @staticmethod
    def _audit(db: Any, actor: str, action: str, name: str, before: Slot | None, after: Slot | None) -> None:
        db.execute("INSERT INTO slot_audit SELECT COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ? FROM slot_audit",
                   (datetime.now(timezone.utc).isoformat(timespec="milliseconds"), actor, action, name,
                    json.dumps(before.as_json()) if before else None, json.dumps(after.as_json()) if after else None))

    def put(self, slot: Slot, actor: str) -> Slot:
        """Create or replace a slot's definition (its state and weight are kept when it exists)."""
        check_slot(slot)
        with self._transaction() as db:
            before = next(iter(self._select(db, slot.name)), None)
            if before is not None:
                slot = replace(slot, state=before.state, weight=before.weight)
            self._write(db, slot, actor, "define", before)
            return slot

    def update(self, name: str, actor: str, action: str, expect: tuple[str, ...] | None = None, **changes: Any) -> Slot:
        """Change fields of one slot; with `expect`, only from those states (else 409)."""
        with self._transaction() as db:
            before = self._get(db, name)
            if expect and before.state not in expect:
                raise Conflict(f"slot '{name}' is {before.state}; {action} needs it {' or '.join(expect)}")
            after = check_slot(replace(before, **changes))
            self._write(db, after, actor, action, before)
            return after

    def switch(self, to: str, actor: str) -> tuple[Slot, list[Slot]]:
        """In one transaction: `to` takes all traffic; the slots that served are set draining."""
        with self._transaction() as db:
            target = self._get(db, to)
            if target.state not in ("ready", "active"):
                raise Conflict(f"slot '{to}' is {target.state}: only a healthy slot can take traffic")
            old = [s for s in self._select(db) if s.name != to and s.state == "active"]
            for slot in old:
                self._write(db, replace(slot, state="draining", weight=0.0), actor, "switch-from", slot)
            after = replace(target, state="active", weight=1.0)
            self._write(db, after, actor, "switch-to", target)
            return after, old

    def delete(self, name: str, actor: str) -> None:
        with self._transaction() as db:
            before = self._get(db, name)
            if before.state in ("active", "draining", "starting"):
                raise Conflict(f"slot '{name}' is {before.state}: stop it before deleting it")
            db.execute("DELETE FROM slots WHERE name = ?", (name,))
            self._audit(db, actor, "delete", name, before, None)

    def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._transaction(write=False) as db:
            rows = db.execute("SELECT at, actor, action, slot, before, after FROM slot_audit "
                              "ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [{"at": at, "actor": actor, "action": action, "slot": slot,
                 "before": json.loads(before) if before else None, "after": json.loads(after) if after else None}
                for at, actor, action, slot, before, after in rows]

    def record_process(self, process: SlotProcess) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM slot_processes WHERE name = ?", (process.name,))
            db.execute("INSERT INTO slot_processes VALUES (?, ?, ?, ?, ?, ?)",
                       (process.name, process.host, process.pid, process.started, process.owner_pid,
                        process.owner_started))

    def forget_process(self, name: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM slot_processes WHERE name = ?", (name,))

    def processes(self) -> dict[str, SlotProcess]:
        with self._transaction(write=False) as db:
            rows = db.execute("SELECT name, host, pid, started, owner_pid, owner_started FROM slot_processes").fetchall()
        return {row[0]: SlotProcess(row[0], row[1], int(row[2]), int(row[3]), int(row[4]), int(row[5])) for row in rows}

    def previous_active(self) -> str | None:
        """The slot that served before the last switch (what rollback brings back)."""
        for entry in self.audit(1000):
            if entry["action"] == "switch-from":
                return entry["slot"]
        return None
