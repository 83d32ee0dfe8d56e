"""Sends simulated (or any) events to the input topics, keyed and partitioned as a producer of
the given `Placement` would (the contract by default)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import TOPIC_MODELS
from streams.kafka_config import client_options
from streams.placement import HASHES, Placement, RefundKey
from streams.settings import Settings


def _place(
    kind: str, value: dict[str, Any], placement: Placement, partitions: int
) -> tuple[bytes | None, int | None, str | None, int | None]:
    """Key, partition (None: the client's own murmur2, or random without a key), minute and
    the event time in ms (the record's timestamp)."""
    try:
        event = TOPIC_MODELS[kind].model_validate(value)
    except ValueError:
        return str(value.get("anchor_id", "invalid")).encode(), None, None, None
    key = placement.key(kind, event)
    partition = None
    if key is not None and placement.partitioner != "murmur2":
        partition = HASHES[placement.partitioner](key, partitions)
    moment = event.event_time
    return key, partition, moment.isoformat()[:16], int(moment.timestamp() * 1000)


async def send_events(
    settings: Settings,
    events: Iterable[tuple[str, dict[str, Any] | bytes]],
    rate: float | None = None,
    duration_s: float | None = None,
    on_sent: Callable[[int], None] | None = None,
    minute_barrier: bool = True,
    refunds_by: RefundKey = "anchor",
    placement: Placement | None = None,
    stamp: bool = True,
) -> int:
    """Produce events in the given order; returns how many were sent.

    Like a live platform, one event-minute reaches the broker before the next begins: the
    producer is flushed whenever the event time enters a new minute (within a minute, batches
    may land in any order across partitions). `rate` caps events per second; `duration_s`
    stops early. Values that are bytes are sent as they are (malformed input, for tests).
    Without `minute_barrier` the producer never waits for the broker (per partition, Kafka
    keeps the order anyway): that wait caps a producer near 2,600 events/s on this machine.
    Records are keyed and partitioned as `placement` says (default: the contract, refunds keyed
    as `refunds_by` says), and, with `stamp`, stamped with their event time (CreateTime):
    simulated time runs ahead of the wall clock, and the worker refuses events far ahead of
    their record's timestamp. Without it they carry the time they were sent (the latency
    benchmark measures from it).
    """
    placement = placement or Placement.of(refunds=refunds_by)
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=5, acks="all")
    await producer.start()
    sent = 0
    minute: str | None = None
    began = time.monotonic()
    counts: dict[str, int] = {}
    """Each topic's partition count, as the producers' partitioners read it."""
    try:
        for kind, value in events:
            if duration_s is not None and time.monotonic() - began >= duration_s:
                break
            partition: int | None = None
            key: bytes | None
            stamp_ms: int | None = None
            if isinstance(value, bytes):
                raw, key = value, b"invalid"
            else:
                raw = json.dumps(value).encode()
                topic = settings.topic_by_kind[kind]
                if topic not in counts:
                    counts[topic] = len(await producer.partitions_for(topic))
                key, partition, event_minute, stamp_ms = _place(
                    kind, value, placement, counts[topic]
                )
                if minute_barrier and event_minute is not None and event_minute != minute:
                    await producer.flush()
                    minute = event_minute
            await producer.send(
                settings.topic_by_kind[kind], raw, key=key, partition=partition,
                timestamp_ms=stamp_ms if stamp else None,
            )  # fmt: skip
            sent += 1
            if on_sent is not None:
                on_sent(sent)
            if rate:
                ahead = began + sent / rate - time.monotonic()
                if ahead > 0.05:  # sleep in slices, not per event
                    await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()
    return sent
