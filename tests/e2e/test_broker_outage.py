"""A broker outage: the worker says it is not ready, logs it in a few lines, and recovers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streams.devtools.kafka_local import KafkaLocal, free_port
from streams.settings import Settings
from streams.topics import create_topics
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka

BROKER_TIMEOUT_S = 6


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaLocal]:
    """A broker of this test's own: the test stops it, which the shared one must never be."""
    broker = KafkaLocal(state_dir=tmp_path / "kafka", port=free_port())
    try:
        yield broker
    finally:
        broker.down()


async def readiness(base: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(total=5)) as resp,
    ):
        return resp.status, await resp.json()


async def wait_ready(base: str, want: bool, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, body = await readiness(base)
        if (status == 200) == want:
            return body
        await asyncio.sleep(0.5)
    raise AssertionError(f"readiness never became {want}: {body}")


def log_lines(path: Path, since: int) -> list[str]:
    with path.open("rb") as log:
        log.seek(since)
        return log.read().decode(errors="replace").splitlines()


async def test_broker_outage_is_not_ready_and_logged_briefly(
    settings: Settings, workers: list[WorkerProcess], own_broker: KafkaLocal, tmp_path: Path
) -> None:
    """With the broker gone, /readyz answers 503 within the broker timeout and the worker writes
    a summary line per interval, not one per reconnect attempt; with the broker back, it is
    ready again."""
    bootstrap = await asyncio.to_thread(own_broker.up)
    settings = settings.model_copy(
        update={"kafka_bootstrap": bootstrap, "broker_timeout_s": BROKER_TIMEOUT_S}
    )
    await create_topics(settings)
    log = tmp_path / "worker.log"
    worker = WorkerProcess(settings, log)
    workers.append(worker)
    worker.start()
    base = f"http://127.0.0.1:{settings.web_port}"
    await wait_ready(base, True, 60)

    before = log.stat().st_size
    await asyncio.to_thread(own_broker.down)
    stopped = time.monotonic()
    body = await wait_ready(base, False, BROKER_TIMEOUT_S + 10)
    assert "broker" in body["reason"], body
    await asyncio.sleep(max(0.0, 25 - (time.monotonic() - stopped)))
    lines = log_lines(log, before)
    assert len(lines) < 150, "\n".join(lines[:40])
    assert any("suppressed" in line for line in lines), "\n".join(lines[:40])

    await asyncio.to_thread(own_broker.up)
    await wait_ready(base, True, 90)
