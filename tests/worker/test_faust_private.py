"""The private corners of faust-streaming livewatch uses: fails when an upgrade moves them."""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict
from typing import Any

import faust
import pytest
from faust import streams as faust_streams
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.consumer import ThreadDelegateConsumer
from faust.types import TP

from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.faust_private import (
    RESPONSE_MARGIN_MS,
    committed_offset,
    last_poll_ms,
    last_response_ms,
    route_tables_by,
    track_fetch_sends,
)


class FakeMessage:
    topic = "orders"
    partition = 3


async def test_tables_follow_the_partition_set_in_this_task_only() -> None:
    """`faust.current_event()` (what tables route by) shows the message's topic and partition;
    another task does not see it, so nothing running elsewhere writes to that partition."""
    seen_elsewhere: list[Any] = []

    async def other_task() -> None:
        seen_elsewhere.append(faust.current_event())

    # A test that routed outside any task (see test_table_writes) left its route in the
    # context every later task starts from: start from none, as a worker's tasks do.
    faust_streams._current_event.set(None)
    task = asyncio.get_running_loop().create_task(other_task())
    route_tables_by(FakeMessage())
    event: Any = faust.current_event()
    assert (event.message.topic, event.message.partition) == ("orders", 3)
    await task
    assert seen_elsewhere == [None]


def test_the_batch_consumer_overrides_what_faust_still_has() -> None:
    """`faust_batches` replaces Faust's fetch loop and calls these of its consumer."""
    from faust.transport.drivers.aiokafka import Consumer, Transport

    from streams.worker.faust_batches import BatchConsumer, BatchTransport

    assert issubclass(BatchConsumer, Consumer) and BatchTransport.Consumer is BatchConsumer
    assert Transport.Consumer is Consumer
    for name in ("_drain_messages", "_wait_next_records", "_to_message", "track_message",
                 "perform_seek", "commit", "highwater", "_commit", "_new_offset",
                 "_should_commit", "on_partitions_revoked", "_filter_tps_with_pending_acks",
                 "_filter_committable_offsets", "_get_active_partitions"):  # fmt: skip
        assert callable(getattr(FaustConsumer, name)), name
    for name in ("_read_offset", "_buffered_partitions", "_commit_every", "_n_acked", "_acked",
                 "_acked_index", "_committed_offset", "_unacked_messages",
                 "_waiting_for_ack"):  # fmt: skip
        assert name in FaustConsumer.__annotations__ or hasattr(FaustConsumer, name), name
    # The commit timer looks at the partitions that are keys of `_acked`.
    assert "self._acked" in inspect.getsource(FaustConsumer._filter_tps_with_pending_acks)


def test_committed_offsets_are_read_where_faust_keeps_them() -> None:
    """Faust's consumer declares `_committed_offset` (TP -> offset or None); livewatch reads it
    there. (A Faust app is not built here: it leaves an event loop behind.)"""
    assert "_committed_offset" in FaustConsumer.__annotations__

    class Loaded:
        def __init__(self) -> None:
            self._committed_offset = defaultdict(lambda: None, {TP("orders", 0): 42})

    assert committed_offset(Loaded(), "orders", 0) == 42
    assert committed_offset(Loaded(), "orders", 1) is None


def test_poll_times_are_read_from_the_aiokafka_consumer_under_faust() -> None:
    """`last_poll_ms` goes through Faust's consumer thread to aiokafka's consumer; both steps
    are where it looks, and anything missing reads as "not polled", never an error."""
    from aiokafka import AIOKafkaConsumer
    from faust.transport.drivers import aiokafka as faust_aiokafka

    assert callable(faust_aiokafka.AIOKafkaConsumerThread._ensure_consumer)
    assert callable(AIOKafkaConsumer.last_poll_timestamp)
    assert issubclass(faust_aiokafka.Consumer, ThreadDelegateConsumer)
    assert "self._thread = " in inspect.getsource(ThreadDelegateConsumer.__init__)

    class Polled:
        def last_poll_timestamp(self, tp: TP) -> int | None:
            return 1_700 if tp == TP("orders", 0) else None

    class Thread:
        def _ensure_consumer(self) -> Polled:
            return Polled()

    class Driver:
        _thread = Thread()

    # No send time kept (`track_fetch_sends` not run): the handling less the margin.
    assert last_poll_ms(Driver(), "orders", 0) == 1_700 - RESPONSE_MARGIN_MS
    assert last_response_ms(Driver(), "orders", 0) == 1_700
    assert last_poll_ms(Driver(), "orders", 1) is None
    assert last_response_ms(Driver(), "orders", 1) is None
    assert last_poll_ms(object(), "orders", 0) is None
    assert last_response_ms(object(), "orders", 0) is None


