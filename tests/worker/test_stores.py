"""Anchor states in table records: bounded records, and writes that follow what changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs

from schemas import TOPIC_MODELS, Order, Refund
from streams.core.attribution import OrderRef
from streams.core.clock import MINUTE_MS, to_ms
from streams.core.dict_stores import DictOrders
from streams.core.state import PendingRefund
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.devtools.sim.hot import hot_session
from streams.pipeline import build_detector
from streams.settings import Settings
from streams.worker.stores import UNSET, Sink, TableOrders, TableStates
from tests import factories

LIMIT = 64 * 1024


class RecordingTable(dict[str, Any]):
    """A dict standing in for the Faust table: remembers the size of every record written, as
    its changelog would carry it."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0
        self.writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.largest = max(self.largest, len(json.dumps(value)))
        self.writes += 1
        super().__setitem__(key, value)


def hot_anchor(per_minute: int, minutes: int) -> list[Order | Refund]:
    """The events of `hot_session`, validated."""
    return [
        Order.model_validate(v) if kind == "orders" else Refund.model_validate(v)
        for kind, v in hot_session(per_minute, minutes, anchor="big")
    ]


def test_a_20000_orders_a_minute_anchor_keeps_every_record_under_64_kib() -> None:
    """The anchor that crashed the worker (its one state value passed Kafka's 1 MB limit):
    every record of its state stays under 64 KiB, and a batch writes the head and the
    buckets it touched, not the anchor's whole hour."""
    table, buckets = RecordingTable(), RecordingTable()
    states = TableStates(table, buckets)
    detector = build_detector(Settings(), DictOrders(), states)
    batch_writes = []
    events = hot_anchor(20_000, 4)
    for i, event in enumerate(events):
        t = to_ms(event.event_time)
        detector.apply(event, t)
        if i % 2_000 == 1_999:  # a batch: evaluate what is safe, flush
            detector.advance_to(t - MINUTE_MS, {"big"})
            before = table.writes + buckets.writes
            states.flush()
            batch_writes.append(table.writes + buckets.writes - before)
    state = states.get("big")
    assert state is not None and sum(b.orders for b in state.buckets.values()) == 80_000
    assert max(table.largest, buckets.largest) < LIMIT, (table.largest, buckets.largest)
    assert max(batch_writes) <= 1 + 35  # the head plus this batch's buckets (orders, refunds)


def test_refunds_read_before_their_orders_wait_outside_the_anchor_state() -> None:
    """A worker may read the refunds topic far ahead of the orders: thousands of refunds wait
    for their orders in the order memory, not in the anchor's record, and all are matched."""
    table, buckets = RecordingTable(), RecordingTable()
    states = TableStates(table, buckets)
    orders = DictOrders()
    detector = build_detector(Settings(), orders, states)
    events = hot_anchor(20_000, 2)
    refunds = [e for e in events if isinstance(e, Refund)]
    for refund in refunds:
        detector.apply(refund, to_ms(refund.event_time))
    states.flush()
    assert len(orders.refunds) == len(refunds) > 1_500
    for order in (e for e in events if isinstance(e, Order)):
        detector.apply(order, to_ms(order.event_time))
    states.flush()
    assert table.largest < 4 * 1024, table.largest
    assert orders.refunds == {}
    assert detector.stats.attribution["pending_then_order"] == len(refunds)


def test_the_order_memory_is_written_after_the_counts_of_its_batch() -> None:
    """Orders and waiting refunds are buffered until the batch's flush (after the anchor
    states), so a worker dying mid-batch never remembers an order whose count was lost."""
    table, waiting = RecordingTable(), RecordingTable()
    orders = TableOrders(table, waiting)
    ref = OrderRef("a", "s", 0, "food")
    orders.put("o-1", ref)
    orders.wait("o-2", PendingRefund("e", None, 0, 1.0, "other", False, "a"))
    orders.wait("o-3", PendingRefund("e3", None, 0, 1.0, "other", False, "a"))
    orders.release("o-3")
    assert (table.writes, waiting.writes) == (0, 0)
    assert orders.get("o-1") == ref and orders.waiting("o-3") is None
    assert orders.flush() == 3
    assert table == {"o-1": ref.to_dict()} and set(waiting) == {"o-2"}
    assert orders.get("o-1") == ref and orders.waiting("o-2") is not None


