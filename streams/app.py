"""The Faust application: one batch handler over the three input topics, a shell around the core.

`faust -A streams.app worker` finds the module-level `app`, built on first access from the
environment; `create_app(settings)` builds one explicitly (tests, `livewatch worker`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict
from typing import Any, cast

import faust
import orjson
import structlog
from aiokafka.errors import KafkaError
from faust.exceptions import PartitionsMismatch
from faust.types import TP
from prometheus_client import REGISTRY, CollectorRegistry

from schemas import Alert
from streams import web
from streams.broker_health import BrokerProbe
from streams.codecs import DecodeError, decode, encode
from streams.core.clock import to_ms
from streams.core.partition import (
    EXTERNAL,
    HOLD,
    REFUSED,
    Mark,
    PartitionTask,
    Route,
    refusal,
)
from streams.core.rules import Rules
from streams.core.state import AnchorState, StateVersionError
from streams.deadletter import DeadLetter
from streams.faust_batches import BatchApp, BatchConsumer
from streams.faust_private import committed_offset, last_poll_ms, route_partition
from streams.forwarding import ForwardingReport
from streams.kafka_config import client_options, ssl_context
from streams.metrics import Metrics, ShellCounts, Sources
from streams.notify.envelope import cloudevent_headers
from streams.pipeline import build_detector, build_task
from streams.placement import Owners
from streams.settings import Settings
from streams.snapshot import Snapshot
from streams.stores import (
    DECODE_ERRORS,
    StorageError,
    TableIndex,
    TableOrders,
    TableStates,
    reset,
)
from streams.table_writes import MAX_BATCH_BYTES, RecordSender, TableWriter
from streams.tables import (
    ANCHOR_BUCKETS,
    ANCHOR_STATE,
    INDEX_ENTRIES,
    INDEX_WAITING,
    ORDERS_BY_ID,
    PARTITION_CLOCK,
    REFUNDS_WAITING,
    TABLES,
    changelog_configs,
)

log = structlog.get_logger("livewatch.worker")

INFRASTRUCTURE = (KafkaError, PartitionsMismatch, StateVersionError, StorageError)
"""Errors of the broker, of Faust's tables or of the stored state, not of a record: the worker
exits with EXIT_INFRASTRUCTURE, leaving the batch unacknowledged."""
EXIT_INFRASTRUCTURE = 70
"""EX_SOFTWARE: for the supervisor (Kubernetes) to restart the worker."""

BATCH_MAX = 5_000
"""Records per fetch, so per batch: about half a second of work on a catching-up worker, during
which the web server and a rebalance wait (an unbounded fetch gave 28,000-record batches)."""


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{hostport.strip()}" for hostport in bootstrap.split(",") if hostport.strip()]


def _credentials(settings: Settings) -> Any:
    if settings.security_protocol == "PLAINTEXT":
        return None
    ssl = ssl_context(settings)
    if settings.sasl_mechanism is None:
        return faust.SSLCredentials(ssl)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password.get_secret_value() if settings.sasl_password else None,
        mechanism=settings.sasl_mechanism,
        ssl_context=ssl,
    )


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Per-store RocksDB sizes (a fresh dict per table: Faust's store pops keys from it).

    A worker opens one store per table and partition (7 tables x its partitions), each with
    its own memtables and block cache; Faust's defaults (3 x 64 MB memtables and a 2 GB cache
    each) made the soak's memory climb by 50 MB a minute with no end in sight. Bounded here:
    at most stores x (2 x write buffer + block cache)."""
    mb = 2**20
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * mb,
        "max_write_buffer_number": 2,
        "target_file_size_base": 4 * settings.rocksdb_write_buffer_mb * mb,
        "block_cache_size": settings.rocksdb_block_cache_mb * mb,
        "block_cache_compressed_size": settings.rocksdb_block_cache_mb * mb,
    }