@pytest.mark.kafka
async def test_fetch_send_times_are_kept_for_the_end_offsets_they_brought(
    settings: Settings,
) -> None:
    """`track_fetch_sends` wraps aiokafka's fetcher (`_proc_fetch_request(assignment, node_id,
    request)`, `request.topics` as (topic, [(partition, ...), ...])): after real fetches, each
    partition's poll time is a send time, before its response was handled and after the
    records it brought were produced; the end offset is the one that response told."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    await create_topics(settings)
    topic = settings.topic_orders
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"{}", partition=1)
    finally:
        await producer.stop()
    produced_ms = meta.timestamp
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        track_fetch_sends(consumer)
        track_fetch_sends(consumer)  # once per fetcher: a second call wraps nothing again
        fetched = await consumer.getmany(*tps, timeout_ms=10_000)
        assert [r.value for r in fetched.get(tps[1], [])] == [b"{}"]

        class Thread:
            def _ensure_consumer(self) -> AIOKafkaConsumer:
                return consumer

        class Driver:
            _thread = Thread()

        for p in range(settings.partitions):
            sent, handled = last_poll_ms(Driver(), topic, p), last_response_ms(Driver(), topic, p)
            assert sent is not None and handled is not None
            assert produced_ms <= sent <= handled
            assert consumer.highwater(tps[p]) == (1 if p == 1 else 0)
    finally:
        await consumer.stop()


async def test_positions_are_read_from_the_subscription_aiokafka_keeps() -> None:
    """`read_positions` reads the position aiokafka's fetcher moves (past transaction markers)
    of the assigned partitions of the topics asked for; a partition with no position yet is
    left out, and a consumer not started reads as none, never an error."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.worker.faust_private import read_positions

    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")
    try:
        tps = [TopicPartition("orders", 0), TopicPartition("orders", 1), TopicPartition("x", 0)]
        consumer._subscription.assign_from_user(tps)
        assignment = consumer._subscription.subscription.assignment
        assignment.state_value(tps[0]).seek(42)
        assignment.state_value(tps[2]).seek(7)

        class Thread:
            def _ensure_consumer(self) -> AIOKafkaConsumer:
                return consumer

        class Driver:
            _thread = Thread()

        assert read_positions(Driver(), frozenset({"orders"})) == {TP("orders", 0): 42}
        assert read_positions(object(), frozenset({"orders"})) == {}
    finally:
        await consumer.stop()  # never started: only marks it closed


