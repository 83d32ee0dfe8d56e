"""Faust tables behind the core's store protocols.

Reads and writes go through the current event's partition (Faust routes table keys by the source
partition), so the shell sets the current event before calling the core; writes of anchor states
are buffered and flushed once per batch, each record once, to keep changelog traffic small.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

import orjson
import structlog
from faust.stores.base import SerializedStore
from mypy_extensions import mypyc_attr

from streams.core.attribution import OrderMemory, OrderRef
from streams.core.detector import DetectorConfig, StateStore
from streams.core.facts import RefundFact, parked_fact
from streams.core.order_index import IndexedRefund, IndexEntry, IndexStore
from streams.core.partition import PartitionTask, Step
from streams.core.state import (
    DECODE_ERRORS,
    AnchorState,
    Bucket,
    PendingRefund,
    StateVersionError,
    bucket_key,
)
from streams.worker.faust_private import route_partition, store_decode, store_get

log = structlog.get_logger("livewatch.worker")


UNSET: Any = object()
"""`Sink.unlanded`'s answer for a key with no write in flight."""


@mypyc_attr(allow_interpreted_subclasses=True)
class Sink:
    """Where a store's writes go: `TableWriter` in the worker, the table itself in tests. A
    base class, not a protocol: compiled, a call through a base class is a direct call, where
    one through a protocol looks the method up by name (a read and a write or two per event)."""

    def put(self, table: Any, key: str, value: Any) -> None:
        raise NotImplementedError

    def delete(self, table: Any, key: str) -> None:
        raise NotImplementedError

    def unlanded(self, table: Any, key: str) -> Any:
        """A value of `key` written and not yet in `table`'s store (None: deleted), read
        before the store; `UNSET` when there is none (see `table_writes`)."""
        raise NotImplementedError


T = TypeVar("T")


class StorageError(Exception):
    """A table's store failed to read (a RocksDB error, a Faust API that moved): not the
    record's fault, so the worker exits for its supervisor instead of dead-lettering every
    record of the partition and committing them (see `app.INFRASTRUCTURE`)."""


_SERIALIZED: dict[type, bool] = {}


def serialized(store: Any) -> bool:
    """Whether a table's store keeps records as bytes under encoded keys (RocksDB), rather than
    values in a dict (the memory store). Asked for every table read and write: the answer is
    kept per store class, as an `isinstance` against Faust's abstract class was 1-2% of the
    worker, and here, compiled, not in `faust_private`, as the call into interpreted code
    cost as much again."""
    kind = type(store)
    found = _SERIALIZED.get(kind)
    if found is None:
        found = _SERIALIZED[kind] = isinstance(store, SerializedStore)
    return found


def memory_dict(store: Any) -> dict[Any, Any] | None:
    """The dict a memory store keeps its records in (the records as `TableWriter` writes
    them), or None for any other store. Both the reads here and the writes in `table_writes`
    use it directly: a Python call per read or write through the store's mapping methods cost
    more than the lookup."""
    data = getattr(store, "data", None)
    return data if isinstance(data, dict) else None


_UNRESOLVED, _MEMORY, _SERIALIZED_STORE, _MAPPING = 0, 1, 2, 3


