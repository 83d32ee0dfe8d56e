"""Event-time arithmetic on integer milliseconds: buckets, windows, lateness."""

from __future__ import annotations

from dataclasses import dataclass
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


EARLIEST_MS = 946_684_800_000
"""2000-01-01T00:00Z: no live-commerce event predates it; an earlier time is a default or a
typo (`0001-01-01`), refused before it can start an anchor's evaluation at that minute."""


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """How far an event's time may stray before it is refused (dead-lettered), not counted.

    A producer's clock can be wrong, and one record dated 2100 would otherwise move its
    partition's time there and blind every anchor on it."""

    future_ms: int
    """How far ahead of its record's own Kafka timestamp an event time may be."""
    max_age_ms: int
    """How far behind the latest event time of its topic on the partition an event may be
    before it is refused as `too_old` (a record that late is data gone wrong, not traffic:
    anything closer is counted as `late`, or in time)."""

    def judge(self, ts_ms: int, record_ms: int | None, reached_ms: int | None) -> str | None:
        """`future`, `too_old`, or None for an event time that may be used."""
        found = self.refusal(ts_ms, record_ms, reached_ms)
        return None if found is None else found[0]

    def refusal(
        self, ts_ms: int, record_ms: int | None, reached_ms: int | None
    ) -> tuple[str, str] | None:
        """(`future` or `too_old`, why, for a dead letter), or None for a usable event time.
        `reached_ms`: the latest event time of the record's topic on its partition."""
        if record_ms is not None and ts_ms > record_ms + self.future_ms:
            ahead_s = (ts_ms - record_ms) / 1000
            return "future", (
                f"event time {from_ms(ts_ms).isoformat()} is {ahead_s:.0f} s ahead of its "
                f"record's timestamp {from_ms(record_ms).isoformat()} (the tolerance is "
                f"{self.future_ms // 1000} s: LIVEWATCH_FUTURE_TOLERANCE_S)"
            )
        if ts_ms < EARLIEST_MS:
            return "too_old", f"event time {from_ms(ts_ms).isoformat()} is before 2000"
        if reached_ms is not None and ts_ms < reached_ms - self.max_age_ms:
            behind_s = (reached_ms - ts_ms) / 1000
            return "too_old", (
                f"event time {from_ms(ts_ms).isoformat()} is {behind_s:.0f} s behind the latest "
                f"of its topic on its partition (the limit is {self.max_age_ms // 1000} s: "
                f"LIVEWATCH_MAX_EVENT_AGE_S)"
            )
        return None
