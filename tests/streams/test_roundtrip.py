"""Events survive a trip through a real Kafka topic, keyed for co-partitioning."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import Complaint, Order, Refund
from streams.codecs import decode, encode
from streams.placement import record_key
from streams.settings import Settings
from streams.topics import create_topics
from tests import factories

pytestmark = pytest.mark.kafka


async def test_events_round_trip_through_kafka(settings: Settings) -> None:
    """Each event, encoded and produced, is consumed back equal, with its anchor as the key."""
    await create_topics(settings)
    sent = {
        settings.topic_orders: ("orders", Order.model_validate(factories.order())),
        settings.topic_refunds: ("refunds", Refund.model_validate(factories.refund())),
        settings.topic_complaints: ("complaints", Complaint.model_validate(factories.complaint())),
    }
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for topic, (_, event) in sent.items():
            await producer.send_and_wait(topic, encode(event), key=record_key(event))
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        *sent,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{settings.app_id}-roundtrip",
    )
    await consumer.start()
    received = {}
    try:
        while len(received) < len(sent):
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, "no records within 10 s"
            for records in batches.values():
                for record in records:
                    kind, _ = sent[record.topic]
                    received[record.topic] = (record.key, decode(kind, record.value))
    finally:
        await consumer.stop()
    for topic, (_, event) in sent.items():
        key, value = received[topic]
        assert value == event
        assert key == b"a-1"
