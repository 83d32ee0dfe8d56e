"""Alert latency of a live livewatch worker at a steady input rate.

    python benchmarks/latency.py [--rate N] [--anchors 1000] [--hours 16]
                                 [--keys contract|own-ids] [--json]

First measures the worker's maximum rate on this broker, now: a worker (memory store) reads
the same events as a backlog on topics of their own, timed as `throughput.py` times it. Then
it starts a worker on fresh topics and produces the simulator's mix live at half that rate
(where the issue on scale sets the latency mark; `--rate` fixes the rate instead, but a fixed
rate is a larger share of the maximum on a slow day than on a fast one), keyed as the contract
asks (`contract`) or by each record's own id and hashed with CRC32 as librdkafka does
(`own-ids`: nearly every record travels to its anchor's partition). Once every record is
counted, it waits for the worker's evaluations to settle before stopping it.

An alert for the boundary T of an anchor can be published once every partition has been read
past T (a partition may still send the anchor a record of before T), so the event that
completes the boundary is the last, over the partitions, of each partition's first event with
an event time at or after T. The latency of an alert is the time from that event's
produce timestamp to the alert record's: both are CreateTime stamps taken by producers on this
machine, so no clocks are compared across hosts. Prints p50, p99 and max over every alert of
the run, and `own_partition_p99_s`: the p99 counted from the first such event of the anchor's
own partition alone (this benchmark's measure before records travelled; higher, since it
includes the wait for the other partitions).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from throughput import OWN_IDS, fresh, wait_settled, worker_core, worker_run

from schemas import TOPIC_MODELS, Alert
from streams.core.clock import bucket_start, to_ms
from streams.devtools.children import start_worker, stop, wait_ready
from streams.devtools.kafka_local import KafkaLocal, free_port
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.devtools.sim.kafka import send_events
from streams.placement import Placement, owner
from streams.settings import Settings
from streams.topics import create_topics


async def read_all(settings: Settings, topics: list[str], total: int) -> list[Any]:
    """Every record of `topics` from the start (at least `total`, or what comes in 10 s)."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
        auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + 10
    try:
        while len(records) < total or time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batches and len(records) >= total:
                break
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def latencies(
    inputs: list[Any], alerts: list[Any], settings: Settings
) -> tuple[list[float], list[float]]:
    """Seconds from the produce time of the event completing each alert's boundary to the
    alert's own produce time: counted over every partition, and over the anchor's own."""
    partitions, step_ms = settings.partitions, settings.step_s * 1000
    kinds = {topic: kind for kind, topic in settings.topic_by_kind.items()}
    by_partition: dict[int, list[tuple[int, int]]] = {}
    for r in inputs:
        event = TOPIC_MODELS[kinds[r.topic]].model_validate_json(r.value)
        by_partition.setdefault(r.partition, []).append(
            (bucket_start(to_ms(event.event_time), step_ms), r.timestamp)
        )
    first_at: dict[int, list[tuple[int, int]]] = {}
    """Per partition, (step, earliest produce time of an event of that step or later), latest
    step first."""
    for p, items in by_partition.items():
        earliest = None
        steps: list[tuple[int, int]] = []
        for step, produced in sorted(items, key=lambda i: -i[0]):
            earliest = produced if earliest is None else min(earliest, produced)
            steps.append((step, earliest))
        first_at[p] = steps

    def completed(p: int, end: int) -> int | None:
        later = [at for step, at in first_at.get(p, []) if step >= end]
        return later[-1] if later else None

    every, own = [], []
    for r in alerts:
        alert = Alert.model_validate_json(r.value)
        end = to_ms(alert.window_end)
        ats = [at for p in first_at if (at := completed(p, end)) is not None]
        if ats:
            every.append((r.timestamp - max(ats)) / 1000)
        mine = completed(owner(alert.anchor_id, partitions), end)
        if mine is not None:
            own.append((r.timestamp - mine) / 1000)
    return every, own


def max_rate(
    base: Settings, events: list[tuple[str, Any]], placement: Placement, tmp: Path
) -> float:
    """The worker's events per second over `events` as a backlog (stamped with their event
    times, as `throughput.py` loads them) on topics of their own: its maximum here, now."""
    settings = fresh(base, f"latency-max-{uuid.uuid4().hex[:6]}")
    asyncio.run(create_topics(settings))
    total = asyncio.run(send_events(settings, events, placement=placement))
    return worker_run(settings, total, tmp / "max-worker.log").rate


def _p99(values: list[float]) -> float | None:
    return round(values[min(len(values) - 1, int(0.99 * len(values)))], 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rate", type=float, help="events per second (default: half the maximum measured first)"
    )
    parser.add_argument("--anchors", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keys", choices=("contract", "own-ids"), default="contract")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    core = worker_core()
    with tempfile.TemporaryDirectory(prefix="livewatch-latency-") as tmp:
        broker = None if args.bootstrap else KafkaLocal(Path(tmp) / "kafka", port=free_port())
        try:
            bootstrap = args.bootstrap or broker.up()  # type: ignore[union-attr]
            base = Settings(
                kafka_bootstrap=bootstrap, store="memory://", data_dir=Path(tmp) / "data"
            )
            placement = OWN_IDS if args.keys == "own-ids" else Placement()
            sim = Simulation(SimConfig(args.seed, args.anchors, args.hours))
            ordered = sorted(sim.buffer, key=lambda e: (e.deliver, e.seq))
            events = [(ev.kind, ev.value) for ev in ordered]
            maximum = None if args.rate else max_rate(base, events, placement, Path(tmp))
            rate = args.rate or (maximum or 0) / 2
            settings = fresh(base, f"latency-{uuid.uuid4().hex[:6]}")
            asyncio.run(create_topics(settings))
            log = Path(tmp) / "worker.log"
            worker = start_worker(settings, log)
            try:
                wait_ready(f"http://127.0.0.1:{settings.web_port}", worker, log, 120)
                began = time.monotonic()
                total = asyncio.run(send_events(
                    settings, events, rate=rate, minute_barrier=False, placement=placement,
                    stamp=False,
                ))  # fmt: skip
                produced_rate = total / (time.monotonic() - began)
                wait_settled(settings.web_port, total)
            finally:
                stop(worker, timeout_s=60)
            inputs = asyncio.run(read_all(settings, settings.input_topics, total))
            alerts = asyncio.run(read_all(settings, [settings.topic_alerts], 1))
        finally:
            if broker is not None:
                broker.down()
    every, own = latencies(inputs, alerts, settings)
    found, own = sorted(every), sorted(own)
    result = {
        "core": core,
        "keys": args.keys,
        "events": total,
        "max_rate": round(maximum) if maximum is not None else None,
        "rate": round(produced_rate),
        "alerts": len(found),
        "p50_s": round(statistics.median(found), 3) if found else None,
        "p99_s": _p99(found),
        "max_s": round(found[-1], 3) if found else None,
        "own_partition_p99_s": _p99(own),
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
