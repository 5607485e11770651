"""The agent hand-off bus on the real Redis at 127.0.0.1:6379: one consumer per message, a
consumer SIGKILLed before its ack whose message another consumer takes over, and a poison message
moved to the dead-letter stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from aistack.agents.bus import Bus

pytestmark = pytest.mark.integration
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def stream() -> Iterator[str]:
    name = f"aistack-test:handoffs:{uuid.uuid4().hex}"
    yield name
    bus = Bus(REDIS, name, "agents", "cleanup")
    bus.redis.delete(name, bus.dead_letters)
    bus.close()


def test_each_hand_off_reaches_one_consumer(stream: str) -> None:
    a, b = Bus(REDIS, stream, "agents", "a"), Bus(REDIS, stream, "agents", "b")
    sent = {a.publish({"task": f"check node {i}"}) for i in range(6)}
    seen: list[str] = []
    for consumer in (a, b, a, b, a, b, a):
        for message in consumer.read(count=1, block=0.1):
            seen.append(message.id)
            consumer.ack(message)
    assert sorted(seen) == sorted(sent) and a.pending() == 0


def test_a_killed_consumers_message_is_taken_over(stream: str) -> None:
    publisher = Bus(REDIS, stream, "agents", "publisher")
    sent = publisher.publish({"task": "restart vllm", "from": "supervisor"})
    doomed = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from aistack.agents.bus import Bus\n"
        f"bus = Bus({REDIS!r}, {stream!r}, 'agents', 'doomed')\n"
        "[m] = bus.read(count=1, block=5)\n"
        "print(m.id, flush=True)\n"
        "time.sleep(60)  # dies here, before any ack\n")], stdout=subprocess.PIPE, text=True)
    assert doomed.stdout.readline().strip() == sent
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert publisher.pending() == 1
    rescuer = Bus(REDIS, stream, "agents", "rescuer", claim_idle=0.2)
    assert rescuer.read(block=0.1) == []  # nothing new: the message is pending, not lost
    time.sleep(0.3)
    [message] = rescuer.reclaim()
    assert (message.id, message.data["task"], message.deliveries) == (sent, "restart vllm", 2)
    rescuer.ack(message)
    assert rescuer.pending() == 0


def test_a_poison_message_goes_to_the_dead_letter_stream(stream: str) -> None:
    bus = Bus(REDIS, stream, "agents", "worker", claim_idle=0.05, max_deliveries=2)
    sent = bus.publish({"task": "always fails"})
    assert [m.id for m in bus.read(block=0.1)] == [sent]  # delivery 1, never acked
    time.sleep(0.1)
    assert [m.deliveries for m in bus.reclaim()] == [2]
    time.sleep(0.1)
    assert bus.reclaim() == []  # delivery 3 > max_deliveries: dead-lettered
    [(_, fields)] = bus.redis.xrange(bus.dead_letters)
    assert fields["id"] == sent and bus.pending() == 0
