"""`livewatch notify` against a real Alertmanager: pages once, survives restarts on both sides."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from schemas import Alert
from schemas.alert import AlertStatus
from streams.codecs import encode
from streams.devtools.children import stop
from streams.devtools.kafka_local import free_port
from streams.notify.envelope import cloudevent_headers
from streams.settings import Settings
from streams.topics import create_topics
from tests.notify.conftest import brushing_alerts
from tests.notify.processes import AlertmanagerProcess, Webhook

pytestmark = pytest.mark.kafka

RESEND_S = 5.0
"""Alertmanager resolves an alert not re-sent for 4 of these: a restart must fit in 20 s."""


async def publish(settings: Settings, values: list[Alert | bytes]) -> None:
    """Alert records as the worker publishes them (key, value, CloudEvents headers)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for value in values:
            if isinstance(value, Alert):
                headers = cloudevent_headers(value, settings.app_id)
                await producer.send_and_wait(
                    settings.topic_alerts, encode(value), key=value.anchor_id.encode(),
                    headers=headers,
                )  # fmt: skip
            else:
                await producer.send_and_wait(settings.topic_alerts, value, key=b"bad")
    finally:
        await producer.stop()


async def until(check: Callable[[], bool], what: str, hook: Webhook, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 5)):
        if check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; notified: {hook.seen()}")


def sequence(hook: Webhook, alert_id: str, severity: str) -> list[str]:
    """The statuses one label set went through in the notifications, repeats collapsed (a
    group's notification lists its resolved alerts again)."""
    found: list[str] = []
    for status, aid, sev in hook.seen():
        if (aid, sev) == (alert_id, severity) and (not found or found[-1] != status):
            found.append(status)
    return found


def firing_pages(hook: Webhook, alert_id: str, severity: str) -> int:
    return sum(
        1
        for n in hook.notifications
        if any(
            a["labels"]["alert_id"] == alert_id
            and a["labels"]["severity"] == severity
            and a["status"] == "firing"
            for a in n["alerts"]
        )
    )


class Notifier:
    def __init__(self, settings: Settings, am_url: str, log: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ, **settings.as_env(), "LIVEWATCH_NOTIFY_PORT": str(self.port),
            "LIVEWATCH_NOTIFY_RESEND_S": str(RESEND_S), "LIVEWATCH_API_URL": "http://lw:6066",
            "LIVEWATCH_LOG_LEVEL": "DEBUG", "LIVEWATCH_BOARD_URL": "http://board:6068/",
        }  # fmt: skip
        self.cmd = [sys.executable, "-m", "streams", "notify", "--alertmanager", am_url]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        url = f"http://127.0.0.1:{self.port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            text = await resp.text()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def ready(self) -> None:
        async def answered() -> bool:
            try:
                url = f"http://127.0.0.1:{self.port}/readyz"
                async with aiohttp.ClientSession() as http, http.get(url) as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        for _ in range(150):
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            if await answered():
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"notifier not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        stop(self.proc, sig=sig, timeout_s=30)
        return self.proc.returncode


async def test_episodes_page_once_through_restarts(settings: Settings, tmp_path: Path) -> None:
    plain, escalating = brushing_alerts(3), brushing_alerts(2)
    a_fire, a_resolve = plain
    b_warn, b_crit, b_resolve = escalating
    assert (b_warn.severity.value, b_crit.severity.value) == ("warning", "critical")
    assert a_resolve.status is b_resolve.status is AlertStatus.RESOLVED
    a, b = a_fire.alert_id, b_warn.alert_id
    await create_topics(settings)

    hook = Webhook()
    await hook.start()
    manager = AlertmanagerProcess(tmp_path, hook.url)
    notifier = Notifier(settings, manager.url, tmp_path / "notify.log")
    try:
        manager.start()
        notifier.start()
        await notifier.ready()

        # A brushing episode fires: one page, with the labels that route it and a summary.
        await publish(settings, [a_fire])
        await until(lambda: sequence(hook, a, "warning") == ["firing"], "A firing", hook)
        [page] = [x for x in hook.alerts() if x["labels"]["alert_id"] == a]
        assert page["labels"] | {"alertname": "LivewatchRefundSpike"} == page["labels"]
        assert page["labels"]["anchor_id"] == a_fire.anchor_id
        assert page["labels"]["source"] == "livewatch"
        assert a_fire.anchor_id in page["annotations"]["summary"]
        assert page["annotations"]["runbook_url"].endswith("#refund_after_order_spike")
        assert page["annotations"]["anchor_url"] == f"http://lw:6066/anchors/{a_fire.anchor_id}"
        # On-call's way to the episode's page, where the verdict is recorded.
        assert (
            page["generatorURL"]
            == page["annotations"]["episode_url"]
            == (f"http://board:6068/episode?id={a}")
        )

        # SIGKILLed mid-stream, restarted: it re-sends what is firing, and pages nothing twice.
        notifier.kill()
        await publish(settings, [a_resolve, b_warn, b_crit])
        notifier.start()
        await notifier.ready()
        await until(
            lambda: sequence(hook, a, "warning") == ["firing", "resolved"], "A resolved", hook
        )
        await until(lambda: sequence(hook, b, "critical") == ["firing"], "B critical firing", hook)
        await asyncio.sleep(2 * RESEND_S)  # resends in between change nothing
        assert firing_pages(hook, a, "warning") == 1
        assert sequence(hook, b, "warning").count("firing") <= 1  # it may end in the same post
        assert firing_pages(hook, b, "critical") == 1

        # Alertmanager down for a while, back with no memory: the active episode is delivered.
        manager.stop()
        await asyncio.sleep(2 * RESEND_S)
        manager.start()
        await until(lambda: firing_pages(hook, b, "critical") == 2, "B firing after restart", hook)
        failed = await notifier.metrics()
        assert failed[("livewatch_notify_alerts_posted_total",
                       (("alertmanager", manager.url), ("outcome", "failed")))] > 0  # fmt: skip

        # Bad records are counted and skipped; the episode still resolves.
        await publish(settings, [b"{not json", b'{"schema_version": 99}', b_resolve])
        await until(lambda: sequence(hook, b, "critical")[-1:] == ["resolved"], "B resolved", hook)
        found = await notifier.metrics()
        bad = "livewatch_notify_bad_records_total"
        assert found[(bad, (("reason", "invalid_json"),))] == 1
        assert found[(bad, (("reason", "unknown_schema_version"),))] == 1
        assert found[("livewatch_notify_active_episodes", ())] == 0
        assert notifier.kill(signal.SIGTERM) == 0
    finally:
        if notifier.proc is not None:
            notifier.kill()
        manager.stop()
        await hook.stop()
