"""The verdicts topic on the broker (compacted, keyed by `alert_id`), and the alerts topic read
back for a report."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from schemas import Alert
from schemas.verdict import Verdict
from streams.codecs import encode
from streams.kafka_config import client_options
from streams.settings import Settings
from streams.topics import describe_partitions


async def read_topic(settings: Settings, topic: str, timeout_s: float = 120.0) -> list[bytes]:
    """Every value of a topic, read to the end offsets found when reading began."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        count = (await describe_partitions(admin, [topic], settle_s=2.0)).get(topic, 0)
    finally:
        await admin.close()
    if not count:
        return []  # not created yet: nothing recorded
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


def parse_all(values: list[bytes], model: Any) -> tuple[list[Any], int]:
    """The values that validate as `model`, and how many did not."""
    found, bad = [], 0
    for value in values:
        try:
            found.append(model.model_validate_json(value))
        except (ValidationError, ValueError):
            bad += 1
    return found, bad


async def read_verdicts(settings: Settings) -> tuple[list[Verdict], int]:
    return parse_all(await read_topic(settings, settings.topic_verdicts), Verdict)


async def read_alerts(settings: Settings) -> tuple[list[Alert], int]:
    return parse_all(await read_topic(settings, settings.topic_alerts), Alert)


class VerdictWriter:
    """Appends verdicts, each acknowledged by every in-sync replica before it is reported
    recorded; idempotent, so a retried send is written once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def send(self, verdict: Verdict) -> None:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **client_options(self.settings), acks="all", enable_idempotence=True
            )
            await producer.start()
            self._producer = producer
        await self._producer.send_and_wait(
            self.settings.topic_verdicts, encode(verdict), key=verdict.alert_id.encode()
        )

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
