"""Recorded events read back from the input topics, for a backtest (`--from-topics`).

How far back is the topics' retention (`retention.ms` of orders, refunds and complaints: the
broker's default is 7 days); a partition whose oldest record is younger than `since` is read
from its start. Records are read up to the end offsets found when reading began, with their
partitions and timestamps, so the replay places each where the worker read it.
"""

from __future__ import annotations

import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.codecs import unframed
from streams.kafka_config import client_options
from streams.replay import Line
from streams.settings import Settings


async def read_since(settings: Settings, since_s: int, timeout_s: float = 600.0) -> list[Line]:
    """Every input record appended since `since_s` ago, by topic and partition in offset
    order (a value that is not JSON is kept as text: the replay reports it as invalid)."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, max_partition_fetch_bytes=4 << 20,
        isolation_level=settings.isolation_level,
    )  # fmt: skip
    await consumer.start()
    try:
        kinds = {topic: kind for kind, topic in settings.topic_by_kind.items()}
        tps = [TopicPartition(t, p) for t in kinds for p in range(settings.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        since_ms = int(time.time() * 1000) - since_s * 1000
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        for tp in tps:
            found = starts.get(tp)
            if found is None:  # nothing that recent
                consumer.seek(tp, ends[tp])
            else:
                consumer.seek(tp, max(found.offset, 0))
        lines: list[Line] = []
        deadline = time.monotonic() + timeout_s
        pending = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the input topics were not read in {timeout_s:g} s")
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=50_000)
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset < ends[tp]:
                        lines.append(Line(kinds[tp.topic], _json(m.value), tp.partition,
                                          m.timestamp))  # fmt: skip
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return lines
    finally:
        await consumer.stop()


def _json(raw: bytes | None) -> object:
    try:
        return orjson.loads(unframed(raw or b""))  # an envelope is the replay's to open
    except orjson.JSONDecodeError:
        return (raw or b"")[:200].decode(errors="replace")