class TableView:
    """Reads of one table's values (see `get`), its store found at the first read: the
    table's `data` is a property (interpreted code), and with the store's class and layout
    asked once, not at each of the four reads an order makes (most of which miss), a read of
    the memory store is a dict lookup. Faust makes a table's store once and never replaces it
    (the memory store's dict is cleared in place)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.kind = _UNRESOLVED
        self.store: Any = None
        self.values: Any = None
        """The memory store's dict, or the mapping read (a plain one in tests)."""

    def _resolve(self) -> int:
        table = self.table
        store = getattr(table, "data", None)
        self.store = store
        if serialized(store):  # RocksDB: bytes under the encoded key
            self.kind = _SERIALIZED_STORE
            return self.kind
        values = memory_dict(store)
        if values is not None:
            self.kind, self.values = _MEMORY, values
        else:
            self.kind, self.values = _MAPPING, table
        return self.kind

    def get(self, key: str, sink: Sink | None = None) -> Any | None:
        """The table's value for `key`, or None: what `sink` has in flight for it (see
        `Sink.unlanded`), else read from its store as Faust's `get` reads it, but without the
        KeyError round trip and sensor call per read, which cost a tenth of the worker's time
        (most reads of the order memory and the index miss: the order is new). The store
        failing raises `StorageError`; a stored value that cannot be decoded raises what
        decoding raises (see `load`)."""
        if sink is not None:
            flying = sink.unlanded(self.table, key)
            if flying is not UNSET:
                return flying
        kind = self.kind
        raw: Any  # bytes from RocksDB, anything from a mapping (typed, compiled code checks it)
        try:
            if kind == _UNRESOLVED:
                kind = self._resolve()
            raw = store_get(self.store, key) if kind == _SERIALIZED_STORE else self.values.get(key)
        except Exception as exc:
            name = getattr(self.table, "name", type(self.table).__name__)
            raise StorageError(f"reading {key!r} from table {name}: {exc!r}") from exc
        if raw is None or kind == _MAPPING:
            return raw
        if kind == _SERIALIZED_STORE:
            return store_decode(self.store, raw)
        # The memory store: bytes as `TableWriter` writes them; a value Faust recovered from
        # the changelog (a restart) is decoded already.
        return orjson.loads(raw) if isinstance(raw, bytes) else raw


def load(
    view: TableView, key: str, decode: Callable[[Any], T], resets: Counter[str], sink: Any
) -> T | None:
    """The table's record for `key`, decoded; None when there is none, or when it cannot be
    decoded: then it is reset (see `reset`) and deleted through `sink`."""
    raw = view.get(key, sink)
    if raw is None:
        return None
    try:
        return decode(raw)
    except DECODE_ERRORS as exc:
        reset(resets, view.table, key, exc)
        sink.delete(view.table, key)
        return None


def reset(resets: Counter[str], table: Any, key: str, exc: BaseException) -> None:
    """A stored record that cannot be read back: reported and counted; its reader starts over
    (a new anchor, an unknown order) instead of failing every batch of the partition, which
    would make the worker exit, restart and fail again."""
    name = str(getattr(table, "name", type(table).__name__))
    resets[name] += 1
    log.error("state_reset", table=name, key=key, error=repr(exc))


class DirectSink(Sink):
    """Writes through the table's own mapping interface (Faust's per-record path)."""

    def put(self, table: Any, key: str, value: Any) -> None:
        table[key] = value

    def delete(self, table: Any, key: str) -> None:
        with suppress(KeyError):  # created and removed within one batch, so never written
            del table[key]

    def unlanded(self, table: Any, key: str) -> Any:
        return UNSET  # written at once


