"""What every bucket store does (in memory, or one Redis script shared by gateways): a burst,
then refusals with a truthful Retry-After, a refill at the sustained rate, a bucket per key, token
buckets that look without taking and charge an answer's usage after it, into debt if need be, and
period counters for budgets.

A backend's test subclasses BucketsContract and provides a `buckets` fixture (closed by it).
Refills use real time at a high rate (Redis keeps its own clock), so the suite takes about two
seconds."""

from __future__ import annotations

import time
import uuid

import pytest

from aistack.access.buckets import Buckets, Count, Take, add, take, used

pytestmark = pytest.mark.anyio


def key() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


class BucketsContract:
    @pytest.fixture
    def buckets(self):  # pragma: no cover - every backend provides it
        raise NotImplementedError

    async def test_a_burst_then_refusals_with_retry_after(self, buckets: Buckets) -> None:
        who = key()
        burst = [await take(buckets, who, 20, 30) for _ in range(25)]  # 20 at once, then 0.5 a second
        assert [d.allowed for d in burst] == [True] * 20 + [False] * 5
        assert [d.remaining for d in burst[:3]] == [19, 18, 17] and burst[19].remaining == 0
        assert burst[0].limit == 20
        assert 1.5 < burst[-1].retry_after <= 2.0 and burst[-1].retry_after_seconds == 2
        assert 35 < burst[-1].reset_seconds <= 40.0  # 20 tokens at 0.5/s

    async def test_the_bucket_refills_at_the_sustained_rate_and_never_past_the_burst(self, buckets: Buckets) -> None:
        who = key()  # two at once, two a second
        assert [(await take(buckets, who, 2, 120)).allowed for _ in range(3)] == [True, True, False]
        time.sleep(0.7)  # 1.4 tokens back: one request, not two (anything from 0.5 to 1 s would do)
        assert [(await take(buckets, who, 2, 120)).allowed for _ in range(2)] == [True, False]
        time.sleep(1.6)  # three tokens' worth: the bucket holds two
        assert [(await take(buckets, who, 2, 120)).allowed for _ in range(3)] == [True, True, False]

    async def test_every_key_has_its_own_bucket(self, buckets: Buckets) -> None:
        first, second = key(), key()
        assert (await take(buckets, first, 1, 1)).allowed and not (await take(buckets, first, 1, 1)).allowed
        assert (await take(buckets, second, 1, 1)).allowed

    async def test_a_token_bucket_looks_then_charges_usage_into_debt(self, buckets: Buckets) -> None:
        who = key()
        looked = [await take(buckets, who, 100, 100, cost=0) for _ in range(2)]
        assert looked[0].allowed and looked[1].remaining == 100  # looks only
        assert (await take(buckets, who, 100, 100, 150, force=True)).remaining == 0  # used more than was left
        refused = await take(buckets, who, 100, 100, cost=0)
        assert not refused.allowed and 29 < refused.retry_after <= 30.6  # 51 tokens at 100/min

    async def test_period_counters_add_up_per_key(self, buckets: Buckets) -> None:
        first, second = key(), key()
        assert await used(buckets, first) == 0
        assert await add(buckets, first, 120, 60) == 120 and await add(buckets, first, 5, 60) == 125
        assert await used(buckets, first) == 125 and await used(buckets, second) == 0

    async def test_one_step_stops_at_the_first_refusal_before_any_counter(self, buckets: Buckets) -> None:
        full, empty, counter = key(), key(), key()
        await take(buckets, empty, 1, 1)  # now empty
        decisions, values = await buckets.apply([Take(full, 5, 60), Take(empty, 1, 1), Take(full, 5, 60)],
                                                [Count(counter, 10, 60)])
        assert [d.allowed for d in decisions] == [True, False] and values == []
        assert await used(buckets, counter) == 0  # refused: nothing counted
        decisions, values = await buckets.apply([Take(full, 5, 60, cost=0)], [Count(counter, 10, 60), Count(counter)])
        assert decisions[0].remaining == 4 and values == [10, 10]
