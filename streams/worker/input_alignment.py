"""Reading a partition's input topics side by side in time, as Kafka Streams does.

The consumer fetches every partition of every input topic at once, a megabyte at a time. In a
backlog the topics then drift apart in time: `refunds` and `complaints` hold a fraction of
`orders`' records, so a worker catching up on the `mix` backlog had read them to their end
while its orders were hours behind. Every refund then waited for its order (a record in the
waiting table and its tombstone, 0.4 changelog records per event), and the partition's
boundaries, which wait for its slowest topic, fell behind what it held. Results do not depend
on that order (every decision rests on the records' own times; the replay reads the same
events in another), so the batch consumer hands out each partition's input records in step:
a topic more than `SLACK_MS` ahead of the partition's slowest topic still being read waits
(its records are held, and it is not fetched meanwhile, so no more than a fetch is held).

Live traffic is rarely held: a topic read to its end constrains nothing (under
`read_committed`, its end is the last stable offset: a transaction still open holds nothing
back). Neither does one whose reading has not moved for `STALL_S`, so nothing waits on a
partition the broker stopped answering for. A producer's clock off by minutes only shifts
which records wait: the results do not depend on it. Records produced without event times
(CreateTime is when they were sent) are aligned by when they were sent, which is the order a
live worker would have read them in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

SLACK_MS = 60_000
"""How far (record timestamps) one input topic may run ahead of a partition's slowest one:
a step of the windows, so a held record waits at most for the boundary it would wait for."""
STALL_S = 5.0
"""A topic whose reading has not advanced for this long stops holding the others back. In a
backlog a partition's fetched megabyte lasts a few seconds of the worker's time: a topic
waiting on its next fetch is not stalled."""

NOT_READ = -(1 << 62)
"""The frontier of a topic with records to read and none taken yet (a first fetch on its
way): before any record, so its partition's other topics wait for it."""

K = TypeVar("K")


def timestamp(record: Any) -> int | None:
    """A record's Kafka timestamp in ms; None when it has none (a pre-0.10 message)."""
    ts = record.timestamp
    return ts if ts is not None and ts >= 0 else None


def split(
    in_hand: dict[K, list[Any]],
    group_of: Callable[[K], int],
    frontier: dict[K, int],
    constraining: Iterable[K],
    slack_ms: int = SLACK_MS,
) -> tuple[dict[K, list[Any]], dict[K, list[Any]]]:
    """Each topic partition's records in hand (offset order) split into those to hand out
    now and those to hold: in each group (a partition number, whose input topics a task reads
    together), the topics in `constraining` (records still to read, reading not stalled) set
    the limit, their least `frontier` (timestamp reached; none taken yet: before any) plus
    `slack_ms`, and every other topic hands out its longest prefix within it. The topic at the
    least frontier hands out everything, so every call moves the slowest topic on; records
    without a timestamp never wait."""
    low: dict[int, tuple[int, K]] = {}
    for key in constraining:
        reached = frontier.get(key, NOT_READ)
        group = group_of(key)
        known = low.get(group)
        if known is None or reached < known[0]:
            low[group] = (reached, key)
    deliver: dict[K, list[Any]] = {}
    hold: dict[K, list[Any]] = {}
    for key, records in in_hand.items():
        found = low.get(group_of(key))
        if found is None or found[1] == key:
            deliver[key] = records
            continue
        limit = found[0] + slack_ms
        cut = len(records)
        for i, record in enumerate(records):
            ts = timestamp(record)
            if ts is not None and ts > limit:
                cut = i
                break
        if cut:
            deliver[key] = records[:cut]
        if cut < len(records):
            hold[key] = records[cut:]
    return deliver, hold
