"""An error no retry fixes: the alerts topic is deleted under a running worker. It must not
hang looking alive; it exits with its infrastructure code once a batch cannot be delivered
within the delivery timeout, leaving that batch uncommitted for after the operator's fix."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.app import EXIT_INFRASTRUCTURE
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_detection import mixed_feed
from tests.e2e.test_no_silent_loss import assert_committed_to_end
from tests.streams.worker_process import WorkerProcess, produce

pytestmark = [pytest.mark.faults, pytest.mark.kafka]


async def test_a_deleted_alerts_topic_makes_the_worker_exit_not_hang(
    settings: Settings, worker: WorkerProcess
) -> None:
    settings = worker.settings = settings.model_copy(update={"delivery_timeout_s": 10.0})
    await create_topics(settings)
    worker.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic_alerts])
    finally:
        await admin.close()
    await produce(settings, mixed_feed())  # a brushing burst: alerts to publish
    assert worker.wait_exit(90) == EXIT_INFRASTRUCTURE, worker.tail()
    assert "LIVEWATCH_DELIVERY_TIMEOUT_S" in worker.tail()
    with pytest.raises(AssertionError):  # the batch that could not publish is not committed
        await assert_committed_to_end(settings, timeout_s=3)
