"""An error no retry fixes: the alerts topic is deleted under a running worker. It must not
hang looking alive; it exits with its infrastructure code once a batch cannot be delivered
within the delivery timeout, and after the operator's fix (the topic back) a restarted worker
publishes every alert it could not, once traffic goes on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.app import EXIT_INFRASTRUCTURE
from tests.e2e.test_detection import _when, mixed_feed
from tests.e2e.test_no_silent_loss import alerts_settled
from tests.faults.updates import assert_same_updates
from tests.streams.worker_process import WorkerProcess, produce

pytestmark = [pytest.mark.faults, pytest.mark.kafka]


def next_minute(records: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """One more order for every anchor, two minutes after the last event: traffic goes on."""
    at = (max(_when(v) for _, v in records) + timedelta(minutes=2)).isoformat()
    last = {v["anchor_id"]: v for kind, v in records if kind == "orders"}
    return [
        ("orders", {**v, "event_id": f"next-{a}", "order_id": f"next-{a}", "placed_at": at})
        for a, v in sorted(last.items())
    ]


async def test_a_deleted_alerts_topic_makes_the_worker_exit_not_hang(
    settings: Settings, worker: WorkerProcess
) -> None:
    settings = worker.settings = settings.model_copy(update={"delivery_timeout_s": 10.0})
    records = mixed_feed()  # a brushing burst: alerts to publish
    more = next_minute(records)
    expected = list(replay_records(records + more, settings))
    assert expected
    await create_topics(settings)
    worker.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic_alerts])
    finally:
        await admin.close()
    await produce(settings, records)
    assert worker.wait_exit(90) == EXIT_INFRASTRUCTURE, worker.tail()
    assert "LIVEWATCH_DELIVERY_TIMEOUT_S" in worker.tail()

    # The input records may be committed (alerts found between batches are sent after their
    # records were acknowledged), but the state that says they were sent was not written: the
    # restarted worker derives them again at each partition's next record.
    await create_topics(settings)
    worker.start()
    await produce(settings, more)
    alerts = await alerts_settled(settings, expected)
    assert_same_updates(alerts, expected, worker.tail())