async def test_readable_ends_are_read_from_the_subscription_aiokafka_keeps() -> None:
    """`readable_ends` reads the end offset of each assigned partition of the topics asked
    for, or its last stable offset when the fetcher has one (`read_committed`; -1 otherwise);
    a partition not fetched yet is left out."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.worker.faust_private import readable_ends

    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")
    try:
        tps = [TopicPartition("orders", 0), TopicPartition("orders", 1),
               TopicPartition("orders", 2), TopicPartition("x", 0)]  # fmt: skip
        consumer._subscription.assign_from_user(tps)
        assignment = consumer._subscription.subscription.assignment
        for tp, (end, stable) in zip(tps, [(50, -1), (50, 40), (None, None), (9, -1)], strict=True):
            state = assignment.state_value(tp)
            state.highwater, state.lso = end, stable  # as the fetcher sets them

        class Thread:
            def _ensure_consumer(self) -> AIOKafkaConsumer:
                return consumer

        class Driver:
            _thread = Thread()

        found = readable_ends(Driver(), frozenset({"orders"}))
        assert found == {TP("orders", 0): 50, TP("orders", 1): 40}
        assert readable_ends(object(), frozenset({"orders"})) == {}
    finally:
        await consumer.stop()  # never started: only marks it closed


async def test_the_fetch_wait_reaches_the_fetcher_aiokafka_builds_at_start() -> None:
    """Faust builds the worker's aiokafka consumer with a fixed 1.5 s fetch wait (and reads
    uncommitted records outside its own transactions); livewatch sets both on the consumer
    before `start`, which hands them to the fetcher. A consumer that
    does not keep it is an error, not a silent 1.5 s."""
    from aiokafka import AIOKafkaConsumer
    from faust.transport.drivers import aiokafka as faust_aiokafka

    from streams.worker.faust_batches import BatchConsumer, BatchConsumerThread
    from streams.worker.faust_private import set_fetch_max_wait, set_isolation_level

    assert callable(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "fetch_max_wait_ms=1500" in inspect.getsource(
        faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer
    )
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(AIOKafkaConsumer.start)
    assert "_new_consumer_thread" in vars(faust_aiokafka.Consumer)
    assert issubclass(BatchConsumerThread, faust_aiokafka.AIOKafkaConsumerThread)
    assert "_new_consumer_thread" in vars(BatchConsumer)

    assert "isolation_level=self._isolation_level" in inspect.getsource(AIOKafkaConsumer.start)
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", fetch_max_wait_ms=1500)
    try:
        set_fetch_max_wait(consumer, 50)
        assert consumer._fetch_max_wait_ms == 50
        set_isolation_level(consumer, "read_committed")
        assert consumer._isolation_level == "read_committed"
    finally:
        await consumer.stop()  # never started: only marks it closed
    try:
        set_fetch_max_wait(object(), 50)
    except AttributeError:
        return
    raise AssertionError("a consumer without the attribute was accepted")


def test_the_batches_put_the_first_topics_where_aiokafka_takes_records_in_order() -> None:
    """`BatchConsumerThread._fetch_records` reorders what aiokafka's fetcher holds, then calls
    Faust's method, which takes records from that fetcher in one pass over an ordered dict,
    in its order, until the batch is full."""
    from collections import OrderedDict

    from aiokafka.consumer.fetcher import Fetcher
    from faust.transport.drivers import aiokafka as faust_aiokafka

    from streams.worker.faust_batches import BatchConsumerThread
    from streams.worker.faust_private import put_first

    theirs = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._fetch_records)
    assert "consumer._fetcher" in theirs and "fetcher.fetched_records(" in theirs
    assert "self._fetch_records" in inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread.getmany)
    taking = inspect.getsource(Fetcher.fetched_records)
    assert "for tp in list(self._records.keys()):" in taking
    assert "self._records = collections.OrderedDict()" in inspect.getsource(Fetcher.__init__)
    assert "_fetch_records" in vars(BatchConsumerThread)

    class Held:  # the two attributes put_first reads, on a fetcher's own container type
        def __init__(self) -> None:
            self._records: OrderedDict[TP, str] = OrderedDict()

    class Consumer:
        _fetcher: Held | None = None

    put_first(Consumer(), frozenset({"marks"}))  # not started: nothing held, nothing done
    consumer = Consumer()
    consumer._fetcher = Held()
    for tp in (TP("in", 0), TP("marks", 1), TP("in", 1), TP("marks", 0)):
        consumer._fetcher._records[tp] = tp.topic
    put_first(consumer, frozenset({"marks"}))
    assert list(consumer._fetcher._records) == [
        TP("marks", 1), TP("marks", 0), TP("in", 0), TP("in", 1),
    ]  # fmt: skip


def test_the_store_and_producer_corners_are_where_livewatch_reaches_them() -> None:
    """Table reads and bulk writes go to a RocksDB store's byte-level methods, and changelog
    and internal records to the aiokafka producer under Faust's; Faust's fetch loop is
    stopped through its fetcher's event."""
    from faust.stores.base import SerializedStore
    from faust.stores.memory import Store as MemoryStore
    from faust.transport.drivers.aiokafka import Producer

    from streams.worker.stores import serialized

    for name in ("_get", "_set", "_del", "_encode_key", "_decode_value"):
        assert callable(getattr(SerializedStore, name)), name
    assert callable(Producer._ensure_producer)
    from aiokafka.producer.message_accumulator import BatchBuilder

    batch = BatchBuilder(1024, 0)  # what `create_batch` makes; `batch_appender` fills it
    assert callable(batch._builder.append) and batch._relative_offset == batch.record_count()
    assert not serialized(MemoryStore.__new__(MemoryStore))
    import mode
    from faust.transport.consumer import Fetcher

    assert issubclass(Fetcher, mode.Service)
    assert "self._stopped = " in inspect.getsource(mode.Service.__init__)
