"""Event-time arithmetic on integer milliseconds: buckets, windows, lateness."""

from __future__ import annotations

from datetime import UTC, datetime

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def bucket_start(ts_ms: int, step_ms: int) -> int:
    """Start of the step-aligned bucket that holds `ts_ms` (floor, also for negative times)."""
    return ts_ms - ts_ms % step_ms


def window_buckets(end_ms: int, size_ms: int, step_ms: int) -> range:
    """Bucket starts of the window [end - size, end); `end_ms` is bucket-aligned and exclusive."""
    return range(end_ms - size_ms, end_ms, step_ms)


def is_late(ts_ms: int, watermark_ms: int | None, grace_ms: int) -> bool:
    """An event is late when it is more than the grace period behind the watermark."""
    return watermark_ms is not None and ts_ms < watermark_ms - grace_ms
