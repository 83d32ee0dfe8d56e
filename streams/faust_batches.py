"""Batch delivery: the records of each fetch go to one handler call, past Faust's per-record path.

Faust hands every fetched record, one at a time, through its conductor (flow control, decoding,
a channel queue) and a stream iterator (tracking, acking), with several awaits per record: an
agent that only counts tops out near 10k records/s on these machines. livewatch's work on a
record is a few dictionary updates, so that machinery was most of its cost. Here the consumer's
fetch loop gives the records of the batch topics to `BatchApp.batch_handler` as one list per fetch,
and keeps Faust's contract around it: each record is tracked before the handler sees it (a
rebalance waits for the batch, as it waits for a stream's events) and the handler acks it after;
offsets are committed by Faust's own commit logic from those acks; gaps, seeks, generation
changes and paused partitions are honoured as in Faust's loop. Records of other topics (table
changelogs during recovery or for standbys) take Faust's usual path.

This overrides `Consumer._drain_messages` of faust-streaming 0.15; the attributes it relies on
are checked by `tests/streams/test_faust_private.py`, which fails when an upgrade moves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

BatchHandler = Callable[[list[Any]], Awaitable[None]]
"""Called with the tracked messages of one fetch, in offset order per partition; acks them."""
Between = Callable[[], Awaitable[None]]
"""Called between fetches (at most every `BETWEEN_S`), in the fetch loop, so never during a
batch."""

BETWEEN_S = 0.2
"""Seconds between two calls of `between`: often enough that a partition held back by an old
end offset moves on soon after its next poll, rarely enough to cost nothing per fetch."""


class BatchApp(faust.App):
    """A Faust app whose consumer delivers the records of `batch_topics` in batches."""

    batch_topics: frozenset[str] = frozenset()
    batch_handler: BatchHandler | None = None
    between_batches: Between | None = None

    def deliver_batches(
        self, topic: Any, handler: BatchHandler, between: Between | None = None
    ) -> None:
        """Subscribe to `topic` (a Faust topic, possibly of several names) and give its records
        to `handler`, one call per fetch. The topic joins the subscription like an agent's, so
        the tables stay co-partitioned with it."""
        self.batch_topics = frozenset(topic.topics)
        self.batch_handler = handler
        self.between_batches = between
        self.topics.add(topic)

    def _new_transport(self) -> Any:
        return BatchTransport(self.conf.broker_consumer, self)


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a fetch loop that delivers batches (see the module).

    It also says when Faust's commits stop moving, which Faust keeps quiet about: a commit the
    broker refused as "already rebalanced" returns False without a word, and acknowledged
    offsets behind an unacknowledged one are held back for good. Either leaves the group's
    committed offset behind what was processed (a restart reads it all again), and the lag
    metric, which counts from what was processed, does not show it. (The fault suite has seen a
    partition's commits stop while its records were all processed; these warnings are there to
    tell which of the two it was.)"""

    _held_reported: set[tuple[TP, int | None]] | None = None

    async def _commit(self, offsets: Any) -> bool:
        done = bool(await super()._commit(offsets))
        if not done and offsets:
            self.log.warning(f"commit_failed: the broker took none of {dict(offsets)!r}")
        return done

    def _new_offset(self, tp: TP) -> int | None:
        offset: int | None = super()._new_offset(tp)
        acked = self._acked[tp]
        if offset is None and acked:  # held back: Faust left the list as it was
            first = min(acked)
            committed = self._committed_offset[tp]
            reported = self._held_reported = self._held_reported or set()
            if (tp, committed) not in reported:  # once per stall
                reported.add((tp, committed))
                self.log.warning(
                    f"commit_held: {tp.topic}[{tp.partition}] committed {committed}, first "
                    f"acknowledged offset {first} ({len(acked)} acknowledged past the gap)"
                )
        return offset

    async def _drain_messages(self, fetcher: Any) -> None:
        app: Any = self.app
        handler: BatchHandler | None = app.batch_handler
        batch_topics: frozenset[str] = app.batch_topics
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        fetcher_stopped = fetcher._stopped.is_set
        between: Between | None = app.between_batches
        loop = asyncio.get_running_loop()
        next_between = loop.time()
        try:
            while not (self._stopped.is_set() or fetcher_stopped()):
                records, active = await self._wait_next_records(BETWEEN_S if between else 1.0)
                # The generation the records were fetched in, taken before anything awaits (as
                # Faust's getmany does): a rebalance completed during `between` seeks back to
                # the committed offsets, and records fetched before it must not be admitted
                # then, or they move the read offsets past records the refetch brings again.
                generation = app.consumer_generation_id
                await asyncio.sleep(0)
                if between is not None and self.flow_active and loop.time() >= next_between:
                    await between()
                    next_between = loop.time() + BETWEEN_S
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    # As Faust's getmany: back to the committed offsets. A rebalance may have
                    # revoked a partition meanwhile (IllegalStateError: no current assignment);
                    # its new assignment seeks again, so, as Faust does, warn and go on.
                    try:
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning(f"exception performing seek when flow not active {exc!r}")
                    continue
                batch: list[Any] = []
                for tp, fetched in records.items():
                    if app.consumer_generation_id != generation:
                        break  # rebalanced since the fetch: its seek brings these again
                    if not (active is None or tp in active or tp in self._buffered_partitions):
                        continue
                    app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    if tp.topic in batch_topics and handler is not None:
                        batch.extend(await self._admit(tp, fetched, acks_enabled_for))
                        continue
                    for record in fetched:  # Faust's path, record by record
                        if app.consumer_generation_id != generation or not self.flow_active:
                            break
                        offset = read_offset[tp]
                        if offset is None or record.offset >= offset:
                            await self.wait_first(
                                callback(self._to_message(tp, record)), self.suspend_flow.wait()
                            )
                            read_offset[tp] = record.offset
                if batch and handler is not None:
                    if app.consumer_generation_id != generation:
                        continue  # a rebalance came between fetch and delivery: refetch
                    for message in batch:
                        self.track_message(message)
                    await handler(batch)
                commit_every = self._commit_every
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _admit(self, tp: TP, fetched: list[Any], acks_enabled_for: Any) -> list[Any]:
        """The messages of `fetched` not read before, noting offset gaps for the commit logic
        (transaction markers, compaction), as Faust's loop does."""
        read_offset = self._read_offset
        to_message = self._to_message
        admitted = []
        for record in fetched:
            offset = record.offset
            last = read_offset[tp]
            if last is not None and offset < last:
                continue  # read already (a seek went back)
            if last and offset - last > 1 and acks_enabled_for(tp.topic):
                await self._add_gap(tp, last + 1, offset)
            read_offset[tp] = offset
            admitted.append(to_message(tp, record))
        return admitted


class BatchTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[Any]] = BatchConsumer
