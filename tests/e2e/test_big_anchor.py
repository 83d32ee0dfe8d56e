"""A top streamer's session through a real worker: nothing crashes, every record stays small."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from streams.devtools.sim.hot import hot_session
from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.tables import ANCHOR_STATE, ORDERS_BY_ID, PARTITION_CLOCK, changelog_topic
from tests.streams.worker_process import WorkerProcess, consumed, produce, read_topic
from tests.worker.test_stores import LIMIT

pytestmark = pytest.mark.kafka


async def test_a_20000_orders_a_minute_anchor_runs_through_with_small_records(
    settings: Settings, worker: WorkerProcess
) -> None:
    """Three minutes of an anchor taking 20,000 orders a minute, 5% refunded: the worker counts
    every order and stays up, and no changelog record reaches 64 KiB (one state value used to
    pass Kafka's 1 MB limit and stop the worker)."""
    records: list[tuple[str, Any]] = list(hot_session(20_000, 3, anchor="big"))
    orders = sum(1 for kind, _ in records if kind == "orders")
    await create_topics(settings)
    worker.start()
    await produce(settings, records)

    base = f"http://127.0.0.1:{settings.web_port}"
    counted: dict[str, float] = {}
    async with aiohttp.ClientSession() as http:
        for _ in range(180):
            assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
            counted = await consumed(http, settings.web_port, "orders")
            if counted.get("ok", 0) >= orders:
                break
            await asyncio.sleep(1)
        # Evaluated once every partition has marked itself past the last minute (a round of
        # marks after the last order was counted).
        for _ in range(30):
            async with http.get(f"{base}/anchors/big") as resp:
                view = await resp.json()
            if view["windows"]["long"]["orders"] >= orders:
                break
            await asyncio.sleep(1)
    assert counted["ok"] == orders
    assert view["windows"]["long"]["orders"] == orders  # all within the hour

    largest: dict[str, int] = {}
    for table in (ANCHOR_STATE, ORDERS_BY_ID, PARTITION_CLOCK):
        got = await read_topic(
            settings.kafka_bootstrap, changelog_topic(settings, table), lambda r: False, 8
        )
        largest[table] = max((len(r.value) for r in got if r.value is not None), default=0)
    assert largest[ANCHOR_STATE] > 0
    assert max(largest.values()) < LIMIT, json.dumps(largest)
