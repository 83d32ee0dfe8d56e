"""Topic creation against the real broker: idempotent, configured partitions, co-partitioning."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.settings import Settings
from streams.topics import TopicLayoutError, create_topics, describe_partitions

pytestmark = pytest.mark.kafka


async def test_create_is_idempotent(settings: Settings) -> None:
    """A first call creates every topic; a second one creates nothing and reports them existing."""
    first = await create_topics(settings)
    assert {r.name for r in first} == set(settings.all_topics)
    assert all(r.created and r.partitions == settings.partitions for r in first)
    second = await create_topics(settings)
    assert not any(r.created for r in second)
    assert all(r.partitions == settings.partitions for r in second)


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
