"""A livewatch worker as a real child process, and helpers to feed and read its topics."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from schemas import Alert
from streams.devtools.children import start_worker, stop
from streams.devtools.sim.kafka import send_events
from streams.kafka_config import client_options
from streams.placement import RefundKey
from streams.settings import Settings


class WorkerProcess:
    """`python -m streams worker` with these settings; stopped by its pid."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120, wait: bool = True) -> None:
        """Start it and wait until it says it is ready (not with `wait=False`: one set to die
        early may not get that far)."""
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = start_worker(self.settings, self.log_path)
        if not wait:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.tail()}")
            if self._ready_since(start):
                return
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready in {timeout_s}s:\n{self.tail()}")

    def _ready_since(self, offset: int) -> bool:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return b"Worker ready" in log.read()

    def _lines(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.splitlines()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self._lines()[-lines:])

    def report(self, lines: int = 40) -> str:
        """What to show when a check fails: the log's warnings and errors (the first 30: the
        cause may be long before the end), then its tail."""
        logged = self._lines()
        levels = ('"level": "warning"', '"level": "error"', '"level": "critical"')
        warned = [line for line in logged if any(w in line for w in levels)]
        tail = "\n".join(logged[-lines:])
        return "warnings and errors:\n" + "\n".join(warned[:30]) + "\ntail:\n" + tail

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            stop(self.proc, sig)

    def wait_exit(self, timeout_s: float) -> int | None:
        """Its exit code once it exits by itself, or None if it still runs after `timeout_s`."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.proc.poll()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit."""
        self.stop(signal.SIGKILL)


async def produce(
    settings: Settings, records: Iterable[tuple[str, Any]], refunds_by: RefundKey = "anchor"
) -> int:
    """Send records as a live platform would (see `streams.devtools.sim.kafka.send_events`)."""
    return await send_events(settings, records, refunds_by=refunds_by)


async def read_topic(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Any]], bool],
    timeout_s: float = 120,
    **options: Any,
) -> list[Any]:
    """Every record of `topic` from the start, until `done(records)` or the timeout; `options`
    are more of the consumer's (security)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
        **options,
    )  # fmt: skip
    await consumer.start()
    records: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while not done(records) and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def read_alerts(
    settings: Settings, done: Callable[[list[Alert]], bool], timeout_s: float = 120
) -> list[Alert]:
    options = client_options(settings)
    records = await read_topic(
        options.pop("bootstrap_servers"), settings.topic_alerts,
        lambda recs: done([Alert.model_validate_json(r.value) for r in recs]), timeout_s,
        **options,
    )  # fmt: skip
    return [Alert.model_validate_json(r.value) for r in records]


async def by_label(
    http: aiohttp.ClientSession, port: int, sample_name: str, label: str, **match: str
) -> dict[str, float]:
    """A worker's samples named `sample_name` whose labels match `match`, by `label`."""
    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    return {
        sample.labels[label]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in match.items())
    }


async def consumed(http: aiohttp.ClientSession, port: int, kind: str) -> dict[str, float]:
    """A worker's `livewatch_events_consumed_total` for one topic kind, by outcome."""
    return await by_label(http, port, "livewatch_events_consumed_total", "outcome", topic=kind)
