"""Creates livewatch's topics idempotently, checks that input topics are co-partitioned, and
reads a topic back to its end (the rules and verdicts topics, the alerts for a report)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from streams.kafka_config import client_options
from streams.settings import Settings
from streams.worker.tables import changelog_configs, changelog_topic, internal_configs


@dataclass(frozen=True)
class TopicReport:
    name: str
    partitions: int
    created: bool


class TopicLayoutError(RuntimeError):
    """An existing topic's partition count differs from the configured one."""


UNKNOWN_TOPIC = 3
TOPIC_ALREADY_EXISTS = 36


async def describe_partitions(
    admin: AIOKafkaAdminClient, names: list[str], settle_s: float = 15.0, expect_all: bool = False
) -> dict[str, int]:
    """Partition count of each named topic that exists.

    A topic just created may answer with a transient error (no leader yet), or as unknown until
    the metadata reaches the broker that answers; with `expect_all` such topics are asked again
    until they settle, so a fresh topic is never mistaken for a missing one.
    """
    deadline = asyncio.get_running_loop().time() + settle_s
    while True:
        counts: dict[str, int] = {}
        unsettled = []
        for desc in await admin.describe_topics(names):
            code = desc.get("error_code", 0)
            if code == 0 and desc.get("partitions"):
                counts[desc["topic"]] = len(desc["partitions"])
            elif code != UNKNOWN_TOPIC or expect_all:
                unsettled.append(desc["topic"])
        if not unsettled or asyncio.get_running_loop().time() > deadline:
            return counts
        await asyncio.sleep(0.2)


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """The configs of the topics livewatch creates, where they differ from the broker's."""
    configs = {
        changelog_topic(settings, table): config
        for table, config in changelog_configs(settings).items()
    }
    configs.update(internal_configs(settings))
    # Dead letters keep the original bytes (buyer ids too): they expire, unlike the inputs'
    # broker default, after the retention chosen for them.
    configs[settings.topic_deadletter] = {
        "cleanup.policy": "delete",
        "retention.ms": str(settings.deadletter_retention_s * 1000),
    }
    # The latest verdict of each episode, and every version of every rule set (a key each).
    configs[settings.topic_verdicts] = {"cleanup.policy": "compact"}
    if settings.rules_topic:
        configs[settings.rules_topic] = {"cleanup.policy": "compact"}
    return configs


async def _create_missing(
    settings: Settings, wanted: list[str], configs: dict[str, dict[str, str]]
) -> tuple[dict[str, int], dict[str, int], Settings]:
    """Create those of `wanted` that do not exist; their partition counts before and after,
    and the settings with the partition count they were made with (`adopt_partitions`)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = await describe_partitions(admin, wanted, settle_s=2.0)
        settings = adopt_partitions(settings, existing)
        # Replicated topics accept a write once two replicas have it: one broker may be down.
        rf = settings.replication_factor
        isr = {"min.insync.replicas": str(min(2, rf))} if rf > 1 else {}
        missing = [
            NewTopic(
                # The rules topic is one ordered log.
                name, 1 if name == settings.rules_topic else settings.partitions, rf,
                topic_configs={**configs.get(name, {}), **isr},
            )
            for name in wanted
            if name not in existing
        ]  # fmt: skip
        if missing:
            # Another process (or metadata not yet propagated) may make a topic exist already.
            with contextlib.suppress(TopicAlreadyExistsError):
                response = await admin.create_topics(missing)
                for topic, code, message in getattr(response, "topic_errors", []):
                    if code not in (0, TOPIC_ALREADY_EXISTS):
                        raise TopicLayoutError(f"creating topic {topic} failed: {code} {message}")
        return existing, await describe_partitions(admin, wanted, expect_all=True), settings
    finally:
        await admin.close()


async def ensure_topic(settings: Settings, name: str) -> None:
    """Create one of livewatch's topics if it is missing, as `create_topics` would (a program
    that needs it before `livewatch topics create` ran: the worker's rules topic)."""
    await _create_missing(settings, [name], topic_configs(settings))


