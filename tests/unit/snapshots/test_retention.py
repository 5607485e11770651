from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from aistack.snapshots.retention import to_keep

pytestmark = pytest.mark.unit


def test_seven_daily_and_four_weekly() -> None:
    start = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)  # a Friday
    nightly = [start - timedelta(days=n) for n in range(60)]
    items = [(when, when) for when in nightly] + [(start - timedelta(hours=1), "earlier the same night")]
    kept = to_keep(items, daily=7, weekly=4)
    days = {start - timedelta(days=n) for n in range(7)}
    # newest of each of the last 4 ISO weeks: this week's is today's; then the Sundays before it
    sundays = {datetime(2026, 11, d, 2, 0, tzinfo=timezone.utc) for d in (22, 15, 8)}
    assert kept == days | sundays
    assert "earlier the same night" not in kept


def test_zero_keeps_nothing_and_gaps_count_only_days_with_snapshots() -> None:
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    items = [(t, "a"), (t - timedelta(days=30), "b"), (t - timedelta(days=90), "c")]
    assert to_keep(items, 0, 0) == set()
    assert to_keep(items, 2, 0) == {"a", "b"}
