"""Changelog records written in bulk read back as Faust's own (the broker path runs in e2e)."""

from __future__ import annotations

import json

import faust
import pytest
from faust.serializers import codecs
from faust.stores.base import SerializedStore
from faust.stores.rocksdb import Store as RocksDBStore

from streams.worker.stores import TableView
from streams.worker.table_writes import TableWriter, _batches, encode


def test_keys_and_values_are_encoded_as_faust_tables_encode_them() -> None:
    """Faust's tables use the `json` codec for keys as well as values: a raw `anchor-1` key
    breaks recovery ("Expecting value"), which is how this was found."""
    for key in ("anchor-1", "anchor-1@1795953600000", "p3", 'quo"te', "ünïcode"):
        assert encode(key) == codecs.dumps("json", key)
    value = {"v": 2, "bs": [1, 2], "w": {"1795953600000": 3}, "a": 1.5, "s": None}
    assert json.loads(encode(value)) == json.loads(codecs.dumps("json", value))


def test_the_store_methods_the_writer_calls_are_there() -> None:
    """`TableWriter` writes a RocksDB store's bytes with `_set` and `_del` and reports the
    changelog offset with `set_persisted_offset`, as Faust's own send callback does."""
    assert issubclass(RocksDBStore, SerializedStore)
    assert callable(RocksDBStore._set) and callable(RocksDBStore._del)
    assert callable(RocksDBStore.set_persisted_offset)


def test_the_memory_store_keeps_the_changelog_bytes_and_reads_back_the_value() -> None:
    """A decoded bucket (nested dicts and lists) took ten times the memory of its JSON: the
    memory store keeps the bytes, a `TableView` decodes them, and a value Faust itself recovered
    into the store (decoded) still reads."""
    app = faust.App("table-writes-test", store="memory://", broker="kafka://127.0.0.1:1")
    table = app.Table("states", partitions=1)
    read = TableView(table).get
    writer = TableWriter(app)
    writer.route(_Message("states-topic", 0))
    value = {"o": 3, "b": {"c": [[12345678901234567890, 2]], "n": 2}, "so": ["o-1"]}
    writer.put(table, "anchor-1@60000", value)
    writer._apply(writer.seal())
    kept = table.data.data["anchor-1@60000"]
    assert isinstance(kept, bytes) and len(kept) < 100
    assert read("anchor-1@60000") == value
    table.data.data["recovered"] = value  # as Faust's recovery writes a memory store
    assert read("recovered") == value
    writer.delete(table, "anchor-1@60000")
    writer._apply(writer.seal())
    assert read("anchor-1@60000") is None


def test_a_view_finds_the_store_once_and_reads_what_is_written_after() -> None:
    """A table's reads go through a view that finds its store at the first read (the table's
    `data` is a property): writes made after that, by the writer or by Faust's recovery, are
    read all the same, and a record that is not JSON is the decoder's error (the reader
    resets it), not the store's."""
    app = faust.App("table-writes-test", store="memory://", broker="kafka://127.0.0.1:1")
    table = app.Table("orders", partitions=1)
    view = TableView(table)
    assert view.get("o-1") is None
    writer = TableWriter(app)
    writer.route(_Message("orders-topic", 0))
    writer.put(table, "o-1", {"t": 1})
    writer._apply(writer.seal())
    table.data.data["o-2"] = {"t": 2}  # as Faust's recovery writes a memory store
    assert view.get("o-1") == {"t": 1} and view.get("o-2") == {"t": 2}
    table.data.data["o-3"] = b"{not json"
    with pytest.raises(ValueError):
        view.get("o-3")
    assert TableView({"plain": [1]}).get("plain") == [1]  # a mapping (tests) is read as one


