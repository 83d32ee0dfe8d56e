"""`livewatch doctor`: what the producers of the input topics actually do.

Samples the latest records of each input topic and reports, per topic: how records are keyed,
which partitioner put them where they are, how many sit on their anchor's partition (the rest
cost livewatch a hop), how far event times stray from the records' own Kafka timestamps, and
how many would be dead-lettered. The analysis (`diagnose`) is plain Python over sampled
records; `sample_topics` is the Kafka part.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from itertools import pairwise
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.codecs import DecodeError, decode, schema_id
from streams.kafka_config import client_options
from streams.placement import HASHES, PARTITIONERS, owner
from streams.settings import Settings
from streams.topics import describe_partitions

KEYED_BY = ("anchor_id", "order_id", "refund_id", "complaint_id", "event_id", "buyer_id",
            "session_id")  # fmt: skip
"""Fields a key is recognised as, in this order of preference."""


@dataclass(frozen=True, slots=True)
class Sampled:
    """One record as read: where it was, its key, value and Kafka timestamp (ms, or None)."""

    partition: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None
    timestamp_type: int = 0
    """0: CreateTime (the producer's clock), 1: LogAppendTime (the broker's)."""
    offset: int | None = None


@dataclass
class TopicReport:
    """What the sampled records of one input topic show."""

    kind: str
    topic: str
    partitions: int
    sampled: int = 0
    invalid: int = 0
    keys: Counter[str] = field(default_factory=Counter)
    """What the keys are: a field name of the value, `none` (no key) or `other`."""
    on_owner: int = 0
    """Valid records naming an anchor that sit on their anchor's partition."""
    named_anchor: int = 0
    agree: Counter[str] = field(default_factory=Counter)
    """Per partitioner, the keyed records it would have put where they are."""
    keyed: int = 0
    skew_ms: list[int] = field(default_factory=list)
    """Event time minus the record's timestamp, per valid record that has one."""
    timestamp_types: Counter[str] = field(default_factory=Counter)
    schema_ids: Counter[int] = field(default_factory=Counter)
    """Values framed by a Schema Registry serializer, by the schema id in the frame."""
    reasons: Counter[str] = field(default_factory=Counter)
    """Why the invalid records would be dead-lettered, by reason."""
    offset_gaps: int = 0
    """Places where one partition's sampled records skip offsets: a transactional producer's
    commit markers (or its aborted records, which a `read_committed` reader skips), or
    compaction."""

    @property
    def framed(self) -> int:
        return sum(self.schema_ids.values())

    @property
    def partitioner(self) -> str | None:
        """The partitioner that explains the keyed records' placement best (None: no keys);
        `unknown` when none explains at least half of them (a custom partitioner, or a
        client's livewatch does not know): each known one explains about 1/n by chance, and
        naming the luckiest would send its advice the wrong way."""
        if not self.keyed:
            return None
        best, hits = max(self.agree.items(), key=lambda kv: (kv[1], kv[0] == "murmur2"))
        return best if 2 * hits >= self.keyed else "unknown"

    def to_json(self) -> dict[str, Any]:
        skew = sorted(self.skew_ms)
        return {
            "topic": self.topic,
            "partitions": self.partitions,
            "sampled": self.sampled,
            "invalid": self.invalid,
            "keys": dict(self.keys.most_common()),
            "on_anchor_partition": _share(self.on_owner, self.named_anchor),
            "partitioner": self.partitioner,
            "partitioner_agreement": {p: _share(n, self.keyed) for p, n in self.agree.items()},
            "event_time_minus_timestamp_s": _percentiles(skew),
            "timestamp_types": dict(self.timestamp_types),
            "schema_registry_framed": _share(self.framed, self.sampled),
            "schema_ids": sorted(self.schema_ids),
            "invalid_reasons": dict(self.reasons.most_common(3)),
            "offset_gaps": self.offset_gaps,
            "advice": self.advice(),
        }

    def advice(self) -> list[str]:
        """What to change at the producer, if anything."""
        out = []
        if self.named_anchor and self.on_owner < self.named_anchor:
            off = 1 - self.on_owner / self.named_anchor
            if self.keys.get("anchor_id", 0) >= 0.5 * self.sampled and self.partitioner not in (
                "murmur2",
                None,
            ):
                hashed = (
                    "placed by a partitioner livewatch does not know"
                    if self.partitioner == "unknown"
                    else f"hashed with {self.partitioner}"
                )
                out.append(
                    f"{off:.0%} of {self.kind} are off their anchor's partition: they are keyed "
                    f"by anchor_id but {hashed}; set the producer's "
                    "partitioner to murmur2 (librdkafka: partitioner=murmur2_random; KafkaJS: "
                    "Partitioners.DefaultPartitioner) to save a hop each"
                )
            else:
                out.append(
                    f"{off:.0%} of {self.kind} are off their anchor's partition and cost a hop "
                    "each: key them by anchor_id with a murmur2 partitioner to save it"
                )
        if self.kind == "refunds" and self.sampled - self.invalid > self.named_anchor:
            out.append(
                "some refunds name no anchor_id: they are joined through the order index (two "
                "hops); naming the anchor saves one"
            )
        if self.invalid:
            reason, n = self.reasons.most_common(1)[0]
            out.append(
                f"{self.invalid} of {self.sampled} records are invalid (dead-lettered); the most "
                f"common reason ({n}): {reason}"
            )
            if any(r.startswith("shipped: Field required") for r in self.reasons):
                out.append(
                    "some refunds have no shipped field: a Protocol Buffers JSON printer leaves "
                    "out a false boolean unless told to print fields with no presence (Java's "
                    "JsonFormat.printer().alwaysPrintFieldsWithNoPresence(), Go's protojson "
                    "EmitUnpopulated, Python's always_print_fields_with_no_presence)"
                )
            if any("timezone info" in r for r in self.reasons):
                out.append(
                    "some event times have no UTC offset: if the producer writes one zone's "
                    "local time, set LIVEWATCH_NAIVE_TIME_ZONE to it (such as Asia/Shanghai); "
                    "better, have it write the offset"
                )
        if self.skew_ms and max(self.skew_ms) > 60_000:
            out.append(
                "some event times are more than a minute ahead of their record's timestamp: "
                "check the producers' clocks and time zones"
            )
        return out


