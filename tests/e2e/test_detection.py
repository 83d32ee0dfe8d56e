"""The worker against the real broker: events in, alerts and dead letters out, as replay says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import Alert
from streams.notify.envelope import cloudevent_headers
from streams.placement import RefundKey
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.deadletter import HEADER_PREFIX
from streams.worker.tables import ANCHOR_BUCKETS, ANCHOR_STATE, changelog_topic
from tests import scenarios
from tests.scenarios import Record, Scenario
from tests.streams.worker_process import WorkerProcess, produce, read_alerts, read_topic

pytestmark = pytest.mark.kafka


def start_worker(settings: Settings, workers: list[WorkerProcess], log: Path) -> WorkerProcess:
    worker = WorkerProcess(settings, log)
    workers.append(worker)
    worker.start()
    return worker


def episodes(alerts: list[Alert]) -> list[tuple[str, str, str, str]]:
    return sorted((a.rule.value, a.anchor_id, a.alert_id, a.status.value) for a in alerts)


def worker_log(tmp_path: Path) -> str:
    return "\n".join(
        line for line in (tmp_path / "worker.log").read_text().splitlines() if '"alert"' in line
    )


def mixed_feed() -> list[Record]:
    s = Scenario(seed=21)
    for i in range(4):
        scenarios.normal_anchor(s, f"normal{i}", per_hour=40 + 30 * i)
    scenarios.normal_anchor(s, "apparel", per_hour=150, category="apparel", refund_share=0.42)
    scenarios.brushing(s, "brusher")
    scenarios.complaint_storm(s, "defective")
    tiny = s.orders("tiny", 30, 5, 2)
    s.refunds(tiny, 1.0, delay=(1, 3))
    return s.records()


async def test_worker_matches_replay_and_dead_letters_bad_input(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """Normal, high-refund-category and tiny anchors stay quiet; the brusher fires then resolves;
    the complaint storm fires; malformed records go to the dead-letter topic with their origin."""
    records = mixed_feed()
    expected = list(replay_records(records, settings))
    assert {(a.anchor_id, a.status.value) for a in expected} >= {
        ("brusher", "firing"), ("brusher", "resolved"), ("defective", "firing"),
    }  # fmt: skip
    bad: list[tuple[str, Any]] = [
        ("orders", b"{not json"),
        ("refunds", {**records[0][1], "placed_at": "2026-11-29T12:00:00"}),
        ("complaints", {"anchor_id": "x", "category": "rude"}),
    ]
    await create_topics(settings)
    start_worker(settings, workers, tmp_path / "worker.log")
    await produce(settings, bad[:2] + records + bad[2:])

    alerts = await read_alerts(settings, lambda got: len(got) >= len(expected))
    assert episodes(alerts) == episodes(expected), worker_log(tmp_path)
    assert {a.anchor_id for a in alerts} == {"brusher", "defective"}

    # Each alert record carries its CloudEvents envelope; the payload is the JSON as before.
    published = await read_topic(settings.kafka_bootstrap, settings.topic_alerts,
                                 lambda recs: len(recs) >= len(alerts), timeout_s=30)  # fmt: skip
    for record in published:
        alert = Alert.model_validate_json(record.value)
        headers = dict(record.headers)
        assert headers == dict(cloudevent_headers(alert, settings.app_id))
        assert headers["ce_type"].decode().endswith(f".{alert.rule.value}.{alert.status.value}")
    updates = {(a.alert_id, a.status, a.severity if a.status == "firing" else "") for a in alerts}
    assert len({dict(r.headers)["ce_id"] for r in published}) == len(updates)

    dead = await read_topic(settings.kafka_bootstrap, settings.topic_deadletter,
                            lambda recs: len(recs) >= 3, timeout_s=60)  # fmt: skip
    assert len(dead) == 3
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers[f"{HEADER_PREFIX}topic"] in settings.input_topics
        assert int(headers[f"{HEADER_PREFIX}offset"]) >= 0
        assert headers[f"{HEADER_PREFIX}error"]
    assert {r.value for r in dead} >= {b"{not json"}


def restart_feed() -> list[Record]:
    s = Scenario(seed=22)
    scenarios.brushing(s, "brusher")
    scenarios.complaint_storm(s, "defective", start=100)
    for i in range(3):
        scenarios.normal_anchor(s, f"normal{i}", per_hour=60 + 40 * i)
    return s.records()


def without_emitted_at(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json", exclude={"emitted_at"})


def anchorless(records: list[Record]) -> list[Record]:
    """The refunds as an after-sales system sends them: the order, not the anchor."""
    strip = {"anchor_id", "session_id"}
    return [
        (kind, {k: v for k, v in value.items() if kind != "refunds" or k not in strip})
        for kind, value in records
    ]


@pytest.mark.parametrize("refunds_by", ["anchor", "order_id"])
async def test_killed_worker_restarts_with_same_ids_and_counts(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path, refunds_by: RefundKey
) -> None:
    """SIGKILL right after the first alert, restart on the same RocksDB data, finish the stream:
    the alerts equal the replay's (ids, figures and evidence), the one in flight at the kill
    at most repeated. With refunds
    keyed by `order_id` and naming no anchor, the kill also cuts through refunds on their way
    through the internal topics."""
    # The production store, and static membership so the restarted worker takes its partitions
    # back at once instead of after the dead one's session times out.
    settings = settings.model_copy(update={"store": "rocksdb://", "group_instance_id": "w0"})
    records = restart_feed() if refunds_by == "anchor" else anchorless(restart_feed())
    expected = list(replay_records(records, settings, refunds_by=refunds_by))
    assert len(expected) >= 3
    first_alert_minute = expected[0].window_end
    cut = next(
        i for i, (kind, value) in enumerate(records)
        if scenarios.T0 + (first_alert_minute - scenarios.T0) * 1.15 <= _when(value)
    )  # fmt: skip
    await create_topics(settings)

    first = start_worker(settings, workers, tmp_path / "worker.log")
    await produce(settings, records[:cut], refunds_by)
    seen = await read_alerts(settings, lambda got: len(got) >= 1, timeout_s=90)
    first.kill()
    assert seen and seen[0].alert_id == expected[0].alert_id, first.tail()
    # What the killed worker had published: only these may be sent again.
    sent_before = await read_alerts(settings, lambda got: False, timeout_s=3)

    start_worker(settings, workers, tmp_path / "worker.log")
    await produce(settings, records[cut:], refunds_by)
    alerts = await read_alerts(settings, lambda got: len(got) >= len(expected), timeout_s=120)
    # Wait a little longer: a duplicate would arrive after the expected ones.
    alerts = await read_alerts(settings, lambda got: False, timeout_s=5)
    # At-least-once (docs/reliability.md, Processing guarantees): an alert sent just before
    # the kill, whose state was not written yet, is sent again after the restart; it must be
    # the same alert.
    first_seen: dict[tuple[str, str], dict[str, Any]] = {}
    for alert in alerts:
        body = without_emitted_at(alert)
        key = (alert.alert_id, alert.status.value)
        assert first_seen.setdefault(key, body) == body, f"{key} repeated with other figures"
    assert sorted(first_seen) == sorted((a.alert_id, a.status.value) for a in expected)
    for alert in expected:
        assert first_seen[(alert.alert_id, alert.status.value)] == without_emitted_at(alert)
    # Only what was in flight at the kill (its batch: one alert or a few) may come again, once.
    counts = Counter((a.alert_id, a.status.value) for a in alerts)
    repeated = {key for key, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2, counts
    assert repeated <= {(a.alert_id, a.status.value) for a in sent_before}, repeated


def _when(value: dict[str, Any]) -> Any:
    stamp = value.get("placed_at") or value.get("requested_at") or value.get("filed_at")
    return datetime.fromisoformat(str(stamp))


async def test_late_events_inside_grace_count_and_outside_are_skipped(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """Grace is 5 minutes: an order 4 minutes behind its topic's latest counts, one 6 minutes
    behind does not. Read back from the changelogs the worker wrote to Kafka."""
    s = Scenario(seed=23)
    s.orders("latecomer", 60, 1, 10)
    on_time = s.records()
    late = Scenario(seed=24)
    # Orders of their own: an order id seen before would be a redelivery.
    inside = late.orders("latecomer", 56, 0.1, 1)[0] | {"event_id": "late-inside",
                                                        "order_id": "late-inside"}  # fmt: skip
    outside = late.orders("latecomer", 54, 0.1, 1)[0] | {"event_id": "late-outside",
                                                         "order_id": "late-outside"}  # fmt: skip
    # An out-of-order event counts from the next boundary on: move time on by three minutes.
    after = late.orders("latecomer", 63, 0.1, 1)[0] | {"event_id": "after", "order_id": "after"}
    await create_topics(settings)
    start_worker(settings, workers, tmp_path / "worker.log")
    await produce(settings, [*on_time, ("orders", inside), ("orders", outside), ("orders", after)])

    def latest(records: list[Any]) -> dict[str, Any]:
        """The last value of each of the anchor's records (head, buckets) in a changelog."""
        found: dict[str, Any] = {}
        for r in records:
            key = json.loads(r.key) if r.key else ""
            if key == "latecomer" or key.startswith("latecomer@"):
                found[key] = json.loads(r.value) if r.value is not None else None
        return found

    def orders_counted(records: list[Any]) -> int:
        return sum(v["o"] for v in latest(records).values() if v is not None)

    buckets = changelog_topic(settings, ANCHOR_BUCKETS)
    records = await read_topic(
        settings.kafka_bootstrap, buckets, lambda recs: orders_counted(recs) == 12, timeout_s=60
    )
    assert orders_counted(records) == 12  # eleven on time, one late inside the grace period
    heads = await read_topic(
        settings.kafka_bootstrap, changelog_topic(settings, ANCHOR_STATE), lambda r: False, 5
    )
    state = latest(heads)["latecomer"]
    assert state["tw"]["orders"] == int(
        datetime.fromisoformat(after["placed_at"]).timestamp() * 1000
    )
    assert state["d"] == []  # nothing left waiting


