"""A partition's input topics handed out side by side in time (pure: records as aiokafka
fetches them, no broker)."""

from __future__ import annotations

from aiokafka import ConsumerRecord
from faust.types import TP

from streams.worker.input_alignment import SLACK_MS, split, timestamp

T0 = 1_700_000_000_000
ORDERS, REFUNDS, COMPLAINTS = TP("orders", 3), TP("refunds", 3), TP("complaints", 3)
OTHER_REFUNDS = TP("refunds", 4)


def rec(tp: TP, offset: int, ts: int | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, ts, 0, b"k", b"{}", None, 1, 2, ())


def by_partition(tp: TP) -> int:
    return tp.partition


def offsets(found: dict[TP, list[ConsumerRecord[bytes, bytes]]]) -> dict[TP, list[int]]:
    return {tp: [r.offset for r in records] for tp, records in found.items()}


def test_a_topic_ahead_of_its_partitions_slowest_waits_past_the_slack() -> None:
    """Refunds an hour ahead of the orders still being read: those within the slack of the
    orders' frontier go now, the rest wait; the orders all go."""
    orders = [rec(ORDERS, i, T0 + i * 1_000) for i in range(5)]
    refunds = [rec(REFUNDS, 10, T0 + SLACK_MS), rec(REFUNDS, 11, T0 + 3_600_000)]
    frontier = {ORDERS: T0 + 4_000, REFUNDS: T0 + 3_600_000}
    deliver, hold = split(
        {ORDERS: orders, REFUNDS: refunds}, by_partition, frontier, [ORDERS, REFUNDS]
    )
    assert offsets(deliver) == {ORDERS: [0, 1, 2, 3, 4], REFUNDS: [10]}
    assert offsets(hold) == {REFUNDS: [11]}


def test_a_topic_read_to_its_end_holds_nothing_back() -> None:
    """The orders far behind, but nothing more of them to read (not constraining): the
    refunds go, whatever their time."""
    refunds = [rec(REFUNDS, 0, T0 + 10 * 3_600_000)]
    frontier = {ORDERS: T0, REFUNDS: T0 + 10 * 3_600_000}
    deliver, hold = split({REFUNDS: refunds}, by_partition, frontier, [REFUNDS])
    assert offsets(deliver) == {REFUNDS: [0]} and hold == {}


def test_each_partition_number_is_judged_on_its_own() -> None:
    """Refunds of partition 4 are not held by the orders of partition 3."""
    refunds = [rec(OTHER_REFUNDS, 0, T0 + 3_600_000)]
    frontier = {ORDERS: T0, OTHER_REFUNDS: T0 + 3_600_000}
    deliver, hold = split({OTHER_REFUNDS: refunds}, by_partition, frontier, [ORDERS, OTHER_REFUNDS])
    assert offsets(deliver) == {OTHER_REFUNDS: [0]} and hold == {}


def test_the_slowest_topic_always_moves_on() -> None:
    """Its own records go whatever their times (one dated far ahead among them included), so
    every call makes progress."""
    orders = [rec(ORDERS, 0, T0), rec(ORDERS, 1, T0 + 99 * 3_600_000), rec(ORDERS, 2, T0 + 1)]
    frontier = {ORDERS: T0, COMPLAINTS: T0 + 3_600_000}
    deliver, hold = split({ORDERS: orders}, by_partition, frontier, [ORDERS, COMPLAINTS])
    assert offsets(deliver) == {ORDERS: [0, 1, 2]} and hold == {}


def test_records_keep_their_offset_order() -> None:
    """One record past the limit holds those after it too, even when they are within it: a
    partition's records are handed out as a prefix."""
    refunds = [rec(REFUNDS, 0, T0), rec(REFUNDS, 1, T0 + 3_600_000), rec(REFUNDS, 2, T0)]
    frontier = {ORDERS: T0, REFUNDS: T0 + 3_600_000}
    deliver, hold = split({REFUNDS: refunds}, by_partition, frontier, [ORDERS, REFUNDS])
    assert offsets(deliver) == {REFUNDS: [0]}
    assert offsets(hold) == {REFUNDS: [1, 2]}


def test_records_without_a_timestamp_never_wait() -> None:
    refunds = [rec(REFUNDS, 0, None), rec(REFUNDS, 1, -1)]
    frontier = {ORDERS: T0, REFUNDS: T0 + 3_600_000}
    deliver, hold = split({REFUNDS: refunds}, by_partition, frontier, [ORDERS, REFUNDS])
    assert offsets(deliver) == {REFUNDS: [0, 1]} and hold == {}
    assert timestamp(refunds[1]) is None


def test_a_topic_not_read_yet_holds_its_partitions_others() -> None:
    """No frontier for the orders (their first fetch still on its way, records to read): the
    refunds wait for it, or the first fetch of a backlog's refunds would run ahead of every
    order."""
    refunds = [rec(REFUNDS, 0, T0 + 3_600_000), rec(REFUNDS, 1, None)]
    deliver, hold = split(
        {REFUNDS: refunds}, by_partition, {REFUNDS: T0 + 3_600_000}, [ORDERS, REFUNDS]
    )
    assert deliver == {} and offsets(hold) == {REFUNDS: [0, 1]}
