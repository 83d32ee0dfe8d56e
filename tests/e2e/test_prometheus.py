"""A real Prometheus server on loopback scrapes a running worker and evaluates livewatch's rules."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from streams.devtools.children import stop
from streams.devtools.kafka_local import free_port
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests.deploy.conftest import DEPLOY, tool
from tests.e2e.test_detection import mixed_feed
from tests.streams.worker_process import WorkerProcess, produce, read_alerts

pytestmark = pytest.mark.kafka


@pytest.fixture
def prometheus(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping the test worker every second, with the repository's rule files."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((DEPLOY / "prometheus/rules").glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "livewatch",
                "static_configs": [{"targets": [f"127.0.0.1:{settings.web_port}"]}],
            }
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    with (tmp_path / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


async def poll(http: aiohttp.ClientSession, url: str, params: dict[str, str], ok: Any) -> Any:
    """GET until `ok(json)` holds (60 s at most); returns the last answer."""
    answer: Any = None
    for _ in range(120):
        try:
            async with http.get(url, params=params) as resp:
                answer = await resp.json()
            if ok(answer):
                return answer
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)
    return answer


def value(answer: Any) -> float | None:
    result = (answer or {}).get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


async def test_prometheus_scrapes_the_worker_and_evaluates_rules(
    settings: Settings, worker: WorkerProcess, prometheus: str
) -> None:
    records = mixed_feed()
    expected = len(list(replay_records(records, settings)))
    bad = [("orders", b"{broken") for _ in range(100)]
    await create_topics(settings)
    worker.start()
    produced_ok = len(records)

    async with aiohttp.ClientSession() as http:
        query = f"{prometheus}/api/v1/query"
        # Scraping starts before the events, so Prometheus sees the counters grow.
        up = await poll(http, query, {"query": 'up{job="livewatch"}'}, lambda a: value(a) == 1)
        assert value(up) == 1
        await produce(settings, [*records, *bad])
        alerted = await read_alerts(settings, lambda got: len(got) >= expected)
        total = await poll(
            http, query, {"query": 'sum(livewatch_events_consumed_total{outcome="ok"})'},
            lambda a: value(a) == produced_ok,
        )  # fmt: skip
        assert value(total) == produced_ok, total
        invalid = await poll(
            http, query, {"query": 'sum(livewatch_events_consumed_total{outcome="invalid"})'},
            lambda a: value(a) == 100,
        )  # fmt: skip
        assert value(invalid) == 100

        # The dead-letter ratio (100 of ~2,000) is over 1%: the alert rule is evaluated and
        # pending (its `for: 10m` keeps it from firing in a test).
        alerts = await poll(
            http, f"{prometheus}/api/v1/alerts", {},
            lambda a: any(x["labels"]["alertname"] == "LivewatchDeadLetterRatioHigh"
                          for x in a.get("data", {}).get("alerts", [])),
        )  # fmt: skip
        states = {x["labels"]["alertname"]: x["state"] for x in alerts["data"]["alerts"]}
        assert states.get("LivewatchDeadLetterRatioHigh") == "pending", alerts
        assert "LivewatchWorkerDown" not in states

        # Every partition judged at least to the last boundary alerted on, and the recorded
        # gap between reading and judging well under the alert's 30 minutes.
        last_end = max(a.window_end for a in alerted).timestamp()
        judged = await poll(
            http, query,
            {"query": f'count(livewatch_event_time_seconds{{stage="evaluated"}} >= {last_end})'},
            lambda a: value(a) == settings.partitions,
        )  # fmt: skip
        assert value(judged) == settings.partitions, judged

        # The gap may be wide for a moment (a partition just past the last alert's boundary
        # while the others read on): the alert waits 15 minutes for that reason.
        def settled(answer: Any) -> bool:
            gap = value(answer)
            return gap is not None and 0 <= gap < 1800

        behind = await poll(
            http, query, {"query": "job:livewatch_detection_behind_seconds:max"}, settled
        )
        if not settled(behind):  # LivewatchDetectionBehind would fire: show each partition
            times = await poll(http, query, {"query": "livewatch_event_time_seconds"}, bool)
            raise AssertionError(f"{behind}\n{times}")

        async with http.get(f"{prometheus}/api/v1/rules") as resp:
            groups = (await resp.json())["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 14
        assert all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]
