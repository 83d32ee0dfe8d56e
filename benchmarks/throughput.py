"""Throughput of a livewatch worker against a plain aiokafka consumer on the same local broker.

    python benchmarks/throughput.py [--anchors 1000] [--hours 16]

Starts its own broker (stopped at the end), loads a simulated backlog into the input topics,
then times (1) an aiokafka consumer that decodes JSON and counts per anchor, (2) a livewatch
worker (memory store) from its first to its last consumed event, read from its /metrics. Prints
both rates and their ratio: measured in one run, so the shared machine affects both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from streams.children import start_worker, stop
from streams.kafka_local import KafkaLocal, free_port
from streams.settings import Settings
from streams.sim.generator import SimConfig, Simulation
from streams.sim.kafka import send_events
from streams.topics import create_topics


async def raw_consumer(settings: Settings, total: int) -> float:
    """Seconds for a plain consumer to read, decode and count every event."""
    consumer = AIOKafkaConsumer(
        *settings.input_topics, bootstrap_servers=settings.kafka_bootstrap,
        group_id="benchmark-raw", auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    counts: dict[str, int] = {}
    seen = 0
    began = time.perf_counter()
    try:
        while seen < total:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                for record in records:
                    anchor = json.loads(record.value).get("anchor_id")
                    counts[anchor] = counts.get(anchor, 0) + 1
                    seen += 1
    finally:
        await consumer.stop()
    return time.perf_counter() - began


def consumed(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            body = resp.read().decode()
    except OSError:
        return None
    return sum(
        s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == "livewatch_events_consumed_total"
    )


def worker_rate(settings: Settings, total: int, log: Path) -> float:
    """Events per second of a worker, from its first consumed event to its last."""
    worker = start_worker(settings, log)
    try:
        first: tuple[float, float] | None = None
        while True:
            time.sleep(1.0)  # about a Prometheus scrape cadence: a scrape costs the worker time
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited; see {log}")
            count = consumed(settings.web_port)
            if count and first is None:
                first = (time.perf_counter(), count)
            if first and count is not None and count >= total:
                return (count - first[1]) / (time.perf_counter() - first[0])
    finally:
        stop(worker, timeout_s=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchors", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="livewatch-bench-") as tmp:
        broker = KafkaLocal(state_dir=Path(tmp) / "kafka", port=free_port())
        try:
            settings = Settings(
                kafka_bootstrap=broker.up(), app_id="benchmark", store="memory://",
                web_port=free_port(), data_dir=Path(tmp) / "data",
            )  # fmt: skip
            asyncio.run(create_topics(settings))
            events = list(Simulation(SimConfig(1, args.anchors, args.hours)).events())
            total = asyncio.run(send_events(settings, events))
            raw = total / asyncio.run(raw_consumer(settings, total))
            ours = worker_rate(settings, total, Path(tmp) / "worker.log")
        finally:
            broker.down()
    print(f"events:           {total}")
    print(f"plain consumer:   {raw:,.0f} events/s")
    print(f"livewatch worker: {ours:,.0f} events/s")
    print(f"ratio:            {ours / raw:.3f}")


if __name__ == "__main__":
    main()
