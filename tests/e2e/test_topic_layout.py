"""Partition counts that no longer fit `LIVEWATCH_PARTITIONS`: a platform team gives an input
topic more partitions (a sales day's producers) without telling livewatch's operators."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

from streams.devtools.sim.kafka import send_events
from streams.kafka_config import client_options
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_any_producer import simulated
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka


async def grow(settings: Settings, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_partitions({topic: NewPartitions(total_count=partitions)})
    finally:
        await admin.close()


async def test_partitions_added_under_a_running_worker_stop_it_saying_why(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """Before, the new partitions' records went unread until the next rebalance (minutes:
    aiokafka refreshes its metadata every five), which then stopped the worker at their first
    record with aiokafka's `AssertionError('Unrecognized partition')` (exit 70), again at every
    restart. Now the worker sees the new count within seconds and exits 2 naming the topic
    and what to do, and a restart refuses to start with the same reason."""
    records = simulated(5, 30, 1.0, refund_anchor=True)
    await create_topics(settings)
    await send_events(settings, records)
    running = WorkerProcess(settings, tmp_path / "running.log")
    workers.append(running)
    running.start()
    await grow(settings, settings.topic_orders, settings.partitions + 2)
    code = await asyncio.to_thread(running.wait_exit, 60)
    assert code == 2, running.report()
    said = running.tail()
    assert "topic_layout_changed" in said
    assert f"{settings.topic_orders} has {settings.partitions + 2}" in said

    again = WorkerProcess(settings, tmp_path / "again.log")
    workers.append(again)
    again.start(wait=False)
    assert await asyncio.to_thread(again.wait_exit, 60) == 2, again.report()
    said = again.tail()
    assert f"{settings.topic_orders} has {settings.partitions + 2}" in said
    assert "LIVEWATCH_PARTITIONS" in said and "new LIVEWATCH_APP_ID" in said