def test_the_order_memory_forgets_what_passed_the_horizon() -> None:
    """Orders placed, and refunds waiting since, before the purge edge are deleted from the
    store (through the sink, so the changelog gets tombstones); marking an order refunded
    does not queue it twice."""
    table, waiting = RecordingTable(), RecordingTable()
    orders = TableOrders(table, waiting)
    for i in range(10):
        orders.put(f"o-{i}", OrderRef("a", "s", i * MINUTE_MS, "food"))
    orders.wait("o-late", PendingRefund("e", None, 3 * MINUTE_MS, 1.0, "other", False, "a"))
    orders.flush(partition=2)
    orders.put("o-1", OrderRef("a", "s", MINUTE_MS, "food", refund_event="e1"))
    orders.flush(partition=2)
    assert orders.remembered() == 11
    assert orders.purge(1, 10 * MINUTE_MS) == 0  # another partition's queue
    assert orders.purge(2, 5 * MINUTE_MS) == 6  # o-0..o-4 and the waiting refund
    assert sorted(table) == [f"o-{i}" for i in range(5, 10)] and waiting == {}
    assert orders.remembered() == 5


def test_an_anchor_stored_with_a_number_json_cannot_hold_is_started_over() -> None:
    """orjson writes infinity as null: an anchor stored so (by an older version, or a bug)
    would fail every evaluation and make the worker exit and loop. It is reported, counted
    and started over (its records deleted); the other anchors load as before."""
    table, buckets = RecordingTable(), RecordingTable()
    states = TableStates(table, buckets)
    detector = build_detector(Settings(), DictOrders(), states)
    for anchor in ("bad", "good"):
        event = Order.model_validate(factories.order(anchor_id=anchor, order_id=f"o-{anchor}"))
        detector.apply(event, to_ms(event.placed_at))
    states.flush()
    [start] = table["bad"]["bs"]
    buckets[f"bad@{start}"] = {**buckets[f"bad@{start}"], "oa": None}
    states.clear()
    with capture_logs() as logs:
        assert states.get("bad") is None
    assert sum(states.resets.values()) == 1
    assert [e["event"] for e in logs] == ["state_reset"]
    assert "bad" not in table and f"bad@{start}" not in buckets
    good = states.get("good")
    assert good is not None and sum(b.orders for b in good.buckets.values()) == 1


def test_a_remembered_order_that_cannot_be_read_back_is_forgotten() -> None:
    table, waiting = RecordingTable(), RecordingTable()
    orders = TableOrders(table, waiting)
    table["o-1"] = {"a": "a-1", "s": "s-1", "t": None, "c": "food"}
    waiting["o-2"] = ["not", "a", "mapping"]
    assert orders.get("o-1") is None
    assert orders.waiting("o-2") is None
    assert sum(orders.resets.values()) == 2


class BrokenStore(dict[str, Any]):
    """A table whose store fails on read, as RocksDB does on an I/O error."""

    name = "orders-by-id"

    def get(self, key: str, default: Any = None) -> Any:
        raise OSError(5, "Input/output error")


def test_a_store_that_fails_is_an_infrastructure_error_not_a_bad_record() -> None:
    """A read error is the store's, not the record's: it is neither reset nor dead-lettered
    (that would commit every record of the partition uncounted) but ends the batch, and the
    worker exits for its supervisor (`INFRASTRUCTURE`)."""
    from streams.worker.app import INFRASTRUCTURE
    from streams.worker.stores import StorageError

    orders = TableOrders(BrokenStore(), RecordingTable())
    with pytest.raises(StorageError, match=r"orders-by-id.*Input/output error"):
        orders.get("o-1")
    assert sum(orders.resets.values()) == 0
    assert issubclass(StorageError, INFRASTRUCTURE)


class HeldSink(Sink):
    """Writes through to the table, or holds them back while `holding`: a batch whose
    changelog records are not on the broker yet, so not in the local store either."""

    def __init__(self) -> None:
        self.holding = False
        self.held: list[tuple[Any, str, Any]] = []

    def put(self, table: Any, key: str, value: Any) -> None:
        if self.holding:
            self.held.append((table, key, value))
        else:
            table[key] = value

    def delete(self, table: Any, key: str) -> None:
        self.put(table, key, None)

    def unlanded(self, table: Any, key: str) -> Any:
        return UNSET  # held writes are queued, not sealed: no reader finds them

    def release(self) -> None:
        for table, key, value in self.held:
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        self.held.clear()
        self.holding = False