async def partition_count(settings: Settings, topic: str) -> int:
    """A topic's partition count; 0 when it does not exist."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        return (await describe_partitions(admin, [topic], settle_s=2.0)).get(topic, 0)
    finally:
        await admin.close()


async def read_values(settings: Settings, topic: str, timeout_s: float = 120.0) -> list[bytes]:
    """Every value of a topic (none when it does not exist), partition by partition in offset
    order, read to the end offsets found when reading began."""
    count = await partition_count(settings, topic)
    if not count:
        return []
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end in {timeout_s:g} s")
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                values.extend(r.value or b"" for r in records if r.offset < ends[tp])
        return values
    finally:
        await consumer.stop()


async def create_topics(settings: Settings) -> list[TopicReport]:
    """Create the input, internal, alerts, dead-letter and table changelog topics that are
    missing; existing ones are kept. Missing ones get `adopt_partitions`' count.

    Raises TopicLayoutError when an existing input or internal topic has another partition
    count: a partition task reads the same partition number of each, and the routing between
    them assumes one partition count.
    """
    configs = topic_configs(settings)
    wanted = [
        *settings.all_topics,
        *(name for name in configs if name not in settings.all_topics),
    ]
    existing, final, settings = await _create_missing(settings, wanted, configs)

    refuse_mismatched(settings, final)
    return [TopicReport(name, final.get(name, 0), name not in existing) for name in wanted]


def adopt_partitions(settings: Settings, counts: dict[str, int]) -> Settings:
    """`settings` with the partition count that the input and internal topics among `counts`
    (name -> partition count, those that exist) share, when LIVEWATCH_PARTITIONS is not set.

    Producers do not wait for livewatch: a platform's topics have the count its operators
    chose, and a topic made by a producer's first write has the broker's `num.partitions` (1
    on a stock broker). Like a Kafka Streams application, livewatch then runs with the count
    its inputs have rather than refuse them. When they disagree (an internal topic kept from
    a run with another count among them), nothing is adopted and `refuse_mismatched` says
    what to do; a count set in the environment is kept, and checked the same way.
    """
    if "partitions" in settings.model_fields_set:
        return settings
    found = {counts[name] for name in settings.co_partitioned_topics if name in counts}
    if len(found) != 1:
        return settings
    return settings.model_copy(update={"partitions": found.pop()})


def refuse_mismatched(settings: Settings, counts: dict[str, int]) -> None:
    """Raise TopicLayoutError, saying what to do, when an input or internal topic among
    `counts` (name -> partition count) has another count than `settings.partitions` (with
    LIVEWATCH_PARTITIONS unset, when they do not all share one: `adopt_partitions`)."""
    explicit = "partitions" in settings.model_fields_set
    mismatched = {
        name: counts[name]
        for name in settings.co_partitioned_topics
        if name in counts and (counts[name] != settings.partitions or not explicit)
    }
    if len(set(mismatched.values())) > (0 if explicit else 1):
        found = ", ".join(f"{name} has {n}" for name, n in mismatched.items())
        wanted = (
            f"{settings.partitions} partitions (LIVEWATCH_PARTITIONS, or the count they shared "
            "when livewatch started)"
            if explicit
            else "one partition count (LIVEWATCH_PARTITIONS is unset: livewatch takes the "
            "count they share)"
        )
        raise TopicLayoutError(
            f"the input and internal topics must all have {wanted} (a partition task reads "
            f"the same partition number of each), but {found}. If the inputs were given more "
            "partitions, give all three the same count and run livewatch with "
            "LIVEWATCH_PARTITIONS set to it under a new LIVEWATCH_APP_ID (its internal topics "
            "and tables are made with that count; it reads the inputs from the start of their "
            "retention)"
        )


async def settle_layout(settings: Settings, timeout_s: float = 20.0) -> Settings:
    """The worker's start-up check: `adopt_partitions` and `refuse_mismatched` on the topics as
    they are (the ones missing are left to `create_topics` and the worker); returns the
    settings to run with, their partition count fixed, so the worker's broker probe holds
    the topics to it while it runs. Brokers that cannot be reached now skip it
    (LIVEWATCH_PARTITIONS or 8 then): the worker waits for them, and its probe checks the
    layout once they answer (topics of another count: exit 2, and the restart adopts it)."""
    try:
        counts = await asyncio.wait_for(_input_layout(settings), timeout_s)
    except (KafkaError, OSError, TimeoutError):
        counts = {}
    settings = adopt_partitions(settings, counts)
    refuse_mismatched(settings, counts)
    return settings.model_copy(update={"partitions": settings.partitions})


async def _input_layout(settings: Settings) -> dict[str, int]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        return await describe_partitions(admin, settings.co_partitioned_topics, settle_s=5.0)
    finally:
        await admin.close()
