"""Bucket and window arithmetic on integer milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.core.clock import (
    DAY_MS,
    TimeLimits,
    bucket_start,
    from_ms,
    is_late,
    to_ms,
    window_buckets,
)


@pytest.mark.parametrize(
    ("ts", "step", "start"),
    [
        (0, 60_000, 0),
        (59_999, 60_000, 0),  # last millisecond of the first bucket
        (60_000, 60_000, 60_000),  # a bucket's start belongs to it
        (-1, 60_000, -60_000),  # floor, not truncation, before the epoch
    ],
)
def test_bucket_start(ts: int, step: int, start: int) -> None:
    assert bucket_start(ts, step) == start


def test_window_buckets_end_is_exclusive() -> None:
    """A 10-minute window ending at minute 10 holds the buckets of minutes 0..9."""
    assert list(window_buckets(600_000, 600_000, 60_000)) == [i * 60_000 for i in range(10)]


@pytest.mark.parametrize(
    ("ts", "watermark", "late"),
    [
        (1000, None, False),  # nothing seen yet: nothing is late
        (700, 1000, False),  # exactly at the grace limit is on time
        (699, 1000, True),
        (2000, 1000, False),  # ahead of the watermark
    ],
)
def test_is_late(ts: int, watermark: int | None, late: bool) -> None:
    assert is_late(ts, watermark, grace_ms=300) is late


def test_ms_round_trip() -> None:
    moment = datetime(2026, 11, 29, 12, 0, 0, 123000, tzinfo=UTC)
    assert from_ms(to_ms(moment)) == moment


class TestTimeLimits:
    """Which event times are refused, and for what (one row per case)."""

    LIMITS = TimeLimits(future_ms=900_000, max_age_ms=7 * DAY_MS)
    NOW = to_ms(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))

    @pytest.mark.parametrize(
        ("ts", "record", "reached", "verdict"),
        [
            (NOW, NOW, NOW, None),
            (NOW + 900_000, NOW, None, None),  # exactly the tolerance ahead: taken
            (NOW + 900_001, NOW, None, "future"),
            (to_ms(datetime(2100, 1, 1, tzinfo=UTC)), NOW, NOW, "future"),  # a typo'd year
            (to_ms(datetime(2100, 1, 1, tzinfo=UTC)), None, NOW, None),  # no timestamp: no check
            (to_ms(datetime(1, 1, 1, tzinfo=UTC)), None, None, "too_old"),  # a default date
            (NOW - 7 * DAY_MS, NOW, NOW, None),  # as old as the order memory reaches
            (NOW - 7 * DAY_MS - 1, NOW, NOW, "too_old"),
            (NOW - 30 * DAY_MS, NOW, None, None),  # a partition's first record: nothing known
            (NOW - 30 * DAY_MS, NOW, NOW - 30 * DAY_MS, None),  # last month's, replayed now
        ],
    )
    def test_judge(self, ts: int, record: int | None, reached: int | None, verdict: str) -> None:
        assert self.LIMITS.judge(ts, record, reached) == verdict
