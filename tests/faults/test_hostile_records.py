"""Hostile records live on a real broker: each passes for an event, or nearly, and each once could
blind, stall or crash-loop the worker (a far-future or year-1 time, a non-finite amount, values
past the record limit). Produced among the simulator's mix by a second client, they are
dead-lettered with their reason, survive a SIGKILL and restart, and change no alert: the
worker publishes exactly the replay of the clean events."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas import TOPIC_MODELS
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_any_producer import OWN_IDS, assert_same
from tests.e2e.test_no_silent_loss import alerts_settled
from tests.producers import produce_librdkafka
from tests.streams.worker_process import WorkerProcess, read_topic

pytestmark = [pytest.mark.faults, pytest.mark.kafka]

HEADER = "livewatch-dlq-"


def hostile(records: list[tuple[str, Any]]) -> list[tuple[str, dict[str, Any], str]]:
    """(topic kind, value, the dead-letter reason expected) built from real events of the mix."""
    order = next(v for k, v in records if k == "orders")
    refund = next(v for k, v in records if k == "refunds")
    complaint = next(v for k, v in records if k == "complaints")

    def like(value: dict[str, Any], tag: str, **changes: Any) -> dict[str, Any]:
        ids = {f: f"{value[f]}-{tag}" for f in ("event_id", "order_id", "refund_id",
                                                  "complaint_id") if f in value}  # fmt: skip
        return {**value, **ids, **changes}

    pad = "x" * 70_000
    return [
        ("orders", like(order, "2100", placed_at="2100-01-01T00:00:00+00:00"), "future"),
        (
            "refunds",
            like(
                refund,
                "2100",
                requested_at="2100-01-01T00:00:00+00:00",
                anchor_id=None,
                session_id=None,
            ),
            "future",
        ),
        ("complaints", like(complaint, "2100", filed_at="2100-06-01T00:00:00+00:00"), "future"),
        (
            "orders",
            like(order, "year1", anchor_id="a-new-year1", placed_at="0001-01-01T00:00:00+00:00"),
            "too_old",
        ),
        ("orders", like(order, "inf", amount="1e400"), "invalid"),
        ("orders", like(order, "big", note=pad), "too_large"),
        ("orders", like(order, "huge", note="y" * 1_040_000), "too_large"),
    ]


def month_old(records: list[tuple[str, Any]]) -> tuple[str, dict[str, Any], str]:
    """An order a month older than the partition has reached, on an anchor never seen."""
    order = next(v for k, v in records if k == "orders")
    placed = datetime.fromisoformat(order["placed_at"]) - timedelta(days=30)
    value = {**order, "event_id": "e-month", "order_id": "o-month", "anchor_id": "a-new-month",
             "placed_at": placed.isoformat()}  # fmt: skip
    return ("orders", value, "too_old")


async def produce_stamped(
    settings: Settings, records: list[tuple[str, dict[str, Any], str]], stamp_ms: int
) -> None:
    """aiokafka (livewatch's own client, murmur2, keyed by anchor where there is one), every
    record stamped with the producer's clock at `stamp_ms`, whatever its event says."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                max_request_size=1_048_576)  # fmt: skip
    await producer.start()
    try:
        for kind, value, _ in records:
            key = value.get("anchor_id") or value.get("order_id")
            await producer.send_and_wait(settings.topic_by_kind[kind], json.dumps(value).encode(),
                                         key=str(key).encode(), timestamp_ms=stamp_ms)  # fmt: skip
    finally:
        await producer.stop()


async def dead_letters(settings: Settings, at_least: int) -> list[Any]:
    return await read_topic(settings.kafka_bootstrap, settings.topic_deadletter,
                            lambda got: len(got) >= at_least, timeout_s=120)  # fmt: skip


def headers(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers if k.startswith(HEADER)}


async def test_hostile_records_live_are_dead_lettered_and_change_no_alert(
    settings: Settings, worker: WorkerProcess
) -> None:
    settings = worker.settings = settings.model_copy(
        update={"partitions": 8, "store": "rocksdb://", "group_instance_id": "w0"}
    )
    sim = Simulation(SimConfig(seed=21, anchors=150, hours=6.0, refund_anchor=False))
    clean = list(sim.events())
    expected = list(replay_records(clean, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 3
    half = len(clean) // 2
    last = TOPIC_MODELS[clean[half - 1][0]].model_validate(clean[half - 1][1]).event_time
    now_ms = int(last.astimezone(UTC).timestamp() * 1000)
    bad = [*hostile(clean[:half]), month_old(clean[:half])]

    await create_topics(settings)
    worker.start()
    await asyncio.to_thread(produce_librdkafka, settings, clean[:half], OWN_IDS)
    await produce_stamped(settings, bad, now_ms)
    letters = await dead_letters(settings, len(bad))
    worker.kill()  # after the bad records, before or after their offsets were committed
    worker.start()
    await asyncio.to_thread(produce_librdkafka, settings, clean[half:], OWN_IDS)
    alerts = await alerts_settled(settings, expected)
    # Killed mid-stream: an update sent just before the kill, whose state was not yet written,
    # is sent again (at least once, as docs/reliability.md says): every one of the replay's
    # updates, and no other, however often.
    assert_same(alerts, expected, worker, at_least_once=True)

    letters = await dead_letters(settings, len(bad))
    by_origin = {
        (h[f"{HEADER}topic"], h[f"{HEADER}partition"], h[f"{HEADER}offset"]): h
        for h in map(headers, letters)
    }
    assert len(by_origin) == len(bad), [headers(r) for r in letters]
    assert Counter(h[f"{HEADER}reason"] for h in by_origin.values()) == Counter(
        reason for _, _, reason in bad
    )
    truncated = [h for h in by_origin.values() if f"{HEADER}truncated" in h]
    assert [h[f"{HEADER}truncated"] for h in truncated] == [
        f"value={len(json.dumps(bad[6][1]).encode())}"
    ]
    assert all(len(r.value or b"") <= 512 * 1024 for r in letters)
    assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
