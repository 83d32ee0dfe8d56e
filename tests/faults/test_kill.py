"""SIGKILL the worker at random points while events arrive live; restart it on the same data
directory, or on an empty one (a pod rescheduled to another node: state comes back from the
changelogs). The alerts must be the replay's: every one, none other, repeats only of alerts
the killed worker had published, with the same figures."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
from typing import Any

import pytest

from streams.core.dict_stores import DictOrders, DictStates
from streams.core.state import AnchorState
from streams.pipeline import build_detector
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.failpoints import ENV, TABLE_APPLY
from streams.worker.stores import TableStates
from streams.worker.tables import ANCHOR_BUCKETS, ANCHOR_STATE, changelog_topic
from tests.e2e.test_no_silent_loss import (
    alerts_settled,
    assert_committed_to_end,
    produce_live,
    simulated,
)
from tests.faults.updates import assert_same_updates, updates
from tests.streams.worker_process import WorkerProcess, produce, read_alerts, read_topic

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

    alerts = await alerts_settled(settings, expected, worker)
    await assert_committed_to_end(settings, timeout_s=60, context=worker.report)
    assert_same_updates(alerts, expected, worker.tail())
    counts = updates(alerts)
    repeated = {key for key, n in counts.items() if n > 1}
    assert repeated <= sent_before_kills, repeated
    assert max(counts.values()) <= 1 + KILLS, counts


def orders_counted(state: AnchorState) -> int:
    """Orders an anchor's state counts: in its buckets, folded into its hours, or deferred."""
    deferred = sum(1 for _, topic, _ in state.deferred if topic == "orders")
    held = sum(b.orders for b in state.buckets.values())
    return held + sum(state.order_hours.values()) + deferred


async def stored_states(settings: Settings) -> dict[str, AnchorState]:
    """The anchors' states as a restarted worker would load them from the changelogs: each
    head with the bucket records it lists (one it lists but that is gone is not counted)."""

    async def latest(table: str) -> dict[str, Any]:
        topic = changelog_topic(settings, table)
        found: dict[str, Any] = {}
        for r in await read_topic(settings.kafka_bootstrap, topic, lambda _: False, timeout_s=5):
            key = json.loads(r.key)
            if r.value is None:
                found.pop(key, None)
            else:
                found[key] = json.loads(r.value)
        return found

    heads, buckets = await latest(ANCHOR_STATE), await latest(ANCHOR_BUCKETS)
    loaded = TableStates(heads, buckets)  # the worker's own loading, over plain mappings
    return {anchor: state for anchor in heads if (state := loaded.get(anchor)) is not None}


FAILPOINT_DEATHS = 3


async def test_killed_partway_through_writing_a_batch_counts_every_order_once(
    settings: Settings, worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies in the middle of a batch's local table writes (a failpoint: a random
    SIGKILL lands there once in many runs), three times, and restarts on the same data
    directory: every anchor counts each of its orders once, and the alerts are the replay's.

    A batch's writes span several stores (an anchor's head and its buckets, the order memory)
    that no store writes atomically; before the changelog was written first, a death here left
    a folded bucket deleted under a head still counting on it, and its orders were lost."""
    settings = worker.settings = settings.model_copy(
        update={"partitions": 4, "store": "rocksdb://", "group_instance_id": "w0"}
    )
    records = simulated(9, 100, 4.0)
    replayed = DictStates()
    detector = build_detector(settings, DictOrders(), replayed)
    expected = list(replay_records(records, settings, detector=detector))
    await create_topics(settings)
    rng = random.Random(7)
    for death in range(FAILPOINT_DEATHS):
        monkeypatch.setenv(ENV, f"{TABLE_APPLY}@{rng.randrange(200, 3000)}")
        await asyncio.to_thread(worker.start, wait=False)
        if death == 0:
            await produce(settings, records)
        code = await asyncio.to_thread(worker.wait_exit, 120)
        assert code == -signal.SIGKILL, f"not killed by the failpoint ({code}):\n{worker.tail()}"
    monkeypatch.delenv(ENV)
    await asyncio.to_thread(worker.start)

    alerts = await alerts_settled(settings, expected, worker)
    await assert_committed_to_end(settings, timeout_s=60, context=worker.report)
    assert_same_updates(alerts, expected, worker.tail())
    stored = await stored_states(settings)
    counted = {anchor: orders_counted(state) for anchor, state in stored.items()}
    assert counted == {anchor: orders_counted(s) for anchor, s in replayed.data.items()}