class TableStates(StateStore):
    """Anchor states in a Faust table, behind a cache of live objects and a write buffer.

    An anchor is a head record (key `anchor_id`) and one record per bucket in a second table
    (`anchor@start`, see `bucket_key`): no record grows with the anchor's traffic, and a flush
    writes only the buckets the batch touched (deleting the ones folded away), and the head
    when more than counting changed it (see `AnchorState.head_stale`). The cache saves
    decoding an anchor's state for every event; it is only valid while this process owns the
    partitions, so the shell clears it on a rebalance.
    """

    def __init__(
        self, table: Any, buckets: Any, sink: Sink | None = None,
        resets: Counter[str] | None = None,
    ) -> None:  # fmt: skip
        self.table = table
        self.buckets = buckets
        self.heads = TableView(table)
        self.bucket_records = TableView(buckets)
        self.sink = sink if sink is not None else DirectSink()
        self.cache: dict[str, AnchorState] = {}
        self.dirty: set[str] = set()
        """Anchors whose touched buckets, and stale heads, the next flush writes."""
        self.resets = resets if resets is not None else Counter()
        """Records that could not be read back, by table (see `reset`)."""

    def get(self, anchor_id: str) -> AnchorState | None:
        cached = self.cache.get(anchor_id)
        if cached is not None:
            return cached
        state = self._read(anchor_id, repair=True)
        if state is not None:
            self.cache[anchor_id] = state
        return state

    def peek(self, anchor_id: str) -> AnchorState | None:
        """The anchor's state for a reader beside the batches (the HTTP API): the cached live
        state, else the stored one, decoded but not cached. A batch may have changes of an
        evicted anchor queued and not yet in the store; cached, a read of the store taken then
        would be the state the next batch counts on, and that batch's counts lost. An unreadable
        record reads as None here; the batch that next reads it drops it."""
        cached = self.cache.get(anchor_id)
        if cached is not None:
            return cached
        return self._read(anchor_id, repair=False)

    def _read(self, anchor_id: str, repair: bool) -> AnchorState | None:
        """The stored state, or None; with `repair`, an unreadable one is counted and its
        records deleted (see `_drop`)."""
        head = self.heads.get(anchor_id, self.sink)
        if head is None:
            return None
        try:
            return self._decode(anchor_id, head)
        except StateVersionError:
            raise  # a whole store of an older format: the operator's to handle
        except DECODE_ERRORS as exc:
            if repair:
                reset(self.resets, self.table, anchor_id, exc)
                self._drop(anchor_id, head)
            return None

    def _decode(self, anchor_id: str, head: Any) -> AnchorState:
        if not isinstance(head, dict):
            raise TypeError(f"an anchor's head is a mapping, got {type(head).__name__}")
        AnchorState.check_version(head)
        buckets = {}
        for start in head.get("bs", ()):
            raw = self.bucket_records.get(bucket_key(anchor_id, start), self.sink)
            if raw is not None:
                buckets[int(start)] = Bucket.from_dict(raw)
        return AnchorState.from_head(head, buckets)

    def _drop(self, anchor_id: str, head: Any) -> None:
        """Delete an unreadable anchor's records, so its new state starts clean."""
        self.sink.delete(self.table, anchor_id)
        starts = head.get("bs") if isinstance(head, dict) else None
        for start in starts if isinstance(starts, list) else ():
            if isinstance(start, int):
                self.sink.delete(self.buckets, bucket_key(anchor_id, start))

    def put(self, state: AnchorState) -> None:
        state.head_stale = True  # any change: the head is written
        self.put_counts(state)

    def put_counts(self, state: AnchorState) -> None:
        """After counting an event: its buckets are written, and its head only when stale (see
        `AnchorState.head_stale`), as after a `put`, by the flush."""
        self.cache[state.anchor_id] = state
        self.dirty.add(state.anchor_id)

    def flush(self) -> int:
        """Write buffered changes to the table; returns how many records were written."""
        written = 0
        sink = self.sink
        for anchor_id in self.dirty:
            state = self.cache[anchor_id]
            for start in state.touched:
                sink.put(self.buckets, bucket_key(anchor_id, start), state.buckets[start].to_dict())
            for start in state.dropped:
                sink.delete(self.buckets, bucket_key(anchor_id, start))
            written += len(state.touched) + len(state.dropped)
            state.touched.clear()
            state.dropped.clear()
            if state.head_stale:
                sink.put(self.table, anchor_id, state.head_dict())
                state.head_stale = False
                written += 1
        self.dirty.clear()
        return written

    def evict(self, anchor_ids: set[str]) -> None:
        """Drop flushed states from the cache (anchors that went quiet)."""
        for anchor_id in anchor_ids - self.dirty:
            self.cache.pop(anchor_id, None)

    def clear(self) -> None:
        """Forget cached states (after a rebalance); buffered writes must be flushed first."""
        self.cache.clear()
        self.dirty.clear()