def test_writes_sealed_and_not_yet_in_the_store_are_read_before_it() -> None:
    """A batch's writes travel to the broker while the next batch is worked on: that batch
    reads them through the writer, on the partition they were written to, a deletion as
    nothing, until they are in the store; writes merely queued are not read (the stores keep
    those themselves)."""
    app = faust.App("table-writes-test", store="memory://", broker="kafka://127.0.0.1:1")
    table = app.Table("orders", partitions=2)
    read = TableView(table).get
    writer = TableWriter(app)
    writer.route(_Message("orders-topic", 0))
    writer.put(table, "o-1", {"t": 1})
    writer._apply(writer.seal())  # an earlier batch, in the store
    writer.put(table, "o-1", {"t": 2})
    writer.put(table, "o-2", {"t": 3})
    assert read("o-2", writer) is None  # queued only
    sealed = writer.seal()
    writer.put(table, "o-3", {"t": 4})  # the next batch's
    writer.delete(table, "o-1")
    assert read("o-1", writer) == {"t": 2}
    assert read("o-2", writer) == {"t": 3}
    assert read("o-1") == {"t": 1}  # the store itself has not changed
    writer.route(_Message("orders-topic", 1))
    assert read("o-2", writer) is None  # partition 0's write
    writer.route(_Message("orders-topic", 0))
    writer._apply(sealed)
    assert not writer.in_flight
    assert read("o-2", writer) == read("o-2") == {"t": 3}
    sealed = writer.seal()
    assert read("o-1", writer) is None  # deleted, on its way
    assert read("o-3", writer) == {"t": 4}
    writer._apply(sealed)
    assert read("o-1") is None and read("o-3") == {"t": 4}


def test_a_key_written_twice_in_a_batch_keeps_every_record_and_stores_the_last() -> None:
    """The changelog gets every write in order (Faust's recovery replays them); the local
    store gets each key's last, which is where the replay ends."""
    app = faust.App("table-writes-test", store="memory://", broker="kafka://127.0.0.1:1")
    table = app.Table("orders", partitions=1)
    read = TableView(table).get
    writer = TableWriter(app)
    writer.route(_Message("orders-topic", 0))
    writer.put(table, "o-1", {"t": 1})
    writer.delete(table, "o-1")
    writer.put(table, "o-1", {"t": 3})
    writer.put(table, "o-2", {"t": 4})
    writer.delete(table, "o-2")
    sealed = writer.seal()
    [slot] = sealed.slots[0].values()
    assert [(json.loads(k), v and json.loads(v)) for k, v in slot.records] == [
        ("o-1", {"t": 1}), ("o-1", None), ("o-1", {"t": 3}), ("o-2", {"t": 4}), ("o-2", None),
    ]  # fmt: skip
    writer._apply(sealed)
    assert read("o-1") == {"t": 3} and read("o-2") is None
    assert "o-2" not in table.data.data


def test_a_batch_is_sealed_only_once_the_last_one_is_in_the_store() -> None:
    """One sealed batch at a time: sealing another would hide the first from readers."""
    app = faust.App("table-writes-test", store="memory://", broker="kafka://127.0.0.1:1")
    table = app.Table("orders", partitions=1)
    writer = TableWriter(app)
    writer.route(_Message("orders-topic", 0))
    writer.put(table, "o-1", {"t": 1})
    writer.seal()
    writer.put(table, "o-2", {"t": 2})
    with pytest.raises(RuntimeError, match="still in flight"):
        writer.seal()


class _Message:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition


async def test_records_fill_produce_batches_in_order_and_each_batch_counts_its_own() -> None:
    """The records go into aiokafka produce batches through the builder's own append (see
    `faust_private.batch_appender`): each batch holds the next records in order, counts them
    as its own `append` would (the idempotent producer numbers records by that count), and is
    closed; a record larger than the batch size goes in a batch of its own, as the builder
    takes any record into an empty batch."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.record.default_records import DefaultRecordBatch

    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_batch_size=4096)
    try:
        records: list[tuple[bytes | None, bytes | None]] = [
            (encode(f"anchor-{i}"), None if i % 7 == 0 else encode({"o": i, "pad": "x" * 100}))
            for i in range(100)
        ]
        batches = list(_batches(producer, "t", records))
        assert len(batches) > 2
        read: list[tuple[bytes | None, bytes | None]] = []
        for batch in batches:
            closed = batch.append(key=b"k", value=b"v", timestamp=None) is None
            assert closed and batch.record_count() > 0
            built = DefaultRecordBatch(bytes(batch._build()))
            found = [(r.key, r.value) for r in built]
            assert len(found) == batch.record_count()
            read.extend(found)
        assert read == records
        big = [(b"a", b"x" * 10), (b"b", b"x" * 10_000), (b"c", b"x" * 10)]
        assert [b.record_count() for b in _batches(producer, "t", big)] == [1, 1, 1]
    finally:
        await producer.stop()
