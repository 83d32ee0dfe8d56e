"""A new app id on the same data directory: the upgrade path docs/reliability.md gives for a
new state format (same volume, new `LIVEWATCH_APP_ID`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.devtools.kafka_local import free_port
from streams.devtools.sim.kafka import send_events
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_any_producer import assert_same, simulated
from tests.e2e.test_no_silent_loss import alerts_settled
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka


async def test_a_new_app_id_on_the_same_data_directory_starts_from_its_own_changelogs(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """The old app fills its RocksDB stores and stops; the new app id, on the same data
    directory, reads the inputs from the start into stores of its own and publishes the
    replay's alerts. Before the tables had a directory per app id, the new worker recovered
    over the old app's stores and exited (Faust: "persisted offset higher than the
    highwater")."""
    settings = settings.model_copy(update={"store": "rocksdb://"})
    records = simulated(5, 60, 3.0, refund_anchor=True)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 1
    await create_topics(settings)
    await send_events(settings, records)
    old = WorkerProcess(settings, tmp_path / "old.log")
    workers.append(old)
    old.start()
    assert_same(await alerts_settled(settings, expected, old), expected, old)
    old.stop()
    assert old.wait_exit(60) is not None, old.tail()

    renamed = settings.model_copy(update={
        "app_id": f"{settings.app_id}-v2", "topic_alerts": f"{settings.topic_alerts}-v2",
        "web_port": free_port(),
    })  # fmt: skip
    await create_topics(renamed)
    new = WorkerProcess(renamed, tmp_path / "new.log")
    workers.append(new)
    new.start()
    assert_same(await alerts_settled(renamed, expected, new), expected, new)
    assert sorted(p.name for p in settings.data_dir.iterdir()) == sorted(
        [settings.app_id, renamed.app_id]
    )