REASON_CHARS = 200
"""A reason is cut to this, so reasons that differ only in a quoted value's tail group."""


def _share(n: int, of: int) -> float | None:
    return round(n / of, 4) if of else None


def _percentiles(values: list[int]) -> dict[str, float] | None:
    if not values:
        return None

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] / 1000, 3)

    return {
        "min": round(values[0] / 1000, 3),
        "p1": at(0.01),
        "median": round(statistics.median(values) / 1000, 3),
        "p99": at(0.99),
        "max": round(values[-1] / 1000, 3),
    }


def key_kind(key: bytes | None, value: Any) -> str:
    """Which field of the event the key is (`none`: no key, `other`: none of them)."""
    if key is None:
        return "none"
    text = key.decode("utf-8", "replace")
    for name in KEYED_BY:
        if getattr(value, name, None) == text:
            return name
    return "other"


def diagnose(
    kind: str,
    topic: str,
    partitions: int,
    records: Iterable[Sampled],
    zone: tzinfo | None = None,
) -> TopicReport:
    """The report on one topic's sampled records, their times without an offset read in `zone`
    as the worker reads them (see `codecs.decode`)."""
    report = TopicReport(kind, topic, partitions)
    offsets: dict[int, list[int]] = {}
    for record in records:
        report.sampled += 1
        if record.offset is not None:
            offsets.setdefault(record.partition, []).append(record.offset)
        framed = schema_id(record.value) if record.value is not None else None
        if framed is not None:
            report.schema_ids[framed] += 1
        try:
            event = decode(kind, record.value, zone)
        except DecodeError as exc:
            report.invalid += 1
            report.reasons[str(exc)[:REASON_CHARS]] += 1
            continue
        report.keys[key_kind(record.key, event)] += 1
        if event.anchor_id is not None:
            report.named_anchor += 1
            report.on_owner += owner(event.anchor_id, partitions) == record.partition
        if record.key is not None:
            report.keyed += 1
            for name in PARTITIONERS:
                report.agree[name] += HASHES[name](record.key, partitions) == record.partition
        if record.timestamp_ms is not None and record.timestamp_ms >= 0:
            event_ms = int(event.event_time.timestamp() * 1000)
            report.skew_ms.append(event_ms - record.timestamp_ms)
            report.timestamp_types[
                "log_append_time" if record.timestamp_type == 1 else "create_time"
            ] += 1
    for found in offsets.values():
        found.sort()
        report.offset_gaps += sum(b - a > 1 for a, b in pairwise(found))
    return report