async def test_replay_command_and_worker_agree_on_a_simulated_mix(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """`livewatch simulate` writes a mix with late and duplicate deliveries; `livewatch replay`
    and a worker reading the same events from Kafka publish the same alerts."""
    settings = settings.model_copy(update={"partitions": 8})
    feed, truth = tmp_path / "mix.jsonl", tmp_path / "labels.json"
    cli = [sys.executable, "-m", "streams"]
    env = {**os.environ, "LIVEWATCH_PARTITIONS": "8"}
    subprocess.run([*cli, "simulate", "--seed", "9", "--anchors", "120", "--hours", "6",
                    "--out", str(feed), "--labels", str(truth)], check=True, env=env)  # fmt: skip
    replayed = subprocess.run([*cli, "replay", str(feed)], capture_output=True, text=True,
                              check=True, env=env)  # fmt: skip
    expected = [Alert.model_validate_json(line) for line in replayed.stdout.splitlines()]
    assert any(a.status.value == "firing" for a in expected)
    records = [(json.loads(line)["topic"], json.loads(line)["value"])
               for line in feed.read_text().splitlines()]  # fmt: skip
    assert len({v["event_id"] for _, v in records}) < len(records)  # duplicates are in there

    await create_topics(settings)
    await produce(settings, records)  # a backlog: the worker starts after everything is in
    start_worker(settings, workers, tmp_path / "worker.log")
    alerts = await read_alerts(settings, lambda got: len(got) >= len(expected), timeout_s=120)
    alerts = await read_alerts(settings, lambda got: False, timeout_s=3)
    assert episodes(alerts) == episodes(expected)
