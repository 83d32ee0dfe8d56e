"""The worker's HTTP API against a live worker: metrics that promtool accepts, health, views."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_detection import mixed_feed
from tests.streams.worker_process import WorkerProcess, produce, read_alerts

pytestmark = pytest.mark.kafka


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_health_and_views(settings: Settings, worker: WorkerProcess) -> None:
    records = mixed_feed()
    expected = list(replay_records(records, settings))  # what the worker must publish, at least
    await create_topics(settings)
    worker.start()
    base = f"http://127.0.0.1:{settings.web_port}"
    await produce(settings, [*records, ("orders", b"not json")])
    published = await read_alerts(settings, lambda got: len(got) >= len(expected))
    assert len(published) >= len(expected) >= 3

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/livez") as resp:
            assert resp.status == 200
        async with http.get(f"{base}/readyz") as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["ready"] is True
        # Alerts can arrive before the last records are counted: wait until all are.
        wanted = len(records) + 1
        for _ in range(60):
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                text = await resp.text()
            consumed = sum(
                v
                for (name, _), v in samples(text).items()
                if name == "livewatch_events_consumed_total"
            )
            if consumed >= wanted:
                break
            await asyncio.sleep(0.5)
        async with http.get(f"{base}/anchors/brusher") as resp:
            assert resp.status == 200
            anchor = await resp.json()
        async with http.get(f"{base}/anchors/nobody") as resp:
            assert resp.status == 404
        async with http.get(f"{base}/alerts/active") as resp:
            active = (await resp.json())["alerts"]
        for faust_page in ("/table", "/router", "/router/"):
            async with http.get(f"{base}{faust_page}") as resp:
                assert resp.status == 404, faust_page  # Faust's own pages are off

    values = samples(text)
    orders = sum(1 for kind, _ in records if kind == "orders")
    assert (
        values[("livewatch_events_consumed_total", (("outcome", "ok"), ("topic", "orders")))]
        == orders
    )
    assert (
        values[("livewatch_events_consumed_total", (("outcome", "invalid"), ("topic", "orders")))]
        == 1
    )
    assert (
        values[("livewatch_deadletter_records_total", (("reason", "invalid"), ("topic", "orders")))]
        == 1
    )
    labels = (("rule", "refund_after_order_spike"), ("severity", "warning"), ("status", "firing"))
    fired = ("livewatch_alerts_emitted_total", labels)
    assert values[fired] == 1
    built = (("core", "compiled"), ("python", values_python(values)), ("version", "0.1.0"))
    assert (
        values[("livewatch_build_info", built)] == 1  # the test environment builds the core
    )
    assert ("livewatch_processing_lag_seconds_count", ()) in values
    assert not any("anchor" in dict(labels) or "buyer" in dict(labels) for _, labels in values)

    assert anchor["anchor_id"] == "brusher"
    assert anchor["rules"]["refund_after_order_spike"]["status"] in ("firing", "resolved")
    assert set(anchor["windows"]) == {"short", "long"} or anchor["evaluated_to"] is not None
    assert isinstance(active, list)

    # Logs: JSON lines; every alert and dead letter with its ids; no buyer id anywhere.
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    logged_alerts = [line for line in lines if line["event"] == "alert"]
    assert len(logged_alerts) >= len(expected) and all(line["alert_id"] for line in logged_alerts)
    dead = [line for line in lines if line["event"] == "dead_letter"]
    assert len(dead) == 1 and {"topic", "partition", "offset", "error"} <= set(dead[0])
    assert "-buyer-" not in worker.log_path.read_text()

    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by .ci/run (Debian package prometheus)"
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def values_python(values: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> str:
    return next(dict(labels)["python"] for name, labels in values if name == "livewatch_build_info")


async def test_the_api_token_guards_everything_but_the_probes(
    settings: Settings, worker: WorkerProcess
) -> None:
    """With LIVEWATCH_API_TOKEN set, /metrics and the views answer 401 without it (or with a
    wrong one), the probes answer anyway, and the token is never written to the log."""
    token = "worker-token-7f3a"
    settings = worker.settings = settings.model_copy(update={"api_token": SecretStr(token)})
    await create_topics(settings)
    worker.start()
    base = f"http://127.0.0.1:{settings.web_port}"
    guarded = ["/metrics", "/anchors", "/anchors/somebody", "/anchors/somebody/minutes",
               "/alerts/active"]  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for path in ("/livez", "/readyz"):
            async with http.get(base + path) as resp:
                assert resp.status == 200, path
        for path in guarded:
            async with http.get(base + path) as resp:
                assert resp.status == 401, path
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            async with http.get(base + path, headers={"Authorization": "Bearer nope"}) as resp:
                assert resp.status == 401, path
            async with http.get(base + path, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status in (200, 404), path  # 404: no state for that anchor
    assert token not in worker.log_path.read_text()
