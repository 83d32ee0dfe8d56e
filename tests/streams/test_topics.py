"""Topic creation against the real broker: idempotent, configured partitions, co-partitioning."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.devtools.kafka_local import free_port
from streams.settings import Settings
from streams.topics import (
    TopicLayoutError,
    adopt_partitions,
    create_topics,
    describe_partitions,
    refuse_mismatched,
    settle_layout,
)
from streams.worker.tables import changelog_configs
from tests.topic_configs import topic_config

pytestmark = pytest.mark.kafka


async def test_create_is_idempotent(settings: Settings) -> None:
    """A first call creates every topic; a second one creates nothing and reports them existing."""
    first = await create_topics(settings)
    changelogs = {f"{settings.app_id}-{t}-changelog" for t in changelog_configs(settings)}
    assert {r.name for r in first} == set(settings.all_topics) | changelogs
    # The rules topic is one ordered log: one partition.
    wanted = {r.name: 1 if r.name == settings.rules_topic else settings.partitions for r in first}
    assert all(r.created and r.partitions == wanted[r.name] for r in first)
    second = await create_topics(settings)
    assert not any(r.created for r in second)
    assert all(r.partitions == wanted[r.name] for r in second)


async def test_mismatched_input_partitions_are_refused(settings: Settings) -> None:
    """An input topic with another partition count breaks the per-anchor join: say so."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.topic_refunds, 3, 1)])
    finally:
        await admin.close()
    with pytest.raises(TopicLayoutError, match=rf"{settings.topic_refunds}.*3"):
        await create_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        counts = await describe_partitions(admin, settings.all_topics)
    finally:
        await admin.close()
    assert counts[settings.topic_orders] == settings.partitions


async def test_changelog_topics_are_compacted(settings: Settings) -> None:
    """The worker's table changelogs exist before it starts, compacted, order memory with the
    attribution horizon as retention."""
    await create_topics(settings)
    entries = await topic_config(settings, f"{settings.app_id}-orders-by-id-changelog")
    assert entries["cleanup.policy"] == "compact,delete"
    assert entries["retention.ms"] == str(settings.order_horizon_s * 1000)


async def test_dead_letters_expire_after_their_retention(settings: Settings) -> None:
    settings = settings.model_copy(update={"deadletter_retention_s": 3 * 24 * 3600})
    await create_topics(settings)
    entries = await topic_config(settings, settings.topic_deadletter)
    assert entries["cleanup.policy"] == "delete"
    assert entries["retention.ms"] == str(3 * 24 * 3600 * 1000)


async def test_the_workers_layout_check_refuses_what_create_refuses(settings: Settings) -> None:
    """`livewatch worker` checks the topics as they are before it starts: the same refusal,
    and nothing said of topics not made yet."""
    assert await settle_layout(settings) == settings  # none exist yet
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.topic_orders, settings.partitions + 1, 1)])
        # known to the broker's metadata (the check takes a topic it does not know for missing)
        await describe_partitions(admin, [settings.topic_orders], expect_all=True)
    finally:
        await admin.close()
    with pytest.raises(TopicLayoutError, match=rf"{settings.topic_orders} has "):
        await settle_layout(settings)


async def test_the_layout_check_leaves_brokers_it_cannot_reach_to_the_worker() -> None:
    """An unreachable broker is not a refusal: the worker waits for it (`/readyz` says so), and
    its broker probe checks the layout once the brokers answer."""
    unreachable = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    settled = await settle_layout(unreachable, timeout_s=10)
    assert settled == unreachable
    # fixed, so the broker probe holds topics of another count to it once they answer
    assert "partitions" in settled.model_fields_set
    with pytest.raises(TopicLayoutError, match="has 3"):
        refuse_mismatched(settled, dict.fromkeys(settled.input_topics, 3))


def unset(settings: Settings) -> Settings:
    """`settings` as they would be without LIVEWATCH_PARTITIONS in the environment."""
    return Settings(**settings.model_dump(exclude={"partitions"}))


def test_an_unset_count_is_the_one_the_existing_topics_share() -> None:
    settings = Settings()
    names = settings.co_partitioned_topics
    assert adopt_partitions(settings, dict.fromkeys(names[:2], 3)).partitions == 3
    assert adopt_partitions(settings, {}).partitions == 8  # none exist: the default
    # an internal topic of an earlier run with another count: nothing is adopted, and refused
    split = {names[0]: 3, names[-1]: 8}
    assert adopt_partitions(settings, split).partitions == 8
    with pytest.raises(TopicLayoutError, match=rf"{names[0]} has 3, {names[-1]} has 8"):
        refuse_mismatched(adopt_partitions(settings, split), split)
    # a count that was set is kept whatever the topics have, and they are checked against it
    chosen = settings.model_copy(update={"partitions": 8})
    assert adopt_partitions(chosen, dict.fromkeys(names, 3)).partitions == 8
    with pytest.raises(TopicLayoutError, match=rf"{names[0]} has 3"):
        refuse_mismatched(chosen, dict.fromkeys(names, 3))
    # a child process finds the count itself unless it was set
    assert "LIVEWATCH_PARTITIONS" not in settings.as_env()
    assert chosen.as_env()["LIVEWATCH_PARTITIONS"] == "8"


async def test_create_makes_the_missing_topics_with_the_count_the_existing_ones_have(
    settings: Settings,
) -> None:
    """An orders topic a producer's first write made with the broker's `num.partitions` (here
    3): with LIVEWATCH_PARTITIONS unset, the other inputs, the internal topics and the
    changelogs are made with 3, and the start-up check agrees."""
    settings = unset(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.topic_orders, 3, 1)])
        await describe_partitions(admin, [settings.topic_orders], expect_all=True)
    finally:
        await admin.close()
    assert (await settle_layout(settings)).partitions == 3
    reports = await create_topics(settings)
    counts = {r.name: r.partitions for r in reports}
    assert {counts[n] for n in settings.co_partitioned_topics} == {3}
    changelogs = {f"{settings.app_id}-{t}-changelog" for t in changelog_configs(settings)}
    assert {counts[n] for n in changelogs} == {3}
    assert counts[settings.rules_topic] == 1
