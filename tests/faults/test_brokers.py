"""A three-broker cluster on loopback (`livewatch kafka up --brokers 3`), topics with
replication factor 3 and `min.insync.replicas` 2: one broker is stopped mid-stream and started
again. The worker keeps processing while it is down, and the alerts are the replay's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest

from streams.devtools.kafka_local import KafkaCluster
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_no_silent_loss import (
    alerts_settled,
    assert_committed_to_end,
    produce_live,
    simulated,
)
from tests.faults.updates import assert_same_updates
from tests.streams.worker_process import WorkerProcess, consumed
from tests.topic_configs import topic_config

pytestmark = [pytest.mark.faults, pytest.mark.kafka]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three nodes, each broker and controller; every one stopped by its pid at the end."""
    kafka = KafkaCluster(tmp_path_factory.mktemp("kafka-3"), brokers=3)
    kafka.up()
    try:
        yield kafka
    finally:
        kafka.down()


async def total_consumed(port: int) -> float:
    async with aiohttp.ClientSession() as http:
        by_kind = [await consumed(http, port, kind) for kind in ("orders", "refunds")]
    return sum(n for counts in by_kind for n in counts.values())


async def test_a_broker_stopped_mid_stream_loses_nothing(
    cluster: KafkaCluster, settings: Settings, worker: WorkerProcess
) -> None:
    settings = worker.settings = settings.model_copy(
        update={"kafka_bootstrap": cluster.bootstrap, "replication_factor": 3, "partitions": 4}
    )
    records = simulated(9, 100, 4.0)
    expected = list(replay_records(records, settings))
    await create_topics(settings)
    assert (await topic_config(settings, settings.topic_alerts))["min.insync.replicas"] == "2"

    await asyncio.to_thread(worker.start)
    producing = asyncio.create_task(produce_live(settings, records, rate=300))
    await asyncio.sleep(6)
    await asyncio.to_thread(cluster.stop_node, 0)  # the first address of the bootstrap list
    assert cluster.pids()[0] is None
    before = await total_consumed(settings.web_port)
    await asyncio.sleep(12)
    during = await total_consumed(settings.web_port)
    assert during > before, worker.tail()  # still processing with one broker down
    await asyncio.to_thread(cluster.start_node, 0)
    await producing

    alerts = await alerts_settled(settings, expected)
    await assert_committed_to_end(settings, timeout_s=90, context=worker.report)
    assert_same_updates(alerts, expected, worker.tail())
    assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
