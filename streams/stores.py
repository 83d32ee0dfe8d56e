"""Faust tables behind the core's store protocols.

Reads and writes go through the current event's partition (Faust routes table keys by the source
partition), so the shell sets the current event before calling the core; writes of anchor states
are buffered and flushed once per anchor per batch to keep changelog traffic small.
"""

from __future__ import annotations

from typing import Any

from streams.core.attribution import OrderRef
from streams.core.state import AnchorState


class TableStates:
    """Anchor states in a Faust table, behind a cache of live objects and a write buffer.

    The cache saves decoding an anchor's state for every event; it is only valid while this
    process owns the partitions, so the shell clears it on a rebalance. Writes are flushed once
    per anchor per batch (one changelog record each).
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.cache: dict[str, AnchorState] = {}
        self.dirty: set[str] = set()

    def get(self, anchor_id: str) -> AnchorState | None:
        cached = self.cache.get(anchor_id)
        if cached is not None:
            return cached
        raw = self.table.get(anchor_id)
        if raw is None:
            return None
        state = self.cache[anchor_id] = AnchorState.from_dict(raw)
        return state

    def put(self, state: AnchorState) -> None:
        self.cache[state.anchor_id] = state
        self.dirty.add(state.anchor_id)

    def flush(self) -> int:
        """Write buffered states to the table; returns how many."""
        for anchor_id in self.dirty:
            self.table[anchor_id] = self.cache[anchor_id].to_dict()
        count = len(self.dirty)
        self.dirty.clear()
        return count

    def evict(self, anchor_ids: set[str]) -> None:
        """Drop flushed states from the cache (anchors that went quiet)."""
        for anchor_id in anchor_ids - self.dirty:
            self.cache.pop(anchor_id, None)

    def clear(self) -> None:
        """Forget cached states (after a rebalance); buffered writes must be flushed first."""
        self.cache.clear()
        self.dirty.clear()


class TableOrders:
    """The order memory of the refund join, in a Faust table keyed by `order_id`."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, order_id: str) -> OrderRef | None:
        raw = self.table.get(order_id)
        return OrderRef.from_dict(raw) if raw is not None else None

    def put(self, order_id: str, ref: OrderRef) -> None:
        self.table[order_id] = ref.to_dict()


class DictStates:
    """Anchor states in a dict: replay and tests."""

    def __init__(self) -> None:
        self.data: dict[str, AnchorState] = {}

    def get(self, anchor_id: str) -> AnchorState | None:
        return self.data.get(anchor_id)

    def put(self, state: AnchorState) -> None:
        self.data[state.anchor_id] = state


class DictOrders:
    """The order memory in a dict: replay and tests."""

    def __init__(self) -> None:
        self.data: dict[str, OrderRef] = {}

    def get(self, order_id: str) -> OrderRef | None:
        return self.data.get(order_id)

    def put(self, order_id: str, ref: OrderRef) -> None:
        self.data[order_id] = ref
