"""Redis Streams as the message bus for asynchronous hand-offs between agents (the seed's
"Multi-Agent Communication Patterns").

A hand-off is written once (XADD) and read by one consumer of a group (XREADGROUP). It stays
pending until that consumer acknowledges it (XACK). If the consumer dies first, another one
takes the message over once it has been idle `claim_idle` seconds (XAUTOCLAIM), so no hand-off
is lost. A message delivered `max_deliveries` times without an ack is moved to a dead-letter
stream instead of looping forever.

A worker running a hand-off holds it (`holding`): a heartbeat re-claims the message every third of
`claim_idle`, so a live run (runs take minutes) is never taken over, and a lease on the run's
thread, refreshed by the same heartbeat, keeps any second delivery from resuming the thread while
it runs. A worker that dies stops its heartbeat: its message and lease expire, and another takes
over."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aistack.registry import MissingDependency


# KEYS[1] the lease, ARGV[1] its holder, ARGV[2] ms: refresh (or release, with 0) only one's own
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) == 0 then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


@dataclass(frozen=True)
class Message:
    id: str
    data: dict[str, Any]
    deliveries: int = 1


class Bus:
    def __init__(self, url: str, stream: str, group: str, consumer: str, claim_idle: float = 30.0,
                 max_deliveries: int = 5):
        try:
            import redis
        except ImportError:
            raise MissingDependency("the agent bus needs redis-py: pip install 'aistack[redis]'") from None
        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
        self.stream, self.group, self.consumer = stream, group, consumer
        self.dead_letters = stream + ":dead"
        self.claim_idle_ms = int(claim_idle * 1000)
        self.max_deliveries = max_deliveries
        try:
            self.redis.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # the group exists already: fine
                raise

    def publish(self, data: dict[str, Any]) -> str:
        return self.redis.xadd(self.stream, {"data": json.dumps(data)})

    def _messages(self, entries: list[Any]) -> list[Message]:
        return [Message(id_, json.loads(fields["data"])) for id_, fields in entries if fields]

    def read(self, count: int = 1, block: float = 1.0) -> list[Message]:
        """New messages for this consumer; each stays pending until ack()."""
        found = self.redis.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count,
                                      block=int(block * 1000))
        return self._messages(found[0][1]) if found else []

    def ack(self, message: Message) -> None:
        self.redis.xack(self.stream, self.group, message.id)

    def reclaim(self, count: int = 10) -> list[Message]:
        """Messages another consumer took and left unacknowledged for `claim_idle` seconds. Those
        delivered `max_deliveries` times go to the dead-letter stream instead."""
        _, entries, _ = self.redis.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                              start_id="0-0", count=count)
        claimed = []
        for message in self._messages(entries):
            info = self.redis.xpending_range(self.stream, self.group, min=message.id, max=message.id, count=1)
            deliveries = info[0]["times_delivered"] if info else 1
            if deliveries > self.max_deliveries:
                self.redis.xadd(self.dead_letters, {"data": json.dumps(message.data), "id": message.id})
                self.redis.xack(self.stream, self.group, message.id)
                continue
            claimed.append(Message(message.id, message.data, deliveries))
        return claimed

    @contextmanager
    def holding(self, message: Message, thread: str) -> Iterator[bool]:
        """True while this consumer holds `thread`'s lease (False: another worker is running it),
        with a heartbeat that keeps the message and the lease while the body runs."""
        lease, holder = f"{self.stream}:lease:{thread}", f"{self.consumer}:{uuid.uuid4().hex[:8]}"
        ttl = max(self.claim_idle_ms, 1000)
        if not self.redis.set(lease, holder, nx=True, px=ttl):
            yield False
            return
        renew = self.redis.register_script(RENEW)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(ttl / 3000):
                try:
                    self.redis.xclaim(self.stream, self.group, self.consumer, 0, [message.id], justid=True)
                    renew(keys=[lease], args=[holder, ttl])
                except Exception:  # noqa: BLE001 - Redis away for a moment: the next beat tries again
                    continue

        heart = threading.Thread(target=beat, daemon=True, name=f"hand-off-{thread}")
        heart.start()
        try:
            yield True
        finally:
            stop.set()
            heart.join()
            renew(keys=[lease], args=[holder, 0])

    def pending(self) -> int:
        return self.redis.xpending(self.stream, self.group)["pending"]

    def close(self) -> None:
        self.redis.close()
