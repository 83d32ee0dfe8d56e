"""The notifier's shell: a consumer of `alerts`, an Alertmanager client and a small web server.

It reads every partition of the alerts topic under its own consumer group (`<app_id>-notify`),
committing an offset only once Alertmanager accepted what came before it (at-least-once). It
keeps no state of its own: at start it reads the topic from its beginning up to the committed
offsets (for a new group, up to the end) without sending, which rebuilds the firing episodes,
sends those once, and goes on from there. So a restart, or Alertmanager losing its memory,
re-sends every active episode; Alertmanager de-duplicates by labels, so nothing pages twice.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry, Counter, Gauge

from streams.codecs import read_alert, read_alert_record
from streams.http_common import OPEN_PATHS, add_probes, authorized
from streams.kafka_config import client_options
from streams.notify.alertmanager import Alertmanagers, Login
from streams.notify.envelope import firing_until, postable
from streams.notify.episodes import Episodes, Post
from streams.settings import Settings, redacted
from streams.topics import describe_partitions

log = structlog.get_logger("livewatch.notify")


class NotifyMetrics:
    """The notifier's own metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "livewatch_notify_alerts_received", "Alert records read, by status.",
            ["status"], registry=r,
        )  # fmt: skip
        self.bad = Counter(
            "livewatch_notify_bad_records", "Alert records skipped as unreadable, by reason.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.posted = Counter(
            "livewatch_notify_alerts_posted",
            "Alerts posted to an Alertmanager, by its URL and outcome (sent, failed, rejected).",
            ["alertmanager", "outcome"], registry=r,
        )  # fmt: skip
        self.backlog = Gauge(
            "livewatch_notify_retry_backlog",
            "Alerts no Alertmanager has accepted yet (stays up while retrying).", registry=r,
        )  # fmt: skip
        self.active = Gauge(
            "livewatch_notify_active_episodes", "Firing episodes being re-sent.", registry=r
        )
        self.resends = Counter(
            "livewatch_notify_resends", "Periodic re-sends of the firing episodes.", registry=r
        )

    def on_result(self, url: str, outcome: str, alerts: int) -> None:
        self.posted.labels(url, outcome).inc(alerts)


