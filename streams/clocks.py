"""Event time per partition: how far every input topic of a partition has certainly been read.

Faust reads the three input topics independently, so one may run ahead of another. A boundary
is evaluated only once every topic of the partition that still has records waiting has passed
it (a topic that is caught up does not hold time back). This is Kafka Streams' rule for
co-partitioned inputs, and it is what makes the worker agree with the offline replay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_IDLE_S = 10.0
"""How long a topic that has records but has delivered none yet may hold back a partition."""


@dataclass
class PartitionClock:
    """Read positions and event times of one partition number across the input topics."""

    topic_time: dict[str, int] = field(default_factory=dict)
    """Latest event time read per topic."""
    last_offset: dict[str, int] = field(default_factory=dict)
    """Last offset processed per topic in this process (not persisted)."""
    active: set[str] = field(default_factory=set)
    """Anchors of this partition whose boundaries still need evaluating."""
    since: float | None = None
    """Wall-clock second this process started reading the partition."""

    def observe(self, topic: str, offset: int, ts_ms: int) -> None:
        self.last_offset[topic] = offset
        if ts_ms > self.topic_time.get(topic, ts_ms - 1):
            self.topic_time[topic] = ts_ms

    def safe_time(
        self,
        topics: list[str],
        highwater: Callable[[str], int | None],
        committed: Callable[[str], int | None],
        now_s: float,
    ) -> int | None:
        """The event time up to which every topic with records waiting has been read.

        Args:
            topics: the input topics of this partition.
            highwater: the end offset of a topic's partition, None while unknown.
            committed: the group's committed offset there, None if none.
            now_s: wall-clock seconds, for the idle limit.
        """
        if self.since is None:
            self.since = now_s
        lagging: list[int] = []
        for topic in topics:
            end = highwater(topic)
            if topic in self.last_offset:
                if end is not None and self.last_offset[topic] + 1 < end:
                    lagging.append(self.topic_time[topic])
                continue
            waiting = end is None or end > (committed(topic) or 0)
            if waiting and now_s - self.since < MAX_IDLE_S:
                return None  # a topic we have not heard from may hold earlier events
        if lagging:
            return min(lagging)
        return max(self.topic_time.values()) if self.topic_time else None

    def to_dict(self) -> dict[str, Any]:
        return {"tt": self.topic_time, "active": sorted(self.active)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PartitionClock:
        return cls(topic_time=dict(d["tt"]), active=set(d["active"]))