class TableOrders(OrderMemory):
    """The order memory of the refund join in Faust tables keyed by `order_id`: the orders, and
    the refunds that arrived before their order.

    Writes are buffered and flushed after the anchor states of the same batch: the memory says
    which orders and refunds were counted already, so it must never be ahead of the counts. If
    a worker dies between the two flushes, the batch is read again and counted again (a
    duplicate), never taken for a redelivery and dropped.
    """

    def __init__(
        self, table: Any, waiting: Any, sink: Sink | None = None,
        resets: Counter[str] | None = None,
    ) -> None:  # fmt: skip
        self.table = table
        self.waiting_table = waiting
        self.known = TableView(table)
        self.known_waiting = TableView(waiting)
        self.sink = sink if sink is not None else DirectSink()
        self.resets = resets if resets is not None else Counter()
        self.orders: dict[str, OrderRef] = {}
        self.refunds: dict[str, PendingRefund | None] = {}
        """Buffered writes; None is a deletion."""
        self.new: list[tuple[int, str, bool]] = []
        """(event time, order id, is a waiting refund) of records this batch created."""
        self.expiry: dict[int, list[tuple[int, str, bool]]] = defaultdict(list)
        """Per partition, a heap of the records this process wrote, by event time: the local
        store forgets them past the horizon (`purge`), as the changelog's retention does."""

    def get(self, order_id: str) -> OrderRef | None:
        buffered = self.orders.get(order_id)
        if buffered is not None:
            return buffered
        return load(self.known, order_id, _order_ref, self.resets, self.sink)

    def put(self, order_id: str, ref: OrderRef) -> None:
        if ref.refund_event is None:  # a new order (marking it refunded puts it again)
            self.new.append((ref.placed_ms, order_id, False))
        self.orders[order_id] = ref

    def waiting(self, order_id: str) -> PendingRefund | None:
        if order_id in self.refunds:
            return self.refunds[order_id]
        return load(self.known_waiting, order_id, _pending_refund, self.resets, self.sink)

    def wait(self, order_id: str, refund: PendingRefund) -> None:
        self.new.append((refund.requested_ms, order_id, True))
        self.refunds[order_id] = refund

    def release(self, order_id: str) -> None:
        self.refunds[order_id] = None

    def flush(self, partition: int | None = None) -> int:
        """Write the buffered orders and waiting refunds; returns how many records. With the
        partition they belong to, they are also queued for `purge`."""
        if partition is not None:
            heap = self.expiry[partition]
            for entry in self.new:
                heapq.heappush(heap, entry)
        sink = self.sink
        for order_id, ref in self.orders.items():
            sink.put(self.table, order_id, ref.to_dict())
        for order_id, refund in self.refunds.items():
            if refund is not None:
                sink.put(self.waiting_table, order_id, refund.to_dict())
            else:
                sink.delete(self.waiting_table, order_id)
        written = len(self.orders) + len(self.refunds)
        self.clear()
        return written

    def purge(self, partition: int, before_ms: int) -> int:
        """Forget the partition's orders placed, and waiting refunds requested, before
        `before_ms`; returns how many records were deleted. Only records this process wrote
        are known here: after a restart, older ones are gone from the changelog by its
        retention, and from a RocksDB store only when written again."""
        heap = self.expiry.get(partition)
        deleted = 0
        sink = self.sink
        while heap and heap[0][0] < before_ms:
            _, order_id, waiting = heapq.heappop(heap)
            sink.delete(self.waiting_table if waiting else self.table, order_id)
            deleted += 1
        return deleted

    def remembered(self) -> int:
        """Records queued for purging in this process: about the order memory's size."""
        return sum(len(heap) for heap in self.expiry.values())

    def clear(self) -> None:
        """Drop buffered writes (after a rebalance: the next owner reads the tables)."""
        self.orders.clear()
        self.refunds.clear()
        self.new.clear()

    def forget(self) -> None:
        """Drop the purge queues too (the partitions were revoked)."""
        self.clear()
        self.expiry.clear()


