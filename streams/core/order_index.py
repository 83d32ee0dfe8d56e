"""The order index: which anchor sold an order, for refunds that do not name the anchor.

A refund from an after-sales system is keyed by `order_id` and may carry no `anchor_id`; the
anchor's state lives on the anchor's partition. Like Kafka Streams' foreign-key join, each
order's anchor is re-published keyed by `order_id` (an index entry), the anchorless refund goes
to the same partition, and the two meet here; the refund then travels on, keyed by its anchor,
to the partition that owns the anchor (see `partition.PartitionTask`).

Every decision here depends on event times carried in the records, never on which of them
arrived first: entries come from every partition in whatever order the producers interleave
them, so "is the order known" is asked of the entry's *visible* time (when its partition read
it), and "did it never come" only once every partition has declared itself past the refund's
time plus the grace period (the index watermark).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from mypy_extensions import mypyc_attr

from streams.core.detector import Stats
from streams.core.facts import RefundFact


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class IndexEntry:
    anchor_id: str
    visible_ms: int
    """When the order's partition read it: its placement time, or later if read out of order."""

    def __init__(self, anchor_id: str, visible_ms: int) -> None:
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.anchor_id = anchor_id
        self.visible_ms = visible_ms


@mypyc_attr(acyclic=True)
@dataclass(frozen=True, slots=True)
class IndexedRefund:
    """A refund on its way to its order's anchor, and when its partition read it."""

    refund: RefundFact
    visible_ms: int

    @property
    def requested_ms(self) -> int:
        return self.refund.t

    @property
    def event_id(self) -> str:
        return self.refund.event_id


class IndexStore:
    """Entries and waiting refunds by `order_id` (a Faust table, or dicts in replay). A base
    class, not a protocol, as `attribution.OrderMemory`."""

    def entry(self, order_id: str) -> IndexEntry | None:
        raise NotImplementedError

    def put_entry(self, order_id: str, entry: IndexEntry) -> None:
        raise NotImplementedError

    def drop_entry(self, order_id: str) -> None:
        raise NotImplementedError

    def waiting(self, order_id: str) -> list[IndexedRefund]:
        raise NotImplementedError

    def set_waiting(self, order_id: str, refunds: list[IndexedRefund]) -> None:
        """Replace the refunds waiting for this order (an empty list forgets them)."""
        raise NotImplementedError


class DictIndex(IndexStore):
    """The index in plain dicts: the replay's, and the worker's tests'."""

    def __init__(self) -> None:
        self.entries: dict[str, IndexEntry] = {}
        self.refunds: dict[str, list[IndexedRefund]] = {}

    def entry(self, order_id: str) -> IndexEntry | None:
        return self.entries.get(order_id)

    def put_entry(self, order_id: str, entry: IndexEntry) -> None:
        self.entries[order_id] = entry

    def drop_entry(self, order_id: str) -> None:
        self.entries.pop(order_id, None)

    def waiting(self, order_id: str) -> list[IndexedRefund]:
        return self.refunds.get(order_id, [])

    def set_waiting(self, order_id: str, refunds: list[IndexedRefund]) -> None:
        if refunds:
            self.refunds[order_id] = refunds
        else:
            self.refunds.pop(order_id, None)


Forward = tuple[str, RefundFact, int]
"""(anchor id, the refund with the anchor filled in, visible time): for the anchor's
partition."""

MAX_WAITING = 16
"""Refunds that may wait for one order's entry; more are redeliveries or an order id reused
by mistake: counted as unattributed and dropped (`Stats.dropped["index_refunds"]`)."""


class OrderIndex:
    """Joins anchorless refunds to their order's anchor; one per partition."""

    def __init__(
        self,
        store: IndexStore,
        grace_ms: int,
        horizon_ms: int,
        stats: Stats,
    ) -> None:
        self.store = store
        self.grace_ms = grace_ms
        self.horizon_ms = horizon_ms
        self.stats = stats
        """The detector's: refunds that never met their order are counted `unattributed`; the
        others are counted where their anchor's partition attributes them."""
        self._expiry: list[tuple[int, str, bool]] = []
        """(deadline, order id, is a waiting refund): what `expire` forgets, in deadline order.
        In memory only: after a restart, older records leave the changelog by retention."""

    def _match(self, entry: IndexEntry | None, refund: IndexedRefund) -> bool:
        """Whether the entry is one the refund may be attributed by, whenever either arrived."""
        return (
            entry is not None
            and entry.visible_ms <= refund.visible_ms + self.grace_ms
            and refund.requested_ms - entry.visible_ms <= self.horizon_ms
        )

    def add_entry(self, order_id: str, entry: IndexEntry) -> list[Forward]:
        """Remember an order's anchor; refunds that waited for it go on."""
        if self.store.entry(order_id) is not None:
            return []  # the first entry wins (a redelivery carries the same one)
        self.store.put_entry(order_id, entry)
        heapq.heappush(
            self._expiry, (entry.visible_ms + self.horizon_ms + self.grace_ms, order_id, False)
        )
        waiting = self.store.waiting(order_id)
        if not waiting:
            return []
        self.store.set_waiting(order_id, [])
        forwards = [self._forward(entry, r) for r in waiting if self._match(entry, r)]
        self._unattributed(len(waiting) - len(forwards))  # an order read too late for them
        return forwards

    def add_refund(self, order_id: str, refund: IndexedRefund) -> list[Forward]:
        """Send the refund to its order's anchor, or hold it until the order's entry comes."""
        entry = self.store.entry(order_id)
        if self._match(entry, refund):
            assert entry is not None
            return [self._forward(entry, refund)]
        if entry is not None:  # known, but too long before or after the refund: never matches
            self._unattributed(1)
            return []
        waiting = self.store.waiting(order_id)
        if any(r.event_id == refund.event_id for r in waiting):
            self.stats.outcomes[("refunds", "duplicate")] += 1  # a redelivery
            return []
        if len(waiting) >= MAX_WAITING:
            self.stats.dropped["index_refunds"] += 1
            self._unattributed(1)
            return []
        self.store.set_waiting(order_id, [*waiting, refund])
        heapq.heappush(self._expiry, (refund.visible_ms + self.grace_ms, order_id, True))
        return []

    def expire(self, watermark_ms: int) -> None:
        """Forget what no record still to come can need: every partition has declared itself
        past `watermark_ms`, so entries yet to arrive are visible from then on."""
        while self._expiry and self._expiry[0][0] < watermark_ms:
            _, order_id, is_refund = heapq.heappop(self._expiry)
            if not is_refund:
                self.store.drop_entry(order_id)
                continue
            waiting = self.store.waiting(order_id)
            keep = [r for r in waiting if r.visible_ms + self.grace_ms >= watermark_ms]
            if len(keep) != len(waiting):
                self._unattributed(len(waiting) - len(keep))
                self.store.set_waiting(order_id, keep)

    def _unattributed(self, n: int) -> None:
        if not n:
            return
        self.stats.outcomes[("refunds", "ok")] += n
        self.stats.attribution["unattributed"] += n

    def _forward(self, entry: IndexEntry, refund: IndexedRefund) -> Forward:
        fact = refund.refund.for_anchor(entry.anchor_id)
        return entry.anchor_id, fact, max(refund.visible_ms, entry.visible_ms)
