"""Bucket and window arithmetic on integer milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.core.clock import bucket_start, from_ms, is_late, to_ms, window_buckets


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