def test_a_reader_beside_the_batches_leaves_no_stale_state_for_the_next_batch() -> None:
    """The HTTP API reads anchors while a batch is under way (between its records, or while
    its writes travel to the broker). A read of an evicted anchor whose newer state is still
    queued finds the older one in the store: the reader may show it, but the next batch must
    count on the newer one, not on a copy the read left in the cache."""
    table, buckets = RecordingTable(), RecordingTable()
    sink = HeldSink()
    states = TableStates(table, buckets, sink)
    detector = build_detector(Settings(), DictOrders(), states)
    orders = [e for e in hot_anchor(100, 2) if isinstance(e, Order)]
    for order in orders[:50]:
        detector.apply(order, to_ms(order.event_time))
    states.flush()
    sink.holding = True
    for order in orders[50:]:
        detector.apply(order, to_ms(order.event_time))
    states.flush()
    states.evict({"big"})

    seen = states.peek("big")
    assert seen is not None
    assert sum(b.orders for b in seen.buckets.values()) == 50

    sink.release()
    state = states.get("big")
    assert state is not None
    assert sum(b.orders for b in state.buckets.values()) == len(orders) > 50


def test_counting_into_a_bucket_it_has_writes_the_bucket_not_the_head() -> None:
    """Live, a batch holds a few hundred records and touches most anchors: an order counted
    into a bucket the anchor has changes only that bucket (and the latest event times), so
    only the bucket is written; a new bucket, a refund left waiting or a boundary write the
    head too."""
    table, buckets = RecordingTable(), RecordingTable()
    states = TableStates(table, buckets)
    detector = build_detector(Settings(), DictOrders(), states)

    def count(order_id: str, at: str, kind: str = "order") -> tuple[int, int]:
        if kind == "order":
            event: Order | Refund = Order.model_validate(
                factories.order(anchor_id="a", order_id=order_id, placed_at=at)
            )
        else:
            event = Refund.model_validate(
                factories.refund(anchor_id="a", order_id=order_id, requested_at=at)
            )
        detector.apply(event, to_ms(event.event_time))
        heads, records = table.writes, buckets.writes
        states.flush()
        return table.writes - heads, buckets.writes - records

    assert count("o-1", "2026-11-29T12:00:01+00:00") == (1, 1)  # a new anchor, a new bucket
    assert count("o-2", "2026-11-29T12:00:30+00:00") == (0, 1)  # the same bucket
    assert count("o-3", "2026-11-29T12:01:05+00:00") == (1, 1)  # the next minute's bucket
    assert count("o-4", "2026-11-29T12:01:20+00:00") == (0, 1)
    assert count("o-1", "2026-11-29T12:01:30+00:00", "refund") == (0, 1)  # into o-1's bucket
    assert count("o-unknown", "2026-11-29T12:01:40+00:00", "refund") == (1, 0)  # left waiting
    detector.advance_to(to_ms(datetime(2026, 11, 29, 12, 3, tzinfo=UTC)), {"a"})
    heads = table.writes
    states.flush()
    assert table.writes == heads + 1  # evaluated to a later boundary


@pytest.mark.parametrize("seed", [3, 8])
def test_what_is_read_back_is_what_was_counted_but_the_latest_event_times(seed: int) -> None:
    """A worker restarted after any flush reads back every anchor as it was, heads left
    unwritten or not: all but the latest event times per topic (shown by the HTTP API, never
    judged), on a simulated mix with late, redelivered and out-of-order events, refunds read
    before their orders, and boundaries between the batches."""
    table, buckets = RecordingTable(), RecordingTable()
    states = TableStates(table, buckets)
    detector = build_detector(Settings(), DictOrders(), states)
    config = SimConfig(seed=seed, anchors=20, hours=1.0, refund_anchor=True)
    events = list(Simulation(config).events())
    # Read as a backlog is: within each stretch of 200 records, the refunds topic ahead of
    # the orders topic, so refunds wait for their orders.
    stretches = [events[i : i + 200] for i in range(0, len(events), 200)]
    events = [e for part in stretches for e in sorted(part, key=lambda e: e[0] != "refunds")]
    seen: dict[str, int] = {}
    skipped = compared = 0
    for i, (kind, value) in enumerate(events, 1):
        event = TOPIC_MODELS[kind].model_validate(value)
        t = to_ms(event.event_time)
        seen[kind] = max(seen.get(kind, t), t)
        detector.apply(event, seen[kind])
        if i % 25:
            continue  # a batch of 25 records; a boundary every four batches
        if i % 100 == 0:
            detector.advance_to(min(seen.values()) - 2 * MINUTE_MS, set(states.cache))
        heads = table.writes
        touched = len(states.dirty)
        states.flush()
        skipped += touched - (table.writes - heads)
        for anchor_id, live in states.cache.items():
            stored = TableStates(table, buckets).get(anchor_id)
            assert stored is not None
            assert _without_times(stored.to_dict()) == _without_times(live.to_dict())
            compared += 1
    assert skipped > 0 and compared > 100, (skipped, compared)


def _without_times(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "tw"}
