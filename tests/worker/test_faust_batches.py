"""The batch consumer's commits follow the positions of handled batches, on Faust's own commit
path (no broker needed: the consumer is built, not started); its batches put the internal topics'
records first (a real broker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import OffsetOutOfRangeError
from confluent_kafka import Producer
from faust.types import TP

from streams.core.partition import ATTRIBUTED
from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.faust_batches import BatchApp, BatchConsumer, run_to_end
from streams.worker.input_alignment import STALL_S

ORDERS = TP("orders", 2)


@pytest.fixture
async def consumer() -> AsyncIterator[BatchConsumer]:
    """Built in the test's running loop, so Faust makes no loop of its own."""
    app = BatchApp(
        "livewatch-test-batches", broker="kafka://127.0.0.1:1", loop=asyncio.get_running_loop()
    )
    app.batch_topics = frozenset({"orders"})
    built = app.consumer
    assert isinstance(built, BatchConsumer)
    yield built
    built._thread.thread_loop.close()  # the consumer thread's loop, never started here


def record(offset: int) -> ConsumerRecord[bytes, bytes]:
    """A record as aiokafka fetches it."""
    return ConsumerRecord("orders", 2, offset, 1_700_000_000_000, 0, b"k", b"{}", None, 1, 2, ())


def committable(consumer: BatchConsumer) -> dict[TP, int]:
    """What Faust's commit timer would commit now (its own selection and filter)."""
    tps = list(consumer._filter_tps_with_pending_acks())
    found: dict[TP, int] = consumer._filter_committable_offsets(tps)
    return found


async def test_the_position_after_a_handled_batch_is_committed(consumer: BatchConsumer) -> None:
    assert committable(consumer) == {}
    consumer._handled({ORDERS: 1228})
    assert committable(consumer) == {ORDERS: 1228}


async def test_acks_faust_would_drop_do_not_hold_the_commit_back(consumer: BatchConsumer) -> None:
    """The stall the fault suite saw: Faust's local view of the committed offset ahead of the
    records (it moves even when the broker refused the commit). Faust drops acks below that
    view; with no acks, it never looked at the partition again."""
    consumer._committed_offset[ORDERS] = 1228  # no acks recorded: all dropped
    assert ORDERS not in consumer._acked
    consumer._handled({ORDERS: 1228})
    assert committable(consumer) == {ORDERS: 1228}


async def test_a_gap_in_the_offsets_does_not_hold_the_commit_back(consumer: BatchConsumer) -> None:
    """Offsets 792 and 793 never arrive (transaction markers, compaction): nothing waits."""
    consumer._committed_offset[ORDERS] = 791
    consumer._acked[ORDERS] = [791, 794, 795]
    consumer._handled({ORDERS: 796})
    assert committable(consumer) == {ORDERS: 796}
    assert consumer._acked[ORDERS] == []  # the ack list does not grow without end


async def test_positions_only_move_forward(consumer: BatchConsumer) -> None:
    consumer._handled({ORDERS: 900})
    consumer._handled({ORDERS: 850})  # records read again after a seek back
    assert committable(consumer) == {ORDERS: 900}


async def test_a_position_the_broker_confirmed_is_not_committed_again(
    consumer: BatchConsumer,
) -> None:
    consumer._handled({ORDERS: 900})
    consumer._confirmed[ORDERS] = 900  # what `_commit` records once the broker took it
    assert committable(consumer) == {}
    consumer._handled({ORDERS: 901})
    assert committable(consumer) == {ORDERS: 901}


async def test_a_batch_is_tracked_until_acked(consumer: BatchConsumer) -> None:
    """Faust's rebalance and stop wait until its tracked messages are acknowledged: one message
    stands for each batch handed out and not done, and the batch's ack ends its part of the
    wait."""
    first, second = [record(1), record(2)], [record(3)]
    message = consumer._track_batch(first[-1])
    assert (message.tp, message.offset, message.acked) == (ORDERS, 2, False)
    later = consumer._track_batch(second[-1])  # handed out while the first is delivered
    assert set(consumer._unacked_messages) == {message, later}
    consumer.ack_batch(message, len(first))
    assert message.acked and set(consumer._unacked_messages) == {later}
    assert consumer._n_acked == 2
    consumer.ack_batch(later, len(second))
    assert not consumer._unacked_messages and not consumer._in_hand


