"""Admission to the batching engine: sequences and KV-cache tokens, arrival order, 429 when the
wait queue is full, and nothing leaked by a caller that goes away while waiting."""

from __future__ import annotations

import asyncio

import pytest

from aistack.errors import QueueFull
from aistack.llm.admission import SequenceAdmission

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


async def hold(admission: SequenceAdmission, tokens: int, release: asyncio.Event, order: list[int], tag: int) -> None:
    async with admission.admit(tokens):
        order.append(tag)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_sequences_and_kv_tokens_both_bound_what_runs() -> None:
    admission = SequenceAdmission("m", parallel=3, kv_tokens=100, max_queue=8)
    release, order = asyncio.Event(), []
    tasks = [asyncio.create_task(hold(admission, tokens, release, order, i)) for i, tokens in enumerate([40, 40, 40])]
    await settle()
    assert order == [0, 1] and admission.running == 2 and admission.depth == 1  # 120 tokens do not fit 100
    assert admission.kv_reserved_ratio == 0.8
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2] and admission.running == 0 and admission.reserved == 0


async def test_waiters_go_in_arrival_order_and_a_small_one_does_not_overtake() -> None:
    admission = SequenceAdmission("m", parallel=4, kv_tokens=100, max_queue=8)
    first, order = asyncio.Event(), []
    running = asyncio.create_task(hold(admission, 90, first, order, 0))
    await settle()
    later = asyncio.Event()
    big = asyncio.create_task(hold(admission, 50, later, order, 1))
    await settle()
    small = asyncio.create_task(hold(admission, 5, later, order, 2))  # would fit, but 1 came first
    await settle()
    assert order == [0] and admission.depth == 2
    first.set()
    await settle()
    assert order == [0, 1, 2]
    later.set()
    await asyncio.gather(running, big, small)


async def test_a_full_wait_queue_is_a_429_with_retry_after() -> None:
    admission = SequenceAdmission("m", parallel=1, kv_tokens=100, max_queue=1)
    release, order = asyncio.Event(), []
    tasks = [asyncio.create_task(hold(admission, 10, release, order, i)) for i in range(2)]
    await settle()
    with pytest.raises(QueueFull) as refused:
        async with admission.admit(10):
            pass
    assert refused.value.headers() == {"Retry-After": "1"} and "1 requests are running" in str(refused.value)
    release.set()
    await asyncio.gather(*tasks)


async def test_a_caller_cancelled_while_waiting_leaves_nothing_behind() -> None:
    admission = SequenceAdmission("m", parallel=1, kv_tokens=100, max_queue=4)
    release, order = asyncio.Event(), []
    running = asyncio.create_task(hold(admission, 60, release, order, 0))
    await settle()
    gone = asyncio.create_task(hold(admission, 60, release, order, 1))
    await settle()
    gone.cancel()
    await settle()
    assert admission.depth == 0 and admission.reserved == 60
    release.set()
    await running
    assert gone.cancelled() and order == [0] and admission.running == 0 and admission.reserved == 0


async def test_prompt_cache_tokens_add_up() -> None:
    admission = SequenceAdmission("m", parallel=1, kv_tokens=10, max_queue=0)
    admission.prompt_cached({"cache_n": 30, "prompt_n": 4})
    admission.prompt_cached({})
    assert admission.prompt_cache_tokens == 30


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
