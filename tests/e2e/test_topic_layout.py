"""Partition counts livewatch did not choose: a platform's own topics, made before livewatch
with the count its operators picked, and a platform team that gives an input topic more
partitions (a sales day's producers) without telling livewatch's operators."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from confluent_kafka.admin import AdminClient, NewTopic

from streams.devtools.sim.kafka import send_events
from streams.kafka_config import client_options
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics, describe_partitions, topic_configs
from tests.e2e.test_any_producer import assert_same, simulated
from tests.e2e.test_no_silent_loss import alerts_settled
from tests.e2e.test_runtime_rules import without_complaints
from tests.producers import produce_librdkafka
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


def made_by_the_platform(settings: Settings, partitions: int) -> None:
    """The three input topics, made with librdkafka's admin client as a platform's own tooling
    makes them (another client than livewatch's)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    made = admin.create_topics([NewTopic(t, partitions, 1) for t in settings.input_topics])
    for future in made.values():
        future.result(30)


async def test_a_worker_with_no_count_set_runs_with_the_count_its_input_topics_have(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """Input topics made before livewatch with 3 partitions, records produced into them by
    librdkafka keyed by the anchor, and LIVEWATCH_PARTITIONS unset: `livewatch topics create`
    makes the internal topics and changelogs with 3, the worker runs with 3 (it says so), and
    its alerts are the replay's at 3 partitions. Before, both refused: the topics did not
    have 8."""
    unset = Settings(**settings.model_dump(exclude={"partitions"}))
    assert "partitions" not in unset.model_fields_set and unset.partitions == 8
    made_by_the_platform(unset, 3)
    records = simulated(12, 200, 6.0, True)
    expected = list(replay_records(records, unset.model_copy(update={"partitions": 3})))
    assert sum(1 for a in expected if a.status.value == "firing") >= 5
    await asyncio.to_thread(produce_librdkafka, unset, records, {})
    await create_topics(unset)
    worker = WorkerProcess(unset, tmp_path / "worker.log")
    workers.append(worker)
    worker.start()
    alerts = await alerts_settled(unset, expected, worker)
    assert_same(alerts, expected, worker)
    assert "partitions_adopted" in worker.tail(400)
    admin = AIOKafkaAdminClient(**client_options(unset))
    await admin.start()
    try:
        changelogs = [n for n in topic_configs(unset) if n.endswith("-changelog")]
        made = [*unset.co_partitioned_topics, *changelogs]
        counts = await describe_partitions(admin, made, expect_all=True)
    finally:
        await admin.close()
    assert len(counts) > len(unset.input_topics)
    assert set(counts.values()) == {3}, counts


def test_a_backtest_reads_every_partition_of_topics_made_with_another_count(
    settings: Settings, tmp_path: Path
) -> None:
    """`backtest --from-topics` with LIVEWATCH_PARTITIONS unset, on input topics made with 3
    partitions and filled by librdkafka: it reads all three (says so on stderr, not in its
    JSON) and counts every record."""
    unset = Settings(**settings.model_dump(exclude={"partitions"}))
    made_by_the_platform(unset, 3)
    records = simulated(12, 60, 3.0, True)
    produce_librdkafka(unset, records, {})
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(without_complaints(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "streams", "backtest", "--from-topics", "--since", "3650d",
         "--rules", str(candidate), "--json"],
        env={**unset.as_env(), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == len(records)
    assert "partitions: 3" in done.stderr


async def test_input_topics_of_different_counts_are_refused_naming_each(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """With LIVEWATCH_PARTITIONS unset and no count the inputs share, nothing is adopted: the
    worker exits 2 naming each topic's count and what to do."""
    unset = Settings(**settings.model_dump(exclude={"partitions"}))
    made_by_the_platform(unset, 3)
    await grow(unset, unset.topic_complaints, 5)
    worker = WorkerProcess(unset, tmp_path / "worker.log")
    workers.append(worker)
    worker.start(wait=False)
    assert await asyncio.to_thread(worker.wait_exit, 60) == 2, worker.report()
    said = worker.tail()
    assert f"{unset.topic_orders} has 3" in said and f"{unset.topic_complaints} has 5" in said
    assert "one partition count" in said and "LIVEWATCH_PARTITIONS" in said