async def test_positions_move_only_when_the_batch_is_done(consumer: BatchConsumer) -> None:
    """The handler returns before its batch is written; the positions (what a commit takes)
    pass the batch only when it says the batch is done, and not at all for a batch fetched in
    an earlier generation (a rebalance seeks back to the committed offsets)."""
    batch = [record(4), record(5)]
    done = consumer._when_done(
        consumer._track_batch(batch[-1]), batch, {ORDERS: 6}, consumer.app.consumer_generation_id
    )
    assert committable(consumer) == {}
    done()
    assert committable(consumer) == {ORDERS: 6}
    assert not consumer._unacked_messages
    stale = [record(6)]
    done = consumer._when_done(
        consumer._track_batch(stale[-1]), stale, {ORDERS: 7},
        consumer.app.consumer_generation_id - 1,
    )  # fmt: skip
    done()
    assert committable(consumer) == {ORDERS: 6}
    assert not consumer._unacked_messages


async def test_records_read_before_are_not_admitted_again(consumer: BatchConsumer) -> None:
    fetched = [record(o) for o in (5, 6, 7)]
    assert consumer._admit(ORDERS, fetched) == fetched
    assert consumer._read_offset[ORDERS] == 7
    again = [record(o) for o in (6, 7, 8, 9)]  # a seek went back to 6
    assert [r.offset for r in consumer._admit(ORDERS, again)] == [7, 8, 9]
    assert consumer._read_offset[ORDERS] == 9
    assert consumer._admit(ORDERS, [record(3)]) == []
    assert consumer._read_offset[ORDERS] == 9


