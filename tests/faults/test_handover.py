"""Workers of one group take over each other's partitions while events arrive live: a second
and a third join, one leaves cleanly, one is SIGKILLed. State moves with the partitions (the
changelogs), so the alerts are still the replay's: all of them, no other, repeats only of
alerts published before a handover, each with the same figures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams.devtools.kafka_local import free_port
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


def member(settings: Settings, tmp_path: Path, name: str) -> Settings:
    """A worker of the group with its own data directory and web port."""
    return settings.model_copy(update={"data_dir": tmp_path / name, "web_port": free_port()})


async def test_partitions_change_hands_mid_stream_and_alerts_stay_the_replays(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    # A short session timeout: a SIGKILLed member's partitions move after 10 s, not 60.
    settings = settings.model_copy(
        update={"partitions": 8, "store": "rocksdb://", "session_timeout_s": 10.0}
    )
    records = simulated(9, 100, 4.0)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 5
    await create_topics(settings)
    w1, w2, w3 = (
        WorkerProcess(member(settings, tmp_path, n), tmp_path / f"{n}.log") for n in "abc"
    )
    workers.extend([w1, w2, w3])
    await asyncio.to_thread(w1.start)
    producing = asyncio.create_task(produce_live(settings, records, rate=250))
    published_before: set[tuple[str, str, str]] = set()

    async def then(step: Any) -> None:
        nonlocal published_before
        await asyncio.sleep(4)
        published_before |= set(updates(await read_alerts(settings, lambda _: False, 2)))
        await asyncio.to_thread(step)

    await then(w2.start)  # two members: half the partitions move to w2
    await then(w3.start)  # three
    await then(w2.stop)  # a clean leave: its partitions go back
    await then(w3.kill)  # a crash: after the session timeout its partitions move
    await producing

    alerts = await alerts_settled(settings, expected)
    await assert_committed_to_end(
        settings, timeout_s=90, context=lambda: [w.report() for w in (w1, w2, w3)]
    )
    logs = [w.tail() for w in (w1, w2, w3)]
    assert_same_updates(alerts, expected, logs)
    counts = updates(alerts)
    repeated = {key for key, n in counts.items() if n > 1}
    assert repeated <= published_before, repeated
    assert max(counts.values()) <= 5, counts
    assert w1.proc is not None and w1.proc.poll() is None, w1.tail()
