"""Test traffic from a second Kafka client: librdkafka (confluent-kafka) with its own defaults.

A check that passes only with livewatch's own producer code (aiokafka, murmur2) proves little
about the producers livewatch's users run: librdkafka's default partitioner is CRC32
(`consistent_random`), and keys follow the producing service's needs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Producer

from schemas import TOPIC_MODELS
from streams.placement import KeyField, record_key
from streams.settings import Settings


def produce_librdkafka(
    settings: Settings,
    records: Iterable[tuple[str, Any]],
    keys: dict[str, KeyField] | None = None,
    rate: float | None = None,
    minute_barrier: bool = True,
    config: dict[str, Any] | None = None,
    transactional: bool = False,
    frame: bytes = b"",
    aborted: Mapping[str, list[tuple[str, Any]]] | None = None,
) -> int:
    """Send `(topic kind, value)` records with confluent-kafka's defaults (partitioner
    `consistent_random`: CRC32 of the key, random without one), keyed as `keys` says per topic
    (default: the anchor, as the README asks), stamped with their event time (simulated time
    runs ahead of the wall clock). With `minute_barrier`, the producer is flushed
    whenever the event time enters a new minute, as a live platform's minutes reach the broker
    in order; `rate` caps records per second. `transactional`: each minute is a transaction
    (as a Flink or Kafka Streams job with exactly-once output writes), so every partition's
    records are followed by a commit marker, an offset no consumer ever receives. `frame`: bytes
    put before each value (a Schema Registry serializer's magic byte and schema id). `aborted`
    (with `transactional`): by event minute (`YYYY-MM-DDTHH:MM`), records sent in a transaction
    of their own right after that minute's, then aborted. Blocking:
    run it in a thread from async code."""
    extra = {"transactional.id": f"lw-test-{time.monotonic_ns()}"} if transactional else {}
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5,
                         **extra, **(config or {})})  # fmt: skip
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()
    chosen = keys or {}
    minute: str | None = None
    sent = 0
    began = time.monotonic()
    for kind, value in records:
        event = TOPIC_MODELS[kind].model_validate(value)
        stamp = event.event_time.isoformat()[:16]
        if minute_barrier and stamp != minute:
            if transactional:
                producer.commit_transaction(30)
                if aborted and minute in aborted:
                    producer.begin_transaction()
                    for k, v in aborted[minute]:
                        producer.produce(
                            settings.topic_by_kind[k], frame + json.dumps(v).encode(),
                            record_key(TOPIC_MODELS[k].model_validate(v), chosen.get(k, "anchor")),
                        )  # fmt: skip
                    producer.flush(30)  # on the broker, then aborted there
                    producer.abort_transaction(30)
                producer.begin_transaction()
            else:
                producer.flush()
            minute = stamp
        key = record_key(event, chosen.get(kind, "anchor"))
        while True:
            try:
                producer.produce(
                    settings.topic_by_kind[kind], frame + json.dumps(value).encode(), key,
                    timestamp=int(event.event_time.timestamp() * 1000),
                )  # fmt: skip
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
        producer.poll(0)
        sent += 1
        if rate:
            ahead = began + sent / rate - time.monotonic()
            if ahead > 0.05:
                time.sleep(ahead)
    if transactional:
        producer.commit_transaction(60)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} records not delivered"
    return sent