class TableIndex(IndexStore):
    """The order index (see `core.order_index`) in two Faust tables keyed by `order_id`.

    Writes are buffered and flushed with the partition's other state, after the records the
    index sent on have reached the broker: written first, a crash in between would leave a
    RocksDB store saying "entry known, refund sent on" for a refund that never left, and the
    batch read again would not send it."""

    def __init__(
        self, entries: Any, waiting: Any, sink: Sink | None = None,
        resets: Counter[str] | None = None,
    ) -> None:  # fmt: skip
        self.entries = entries
        self.waiting_table = waiting
        self.known = TableView(entries)
        self.known_waiting = TableView(waiting)
        self.sink = sink if sink is not None else DirectSink()
        self.resets = resets if resets is not None else Counter()
        self.new_entries: dict[str, IndexEntry | None] = {}
        self.new_waiting: dict[str, list[IndexedRefund]] = {}
        """Buffered writes; None (or an empty list) is a deletion."""

    def entry(self, order_id: str) -> IndexEntry | None:
        if order_id in self.new_entries:
            return self.new_entries[order_id]
        return load(self.known, order_id, _index_entry, self.resets, self.sink)

    def put_entry(self, order_id: str, entry: IndexEntry) -> None:
        self.new_entries[order_id] = entry

    def drop_entry(self, order_id: str) -> None:
        self.new_entries[order_id] = None

    def waiting(self, order_id: str) -> list[IndexedRefund]:
        if order_id in self.new_waiting:
            return self.new_waiting[order_id]
        found = load(self.known_waiting, order_id, _waiting_refunds, self.resets, self.sink)
        return found or []

    def set_waiting(self, order_id: str, refunds: list[IndexedRefund]) -> None:
        self.new_waiting[order_id] = refunds

    def flush(self) -> int:
        """Write the buffered changes (on the partition the tables are routed to)."""
        sink = self.sink
        for order_id, entry in self.new_entries.items():
            if entry is None:
                sink.delete(self.entries, order_id)
            else:
                sink.put(self.entries, order_id, [entry.anchor_id, entry.visible_ms])
        for order_id, refunds in self.new_waiting.items():
            if refunds:
                records = [[r.refund.to_list(), r.visible_ms] for r in refunds]
                sink.put(self.waiting_table, order_id, records)
            else:
                sink.delete(self.waiting_table, order_id)
        written = len(self.new_entries) + len(self.new_waiting)
        self.clear()
        return written

    def clear(self) -> None:
        """Drop buffered writes (after a rebalance: the next owner reads the tables)."""
        self.new_entries.clear()
        self.new_waiting.clear()


def _waiting_fact(value: Any) -> RefundFact:
    """A refund waiting in the index as stored: the compact form, or (written by an earlier
    version) its JSON value."""
    fact = parked_fact("refunds", value)
    assert isinstance(fact, RefundFact)
    return fact


def _order_ref(raw: Any) -> OrderRef:
    # A function, not `OrderRef.from_dict`: that expression makes a bound method at each
    # read of the order memory (most of which miss), 1% of a worker.
    return OrderRef.from_dict(raw)


def _pending_refund(raw: Any) -> PendingRefund:
    return PendingRefund.from_dict(raw)


def _index_entry(raw: Any) -> IndexEntry:
    return IndexEntry(str(raw[0]), int(raw[1]))


def _waiting_refunds(raw: Any) -> list[IndexedRefund]:
    return [IndexedRefund(_waiting_fact(v), int(s)) for v, s, *_ in raw]


class TableStorage:
    """The worker's `Storage` in Faust tables: anchor states, the order memory and index, and
    each partition task's clock, written through the batch's `TableWriter`."""

    def __init__(
        self,
        states: TableStates,
        orders: TableOrders,
        index: TableIndex,
        clocks: Any,
        writer: Any,
        resets: Counter[str],
        config: DetectorConfig,
    ) -> None:
        self.states, self.orders, self.index = states, orders, index
        self.clocks = clocks
        self.writer = writer
        self.resets = resets
        self.config = config

    def route(self, topic: str, partition: int) -> None:
        self.writer.route(route_partition(topic, partition))

    def task_state(self, partition: int) -> Any | None:
        return self.clocks.get(f"p{partition}")

    def drop_task_state(self, partition: int, exc: BaseException) -> None:
        reset(self.resets, self.clocks, f"p{partition}", exc)

    def save(self, partition: int, task: PartitionTask, step: Step) -> None:
        """Queue the partition's changed state: counts first, then the memory of what was
        counted (see TableOrders), the order index, then the task's clock and marks. The
        writer sends them at the end of the batch and writes the local stores after (see
        `table_writes`)."""
        self.states.flush()
        self.orders.flush(partition)
        self.index.flush()
        self.states.evict(step.quiet)
        if step.safe is not None:
            # Every topic with records waiting has been read past `safe`: a refund still to
            # come is past the horizon of an order placed before this edge (see `_order_of`),
            # and an order redelivered that late is late. The local store forgets both.
            config = self.config
            self.orders.purge(partition, step.safe - config.order_horizon_ms - config.grace_ms)
        self.writer.put(self.clocks, f"p{partition}", task.to_dict())

    def seal(self) -> Any:
        return self.writer.seal()

    async def write(self, sealed: Any) -> None:
        await self.writer.write(sealed)

    def forget(self) -> None:
        self.states.clear()
        self.index.clear()
        self.orders.forget()