async def test_a_refused_commit_is_reported(
    consumer: BatchConsumer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(self: Any, offsets: Any) -> bool:
        return False

    monkeypatch.setattr("faust.transport.drivers.aiokafka.Consumer._commit", refused)
    with caplog.at_level(logging.WARNING):
        assert not await consumer._commit({ORDERS: 900})
    assert any("commit_failed" in r.getMessage() for r in caplog.records)
    assert consumer._confirmed == {}  # not confirmed: the timer tries again


async def test_a_batch_under_way_finishes_when_the_fetch_loop_is_cancelled() -> None:
    """A stopping worker cancels the fetch loop: the batch in hand is written to its end, never
    left with part of its changelog records sent; then the loop stops."""
    steps: list[str] = []
    release = asyncio.Event()

    async def batch() -> None:
        steps.append("started")
        await release.wait()
        steps.append("finished")

    async def fetch_loop() -> bool:
        return await run_to_end(batch())

    loop_task = asyncio.create_task(fetch_loop())
    await asyncio.sleep(0.01)
    loop_task.cancel()
    await asyncio.sleep(0.01)
    assert steps == ["started"] and not loop_task.done()  # still waiting for the batch
    release.set()
    assert await loop_task is True  # the batch finished, and the loop is told to stop
    assert steps == ["started", "finished"]
    assert await run_to_end(batch()) is False  # not cancelled: just the work


@pytest.mark.kafka
@pytest.mark.parametrize("first", [True, False])
async def test_records_of_the_first_topics_overtake_the_inputs_fetched_ahead(
    settings: Settings, first: bool
) -> None:
    """A real consumer holds thousands of input records fetched ahead when a mark arrives on an
    internal topic: with the internal topics first (the worker's setting), the next batch
    carries the mark, the rest filled with inputs in offset order; without, the mark waits
    behind every input record fetched before it (the case shows the difference is real)."""
    await create_topics(settings)
    internal = settings.internal_topics[ATTRIBUTED]
    bulk, mark = TP(settings.topic_orders, 0), TP(internal, 0)
    # The inputs from librdkafka, the mark from aiokafka (as the worker sends it).
    await asyncio.to_thread(_produce_librdkafka, settings.kafka_bootstrap, bulk, 5_000)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        first_topics = frozenset({internal} if first else ())
        fetching = _fetching(settings, first_topics, {bulk, mark}, "earliest")
        async with fetching as (thread, consumer):
            active = {bulk, mark}
            got = await thread._fetch_records(consumer, active, timeout=10.0, max_records=100)
            assert [r.offset for r in got[bulk]] == list(range(100))
            await producer.send_and_wait(mark.topic, b"mark", partition=0)
            for _ in range(200):  # until the mark's partition was fetched (its end moved)
                if consumer.highwater(mark) == 1:
                    break
                await asyncio.sleep(0.05)
            assert consumer.highwater(mark) == 1
            got = await thread._fetch_records(consumer, active, timeout=10.0, max_records=100)
    finally:
        await producer.stop()
    if first:
        assert [r.value for r in got[mark]] == [b"mark"]
        assert [r.offset for r in got[bulk]] == list(range(100, 199))
    else:
        assert mark not in got
        assert [r.offset for r in got[bulk]] == list(range(100, 200))


@asynccontextmanager
async def _fetching(
    settings: Settings, first_topics: frozenset[str], tps: set[TP], reset: str
) -> AsyncIterator[tuple[Any, AIOKafkaConsumer]]:
    """The consumer thread of a batch app with `first_topics` (built, not started: only its
    `_fetch_records` runs), and a real aiokafka consumer assigned `tps`, started."""
    app = BatchApp(settings.app_id, broker="kafka://127.0.0.1:1", loop=asyncio.get_running_loop())
    app.first_topics = first_topics
    thread = cast(BatchConsumer, app.consumer)._thread
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
        auto_offset_reset=reset, fetch_max_wait_ms=50,
    )  # fmt: skip
    consumer.assign(sorted(tps))
    try:
        await consumer.start()
        yield thread, consumer
    finally:
        await consumer.stop()
        thread.thread_loop.close()


