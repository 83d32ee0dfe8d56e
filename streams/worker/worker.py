"""The worker's batch loop: records in, partition tasks stepped, alerts and state out.

`Worker` is the shell around `PartitionTask` that the Faust app (`worker.app`) wires to its
consumer, producer and tables, through three narrow interfaces: `Consumer` (where the inputs
stand), `Outputs` (what is sent) and `Storage` (what is kept). Nothing here imports Faust, so
the loop can be tested without a broker, and the same `PartitionTask.step` runs here and in
the replay.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, cast

import orjson
import structlog

from schemas import Alert
from streams.codecs import DecodeError
from streams.core.detector import Detector
from streams.core.facts import Fact
from streams.core.order_index import IndexStore
from streams.core.partition import REFUSED, PartitionTask, Positions, Route, Step, refusal
from streams.core.state import DECODE_ERRORS, StateVersionError
from streams.pipeline import build_task
from streams.placement import Owners
from streams.settings import Settings
from streams.wire_facts import fact_of_bytes
from streams.worker.deadletter import DeadLetter
from streams.worker.forwarding import ForwardingReport
from streams.worker.metrics import ShellCounts

log = structlog.get_logger("livewatch.worker")


TURN_EVERY = 500
"""Records applied between two turns of the event loop. The HTTP server (probes, `/metrics`)
shares the loop with the batches; without turns a catching-up worker's probe waited for a
whole batch (up to 1.5 s at 15,000 records; 0.55 s with turns), which kept batches small. What
runs in a turn only reads the worker's state (`TableStates.peek`), or waits for the batch
(a rebalance, Faust waits for its records to be acknowledged); the rules topic's reader may
add a rule set, which applies at its recorded boundary whenever it is read (see `RuleBook`)."""

REPEAT_MARKS_S = 30.0
"""A partition that sent no mark for this long sends its latest ones again (see
`PartitionTask.repeat_marks`): a receiver that missed one waits at most this long."""


class Record(Protocol):
    """What the worker reads of a consumed record (aiokafka's `ConsumerRecord` has these)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Any: ...
    @property
    def timestamp(self) -> int | None:
        """The record's Kafka timestamp, ms since the epoch."""


class Consumer(Protocol):
    """Where the consumer's partitions stand, by topic name and partition."""

    def highwater(self, topic: str, partition: int) -> int | None: ...
    def committed(self, topic: str, partition: int) -> int | None: ...
    def polled(self, topic: str, partition: int) -> int | None:
        """A time before the broker answered the fetch that last told the end offset (ms
        since the epoch: when its request was sent); None: not yet."""

    def received(self, topic: str, partition: int) -> int | None:
        """When the fetch response that last told the end offset was handled (ms since the
        epoch): the broker had answered by then, with what was fetched. None: not yet."""

    def passed(self, topic: str, partition: int) -> int | None:
        """The offset below which every record has been handled, stepping over offsets that
        hold none, such as transaction markers (None: not known)."""

    def assignment(self) -> Iterable[tuple[str, int]]: ...
    def generation(self) -> int:
        """Changes with every rebalance."""


class Outputs(Protocol):
    """The topics the worker writes, other than its tables' changelogs."""

    def queue(self, topic: str, partition: int, value: dict[str, Any]) -> None:
        """Queue a record for an internal topic (sent by `flush`)."""

    async def alert(self, alert: Alert) -> Awaitable[Any]:
        """Send an alert; the returned future is done once the broker has it."""

    async def shadow_alert(self, alert: Alert) -> Awaitable[Any]:
        """Send an alert of a shadow rule set to the shadow alerts topic."""

    async def dead_letter(self, record: DeadLetter) -> Awaitable[Any]: ...
    async def send(self) -> list[Awaitable[Any]]:
        """Send the queued internal records; the futures are done once the broker has them."""


class Storage(Protocol):
    """The worker's state: anchors, the order memory, the order index, the tasks' clocks."""

    def route(self, topic: str, partition: int) -> None:
        """Reads and writes from here on are the partition's (its changelog partition)."""

    def task_state(self, partition: int) -> Any | None: ...
    def drop_task_state(self, partition: int, exc: BaseException) -> None:
        """The stored task state could not be read back: count it and drop it."""

    def save(self, partition: int, task: PartitionTask, step: Step) -> None:
        """Queue the partition's changed state after a step (see `seal`)."""

    def seal(self) -> Any:
        """Take the queued state out, for `write`; until written, reads still find it."""

    async def write(self, sealed: Any) -> None:
        """Write sealed state: on the broker, then in the local stores."""

    def forget(self) -> None:
        """Drop what is cached: the partitions may be another worker's now."""


class Worker:
    """Applies fetched records per partition, steps each partition's task, and sends what it
    says: internal records and alerts first, then the state (see `deliver`)."""

    def __init__(
        self,
        settings: Settings,
        detector: Detector,
        index: IndexStore,
        storage: Storage,
        outputs: Outputs,
        consumer: Consumer,
        infrastructure: tuple[type[BaseException], ...] = (StateVersionError,),
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.index = index
        self.storage = storage
        self.outputs = outputs
        self.consumer = consumer
        self.infrastructure = infrastructure
        """Errors of the broker, the tables or the stored state, not of a record: `apply`
        lets them through rather than dead-letter the record (see `worker.app`)."""
        self.zone = settings.naive_zone
        """Where event times written without an offset are read (None: refused)."""
        self.owners = Owners(settings.partitions)
        """The ownership function every routing decision uses (see `placement`)."""
        internal = settings.internal_topics
        self.kinds = {topic: kind for kind, topic in settings.topic_by_kind.items()}
        self.kinds.update({topic: kind for kind, topic in internal.items()})
        self.topic_of = {kind: topic for topic, kind in self.kinds.items()}
        self.internal_topics = set(internal.values())
        self.tasks: dict[int, PartitionTask] = {}
        self.counts = ShellCounts()
        self.off_partition = ForwardingReport(log)
        self.evaluation: Callable[[], AbstractContextManager[Any]] = nullcontext
        """Times each step (the metrics' histogram, once the app has its metrics)."""
        self.observe_lags: Callable[[list[float]], None] = _ignore
        """Observes how far behind the wall clock the input records of a batch were applied
        (seconds, one value per record, taken when the batch's records have all been applied)."""
        self.lags: list[float] = []
        """The event times (epoch seconds) of the batch's input records applied."""
        self.rules_horizon: Callable[[], int | None] | None = None
        """How far the rules topic vouches for (see `PartitionTask.horizon`); None: the rules
        file alone (tests that drive the loop)."""
        self.said: dict[int, float] = {}
        """Monotonic second each partition last sent its marks, for `repeat_marks_s`."""
        self.repeat_marks_s = REPEAT_MARKS_S
        self.landing: Awaitable[None] | None = None
        """The last batch's delivery, running while the next batch is worked on (see
        `deliver`)."""
        self.guard: Callable[[Awaitable[None]], Awaitable[None]] = _plain
        """Runs each delivery: the app's exits the process when one fails or hangs."""
        self.between_batches = asyncio.Lock()
        """Held by `retick`. A rebalance waits for the batch in hand (its records are tracked),
        not for an evaluation between batches: a revoked partition's state, marks and alerts
        written after its next owner recovered it would race that owner (a mark it never saw
        broken, an anchor's evaluation lost). So revocation waits for this lock."""

    # -- partitions -----------------------------------------------------------------------------

    def task_for(self, partition: int) -> PartitionTask:
        """This partition's task, restored from storage after a start or a rebalance."""
        task = self.tasks.get(partition)
        if task is None:
            task = self.tasks[partition] = self._new_task(partition)
            self.said[partition] = time.monotonic()
            saved = self.storage.task_state(partition)
            if saved is not None:
                try:
                    task.restore(saved)
                except DECODE_ERRORS as exc:
                    # Its marks and read times start over: boundaries wait for every partition
                    # to mark itself again, as after a first start.
                    self.storage.drop_task_state(partition, exc)
                    task = self.tasks[partition] = self._new_task(partition)
        return task

    def _new_task(self, partition: int) -> PartitionTask:
        task = build_task(partition, self.settings, self.detector, self.index, self.owners)
        task.horizon = self.rules_horizon
        return task

    async def forget_partitions(self) -> None:
        """On a rebalance: tasks and cached state are reloaded from storage by the next owner,
        once an evaluation between batches has written what it sent."""
        async with self.between_batches:
            await self.landed()
            self.tasks.clear()
            self.said.clear()
            self.storage.forget()

    def active_anchors(self) -> list[str]:
        """The anchors this worker's partitions are evaluating (for the API's summary)."""
        return [a for task in list(self.tasks.values()) for a in sorted(task.clock.active)]

    def event_times(self) -> dict[int, tuple[int | None, int | None]]:
        """Per partition this worker holds: the latest event time read on its inputs, and how
        far its anchors' boundaries are judged (ms; None: not yet in this process). Apart,
        they show detection held back while reading goes on (see docs/operations.md)."""
        return {
            partition: (max(task.clock.topic_time.values(), default=None), task.evaluated_ms)
            for partition, task in sorted(self.tasks.items())
        }

    def positions(self, partition: int) -> Positions:
        consumer, topic_of = self.consumer, self.topic_of
        return Positions(
            highwater=lambda kind: consumer.highwater(topic_of[kind], partition),
            committed=lambda kind: consumer.committed(topic_of[kind], partition),
            polled=lambda kind: consumer.polled(topic_of[kind], partition),
            passed=lambda kind: consumer.passed(topic_of[kind], partition),
        )

    def consumer_lag(self) -> dict[str, int]:
        """Records waiting per topic kind on this worker's partitions."""
        lag = dict.fromkeys(self.kinds.values(), 0)
        try:
            assigned = list(self.consumer.assignment())
        except Exception:  # not started yet, or stopping
            return lag
        for topic, partition in assigned:
            kind = self.kinds.get(topic)
            if kind is None:
                continue
            end = self.consumer.highwater(topic, partition)
            task = self.tasks.get(partition)
            done = task.clock.last_offset.get(kind) if task else None
            start = done + 1 if done is not None else self.consumer.committed(topic, partition)
            passed = self.consumer.passed(topic, partition)
            if passed is not None:
                start = max(start or 0, passed)  # past transaction markers
            if end is not None:
                lag[kind] += max(0, end - (start or 0))
        return lag

    # -- batches --------------------------------------------------------------------------------

    async def process(self, records: list[Any], done: Callable[[], None] | None = None) -> None:
        """One fetch: apply each partition's records in offset order, step its task, then
        deliver what every partition said (see `deliver`), and call `done` once it is
        delivered, possibly after returning: the caller acknowledges the records then."""
        sends: list[Awaitable[Any]] = []
        dead_letters: list[Awaitable[Any]] = []
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for record in records:
            by_partition[record.partition].append(record)
        applied = 0
        for partition, group in by_partition.items():
            self.storage.route(group[0].topic, partition)
            task = self.task_for(partition)
            for record in group:
                rejection = self.apply(record, task)
                if rejection is not None:
                    dead_letters.append(await self._dead_letter(record, *rejection))
                applied += 1
                if applied % TURN_EVERY == 0:
                    await asyncio.sleep(0)
            read_inputs = any(r.topic not in self.internal_topics for r in group)
            if read_inputs:
                task.clock.fetched(self._fetched_by(partition, group))
            if any(r.topic in self.internal_topics for r in group):
                task.clock.marks_arrived(self._received_by(partition, self.internal_topics))
            with self.evaluation():
                step = task.step(self.positions(partition), time.monotonic(), read_inputs)
            await self._publish(task, step, sends)
        now = time.time()
        self.observe_lags([max(0.0, now - t) for t in self.lags])
        self.lags.clear()
        await self.deliver([*dead_letters, *sends], done)

    async def retick(self) -> None:
        """Between fetches: a partition held back by an end offset polled before its latest
        records were fetched (see `PartitionClock.progress`) moves on once the end offset is
        polled anew, also when nothing more arrives (the end of a stream). Its alerts may
        come after its records were committed: the state is written only once they are sent,
        so a worker that could not send them derives them again after a restart, at the
        partition's next record."""
        now = time.monotonic()
        said = self.said
        since = now - self.repeat_marks_s
        due = [t for t in self.tasks.values() if said.get(t.partition, now) <= since]
        if not due and not any(_held(task) for task in self.tasks.values()):
            return
        async with self.between_batches:
            held = [task for task in self.tasks.values() if _held(task)]
            sends: list[Awaitable[Any]] = []
            generation = self.consumer.generation()
            for task in held:
                partition = task.partition
                if not self._still_held(task, generation):
                    break  # a rebalance: the partitions' next owners judge again
                self.storage.route(self.topic_of["orders"], partition)
                with self.evaluation():
                    step = task.retick(self.positions(partition), time.monotonic())
                if step is not None:
                    await self._publish(task, step, sends)
            for task in due:
                if not self._still_held(task, generation):
                    break
                if said.get(task.partition, now) <= since:  # nothing said meanwhile
                    for out in task.repeat_marks():
                        self.outputs.queue(self.topic_of[out.kind], out.partition, out.value)
                    said[task.partition] = now
            await self.deliver(sends)

    def _still_held(self, task: PartitionTask, generation: int) -> bool:
        """Whether `task` is still this worker's, in the generation an evaluation between
        batches started in."""
        return self.consumer.generation() == generation and self.tasks.get(task.partition) is task

    async def _publish(self, task: PartitionTask, step: Step, sends: list[Awaitable[Any]]) -> None:
        """Queue what the step sends on, its alerts (their futures join `sends`) and the
        partition's state, all sent by `deliver`."""
        marks = False
        for out in step.outbox:
            self.outputs.queue(self.topic_of[out.kind], out.partition, out.value)
            marks = marks or "m" in out.value
        if marks:
            self.said[task.partition] = time.monotonic()
        for kind, sender in task.take_repaired():
            self.counts.marks_repaired[(kind,)] += 1
            log.warning(
                "mark_repaired", partition=task.partition, topic=kind, sender=sender,
                detail="a repeated mark told this partition something new: the mark itself "
                "never reached it, and its detection waited for it",
            )  # fmt: skip
        sends.extend([await self._send_alert(alert) for alert in step.alerts])
        self.storage.save(task.partition, task, step)

    async def deliver(
        self, sends: list[Awaitable[Any]], done: Callable[[], None] | None = None
    ) -> None:
        """Send the internal records, then start the batch's landing (`_land`) and return:
        the next batch is worked on while the broker answers, which took a fifth of a
        catching-up worker's time when each batch waited. The last batch's landing is
        awaited first, so one batch's state is in flight at a time, and in order."""
        await self.landed()
        sent = await self.outputs.send()
        sealed = self.storage.seal()
        self.landing = asyncio.ensure_future(self.guard(self._land([*sent, *sends], sealed, done)))

    async def _land(
        self, sends: list[Awaitable[Any]], sealed: Any, done: Callable[[], None] | None
    ) -> None:
        """Alerts, dead letters and the records for other partitions before the state that
        produced them: a crash in between re-derives and sends the same again (at-least-once,
        and the receivers drop what they counted already). The other way round, a restart
        would find the boundaries evaluated already and the alerts never sent. One wait for
        the broker per batch, not per partition: each is a round trip, and every partition's
        marks wait for the slowest batch. Then the state: on the broker, and in the local
        stores (see `table_writes`), and only then `done`: the batch's records are
        acknowledged, and its positions may be committed."""
        for future in sends:
            await future
        await self.storage.write(sealed)
        if done is not None:
            done()

    async def landed(self) -> None:
        """Wait for the last batch's landing (see `deliver`); its error is raised here."""
        landing = self.landing
        if landing is not None:
            await landing
            if self.landing is landing:
                self.landing = None

    # -- records --------------------------------------------------------------------------------

    def apply(self, record: Record, task: PartitionTask) -> tuple[str, str, str] | None:
        """Apply one record; a bad one gives (topic kind, reason, error) for the dead-letter
        topic, never an exception up the stack (but the infrastructure's: see
        `infrastructure`).

        Records are applied in offset order, not re-sorted by event time: lateness is judged
        per topic in the order the topic holds, exactly as the replay reads a file. Every
        offset is observed by the partition clock, whatever becomes of its record.
        """
        kind = self.kinds[record.topic]
        internal = record.topic in self.internal_topics
        size = len(record.value) if record.value is not None else 0
        limit = self.settings.max_record_bytes
        if not internal and size > limit:
            return self._reject(task, kind, record.offset, "too_large", (
                f"value of {size} bytes, over LIVEWATCH_MAX_RECORD_BYTES={limit} "
                "(an event is under 2 KB)"
            ))  # fmt: skip
        try:
            value: Any = (
                orjson.loads(cast(bytes, record.value))
                if internal
                else fact_of_bytes(kind, record.value, self.zone)
            )
        except (DecodeError, ValueError, TypeError) as exc:
            return self._reject(task, kind, record.offset, "invalid", str(exc))
        try:
            if internal:
                task.internal(kind, value, record.offset)
                return None
            stamp = record_ms(record)
            fact: Fact = value
            route = task.external(kind, fact, record.offset, stamp)
        except self.infrastructure:
            raise  # not the record's fault
        except Exception as exc:  # the worker never dies on input: park the record
            log.exception(
                "event_failed", topic=record.topic, partition=record.partition,
                offset=record.offset,
            )  # fmt: skip
            return self._reject(task, kind, record.offset, "error", f"internal error: {exc!r}")
        if route in REFUSED:
            self.counts.rejected[(kind, route.value)] += 1
            return kind, route.value, refusal(task, kind, fact, stamp)
        if route is not Route.LOCAL and route is not Route.LATE:
            self.off_partition.note(kind, route, record.key, fact.anchor_id)
        self.lags.append(fact.t / 1000)
        return None

    def _reject(
        self, task: PartitionTask, kind: str, offset: int, reason: str, error: str
    ) -> tuple[str, str, str]:
        self.counts.rejected[(kind, reason)] += 1
        task.rejected(kind, offset)
        return kind, reason, error

    def _fetched_by(self, partition: int, group: list[Any]) -> int:
        """When the input records of `group` had been fetched, at the latest (ms)."""
        topics = {r.topic for r in group if r.topic not in self.internal_topics}
        return self._received_by(partition, topics)

    def _received_by(self, partition: int, topics: Iterable[str]) -> int:
        """When the latest responses for `topics` had been handled (ms): at the latest."""
        times = [self.consumer.received(topic, partition) for topic in topics]
        return max((t for t in times if t is not None), default=int(time.time() * 1000))

    async def _send_alert(self, alert: Alert) -> Awaitable[Any]:
        if alert.shadow:
            # Never to the alerts topic, so never to the notifier or the pager.
            self.counts.shadow_alerts[(alert.rule.value, alert.status.value)] += 1
            return await self.outputs.shadow_alert(alert)
        self.counts.alerts[(alert.rule.value, alert.severity.value, alert.status.value)] += 1
        log.info(
            "alert", alert_id=alert.alert_id, rule=alert.rule.value, status=alert.status.value,
            severity=alert.severity.value, anchor_id=alert.anchor_id,
            session_id=alert.session_id,
        )  # fmt: skip
        return await self.outputs.alert(alert)

    async def _dead_letter(
        self, record: Record, kind: str, reason: str, error: str
    ) -> Awaitable[Any]:
        self.counts.dead_letters[(kind, reason)] += 1
        letter = DeadLetter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            error=error,
            original_headers=tuple(headers_of(record.headers)),
            reason=reason,
        ).fitted()
        log.warning(
            "dead_letter", topic=letter.topic, partition=letter.partition, offset=letter.offset,
            reason=reason, error=error, truncated=",".join(letter.truncated) or None,
        )  # fmt: skip
        return await self.outputs.dead_letter(letter)


def record_ms(record: Any) -> int | None:
    """A record's Kafka timestamp in ms (None when it has none)."""
    stamp = getattr(record, "timestamp", None)
    if stamp is None or stamp <= 0:
        return None
    return int(stamp)


def headers_of(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(k), bytes(v) if v is not None else b"") for k, v in items]


def _ignore(_: list[float]) -> None:
    return None


async def _plain(work: Awaitable[None]) -> None:
    await work


def _held(task: PartitionTask) -> bool:
    """Whether a partition waits for something that may change between fetches: an end
    offset polled anew, or the rules topic read further."""
    return task.clock.held_by_poll or task.held_by_rules
