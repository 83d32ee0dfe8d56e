"""What the worker says about records read away from their anchor's partition.

Such records cost a hop through the internal topics (or, with `LIVEWATCH_ROUTING=anchor`, are
counted apart from their anchor's state). The producer's choices are the cause, and the fix is
theirs: so each (topic, reason) is counted, and the likely cause is logged with what to change,
at most once per `LOG_EVERY_S`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

import structlog

from streams.core.partition import Route

Reason = Literal["partitioner", "key", "no_key", "no_anchor"]
REASONS: tuple[Reason, ...] = ("partitioner", "key", "no_key", "no_anchor")

LOG_EVERY_S = 600.0
"""At most one log line per topic and reason in this time."""

CAUSES: dict[Reason, str] = {
    "partitioner": (
        "{topic} keyed by anchor_id arrive on partitions other than their anchor's: the "
        "producer's partitioner is not murmur2 (librdkafka clients, such as confluent-kafka, "
        "kcat and node-rdkafka, hash with CRC32 unless configured with "
        "partitioner=murmur2_random; Sarama hashes with FNV-1a)"
    ),
    "key": (
        "{topic} keyed by something other than anchor_id (order_id, buyer, a ticket id) arrive "
        "on partitions other than their anchor's"
    ),
    "no_key": "{topic} without a key land on any partition, mostly not their anchor's",
    "no_anchor": (
        "refunds that name no anchor_id are joined to their order's anchor through the order index"
    ),
}
COSTS = {
    Route.TO_ANCHOR: "each costs one hop through the internal topics; key them by anchor_id "
    "with a murmur2 partitioner to save it",
    Route.TO_INDEX: "each costs two hops through the internal topics; name the anchor_id in "
    "the refund to save one, and key by it (murmur2) to save both",
    Route.MISPLACED: "with LIVEWATCH_ROUTING=anchor they are counted where they land, apart "
    "from the rest of their anchor's state: set LIVEWATCH_ROUTING=any, or key them by "
    "anchor_id with a murmur2 partitioner",
}


def reason(route: Route, key: bytes | None, anchor_id: str | None) -> Reason:
    """Why a record is not on its anchor's partition, judged from its key."""
    if route is Route.TO_INDEX:
        return "no_anchor"
    if key is None:
        return "no_key"
    if anchor_id is not None and key == anchor_id.encode():
        return "partitioner"
    return "key"


class ForwardingReport:
    """Counts records read away from their anchor, and logs their likely cause now and then."""

    def __init__(self, log: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log if log is not None else structlog.get_logger("livewatch.worker")
        self.clock = clock
        self.forwarded: Counter[tuple[str, str]] = Counter()
        """(topic kind, reason) of records sent on to their anchor's partition."""
        self.misplaced: Counter[tuple[str, str]] = Counter()
        """(topic kind, reason) of records counted where they landed (routing off)."""
        self._last: dict[tuple[str, Reason, Route], tuple[float, int]] = {}
        """When each (topic, reason, route) was last logged, and its count then."""

    def note(self, kind: str, route: Route, key: bytes | None, anchor_id: str | None) -> None:
        """A record of `kind` that `route` says was not on its anchor's partition."""
        why = reason(route, key, anchor_id)
        counts = self.misplaced if route is Route.MISPLACED else self.forwarded
        counts[(kind, why)] += 1
        total = counts[(kind, why)]
        now = self.clock()
        slot = (kind, why, route)
        last = self._last.get(slot)
        if last is not None and now - last[0] < LOG_EVERY_S:
            return
        self._last[slot] = (now, total)
        say = self.log.warning if route is Route.MISPLACED else self.log.info
        say(
            "records_off_partition",
            topic=kind,
            reason=why,
            route=route.value,
            records=total,
            since_last=total - (last[1] if last is not None else 0),
            cause=CAUSES[why].format(topic=kind),
            remedy=COSTS[route],
        )