class Notifier:
    """One notifier process's loop; cancel it to stop (offsets are committed only after
    delivery, so a cancelled delivery is read and sent again by the next run)."""

    def __init__(self, settings: Settings, urls: Sequence[str]) -> None:
        self.settings = settings
        self.urls = list(urls)
        self.metrics = NotifyMetrics()
        self.episodes = Episodes()
        self.ready = False
        self.reason = "reading the alerts topic up to the committed offsets"

    def _postables(self, posts: list[Post]) -> list[dict[str, Any]]:
        s = self.settings
        until = firing_until(datetime.now(UTC), s.notify_resend_s)
        return [
            postable(
                p.alert,
                p.starts_at,
                p.ends_at or until,
                s.runbook_url,
                s.api_url,
                p.labelled,
                s.board_url,
            )
            for p in posts
        ]

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            group_id=f"{s.app_id}-notify",
            enable_auto_commit=False, auto_offset_reset="earliest", **client_options(s),
        )  # fmt: skip
        await consumer.start()
        try:
            async with aiohttp.ClientSession() as session:
                managers = Alertmanagers(
                    self.urls, session, self.metrics.on_result, login=alertmanager_login(s)
                )
                await self._consume(consumer, managers)
        finally:
            await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer, managers: Alertmanagers) -> None:
        topic = self.settings.topic_alerts
        admin = AIOKafkaAdminClient(**client_options(self.settings))
        await admin.start()
        try:
            count = (await describe_partitions(admin, [topic])).get(topic)
        finally:
            await admin.close()
        if not count:
            raise SystemExit(f"error: topic {topic!r} not found; run `livewatch topics create`")
        tps = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        resume: dict[TopicPartition, int] = {}
        for tp in tps:
            committed = await consumer.committed(tp)
            resume[tp] = committed if committed is not None else ends[tp]
        await self._rebuild(consumer, resume)
        await self._caught_up(managers)
        next_resend = time.monotonic() + self.settings.notify_resend_s
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            posts: list[Post] = []
            now = datetime.now(UTC)
            for records in batches.values():
                for record in records:
                    alert = read_alert_record(record, self.metrics.bad, log)
                    if alert is not None:
                        self.metrics.received.labels(alert.status.value).inc()
                        posts.extend(self.episodes.apply(alert, now))
            self.metrics.active.set(len(self.episodes.active))
            if posts:
                await self._deliver(managers, posts)
            if batches:  # bad records included: they were logged and counted
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
            if time.monotonic() >= next_resend:
                next_resend = time.monotonic() + self.settings.notify_resend_s
                self.metrics.resends.inc()
                await self._deliver(managers, self.episodes.firing())

    async def _rebuild(self, consumer: AIOKafkaConsumer, resume: dict[TopicPartition, int]) -> None:
        """Read each partition from its beginning up to `resume`, sending nothing, then seek
        there: the firing episodes as they were when the last run stopped."""
        await consumer.seek_to_beginning(*resume)
        pending = {tp for tp, offset in resume.items() if offset > 0}
        now = datetime.now(UTC)
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500, max_records=500)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < resume[tp]:
                        alert, _, _ = read_alert(record.value)
                        if alert is not None:
                            self.episodes.apply(alert, now)
            for tp in list(pending):
                if await consumer.position(tp) >= resume[tp]:
                    pending.discard(tp)
        for tp, offset in resume.items():
            consumer.seek(tp, offset)

    async def _caught_up(self, managers: Alertmanagers) -> None:
        self.ready, self.reason = True, "ready"
        firing = self.episodes.firing()
        log.info(
            "notifier_ready", firing=len(firing), alertmanagers=[redacted(u) for u in self.urls]
        )
        await self._deliver(managers, firing)

    async def _deliver(self, managers: Alertmanagers, posts: list[Post]) -> None:
        alerts = self._postables(posts)
        self.metrics.backlog.set(len(alerts))
        await managers.deliver(alerts)
        self.metrics.backlog.set(0)
        for p in posts:
            log.debug(
                "posted", alert_id=p.alert.alert_id, severity=p.alert.severity.value,
                resolved=p.ends_at is not None,
            )  # fmt: skip


def web_app(notifier: Notifier) -> web.Application:
    token = notifier.settings.api_token
    secret = token.get_secret_value() if token else None

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if secret and request.path not in OPEN_PATHS and not authorized(request.headers, secret):
            return web.json_response(
                {"error": "this endpoint needs LIVEWATCH_API_TOKEN as a bearer token"},
                status=401, headers={"WWW-Authenticate": 'Bearer realm="livewatch"'},
            )  # fmt: skip
        response: web.StreamResponse = await handler(request)
        return response

    app = web.Application(middlewares=[guard])
    add_probes(app, notifier.metrics.registry, lambda: (notifier.ready, notifier.reason))
    return app


async def serve(settings: Settings, urls: Sequence[str]) -> None:
    """Run the notifier until SIGTERM or SIGINT."""
    notifier = Notifier(settings, urls)
    running = asyncio.ensure_future(notifier.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, running.cancel)
    runner = web.AppRunner(web_app(notifier))
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.notify_port)
    await site.start()
    log.info("notifier_started", url=f"http://{settings.web_host}:{settings.notify_port}/")
    try:
        await running
    except asyncio.CancelledError:
        log.info("notifier_stopped")
    finally:
        await runner.cleanup()


def alertmanager_login(s: Settings) -> Login:
    """The Alertmanager credentials of the settings (see `Login`)."""
    context = None
    if s.alertmanager_cafile is not None:
        context = ssl.create_default_context(cafile=str(s.alertmanager_cafile))
    return Login(
        s.alertmanager_username,
        s.alertmanager_password.get_secret_value() if s.alertmanager_password else None,
        s.alertmanager_bearer_token.get_secret_value() if s.alertmanager_bearer_token else None,
        context,
    )