def _produce_librdkafka(bootstrap: str, tp: TP, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i in range(n):
        producer.produce(tp.topic, b"x" * 100 + str(i).encode(), partition=tp.partition)
        producer.poll(0)
    assert producer.flush(30) == 0


REFUNDS = TP("refunds", 2)
T0 = 1_700_000_000_000


def stamped(tp: TP, offset: int, ts: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, ts, 0, b"k", b"{}", None, 1, 2, ())


def offsets_of(found: dict[TP, list[Any]]) -> dict[TP, list[int]]:
    return {tp: [r.offset for r in records] for tp, records in found.items()}


async def test_a_partition_ahead_in_time_is_held_unfetched_until_its_partner_catches_up(
    consumer: BatchConsumer,
) -> None:
    """Refunds an hour ahead of the orders still being read: the one within the slack goes
    (after the orders, in the batch), the other is held, not passed (the partition is not
    caught up) and not fetched; once the orders reach its time it goes, and the partition is
    fetched again."""
    cast(Any, consumer.app).aligned_topics = ("orders", "refunds")
    consumer._set_active_tps({ORDERS, REFUNDS})
    orders = [stamped(ORDERS, i, T0 + i * 1_000) for i in range(5)]
    refunds = [stamped(REFUNDS, 10, T0 + 10_000), stamped(REFUNDS, 11, T0 + 3_600_000)]
    ends = {ORDERS: 100, REFUNDS: 12}
    out = consumer._align({REFUNDS: refunds, ORDERS: orders}, {ORDERS: 5, REFUNDS: 12}, ends, 0.0)
    assert offsets_of(out) == {ORDERS: [0, 1, 2, 3, 4], REFUNDS: [10]}
    assert list(out) == [ORDERS, REFUNDS]  # the orders first, as fetched or not
    assert consumer._get_active_partitions() == {ORDERS}
    assert consumer._held_back({ORDERS: 5, REFUNDS: 12}) == {ORDERS: 5, REFUNDS: 11}
    later = [stamped(ORDERS, 5, T0 + 3_600_000)]
    out = consumer._align({ORDERS: later}, {ORDERS: 6, REFUNDS: 12}, ends, 0.5)
    assert offsets_of(out) == {ORDERS: [5], REFUNDS: [11]}
    assert consumer._get_active_partitions() == {ORDERS, REFUNDS}
    assert consumer._held_back({ORDERS: 6, REFUNDS: 12}) == {ORDERS: 6, REFUNDS: 12}


async def test_a_partner_that_stopped_moving_holds_nothing_back_for_long(
    consumer: BatchConsumer,
) -> None:
    """The orders have records to read that never come (a broker not answering for that
    partition): the refunds wait `STALL_S` at most."""
    cast(Any, consumer.app).aligned_topics = ("orders", "refunds")
    consumer._set_active_tps({ORDERS, REFUNDS})
    ends = {ORDERS: 100, REFUNDS: 1}
    held = {REFUNDS: [stamped(REFUNDS, 0, T0 + 3_600_000)]}
    assert consumer._align({ORDERS: [stamped(ORDERS, 0, T0)]}, {ORDERS: 1, REFUNDS: 1}, ends, 0.0)
    assert consumer._align(held, {ORDERS: 1, REFUNDS: 1}, ends, 1.0) == {}
    out = consumer._align({}, {ORDERS: 1, REFUNDS: 1}, ends, 1.0 + STALL_S)
    assert offsets_of(out) == {REFUNDS: [0]}
    assert consumer._held == {}


async def test_held_records_are_forgotten_when_the_partitions_are_read_again(
    consumer: BatchConsumer,
) -> None:
    """A seek back to the committed offsets (none past a held record) brings them again."""
    cast(Any, consumer.app).aligned_topics = ("orders", "refunds")
    consumer._set_active_tps({ORDERS, REFUNDS})
    ends = {ORDERS: 100, REFUNDS: 1}
    held = {REFUNDS: [stamped(REFUNDS, 0, T0 + 3_600_000)], ORDERS: [stamped(ORDERS, 0, T0)]}
    consumer._align(held, {ORDERS: 1, REFUNDS: 1}, ends, 0.0)
    assert set(consumer._held) == {REFUNDS}
    consumer._forget_held()
    assert consumer._held == {} and consumer._get_active_partitions() == {ORDERS, REFUNDS}


@pytest.mark.kafka
async def test_an_error_met_with_records_in_hand_is_raised_at_the_next_batch(
    settings: Settings,
) -> None:
    """A mark in hand, then the inputs' partition answers with an error (an offset out of
    range, with no reset policy): the mark is delivered, not dropped with the error (aiokafka
    has moved past it), and the error comes with the next batch."""
    await create_topics(settings)
    internal = settings.internal_topics[ATTRIBUTED]
    bulk, mark = TP(settings.topic_orders, 0), TP(internal, 0)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(mark.topic, b"mark", partition=0)
    finally:
        await producer.stop()
    fetching = _fetching(settings, frozenset({internal}), {bulk, mark}, "none")
    async with fetching as (thread, consumer):
        consumer.seek(mark, 0)
        consumer.seek(bulk, 1_000)  # past the end of an empty partition
        buffered = consumer._fetcher._records  # both answers in hand before the batch
        for _ in range(200):
            if {bulk, mark} <= set(buffered):
                break
            await asyncio.sleep(0.05)
        assert {bulk, mark} <= set(buffered)
        active = {bulk, mark}
        got = await thread._fetch_records(consumer, active, timeout=1.0, max_records=100)
        assert {tp: [r.value for r in records] for tp, records in got.items()} == {mark: [b"mark"]}
        with pytest.raises(OffsetOutOfRangeError):
            await thread._fetch_records(consumer, active, timeout=1.0, max_records=100)
