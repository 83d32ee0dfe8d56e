"""The Faust application: one batch handler over the input and internal topics, wired to a
`Worker` (the batch loop) and to Faust's tables, topics, timers and web server.

`faust -A streams.worker.app worker` finds the module-level `app`, built on first access from the
environment; `create_app(settings)` builds one explicitly (tests, `livewatch worker`).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import faust
import structlog
from aiokafka.errors import KafkaError
from faust.exceptions import PartitionsMismatch
from prometheus_client import REGISTRY, CollectorRegistry

from streams.core.rulebook import RuleBook
from streams.core.rules import Rules, load_rules
from streams.core.state import AnchorState, StateVersionError
from streams.kafka_config import client_options, ssl_context
from streams.pipeline import build_detector
from streams.rules_topic import RulesFollower
from streams.settings import Settings
from streams.topics import TopicLayoutError, refuse_mismatched, settle_layout
from streams.worker import web
from streams.worker.broker_health import BrokerProbe
from streams.worker.faust_batches import BatchApp
from streams.worker.faust_io import FaustConsumer, FaustOutputs
from streams.worker.metrics import Metrics, RulesStatus, Sources
from streams.worker.snapshot import Snapshot
from streams.worker.stores import StorageError, TableIndex, TableOrders, TableStates, TableStorage
from streams.worker.table_writes import MAX_BATCH_BYTES, TableWriter
from streams.worker.tables import (
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
from streams.worker.worker import Worker

log = structlog.get_logger("livewatch.worker")

INFRASTRUCTURE = (KafkaError, PartitionsMismatch, StateVersionError, StorageError)
"""Errors of the broker, of Faust's tables or of the stored state, not of a record: the worker
exits with EXIT_INFRASTRUCTURE, leaving the batch unacknowledged."""
EXIT_INFRASTRUCTURE = 70
"""EX_SOFTWARE: for the supervisor (Kubernetes) to restart the worker."""
EXIT_LAYOUT = 2
"""The topics' partition counts no longer fit `LIVEWATCH_PARTITIONS`: as the start-up check
(`livewatch worker` exits 2 with the same reason), an operator's to fix."""


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

    Faust wiring only: the batch loop is `Worker`'s. `registry` holds its metrics (the
    process-wide default registry when None).
    """
    app = _faust_app(settings)
    # One topic object for all: Faust assigns the same partition number of each to one worker.
    inputs = _raw_topic(app, *settings.co_partitioned_topics)
    configs = changelog_configs(settings)
    tables = {
        name: app.Table(
            name, default=None, partitions=settings.partitions, key_type=str,
            extra_topic_configs=configs[name], options=rocksdb_options(settings),
        )
        for name in TABLES
    }  # fmt: skip
    writer = TableWriter(app)
    resets: Counter[str] = Counter()
    """Stored records that could not be read back, by table (see `stores.reset`)."""
    states = TableStates(tables[ANCHOR_STATE], tables[ANCHOR_BUCKETS], writer, resets)
    orders = TableOrders(tables[ORDERS_BY_ID], tables[REFUNDS_WAITING], writer, resets)
    index = TableIndex(tables[INDEX_ENTRIES], tables[INDEX_WAITING], writer, resets)
    book = RuleBook(rules or load_rules(settings.rules_path))
    detector = build_detector(settings, orders, states, book=book)
    clocks = tables[PARTITION_CLOCK]
    storage = TableStorage(states, orders, index, clocks, writer, resets, detector.config)
    alerts = _raw_topic(app, settings.topic_alerts)
    outputs = FaustOutputs(
        app, alerts, _raw_topic(app, settings.topic_deadletter), settings.app_id,
        _raw_topic(app, settings.topic_alerts_shadow),
    )  # fmt: skip
    worker = Worker(settings, detector, index, storage, outputs, FaustConsumer(app), INFRASTRUCTURE)
    follower = _follow_rules(app, settings, book)
    if settings.rules_topic:
        worker.rules_horizon = follower.horizon

    def active_states() -> list[AnchorState]:
        found = (states.peek(a) for a in worker.active_anchors())
        return [s for s in found if s is not None]

    windows = detector.config.windows
    summary = Snapshot(active_states, windows, settings.api_snapshot_s)
    metrics = Metrics(
        registry if registry is not None else REGISTRY,
        Sources(
            stats=lambda: detector.stats, counts=worker.counts, forwarding=worker.off_partition,
            resets=resets, summary=summary, consumer_lag=worker.consumer_lag, windows=windows,
            remembered=orders.remembered, rules=lambda: _rules_status(follower),
            event_times=worker.event_times,
        ),
    )  # fmt: skip
    worker.evaluation = metrics.evaluation.time
    worker.observe_lags = metrics.processing_lag.observe_many
    readiness = _watch_brokers(app, settings)
    token = settings.api_token.get_secret_value() if settings.api_token else None
    web.register(
        app, metrics.registry, tables[ANCHOR_STATE], states.peek, summary, windows, readiness,
        lambda: detector.rules.refund_after_order_spike, token, worker.owners,
        lambda: _rules_detail(follower),
    )  # fmt: skip

    async def forget_partitions(sender: Any, *args: Any, **kwargs: Any) -> None:
        await worker.forget_partitions()

    cast(Any, app.on_partitions_revoked).connect(forget_partitions)

    # A batch, its delivery and a retick: an error or a hang exits the process (`guarded`).
    worker.guard = guard = functools.partial(guarded, timeout_s=settings.delivery_timeout_s)

    async def detect(records: list[Any], done: Callable[[], None]) -> None:
        """Per fetch (see `faust_batches`): the worker applies the batch and starts its
        delivery; once delivered, `done` acknowledges its records."""
        await guard(worker.process(records, done))

    app.deliver_batches(inputs, detect, between=lambda: guard(worker.retick()))
    return app


def _follow_rules(app: BatchApp, settings: Settings, book: RuleBook) -> RulesFollower:
    """Read the rules topic into `book` from the start, and follow it, beside the batches."""
    follower = RulesFollower(settings, book)
    if not settings.rules_topic:
        return follower  # the rules file alone

    async def follow() -> None:
        await follower.run()

    cast(Any, app).task(follow)

    async def stop(sender: Any, *args: Any, **kwargs: Any) -> None:
        await follower.stop()

    cast(Any, app.on_before_shutdown).connect(stop)
    return follower


def _rules_status(follower: RulesFollower) -> RulesStatus:
    live, shadow = follower.book.latest("live"), follower.book.latest("shadow")
    return RulesStatus(
        live=live.version if live else 0,
        shadow=shadow.version if shadow is not None and shadow.rules is not None else None,
        refused=len(follower.refused),
    )


def _rules_detail(follower: RulesFollower) -> dict[str, Any]:
    """What `/readyz` says of the rules: the versions known, the last refusal, and whether
    the topic has been read to its end yet (until then no boundary is evaluated)."""
    detail: dict[str, Any] = {"rules": follower.describe()}
    if follower.caught_up_ms is None:
        detail["rules"] += "; the rules topic not read to its end yet"
    if follower.refused:
        detail["rules_refused"] = follower.refused[-1]
    return detail


def _raw_topic(app: BatchApp, *names: str) -> Any:
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


def _faust_app(settings: Settings) -> BatchApp:
    app = BatchApp(
        settings.app_id,
        broker=_broker_urls(settings.kafka_bootstrap),
        broker_credentials=_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir / settings.app_id),  # see Settings.data_dir
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
        broker_max_poll_records=settings.batch_max_records,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    app.isolation_level = settings.isolation_level
    # Marks and records sent on come before the prefetched inputs (see `faust_batches`).
    app.first_topics = frozenset(settings.internal_topics.values())
    # A partition's inputs are handed out side by side in time (see `input_alignment`).
    app.aligned_topics = tuple(settings.input_topics) if settings.align_inputs else ()
    return app


def _watch_brokers(app: BatchApp, settings: Settings) -> Callable[[], tuple[bool, str]]:
    """Probe the brokers on a timer; the readiness check says not ready once they have not
    answered for `broker_timeout_s`."""
    probe = BrokerProbe(client_options(settings))

    async def probe_brokers() -> None:
        if not await probe.check():
            return
        known = ((t, probe.partitions(t)) for t in settings.co_partitioned_topics)
        counts = {t: n for t, n in known if n is not None}
        try:
            refuse_mismatched(settings, counts)
        except TopicLayoutError as exc:
            # Partitions added to an input topic under a running worker: their records would
            # go unread until a rebalance, then stop the worker at their first record (no
            # table has that partition). Stop now, saying why; a restart refuses the same.
            log.critical("topic_layout_changed", error=str(exc), exit_code=EXIT_LAYOUT)
            os._exit(EXIT_LAYOUT)

    cast(Any, app).timer(min(5.0, settings.broker_timeout_s / 3))(probe_brokers)

    async def close_probe(sender: Any, *args: Any, **kwargs: Any) -> None:
        await probe.close()

    cast(Any, app.on_before_shutdown).connect(close_probe)

    def readiness() -> tuple[bool, str]:
        down_for = probe.unreachable_for()
        if down_for > settings.broker_timeout_s:
            return False, f"no answer from the brokers for {down_for:.0f} s"
        return web.readiness(app)

    return readiness


async def guarded(work: Awaitable[Any], timeout_s: float) -> None:
    """Run the worker's part of a batch; any error but a record's (those are dead-lettered by
    `Worker.apply`) exits the process unacknowledged."""
    try:
        await asyncio.wait_for(work, timeout_s)
    except asyncio.CancelledError:
        raise  # shutting down: the batch stays unacknowledged and is read again
    except TimeoutError:
        log.critical(
            "infrastructure_error", exit_code=EXIT_INFRASTRUCTURE,
            error=f"a batch was not done within LIVEWATCH_DELIVERY_TIMEOUT_S="
            f"{timeout_s:g} s (brokers gone, or an output topic deleted?)",
        )  # fmt: skip
        os._exit(EXIT_INFRASTRUCTURE)
    except BaseException as exc:
        # The broker, the tables, the stored state, or a bug. Exit unacknowledged; the
        # supervisor restarts the worker, which reads the batch again (crash-only: the tables
        # are rebuilt from their changelogs). Carrying on would commit records that were never
        # counted.
        log.critical("infrastructure_error", error=repr(exc), exit_code=EXIT_INFRASTRUCTURE)
        os._exit(EXIT_INFRASTRUCTURE)


def __getattr__(name: str) -> Any:
    # `faust -A streams.worker.app` looks up `app` here; build it from the environment on first use.
    if name == "app":
        from streams.logs import configure
        from streams.worker.gc_tuning import tune_gc

        settings = Settings()
        configure(settings.log_format, settings.log_level)
        # As `livewatch worker` does; outside the event loop Faust has yet to start.
        with ThreadPoolExecutor(1) as pool:
            settings = pool.submit(asyncio.run, settle_layout(settings)).result()
        globals()["app"] = built = create_app(settings)
        tune_gc(settings.gc_gen0_threshold)
        return built
    raise AttributeError(name)
