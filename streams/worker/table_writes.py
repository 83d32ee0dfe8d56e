"""Table writes in bulk: the changelog in a few produce batches, then the local store.

Setting a key of a Faust table sends its changelog record through Faust's per-record producer
path (a future, a buffer queue, a codec, one producer call); with a record per remembered order
that was a third of the worker's time. Here the shell queues each record's bytes; `write` sends
each changelog partition's records as a few record batches (aiokafka's `send_batch`), waits
until the broker has them all, writes each key's last value to the tables' local stores (where
Faust's recovery from the changelog would leave them), and then tells each store the offset it
has persisted, as Faust's own send callback does. The changelog topics, their format and
Faust's recovery from them are unchanged.

The order is what keeps a SIGKILL safe. A batch's writes span several stores (an anchor's head
and its bucket records, the order memory, the partition clock), and no store can write them
all atomically. Written to the local stores before the changelog (as this did until a CI run
caught it), a kill partway left, for instance, a folded bucket deleted while the head still
counted on it: the restarted worker read the head, found the bucket gone, and those orders
were lost for good, since nothing on the broker held the batch. Written after the changelog
has them and before the persisted offsets move, a kill partway is repaired by Faust's recovery,
which replays the changelog from the last persisted offset over the local store. Waiting for
the broker also means no older record is still in flight when a newer value of its key is
written.

A batch's writes are sealed (`seal`) when the batch ends, and written (`write`) while the next
batch is worked on: the wait for the broker was a fifth of a catching-up worker's time, spent
idle. Until they are in the local stores, reads find them through `unlanded` (the stores
check it before the store), so the next batch reads what it would have read after the wait.
The worker writes one sealed batch at a time, in order (see `Worker.deliver`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import suppress
from typing import Any

import orjson
from faust.types import TP

from streams.worker.failpoints import TABLE_APPLY, failpoint
from streams.worker.faust_private import (
    batch_appender,
    producer_of,
    route_tables_by,
    set_record_count,
    store_write,
)
from streams.worker.stores import UNSET, Sink, memory_dict, serialized

MAX_BATCH_BYTES = 512 * 1024
"""One produce batch; below the producer's 1 MB request limit, above any one record (64 KiB)."""


_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def encode(value: Any) -> bytes:
    """A table key or value as its changelog record holds it: Faust's tables use the `json`
    codec for both (`b'"anchor-1"'`), and read these back the same. With orjson installed
    Faust's codec is orjson with these options, so a key written here is the key Faust looks
    up (non-ASCII ids as UTF-8, not `\\u` escapes).

    The copy is deliberate: orjson returns its output in an over-sized buffer shrunk in place,
    and thousands of those alive across a batch fragmented the heap (peak RSS 600 MB against
    380 MB with the stdlib encoder); a right-sized copy keeps orjson's speed (6x) without it."""
    return orjson.dumps(value, option=_OPTIONS).decode().encode()


class TableWriter(Sink):
    """Buffers the table writes made during one batch: changelog records and local writes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.slots: dict[int, dict[int, Slot]] = {}
        """The batch's writes: per partition, per table (by id), in the order made."""
        self.in_flight: dict[int, dict[int, Slot]] = {}
        """The sealed writes not yet in the local stores, as `slots` (see `unlanded`)."""
        self.routes: dict[int, Any] = {}
        self.partition: int | None = None
        self._routed_slots: dict[int, Slot] | None = None
        self._failpoint = failpoint(TABLE_APPLY)

    def route(self, message: Any) -> None:
        """Route table reads and writes by `message`'s partition until the next call, as
        Faust's tables route them by the current event's (see `route_tables_by`)."""
        route_tables_by(message)
        partition = self.partition = int(message.partition)
        self.routes[partition] = message
        self._routed_slots = self.slots.setdefault(partition, {})

    def put(self, table: Any, key: str, value: Any) -> None:
        """Queue `key`'s changelog record, on the partition the tables are routed to (see
        `route`), as Faust's tables do, and its local write (see `write`)."""
        self._slot(table).add(key, encode(key), encode(value))

    def delete(self, table: Any, key: str) -> None:
        """Queue the removal of `key` (if present) and its tombstone."""
        self._slot(table).add(key, encode(key), None)

    def _slot(self, table: Any) -> Slot:
        slots = self._routed_slots
        if slots is None:
            raise RuntimeError("table write outside a routed batch (see route)")
        slot = slots.get(id(table))
        if slot is None:
            slot = slots[id(table)] = Slot(table)
        return slot

    def unlanded(self, table: Any, key: str) -> Any:
        """The value of `key` sealed and not yet in `table`'s local store, on the partition the
        tables are routed to: decoded, None when deleted, `UNSET` when there is none."""
        if not self.in_flight or self.partition is None:
            return UNSET
        slots = self.in_flight.get(self.partition)
        slot = None if slots is None else slots.get(id(table))
        if slot is None:
            return UNSET
        record = slot.latest.get(key)
        if record is None:
            return UNSET
        raw = record[1]
        return None if raw is None else orjson.loads(raw)

    def _apply(self, sealed: Sealed) -> None:
        """Make the sealed writes in the local stores, each partition's with the tables routed
        to it (a RocksDB store writes to the current event's partition); only each key's last
        write of the batch, which is where its changelog records end."""
        die = self._failpoint
        for partition, slots in sealed.slots.items():
            route_tables_by(self.routes[partition])
            for slot in slots.values():
                store = slot.table.data
                if serialized(store):  # RocksDB keeps the record's bytes
                    for key_bytes, raw in slot.latest.values():
                        if die is not None:
                            die()
                        with suppress(KeyError):  # a delete of a key never written
                            store_write(store, key_bytes, raw)
                    continue
                # The memory store keeps the changelog's bytes, as RocksDB does (a decoded
                # bucket, nested dicts and lists, took ten times the memory; `stores.TableView`
                # decodes them on read), in its dict, written directly (see `memory_dict`).
                data: Any = memory_dict(store)
                if data is None:  # a plain mapping (tests)
                    data = store
                for key, (_, raw) in slot.latest.items():
                    if die is not None:
                        die()
                    if raw is None:
                        data.pop(key, None)
                    else:
                        data[key] = raw
        self.in_flight = {}  # in the stores now
        if self.partition is not None:
            route_tables_by(self.routes[self.partition])

    def seal(self) -> Sealed:
        """Take the queued writes out, for `write`; until it has put them in the local stores,
        `unlanded` answers for them. Sealing while an earlier sealed batch is unwritten is an
        error: its reads would no longer find that batch's writes."""
        if self.in_flight:
            raise RuntimeError("a sealed batch of table writes is still in flight (see write)")
        sealed = Sealed(self.slots)
        self.in_flight = self.slots
        self.slots = {}
        partition = self.partition
        self._routed_slots = None if partition is None else self.slots.setdefault(partition, {})
        return sealed

    async def write(self, sealed: Sealed) -> int:
        """Send the sealed records, wait for the broker, write the local stores, then move the
        stores' persisted offsets (see the module); returns how many records were sent."""
        try:
            return await self._write(sealed)
        finally:
            self.in_flight = {}

    async def _write(self, sealed: Sealed) -> int:
        producer: Any = producer_of(self.app)
        sent: list[tuple[Slot, int, Any, int]] = []
        for partition, slots in sealed.slots.items():
            for slot in slots.values():
                topic = slot.table.changelog_topic.get_topic_name()
                for future, count in await _send(producer, topic, partition, slot.records):
                    sent.append((slot, partition, future, count))
        if not sent:  # every local write has a changelog record
            return 0
        persisted: dict[tuple[Slot, int], int] = {}
        for slot, partition, future, count in sent:
            meta = await future
            last = meta.offset + count - 1
            persisted[(slot, partition)] = max(persisted.get((slot, partition), last), last)
        self._apply(sealed)
        for (slot, partition), offset in persisted.items():
            topic = slot.table.changelog_topic.get_topic_name()
            slot.table.data.set_persisted_offset(TP(topic, partition), offset)
        return sum(count for _, _, _, count in sent)


