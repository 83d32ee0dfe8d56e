"""Creates livewatch's topics idempotently and checks that input topics are co-partitioned."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

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


async def create_topics(settings: Settings) -> list[TopicReport]:
    """Create the input, internal, alerts, dead-letter and table changelog topics that are
    missing; existing ones are kept.

    Raises TopicLayoutError when an existing input or internal topic has a partition count
    other than `settings.partitions`: a partition task reads the same partition number of
    each, and the routing between them assumes one partition count.
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
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
        # Every version of every rule set, kept: a key per version, compacted.
        configs[settings.topic_verdicts] = {"cleanup.policy": "compact"}
        if settings.rules_topic:
            configs[settings.rules_topic] = {"cleanup.policy": "compact"}
        wanted = [
            *settings.all_topics,
            *(name for name in configs if name not in settings.all_topics),
        ]
        existing = await describe_partitions(admin, wanted, settle_s=2.0)
        # Replicated topics accept a write once two replicas have it: one broker may be down.
        rf = settings.replication_factor
        isr = {"min.insync.replicas": str(min(2, rf))} if rf > 1 else {}
        missing = [
            NewTopic(
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
        final = await describe_partitions(admin, wanted, expect_all=True)
    finally:
        await admin.close()
    mismatched = {
        name: final[name]
        for name in [*settings.input_topics, *settings.internal_topics.values()]
        if name in final and final[name] != settings.partitions
    }
    if mismatched:
        raise TopicLayoutError(
            f"input topics must have partitions={settings.partitions} to be co-partitioned, "
            f"found {mismatched}"
        )
    return [TopicReport(name, final.get(name, 0), name not in existing) for name in wanted]
