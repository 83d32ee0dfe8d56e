"""Rule sets at runtime on a real broker: published mid-stream with the command, a worker
switches at the set's boundary exactly as the replay does given the rules topic's records; a
shadow set fills the shadow topic only; a broken record on the topic changes nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from schemas import Alert, AlertStatus, RuleName
from streams.codecs import encode
from streams.core.clock import from_ms, to_ms
from streams.core.rulebook import book_from_records
from streams.core.rules import DEFAULT_RULES_PATH, load_rules
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.devtools.sim.kafka import send_events
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_any_producer import assert_same
from tests.e2e.test_http_api import samples
from tests.e2e.test_no_silent_loss import alerts_settled
from tests.producers import produce_librdkafka
from tests.streams.test_runtime_rules import without_complaints
from tests.streams.worker_process import WorkerProcess, read_alerts

pytestmark = pytest.mark.kafka

QC = RuleName.QUALITY_COMPLAINTS.value


def livewatch(settings: Settings, *args: str) -> str:
    """A `livewatch` command against the test's topics; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "streams", *args],
        env={**settings.as_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def history(settings: Settings) -> list[dict[str, Any]]:
    out = livewatch(settings, "rules", "export")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def content(alert: Alert) -> bytes:
    return encode(alert.model_copy(update={"emitted_at": alert.window_end}))


async def test_a_set_published_mid_stream_switches_at_its_boundary_as_the_replay_does(
    settings: Settings, worker: WorkerProcess, tmp_path: Path
) -> None:
    """The first half of the traffic (aiokafka), then `livewatch rules publish` of a set
    without quality complaints from a boundary between the two storms, then the rest
    (librdkafka): the worker's alerts are the replay's given `livewatch rules export`, the
    second storm never fires, and `rules show` names the set."""
    settings = worker.settings = settings.model_copy(update={"partitions": 8})
    records = list(Simulation(SimConfig(seed=5, anchors=200, hours=8.0)).events())
    plain = list(replay_records(records, settings))
    storms = sorted(
        to_ms(a.window_end) for a in plain
        if a.rule.value == QC and a.status == AlertStatus.FIRING
    )  # fmt: skip
    assert len(storms) >= 2
    boundary = storms[0] + 120_000
    first = next(i for i, (_, v) in enumerate(records) if to_ms(_time(v)) >= boundary)
    await create_topics(settings)
    worker.start()
    await send_events(settings, records[:first])
    candidate = tmp_path / "no-complaints.yaml"
    candidate.write_text(without_complaints(), encoding="utf-8")
    at = from_ms(boundary).isoformat()
    said = livewatch(settings, "rules", "publish", str(candidate), "--at", at, "--by", "analyst")
    assert "live rules v1 published by analyst" in said
    await asyncio.to_thread(produce_librdkafka, settings, records[first:])
    book, refused = book_from_records(load_rules(), history(settings))
    assert not refused and book.live_at(boundary)[0] == 1
    expected = list(replay_records(records, settings, book=book))
    assert [(a.alert_id, a.status) for a in expected] != [(a.alert_id, a.status) for a in plain]
    alerts = await alerts_settled(settings, expected)
    assert_same(alerts, expected, worker)
    late_storms = [a for a in alerts if a.rule.value == QC and to_ms(a.window_end) > boundary]
    assert all(a.status == AlertStatus.RESOLVED for a in late_storms)
    assert {a.rules_version for a in alerts if to_ms(a.window_end) >= boundary} == {1}
    shown = json.loads(livewatch(settings, "rules", "show", "--json"))
    assert shown["live"]["version"] == 1 and shown["live"]["published_by"] == "analyst"


def _time(value: dict[str, Any]) -> Any:
    from datetime import datetime

    for key in ("placed_at", "requested_at", "filed_at"):
        if key in value:
            return datetime.fromisoformat(value[key].replace("Z", "+00:00"))
    raise KeyError(value)


async def test_a_shadow_set_and_a_broken_record_leave_the_live_alerts_as_they_were(
    settings: Settings, worker: WorkerProcess, tmp_path: Path
) -> None:
    """A shadow set (no quality complaints) published with the command, and a live record
    that fails validation appended by a plain producer: the live alerts topic holds the
    rules file's alerts byte for byte (but the wall-clock stamp), the shadow topic the
    shadow set's, and the metrics and `/readyz` say a record was refused."""
    records = list(Simulation(SimConfig(seed=5, anchors=200, hours=8.0)).events())
    await create_topics(settings)
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(without_complaints(), encoding="utf-8")
    livewatch(settings, "rules", "publish", str(shadow), "--shadow", "--at", "2000-01-01T00:00:00Z")
    broken = DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace("\n  z: 1.645 ", "\n  z: -1 ")
    bad = {"version": 2, "kind": "live", "effective_ms": 0, "rules": broken}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(settings.rules_topic or "", json.dumps(bad).encode(),
                                     key=b"live/00000002")  # fmt: skip
    finally:
        await producer.stop()
    worker.start()
    await send_events(settings, records)
    book, refused = book_from_records(load_rules(), history(settings))
    assert len(refused) == 1 and "refund_after_order_spike.z" in refused[0]
    both = list(replay_records(records, settings, book=book))
    expected_live = [a for a in both if not a.shadow]
    expected_shadow = [a for a in both if a.shadow]
    assert [content(a) for a in expected_live] == [
        content(a) for a in replay_records(records, settings)
    ]
    live = await alerts_settled(settings, expected_live)
    assert sorted(content(a) for a in live) == sorted(content(a) for a in expected_live)
    assert not any(a.shadow for a in live)
    shadow_settings = settings.model_copy(update={"topic_alerts": settings.topic_alerts_shadow})
    found = await read_alerts(shadow_settings, lambda got: len(got) >= len(expected_shadow))
    assert sorted(content(a) for a in found) == sorted(content(a) for a in expected_shadow)
    assert expected_shadow and all(a.shadow for a in found)
    async with aiohttp.ClientSession() as http:
        port = settings.web_port
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            metrics = samples(await resp.text())
        async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            ready = await resp.json()
    assert metrics[("livewatch_rules_refused_total", ())] == 1
    assert metrics[("livewatch_rules_version", (("kind", "live"),))] == 0
    assert metrics[("livewatch_rules_version", (("kind", "shadow"),))] == 1
    assert ready["rules"] == "live v0, shadow v1"
    assert "refund_after_order_spike.z" in ready["rules_refused"]


async def test_a_backtest_reads_the_input_topics_back(settings: Settings, tmp_path: Path) -> None:
    """`backtest --from-topics`: the records the topics hold, with their partitions, under the
    live sets the rules topic recorded and the candidate: every complaint storm gone, refund
    spikes unchanged."""
    records = list(Simulation(SimConfig(seed=5, anchors=200, hours=8.0)).events())
    await create_topics(settings)
    await asyncio.to_thread(produce_librdkafka, settings, records)
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(without_complaints(), encoding="utf-8")
    out = livewatch(settings, "backtest", "--from-topics", "--since", "3650d", "--rules",
                    str(candidate), "--json")  # fmt: skip
    found = json.loads(out)
    assert found["events"] == len(records)
    complaints = found["rules"][QC]
    assert complaints["baseline"] >= 2
    assert (complaints["candidate"], complaints["only_baseline"]) == (0, complaints["baseline"])
    spikes = found["rules"][RuleName.REFUND_AFTER_ORDER_SPIKE.value]
    assert spikes["baseline"] == spikes["candidate"] == spikes["both"] >= 1


async def test_publish_show_and_rollback_keep_every_version(
    settings: Settings, tmp_path: Path
) -> None:
    """Two sets published, then a rollback: a third version with the first one's text, from
    its own boundary; `rules show` names who published each and what the rollback undid; a
    shadow set withdrawn shows as such."""
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(DEFAULT_RULES_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    second.write_text(without_complaints(), encoding="utf-8")
    livewatch(settings, "rules", "publish", str(first), "--by", "alice")
    livewatch(settings, "rules", "publish", str(second), "--by", "bob")
    said = livewatch(settings, "rules", "rollback", "--by", "carol")
    assert "live rules v3 published by carol" in said
    livewatch(settings, "rules", "publish", str(second), "--shadow", "--by", "dan")
    livewatch(settings, "rules", "withdraw-shadow", "--by", "dan")
    records = history(settings)
    assert [(r["version"], r["kind"], r["published_by"]) for r in records] == [
        (1, "live", "alice"), (2, "live", "bob"), (3, "live", "carol"),
        (4, "shadow", "dan"), (5, "shadow", "dan"),
    ]  # fmt: skip
    assert records[2]["rules"] == records[0]["rules"] != records[1]["rules"]
    assert records[4]["rules"] is None
    assert all(r["effective_ms"] % (settings.step_s * 1000) == 0 for r in records)
    shown = json.loads(livewatch(settings, "rules", "show", "--json"))
    assert shown["live"]["version"] == 3
    assert shown["live"]["source"] == "rollback of v2 to v1"
    assert shown["shadow"]["withdrawn"] is True
    text = livewatch(settings, "rules", "show")
    assert "live: v3 " in text and "published by carol" in text
    assert "shadow: v5 (withdrawn)" in text