async def sample_topics(
    settings: Settings, per_partition: int, timeout_s: float = 30.0
) -> dict[str, tuple[int, list[Sampled]]]:
    """The last `per_partition` records of every partition of each input topic, by topic kind,
    with the topic's partition count."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        counts = await describe_partitions(admin, settings.input_topics, settle_s=2.0)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=None, enable_auto_commit=False,
        isolation_level=settings.isolation_level,
    )  # fmt: skip
    await consumer.start()
    try:
        out: dict[str, tuple[int, list[Sampled]]] = {}
        for kind, topic in settings.topic_by_kind.items():
            tps = [TopicPartition(topic, p) for p in range(counts.get(topic, 0))]
            out[kind] = (len(tps), await _sample(consumer, tps, per_partition, timeout_s))
        return out
    finally:
        await consumer.stop()


async def _sample(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], per_partition: int, timeout_s: float
) -> list[Sampled]:
    if not tps:
        return []
    consumer.assign(tps)
    begin = await consumer.beginning_offsets(tps)
    end = await consumer.end_offsets(tps)
    waiting = {tp for tp in tps if end[tp] > begin[tp]}
    for tp in tps:
        consumer.seek(tp, max(begin[tp], end[tp] - per_partition))
    records: list[Sampled] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while waiting and loop.time() < deadline:
        batches = await consumer.getmany(*waiting, timeout_ms=500)
        for tp, batch in batches.items():
            for r in batch:
                if r.offset < end[tp]:
                    sampled = Sampled(
                        r.partition, r.key, r.value, r.timestamp, r.timestamp_type, r.offset
                    )
                    records.append(sampled)
        for tp in list(waiting):
            if await consumer.position(tp) >= end[tp]:  # past a last commit marker too
                waiting.discard(tp)
    return records


def render(reports: list[TopicReport], expected_partitions: int) -> str:
    """The reports for people."""
    lines = []
    for r in reports:
        lines.append(f"{r.kind} ({r.topic}): {r.sampled} records sampled from {r.partitions} "
                     "partitions" + (f", {r.invalid} invalid" if r.invalid else ""))  # fmt: skip
        if r.partitions != expected_partitions:
            lines.append(f"  partitions: {r.partitions}, but the worker would run with "
                         f"{expected_partitions} (LIVEWATCH_PARTITIONS; unset, the count the "
                         "topics share)")  # fmt: skip
        if not r.sampled:
            continue
        keys = ", ".join(f"{k} {n / r.sampled:.0%}" for k, n in r.keys.most_common())
        lines.append(f"  keys: {keys}")
        if r.framed:
            ids = ", ".join(str(i) for i in sorted(r.schema_ids))
            lines.append(f"  values framed by a Schema Registry serializer: "
                         f"{r.framed / r.sampled:.0%} (schema ids {ids})")  # fmt: skip
        if r.named_anchor:
            lines.append(f"  on their anchor's partition: {r.on_owner / r.named_anchor:.1%}")
        if r.keyed:
            agree = ", ".join(f"{p} {n / r.keyed:.0%}" for p, n in r.agree.most_common())
            lines.append(f"  partitioner: {r.partitioner} (keyed records it explains: {agree})")
        skew = _percentiles(sorted(r.skew_ms))
        if skew:
            lines.append(
                "  event time - record timestamp (s): "
                + ", ".join(f"{k} {v:+g}" for k, v in skew.items())
                + f" [{', '.join(r.timestamp_types)}]"
            )
        if r.offset_gaps:
            lines.append(
                f"  offset gaps between sampled records: {r.offset_gaps} (a transactional "
                "producer's commit markers or aborted records, or compaction; livewatch reads "
                "committed records only, see LIVEWATCH_ISOLATION_LEVEL)"
            )
        lines.extend(f"  advice: {a}" for a in r.advice())
    return "\n".join(lines)
