"""SIGKILL the worker at random points while events arrive live; restart it on the same data
directory, or on an empty one (a pod rescheduled to another node: state comes back from the
changelogs). The alerts must be the replay's: every one, none other, repeats only of alerts
the killed worker had published, with the same figures."""

from __future__ import annotations

import asyncio
import random
import shutil

import pytest

from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_no_silent_loss import (
    alerts_settled,
    assert_committed_to_end,
    produce_live,
    simulated,
)
from tests.faults.updates import assert_same_updates, updates
from tests.streams.worker_process import WorkerProcess, read_alerts

pytestmark = [pytest.mark.faults, pytest.mark.kafka]

KILLS = 3


@pytest.mark.parametrize("wipe", [False, True], ids=["same-data-dir", "wiped-data-dir"])
async def test_repeated_sigkills_lose_nothing(
    settings: Settings, worker: WorkerProcess, wipe: bool
) -> None:
    settings = worker.settings = settings.model_copy(
        update={"partitions": 8, "store": "rocksdb://", "group_instance_id": "w0"}
    )
    records = simulated(9, 100, 4.0)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 5
    rng = random.Random(31 + wipe)
    await create_topics(settings)
    await asyncio.to_thread(worker.start)
    producing = asyncio.create_task(produce_live(settings, records, rate=300))
    sent_before_kills: set[tuple[str, str, str]] = set()
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(3.0, 7.0))
        worker.kill()
        sent = await read_alerts(settings, lambda got: False, timeout_s=2)
        sent_before_kills |= set(updates(sent))
        if wipe:
            shutil.rmtree(settings.data_dir, ignore_errors=True)
        await asyncio.to_thread(worker.start)
    await producing

    alerts = await alerts_settled(settings, expected)
    await assert_committed_to_end(settings, timeout_s=60, context=worker.tail)
    assert_same_updates(alerts, expected, worker.tail())
    counts = updates(alerts)
    repeated = {key for key, n in counts.items() if n > 1}
    assert repeated <= sent_before_kills, repeated
    assert max(counts.values()) <= 1 + KILLS, counts
