"""Batch delivery: the records of each fetch go to one handler call, past Faust's per-record path.

Faust hands every fetched record, one at a time, through its conductor (flow control, decoding,
a channel queue) and a stream iterator (tracking, acking), with several awaits per record: an
agent that only counts tops out near 10k records/s on these machines. livewatch's work on a
record is a few dictionary updates, so that machinery was most of its cost. Here the consumer's
fetch loop gives the records of the batch topics to `BatchApp.batch_handler` as one list per fetch,
as aiokafka fetched them (no Faust message per record), and keeps Faust's contract around it:
the batch is tracked before the handler sees it, as one Faust message standing for all of its
records (a rebalance waits for the batch, as it waits for a stream's events), and the handler
acks it once the batch's work is written, which may be after the next batch was handed out;
Faust's commit timer and rebalance commits commit each partition's position after its last
handled batch (see `BatchConsumer`); seeks, generation changes and paused partitions are
honoured as in Faust's loop. Records of other topics (table
changelogs during recovery or for standbys) take Faust's usual path.

This overrides `Consumer._drain_messages` of faust-streaming 0.15; the attributes it relies on
are checked by `tests/worker/test_faust_private.py`, which fails when an upgrade moves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.futures import notify

from streams.worker import faust_private, input_alignment

BatchHandler = Callable[[list[Any], Callable[[], None]], Awaitable[None]]
"""Called with the records of one fetch (aiokafka's `ConsumerRecord`s: timestamps in ms), in
offset order per partition, and `done`, to call once the batch's work is written, also after
returning: `done` moves the partitions' positions (so their commits) past the batch and
acknowledges it. A rebalance and a stop wait for it."""
Between = Callable[[], Awaitable[None]]
"""Called between fetches (at most every `BETWEEN_S`), in the fetch loop, so never during a
batch."""

BETWEEN_S = 0.2
"""Seconds between two calls of `between`: often enough that a partition held back by an old
end offset moves on soon after its next poll, rarely enough to cost nothing per fetch."""


COMMIT_SLOW_S = 30.0
"""A commit unanswered this long is reported (`commit_slow`); Faust would wait in silence."""


class BatchApp(faust.App):
    """A Faust app whose consumer delivers the records of `batch_topics` in batches."""

    batch_topics: frozenset[str] = frozenset()
    isolation_level: str | None = None
    """Kafka's `isolation.level` for the inputs (None: Faust's choice, `read_uncommitted`)."""
    fetch_max_wait_ms: int | None = None
    """How long the broker may hold a fetch that finds nothing new (None: Faust's 1.5 s; see
    `BatchConsumerThread`)."""
    batch_handler: BatchHandler | None = None
    between_batches: Between | None = None
    first_topics: frozenset[str] = frozenset()
    """Topics whose fetched records go into each batch ahead of the others' (see
    `BatchConsumerThread._fetch_records`)."""
    aligned_topics: tuple[str, ...] = ()
    """Batch topics whose partitions are handed out side by side in time, partition number by
    partition number (see `input_alignment`), each batch's in this order: the orders before
    the refunds that name them."""

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

    async def on_first_start(self) -> None:
        """Faust makes its data directory one level deep; livewatch's is a directory per app
        id inside `LIVEWATCH_DATA_DIR` (see `Settings.data_dir`), which may not exist yet."""
        Path(self.conf.datadir).mkdir(parents=True, exist_ok=True)
        await super().on_first_start()


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, with the broker's wait for an empty fetch cut from Faust's 1.5 s
    to the app's `fetch_max_wait_ms`, and the app's `first_topics` taken first in each batch.

    aiokafka keeps one fetch in flight per broker. While a fetched partition's records wait to
    be handled (a batch in hand), the next fetch to that broker leaves it out and asks only
    for the others, often the quiet ones (an input with no traffic on that partition, an
    internal topic just read); the broker holds such a fetch until data arrives or the wait
    ends, and the busy partitions are not fetched again until it returns. A worker measured
    at 3,000 events/s stalled 1.1 to 1.5 s every few seconds that way, followed by a batch of
    `batch_max_records`; each boundary's marks cross the internal topics twice, so each stall could
    be paid twice in an alert's latency. An idle worker fetches more often (one small request per
    broker every `fetch_max_wait_ms`)."""

    async def on_start(self) -> None:
        await super().on_start()
        # Poll times from when each fetch was sent, not handled (see `faust_private.last_poll_ms`).
        faust_private.track_fetch_sends(self._consumer)

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "fetch_max_wait_ms", None)
        if wait is not None:
            faust_private.set_fetch_max_wait(consumer, wait)
        level = getattr(self.app, "isolation_level", None)
        if level is not None:
            faust_private.set_isolation_level(consumer, level)
        return consumer

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> dict[TP, list[Any]]:
        """Faust's batch of fetched records, but those of the app's `first_topics` ahead of
        the rest, whenever they arrived.

        aiokafka hands out what it fetched in the order it fetched it, and it fetches ahead:
        in a backlog a worker held tens of thousands of input records when the marks of its
        partitions came in behind them (each boundary needs two rounds of them), so its
        anchors were judged up to 13 event hours behind what it read, all in the last
        seconds. Taken first, the marks let each batch judge what the partitions have
        promised so far. Order across topics carries no meaning here: a mark promises only
        what its sender read before it, and records of one partition stay in offset order.

        The records held are reordered, then taken by Faust's own method in one pass of
        aiokafka's, its handling of errors included: one met with records in hand is raised
        at the next call."""
        first_topics: frozenset[str] = getattr(self.app, "first_topics", frozenset())
        if first_topics:
            faust_private.put_first(consumer, first_topics)
        return cast(
            "dict[TP, list[Any]]",
            await super()._fetch_records(consumer, active_partitions, timeout, max_records),
        )


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a fetch loop that delivers batches (see the module).

    Offsets of the batch topics are committed as a plain Kafka consumer commits them: the
    position after the last record the handler finished, per partition. Faust derives its
    commits from the list of acknowledged offsets instead, and that list loses entries silently:
    an ack below its local view of the committed offset is dropped, and a partition whose acks
    were all dropped is never committed again. The fault suite saw partitions whose records were
    all processed left with their commits behind (a restart then reads them again). Positions
    need no ack list, no gaps and no holes: a batch is done only once its state is written and
    its alerts sent. The commit is made when the position passes what the broker last
    confirmed, not Faust's local view, which moves even when the broker refused the commit."""

    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done: dict[TP, int] = {}
        """Per partition of the batch topics: the offset after the last record handled."""
        self._confirmed: dict[TP, int] = {}
        """Per partition: the offset the broker last confirmed as committed by this consumer."""
        self._in_hand: set[Any] = set()
        """The Faust messages tracked for the batches handled and not yet done (see
        `_track_batch`)."""
        self._passed: dict[TP, int] = {}
        """Per partition of the batch topics: every offset below this has been handled, or
        holds no record (see `passed`)."""
        self._revoked: set[TP] = set()
        """Partitions revoked and not assigned again: a batch that was in hand when they were
        revoked must not move their positions back in (its commit would be refused, over and
        over, and a later assignment of them would start from a stale position)."""
        self._held: dict[TP, list[Any]] = {}
        """Records fetched and not handed out yet: their topic ran ahead of its partition's
        others (see `input_alignment`). Not fetched while held; never committed, so a seek
        to the committed offsets (a rebalance) brings them again, and they are dropped."""
        self._frontier: dict[TP, int] = {}
        """Per aligned partition: the latest record timestamp taken from the fetcher."""
        self._advanced: dict[TP, float] = {}
        """Per aligned partition: when its frontier last moved (monotonic seconds)."""

    def _get_active_partitions(self) -> set[TP]:
        # Faust's set, less the partitions whose records are held: the fetcher keeps what it
        # has of them, and fetches no more, until they are taken.
        active = super()._get_active_partitions()
        return active - self._held.keys() if self._held else active

    def _forget_held(self) -> None:
        """Drop the held records and what they were judged by: the partitions are read again
        from their committed offsets (a seek, a rebalance), which no held record passed."""
        self._held.clear()
        self._frontier.clear()
        self._advanced.clear()

    def _align(
        self,
        taken: dict[TP, list[Any]],
        positions: dict[TP, int],
        ends: dict[TP, int],
        now: float,
    ) -> dict[TP, list[Any]]:
        """The records to hand out now, of those just taken and those held: each aligned
        partition's in step with the others of its number (see `input_alignment`); the rest
        as taken. `positions`: where the fetcher is (past the held records); `ends`: where each
        partition's readable records end, as last fetched; `now`: monotonic seconds."""
        app: Any = self.app
        aligned: tuple[str, ...] = app.aligned_topics
        if not aligned:
            return taken
        in_hand: dict[TP, list[Any]] = {}
        out: dict[TP, list[Any]] = {}
        for tp, records in taken.items():
            if tp.topic not in aligned:
                out[tp] = records
                continue
            ts = max((t for r in records if (t := input_alignment.timestamp(r)) is not None),
                     default=None)  # fmt: skip
            if ts is not None and ts > self._frontier.get(tp, -1):
                self._frontier[tp] = ts
                self._advanced[tp] = now
            in_hand[tp] = records
        active = super()._get_active_partitions()
        for tp, records in self._held.items():
            if tp in active:  # paused meanwhile: dropped, as Faust drops a paused fetch
                in_hand[tp] = records + in_hand.get(tp, [])
        constraining = [
            tp for tp, position in positions.items()
            if tp.topic in aligned and tp in active
            and ends.get(tp, 0) > position  # records still to read
            and now - self._advanced.setdefault(tp, now) < input_alignment.STALL_S
        ]  # fmt: skip
        deliver, self._held = input_alignment.split(
            in_hand, lambda tp: tp.partition, self._frontier, constraining
        )
        rank = {topic: i for i, topic in enumerate(aligned)}
        for tp in sorted(deliver, key=lambda tp: (rank[tp.topic], tp.partition)):
            out[tp] = deliver[tp]
        return out

    def _held_back(self, positions: dict[TP, int]) -> dict[TP, int]:
        """Positions with the held records not passed (see `passed`)."""
        if not self._held:
            return positions
        moved = dict(positions)
        for tp, records in self._held.items():
            if tp in moved:
                moved[tp] = min(moved[tp], records[0].offset)
        return moved

    def passed(self, tp: TP) -> int | None:
        """The offset below which every record of `tp` has been handled, past any offsets that
        hold no record (None: none handled in this assignment).

        A transactional producer (a Flink or Kafka Streams job with exactly-once output) ends
        each transaction with a commit marker: the partition's end offset is then one past the
        last record any consumer receives, so the last record handled never reaches it. Judged
        by that record alone, such a partition never looked caught up, and since a partition
        with records waiting holds every boundary back, detection stopped everywhere. The
        consumer's own position steps over the markers; taken when the records were fetched,
        it is published as they go to the handler, which applies a partition's records before
        it judges the partition. A marker fetched on its own, later, is published between
        fetches, and the partition judged again then (`PartitionClock.held_by_poll`)."""
        return self._passed.get(tp)

    def _new_offset(self, tp: TP) -> int | None:
        app: Any = self.app
        if tp.topic not in app.batch_topics:
            return super()._new_offset(tp)
        # The acks of batch records only keep Faust's rebalance wait honest; drop their list.
        self._acked[tp].clear()
        self._acked_index[tp].clear()
        return self._done.get(tp)

    def _should_commit(self, tp: TP, offset: int) -> bool:
        app: Any = self.app
        if tp.topic not in app.batch_topics:
            return bool(super()._should_commit(tp, offset))
        return offset > self._confirmed.get(tp, -1)

    async def _commit(self, offsets: Any) -> bool:
        # Shielded so a commit that outlasts COMMIT_SLOW_S is reported, and still awaited.
        commit = asyncio.ensure_future(super()._commit(offsets))
        try:
            finished, _ = await asyncio.wait({commit}, timeout=COMMIT_SLOW_S)
            if not finished:
                self.log.warning(
                    f"commit_slow: no answer to a commit in {COMMIT_SLOW_S:g} s, still waiting"
                )
            done = bool(await commit)
        except asyncio.CancelledError:
            commit.cancel()
            raise
        if done:
            self._confirmed.update(offsets)
        elif offsets:
            self.log.warning(f"commit_failed: the broker took none of {dict(offsets)!r}")
        return done

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # After Faust's handling, which waits for the batch in hand and commits it.
        await super().on_partitions_revoked(revoked)
        self._revoked |= revoked
        self._passed.clear()  # positions go back to the committed offsets
        self._forget_held()
        for tp in revoked:
            self._done.pop(tp, None)
            self._confirmed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self._revoked -= assigned
        self._passed.clear()
        self._forget_held()
        await super().on_partitions_assigned(assigned, generation_id=generation_id)

    def _track_batch(self, last: Any) -> Any:
        """Track the batch in hand as one Faust message, made of its last record.

        Faust's rebalance and stop wait until every tracked message is acknowledged; a batch
        is handled whole or not at all, so one message stands for all of its records. A
        message per record cost a Faust object, a weak-set entry and a sensor call each: without
        them a worker caught up 12.7% faster (docs/performance-history.md). Kept here as well:
        Faust's set holds messages weakly."""
        message = self._to_message(TP(last.topic, last.partition), last)
        self._in_hand.add(message)
        self.track_message(message)
        return message

    def ack_batch(self, message: Any, records: int) -> None:
        """Acknowledge the handled batch tracked as `message`, of `records` records. Only
        Faust's rebalance wait (every tracked message acknowledged) and its commit-every count
        read these acks; the commit itself follows the positions."""
        self._in_hand.discard(message)
        message.acked = True
        self._unacked_messages.discard(message)
        self._n_acked += records
        notify(self._waiting_for_ack)

    def _handled(self, reached: dict[TP, int]) -> None:
        """A batch was handled: move the positions of its partitions forward (a seek back to
        the committed offsets reads records again, which does not move them back)."""
        done = self._done
        acked = self._acked
        for tp, position in reached.items():
            if tp in self._revoked:
                continue
            if position > done.get(tp, -1):
                done[tp] = position
            acked.setdefault(tp, [])  # Faust's commit looks at the partitions with this key

    async def _drain_messages(self, fetcher: Any) -> None:
        app: Any = self.app
        handler: BatchHandler | None = app.batch_handler
        batch_topics: frozenset[str] = app.batch_topics
        callback = self.callback
        read_offset = self._read_offset
        fetcher_stopped = faust_private.fetcher_stopped(fetcher)
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
                # Where the fetch left each partition, before anything awaits (see `passed`).
                positions = faust_private.read_positions(self, batch_topics)
                await asyncio.sleep(0)
                if between is not None and self.flow_active and loop.time() >= next_between:
                    if await run_to_end(between()):
                        raise asyncio.CancelledError
                    next_between = loop.time() + BETWEEN_S
                if (not records and not self._held) or self.should_stop:
                    if not records:
                        self._pass(self._held_back(positions), generation, set())
                    continue
                if not self.flow_active:
                    self._forget_held()  # the seek reads them again
                    # As Faust's getmany: back to the committed offsets. A rebalance may have
                    # revoked a partition meanwhile (IllegalStateError: no current assignment);
                    # its new assignment seeks again, so, as Faust does, warn and go on.
                    try:
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning(f"exception performing seek when flow not active {exc!r}")
                    continue
                records = records or {}  # none fetched, held records to judge again
                batch: list[Any] = []
                reached: dict[TP, int] = {}
                taken: dict[TP, list[Any]] = {}
                dropped = set(records)
                for tp, fetched in records.items():
                    if app.consumer_generation_id != generation:
                        break  # rebalanced since the fetch: its seek brings these again
                    if not (active is None or tp in active or tp in self._buffered_partitions):
                        continue
                    app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    if tp.topic in batch_topics and handler is not None:
                        dropped.discard(tp)
                        admitted = self._admit(tp, fetched)
                        if admitted:
                            taken[tp] = admitted
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
                if app.consumer_generation_id != generation:
                    self._forget_held()
                    continue  # a rebalance came between fetch and delivery: refetch
                aligned = frozenset(app.aligned_topics)
                # Where the aligned partitions end: not read at all while alignment is off.
                ends = faust_private.readable_ends(self, aligned) if aligned else {}
                handing = self._align(taken, positions, ends, loop.time())
                for tp, handed in handing.items():
                    batch.extend(handed)
                    reached[tp] = handed[-1].offset + 1
                passed = self._held_back(positions)
                if batch and handler is not None:
                    # Before the handler: it steps each partition once that partition's
                    # records are applied, and the step judges from these positions.
                    self._pass(passed, generation, dropped)
                    done = self._when_done(self._track_batch(batch[-1]), batch, reached, generation)
                    if await run_to_end(handler(batch, done)):
                        raise asyncio.CancelledError
                elif not batch:
                    self._pass(passed, generation, dropped)
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

    def _when_done(
        self, message: Any, batch: list[Any], reached: dict[TP, int], generation: int
    ) -> Callable[[], None]:
        """The handler's `done` for a batch: its positions move (in the generation it was
        fetched in), then it is acknowledged."""
        app: Any = self.app

        def done() -> None:
            if app.consumer_generation_id == generation:
                self._handled(reached)
            self.ack_batch(message, len(batch))

        return done

    def _pass(self, positions: dict[TP, int], generation: int, dropped: set[TP]) -> None:
        """Publish the positions a fetch left, as its records go to the handler; not for
        partitions whose fetched records were dropped (a rebalance, a partition paused
        meanwhile)."""
        app: Any = self.app
        if app.consumer_generation_id != generation:
            return
        for tp, position in positions.items():
            if tp not in dropped and tp not in self._revoked:
                self._passed[tp] = position

    def _admit(self, tp: TP, fetched: list[Any]) -> list[Any]:
        """The records of `fetched` not read before (offsets rise within a fetch). Offset gaps,
        from transaction markers or compaction, need no bookkeeping: commits follow positions,
        not acks."""
        read_offset = self._read_offset
        last = read_offset[tp]
        if last is not None and fetched and fetched[0].offset < last:  # a seek went back
            fetched = [record for record in fetched if record.offset >= last]
        if fetched:
            read_offset[tp] = fetched[-1].offset
        return fetched


async def run_to_end(work: Awaitable[None]) -> bool:
    """Run `work` to its end even when the fetch loop is cancelled (a worker stopping: Faust
    cancels the loop, then waits for the tracked records to be acknowledged); True when it was,
    for the caller to stop once it has recorded the work. Cancelled midway, a batch would
    leave part of its changelog records sent and the rest not, and its records tracked but
    never acknowledged, so the stop would wait for them until killed. The work is bounded by
    the delivery timeout (`LIVEWATCH_DELIVERY_TIMEOUT_S`); a second cancellation ends the wait."""
    running = asyncio.ensure_future(work)
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        await running
        return True
    return False


class BatchTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[Any]] = BatchConsumer