def create_app(
    settings: Settings, rules: Rules | None = None, registry: CollectorRegistry | None = None
) -> faust.App:
    """A livewatch Faust app for these settings; the rules file is checked here, at start-up.

    `registry` holds its metrics (the process-wide default registry when None).
    """
    app = BatchApp(
        settings.app_id,
        broker=_broker_urls(settings.kafka_bootstrap),
        broker_credentials=_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=settings.group_instance_id,
        broker_session_timeout=settings.session_timeout_s,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_tables_enabled=False,
        web_router_enabled=False,  # which worker owns what: livewatch routes itself
        canonical_url=settings.advertised_url or f"http://{settings.web_host}:{settings.web_port}",
        table_standby_replicas=0 if settings.replication_factor == 1 else 1,
        producer_max_batch_size=MAX_BATCH_BYTES,
        broker_max_poll_records=BATCH_MAX,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    internal_topics = settings.internal_topics
    consumer_topics = [*settings.input_topics, *internal_topics.values()]
    # One topic object for all: Faust assigns the same partition number of each to one worker.
    inputs = app.topic(*consumer_topics, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(settings.topic_alerts, key_serializer="raw", value_serializer="raw")
    deadletter = app.topic(settings.topic_deadletter, key_serializer="raw", value_serializer="raw")
    configs = changelog_configs(settings)
    tables = {
        name: app.Table(
            name, default=None, partitions=settings.partitions, key_type=str,
            extra_topic_configs=configs[name], options=rocksdb_options(settings),
        )
        for name in TABLES
    }  # fmt: skip
    anchor_table, clock_table = tables[ANCHOR_STATE], tables[PARTITION_CLOCK]
    writer = TableWriter(app)
    resets: Counter[str] = Counter()
    """Stored records that could not be read back, by table (see `stores.reset`)."""
    states = TableStates(anchor_table, tables[ANCHOR_BUCKETS], writer, resets)
    orders = TableOrders(tables[ORDERS_BY_ID], tables[REFUNDS_WAITING], writer, resets)
    index = TableIndex(tables[INDEX_ENTRIES], tables[INDEX_WAITING], writer, resets)
    detector = build_detector(settings, orders, states, rules)
    kinds = {topic: kind for kind, topic in settings.topic_by_kind.items()}
    kinds.update({topic: kind for kind, topic in internal_topics.items()})
    topic_of = {kind: topic for topic, kind in kinds.items()}
    internal_names = set(internal_topics.values())
    tasks: dict[int, PartitionTask] = {}
    sender = RecordSender(app)
    counts = ShellCounts()
    off_partition = ForwardingReport(log)
    owners = Owners(settings.partitions)
    """The ownership function every routing decision uses (see `placement`)."""

    def active_states() -> list[AnchorState]:
        found = (states.get(a) for task in list(tasks.values()) for a in sorted(task.clock.active))
        return [s for s in found if s is not None]

    summary = Snapshot(active_states, detector.config.windows, settings.api_snapshot_s)

    def consumer_lag() -> dict[str, int]:
        consumer: Any = app.consumer
        lag = dict.fromkeys(kinds.values(), 0)
        try:
            assigned = consumer.assignment()
        except Exception:  # not started yet, or stopping
            return lag
        for tp in assigned:
            if tp.topic not in kinds:
                continue
            end = consumer.highwater(tp)
            task = tasks.get(tp.partition)
            done = task.clock.last_offset.get(kinds[tp.topic]) if task else None
            start = (
                done + 1
                if done is not None
                else committed_offset(consumer, tp.topic, tp.partition) or 0
            )
            if end is not None:
                lag[kinds[tp.topic]] += max(0, end - start)
        return lag

    metrics = Metrics(
        registry if registry is not None else REGISTRY,
        Sources(
            stats=lambda: detector.stats,
            counts=counts,
            forwarding=off_partition,
            resets=resets,
            summary=summary,
            consumer_lag=consumer_lag,
            windows=detector.config.windows,
            remembered=orders.remembered,
        ),
    )
    probe = BrokerProbe(client_options(settings))

    async def probe_brokers() -> None:
        await probe.check()

    cast(Any, app).timer(min(5.0, settings.broker_timeout_s / 3))(probe_brokers)

    async def close_probe(sender: Any, *args: Any, **kwargs: Any) -> None:
        await probe.close()

    cast(Any, app.on_before_shutdown).connect(close_probe)

    def readiness() -> tuple[bool, str]:
        down_for = probe.unreachable_for()
        if down_for > settings.broker_timeout_s:
            return False, f"no answer from the brokers for {down_for:.0f} s"
        return web.readiness(app)

    web.register(
        app,
        metrics.registry,
        anchor_table,
        states.get,
        summary,
        detector.config.windows,
        readiness,
        detector.rules.refund_after_order_spike,
        settings.api_token.get_secret_value() if settings.api_token else None,
        owners,
    )

    def task_for(partition: int) -> PartitionTask:
        """This partition's task, restored from its table after a start or a rebalance."""
        task = tasks.get(partition)
        if task is None:
            task = tasks[partition] = build_task(partition, settings, detector, index, owners)
            saved = clock_table.get(f"p{partition}")
            if saved is not None:
                try:
                    task.restore(saved)
                except DECODE_ERRORS as exc:
                    # Its marks and read times start over: boundaries wait for every partition
                    # to mark itself again, as after a first start.
                    reset(resets, clock_table, f"p{partition}", exc)
                    task = tasks[partition] = build_task(
                        partition, settings, detector, index, owners
                    )
        return task

    progressed: dict[int, tuple[Mark, bool]] = {}
    """Per partition: its last input progress, and whether it vouched for its upstream."""

    def progress(task: PartitionTask, read_inputs: bool) -> Mark:
        """How far the partition's inputs have been read, judged after a batch that read some
        of them. A batch of internal records only (marks from other partitions) reuses that
        judgement: "caught up" rests on the end offsets the consumer knew then, and judging it
        again between fetches would let a live record already on the broker be skipped. Unless it
        was held back by an old end offset: that one is judged again once polled anew; or the
        inputs were caught up: whether their polls came after the latest marks is judged anew
        (a later poll can only find more records waiting)."""
        partition = task.partition
        known = progressed.get(partition)
        if (
            known is not None
            and not (read_inputs or task.clock.held_by_poll or known[0].idle)
            and known[0] != HOLD
        ):
            return known[0]
        mark = _progress(task)
        progressed[partition] = (mark, task.clock.vouches_upstream)
        return mark

    def _progress(task: PartitionTask) -> Mark:
        consumer: Any = app.consumer
        partition = task.partition

        def highwater(kind: str) -> int | None:
            try:
                return cast(int | None, consumer.highwater(TP(topic_of[kind], partition)))
            except Exception:  # not assigned or not fetched yet
                return None

        def committed(kind: str) -> int | None:
            return committed_offset(consumer, topic_of[kind], partition)

        def polled(kind: str) -> int | None:
            return last_poll_ms(consumer, topic_of[kind], partition)

        return task.clock.progress(EXTERNAL, highwater, committed, time.monotonic(), polled)

    def fetched_by(task: PartitionTask, group: list[Any]) -> int:
        """When the input records of `group` had been fetched, at the latest (ms)."""
        consumer: Any = app.consumer
        polls = [
            last_poll_ms(consumer, topic, task.partition)
            for topic in {m.topic for m in group if m.topic not in internal_names}
        ]
        return max((p for p in polls if p is not None), default=int(time.time() * 1000))

    def marks_fetched(task: PartitionTask) -> None:
        """Note when the latest records of the partition's internal topics were fetched: its
        inputs vouch for what the marks say only once polled after that."""
        consumer: Any = app.consumer
        polls = [
            last_poll_ms(consumer, topic, task.partition) for topic in internal_topics.values()
        ]
        latest = max((p for p in polls if p is not None), default=int(time.time() * 1000))
        clock = task.clock
        if clock.marks_fetched_ms is None or latest > clock.marks_fetched_ms:
            clock.marks_fetched_ms = latest

    between_batches = asyncio.Lock()
    """Held by `retick`. A rebalance waits for the batch in hand (its records are tracked),
    not for an evaluation between batches: a revoked partition's state, marks and alerts
    written after its next owner recovered it would race that owner (a mark it never saw
    broken, an anchor's evaluation lost). So revocation waits for this lock."""

    async def forget_partitions(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Tasks and cached states are reloaded from their tables by the next owner, once an
        # evaluation between batches has written what it sent.
        async with between_batches:
            tasks.clear()
            progressed.clear()
            states.clear()
            index.clear()
            orders.forget()

    cast(Any, app.on_partitions_revoked).connect(forget_partitions)

    async def detect(messages: list[Any]) -> None:
        """Per fetch (see `faust_batches`): decode and apply each partition's records in offset
        order with the tables routed to that partition, evaluate the boundaries every topic has
        passed, flush each touched state once; then publish alerts, wait for every send, and
        only then acknowledge the records."""
        await _guarded(_process_and_flush(messages))
        cast(BatchConsumer, app.consumer).ack_batch(messages)

    async def retick() -> None:
        """Between fetches: a partition held back by an end offset polled before its latest
        records were fetched (see `PartitionClock.progress`) moves on once the end offset is
        polled anew, also when nothing more arrives (the end of a stream). Its alerts may
        come after its records were committed: the state is written only once they are sent,
        so a worker that could not send them derives them again after a restart, at the
        partition's next record."""
        if not any(task.clock.held_by_poll for task in tasks.values()):
            return
        async with between_batches:
            held = [task for task in tasks.values() if task.clock.held_by_poll]
            sends: list[Any] = []
            generation = app.consumer_generation_id
            for task in held:
                if (
                    app.consumer_generation_id != generation
                    or tasks.get(task.partition) is not task
                ):
                    break  # a rebalance: the partitions' next owners judge again
                mark = _progress(task)
                if mark == HOLD:
                    # Nothing vouched for yet (a topic not heard from, records waiting of
                    # unknown time): judge again at the next call rather than wait for a record.
                    task.clock.held_by_poll = True
                    continue
                if (mark, task.clock.vouches_upstream) == progressed.get(task.partition):
                    continue  # polled, but nothing new vouched for yet
                writer.route(route_partition(topic_of["orders"], task.partition))
                await _guarded(_conclude(task, True, sends))
            await _guarded(_deliver(sends))

    async def _guarded(work: Any) -> None:
        try:
            await asyncio.wait_for(work, settings.delivery_timeout_s)
        except asyncio.CancelledError:
            raise  # shutting down: the batch stays unacknowledged and is read again
        except TimeoutError:
            log.critical(
                "infrastructure_error", exit_code=EXIT_INFRASTRUCTURE,
                error=f"a batch was not done within LIVEWATCH_DELIVERY_TIMEOUT_S="
                f"{settings.delivery_timeout_s:g} s (brokers gone, or an output topic deleted?)",
            )  # fmt: skip
            os._exit(EXIT_INFRASTRUCTURE)
        except BaseException as exc:
            # Not a record's fault (those are dead-lettered in `_apply`): the broker, the
            # tables, the stored state, or a bug. Exit unacknowledged; the supervisor restarts
            # the worker, which reads the batch again (crash-only: the tables are rebuilt from
            # their changelogs). Carrying on would commit records that were never counted.
            log.critical("infrastructure_error", error=repr(exc), exit_code=EXIT_INFRASTRUCTURE)
            os._exit(EXIT_INFRASTRUCTURE)

    app.deliver_batches(inputs, detect, between=retick)

    async def _process_and_flush(messages: list[Any]) -> None:
        sends: list[Any] = []
        await _process(messages, sends)
        await _deliver(sends)

    async def _deliver(sends: list[Any]) -> None:
        """Alerts and the records for other partitions before the state that produced them: a
        crash in between re-derives and sends the same again (at-least-once, and the
        receivers drop what they counted already). The other way round, a restart would find
        the boundaries evaluated already and the alerts never sent. One wait for the broker
        per batch, not per partition: each is a round trip, and every partition's marks
        wait for the slowest batch. Then the batch's changelog records are on the broker,
        and in the local stores, before the next batch reads or writes (see
        `table_writes`)."""
        await sender.flush()
        for fut in sends:
            await fut
        await writer.flush()

    async def _process(messages: list[Any], sends: list[Any]) -> None:
        dead_letters: list[Any] = []
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for message in messages:
            by_partition[message.partition].append(message)
        for partition, group in by_partition.items():
            writer.route(group[0])
            task = task_for(partition)
            for message in group:
                rejection = _apply(message, task)
                if rejection is not None:
                    dead_letters.append(await _dead_letter(message, *rejection))
            read_inputs = any(m.topic not in internal_names for m in group)
            if read_inputs:
                task.clock.fetched(fetched_by(task, group))
            if not all(m.topic not in internal_names for m in group):
                marks_fetched(task)
            await _conclude(task, read_inputs, sends)
        for fut in dead_letters:
            await fut

    async def _conclude(task: PartitionTask, read_inputs: bool, sends: list[Any]) -> None:
        """Evaluate what the partition's inputs have passed; queue what it sends on, its
        alerts (their futures join `sends`) and its state, all sent by `_deliver`."""
        emitted, quiet, safe = _evaluate(task, read_inputs)
        for out in task.take_outbox():
            sender.queue(topic_of[out.kind], out.partition, out.value)
        sends.extend([await _send_alert(alert) for alert in emitted])
        _flush(task.partition, task, quiet, safe)

    def _apply(message: Any, task: PartitionTask) -> tuple[str, str, str] | None:
        """Apply one record; a bad one gives (topic kind, reason, error) for the dead-letter
        topic, never an exception up the stack.

        Records are applied in offset order, not re-sorted by event time: lateness is judged
        per topic in the order the topic holds, exactly as the replay reads a file. Every
        offset is observed by the partition clock, whatever becomes of its record.
        """
        topic = message.topic
        kind = kinds[topic]
        internal = kind in internal_topics
        size = len(message.value) if message.value is not None else 0
        if not internal and size > settings.max_record_bytes:
            counts.rejected[(kind, "too_large")] += 1
            task.rejected(kind, message.offset)
            return (
                kind,
                "too_large",
                (
                    f"value of {size} bytes, over LIVEWATCH_MAX_RECORD_BYTES="
                    f"{settings.max_record_bytes} (an event is under 2 KB)"
                ),
            )
        try:
            value: Any = orjson.loads(message.value) if internal else decode(kind, message.value)
        except (DecodeError, ValueError, TypeError) as exc:
            counts.rejected[(kind, "invalid")] += 1
            task.rejected(kind, message.offset)
            return kind, "invalid", str(exc)
        try:
            if internal:
                task.internal(kind, value)
            else:
                stamp = record_ms(message)
                route = task.external(kind, value, message.offset, stamp)
                if route in REFUSED:
                    counts.rejected[(kind, route.value)] += 1
                    return kind, route.value, refusal(task, kind, value, stamp)
                if route is not Route.LOCAL and route is not Route.LATE:
                    off_partition.note(kind, route, message.key, value.anchor_id)
        except INFRASTRUCTURE:
            raise  # not the record's fault
        except Exception as exc:  # the worker never dies on input: park the record
            log.exception(
                "event_failed", topic=topic, partition=message.partition, offset=message.offset
            )
            counts.rejected[(kind, "error")] += 1
            task.rejected(kind, message.offset)
            return kind, "error", f"internal error: {exc!r}"
        if internal:
            task.clock.last_offset[kind] = message.offset
        else:
            observe_lag(max(0.0, time.time() - to_ms(value.event_time) / 1000))
        return None

    observe_lag = metrics.processing_lag.observe

    def _evaluate(
        task: PartitionTask, read_inputs: bool
    ) -> tuple[list[Alert], set[str], int | None]:
        """Declare the partition's marks and evaluate the boundaries every input and every
        partition upstream have passed: the alerts, the anchors that went quiet, that time."""
        with metrics.evaluation.time():
            return task.tick(progress(task, read_inputs), read_inputs)

    def _flush(partition: int, task: PartitionTask, quiet: set[str], safe: int | None) -> None:
        """Queue the partition's changed state: counts first, then the memory of what was
        counted (see TableOrders), the order index, then the task's clock and marks. The
        writer sends them at the end of the batch and writes the local stores after (see
        `table_writes`)."""
        states.flush()
        orders.flush(partition)
        index.flush()
        states.evict(quiet)
        if safe is not None:
            # Every topic with records waiting has been read past `safe`: a refund still to
            # come is past the horizon of an order placed before this edge (see `_order_of`),
            # and an order redelivered that late is late. The local store forgets both.
            config = detector.config
            orders.purge(partition, safe - config.order_horizon_ms - config.grace_ms)
        writer.put(clock_table, f"p{partition}", task.to_dict())

    async def _send_alert(alert: Alert) -> Any:
        for_anchor = alert.anchor_id
        counts.alerts[(alert.rule.value, alert.severity.value, alert.status.value)] += 1
        log.info(
            "alert",
            alert_id=alert.alert_id,
            rule=alert.rule.value,
            status=alert.status.value,
            severity=alert.severity.value,
            anchor_id=for_anchor,
            session_id=alert.session_id,
        )
        return await alerts.send(
            key=for_anchor.encode(), value=encode(alert),
            headers=cloudevent_headers(alert, settings.app_id),
        )  # fmt: skip

    async def _dead_letter(message: Any, kind: str, reason: str, error: str) -> Any:
        counts.dead_letters[(kind, reason)] += 1
        record = DeadLetter(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            error=error,
            original_headers=tuple(_headers(message.headers)),
            reason=reason,
        ).fitted()
        log.warning(
            "dead_letter",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            error=error,
            truncated=",".join(record.truncated) or None,
        )
        return await deadletter.send(key=record.key, value=record.value, headers=record.headers())

    return app


def record_ms(message: Any) -> int | None:
    """A Faust message's Kafka timestamp in ms (None when the record has none)."""
    stamp = getattr(message, "timestamp", None)
    if stamp is None or stamp <= 0:
        return None
    return int(stamp * 1000)


def _headers(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(k), bytes(v) if v is not None else b"") for k, v in items]


def __getattr__(name: str) -> Any:
    # `faust -A streams.app` looks up `app` here; build it from the environment on first use.
    if name == "app":
        from streams.gc_tuning import tune_gc
        from streams.logs import configure

        settings = Settings()
        configure(settings.log_format, settings.log_level)
        globals()["app"] = built = create_app(settings)
        tune_gc(settings.gc_gen0_threshold)
        return built
    raise AttributeError(name)