class Slot:
    """One table's writes on one partition in a batch."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.records: list[tuple[bytes, bytes | None]] = []
        """The changelog records, in the order written."""
        self.latest: dict[str, tuple[bytes, bytes | None]] = {}
        """Each key's last record: what the local store gets, and what `unlanded` reads."""

    def add(self, key: str, key_bytes: bytes, raw: bytes | None) -> None:
        record = (key_bytes, raw)
        self.records.append(record)
        self.latest[key] = record


class Sealed:
    """One batch's table writes, taken out of the writer to be written (see `TableWriter`)."""

    def __init__(self, slots: dict[int, dict[int, Slot]]) -> None:
        self.slots = slots
        """Per partition, per table (by id)."""


async def _send(
    producer: Any, topic: str, partition: int, records: Sequence[tuple[bytes | None, bytes | None]]
) -> list[tuple[Any, int]]:
    """Hand the records to the producer as produce batches: (delivery future, records) each."""
    sent = []
    for batch in _batches(producer, topic, records):
        future = await producer.send_batch(batch, topic, partition=partition)
        sent.append((future, batch.record_count()))
    return sent


def _batches(
    producer: Any, topic: str, records: Sequence[tuple[bytes | None, bytes | None]]
) -> Iterator[Any]:
    """The records in as few produce batches as they fit, in order (timestamped by the
    builder, now, as the batch's own `append` does with no timestamp)."""
    batch = producer.create_batch()
    append = batch_appender(batch)
    count = 0
    for key, value in records:
        if append(count, None, key, value, _NO_HEADERS) is None:
            if count == 0:
                raise ValueError(f"a record of {topic} is larger than a produce batch")
            set_record_count(batch, count)
            yield batch
            batch = producer.create_batch()
            append = batch_appender(batch)
            count = 0
            if append(count, None, key, value, _NO_HEADERS) is None:
                raise ValueError(f"a record of {topic} is larger than a produce batch")
        count += 1
    set_record_count(batch, count)
    yield batch


_NO_HEADERS: list[tuple[str, bytes]] = []
"""The headers of every record appended (the builder only reads them)."""


class RecordSender:
    """Records for other topics (the internal ones), sent the same way: a few batches per
    partition, in the order queued, then a wait until the broker has them all."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pending: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = defaultdict(
            list
        )

    def queue(self, topic: str, partition: int, value: Any) -> None:
        """Queue `value` as compact JSON, with no key (the partition is given)."""
        self.pending[(topic, partition)].append((None, encode(value)))

    async def send(self) -> list[Awaitable[Any]]:
        """Hand what is queued to the producer; returns the futures of its delivery."""
        if not self.pending:
            return []
        pending, self.pending = self.pending, defaultdict(list)
        producer: Any = producer_of(self.app)
        sent: list[Awaitable[Any]] = []
        for (topic, partition), records in pending.items():
            sent.extend(future for future, _ in await _send(producer, topic, partition, records))
        return sent
