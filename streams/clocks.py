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
"""How long a topic whose end offset is not known yet may hold back a partition."""


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

    def observe(self, topic: str, offset: int, ts_ms: int | None) -> None:
        """Record that `offset` of `topic` was processed, whatever became of it: a record that
        was dead-lettered (`ts_ms` None) has been read all the same, and a topic whose last
        record was bad must not look as if it still had records waiting."""
        self.last_offset[topic] = offset
        if ts_ms is not None and ts_ms > self.topic_time.get(topic, ts_ms - 1):
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
            if end is None:
                if topic not in self.last_offset and now_s - self.since < MAX_IDLE_S:
                    return None  # a topic we have not heard from may hold earlier events
                continue
            done = self.last_offset.get(topic)
            if done is None:
                done = (committed(topic) or 0) - 1
            if done + 1 >= end:
                continue  # caught up: it does not hold time back
            reached = self.topic_time.get(topic)
            if reached is None:
                return None  # records are waiting there and we do not know their time yet
            lagging.append(reached)
        if lagging:
            return min(lagging)
        return max(self.topic_time.values()) if self.topic_time else None

    def to_dict(self) -> dict[str, Any]:
        return {"tt": self.topic_time, "active": sorted(self.active)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PartitionClock:
        return cls(topic_time=dict(d["tt"]), active=set(d["active"]))
