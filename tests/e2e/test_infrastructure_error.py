"""An error the worker cannot fix by retrying: it exits for its supervisor, losing nothing."""

from __future__ import annotations

import json

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.placement import murmur2_partition as partition_of
from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.app import EXIT_INFRASTRUCTURE
from streams.worker.tables import ANCHOR_STATE, changelog_topic
from tests.scenarios import Scenario
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka


async def test_state_it_cannot_read_makes_the_worker_exit_without_committing(
    settings: Settings, worker: WorkerProcess
) -> None:
    """The anchor-state changelog holds an anchor in an older format: on that anchor's first
    order the worker exits with its infrastructure code, and the order is not committed (it is
    read again after the operator's fix), rather than dead-lettered or acknowledged."""
    await create_topics(settings)
    partition = partition_of(b"old", settings.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        old_head = {"a": "old", "ev": None, "tw": {}, "b": {}}  # format 1 had no "v"
        await producer.send_and_wait(
            changelog_topic(settings, ANCHOR_STATE), json.dumps(old_head).encode(),
            key=json.dumps("old").encode(), partition=partition,
        )  # fmt: skip
        worker.start()
        s = Scenario(seed=41)
        s.orders("old", 0, 1, 1)
        ((_, order),) = s.records()
        sent = await producer.send_and_wait(
            settings.topic_orders, json.dumps(order).encode(), key=b"old"
        )
    finally:
        await producer.stop()
    assert sent.partition == partition
    assert worker.wait_exit(60) == EXIT_INFRASTRUCTURE, worker.tail()
    assert "infrastructure_error" in worker.tail()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.app_id,
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(settings.topic_orders, partition))
    finally:
        await consumer.stop()
    assert committed is None or committed <= sent.offset
