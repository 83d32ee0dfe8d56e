"""The board's shell: a reader of the alerts and verdicts topics, a client of the workers, an
aiohttp server.

It reads its topics without a consumer group (nothing committed) from their beginning on each
start, so it needs no state of its own; it only GETs from the workers. The one thing it writes
is analysts' verdicts, to the verdicts topic (where it reads them back after a restart).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry, Counter, Gauge

from schemas.alert import RuleName, Severity
from schemas.verdict import Judgement, Verdict, checked_note
from streams.board.charts import counts_svg, rates_svg
from streams.board.filters import Filter, FilterError
from streams.board.judging import Csrf, judge_of, same_origin
from streams.board.ledger import Ledger
from streams.board.pages import Pages
from streams.board.workers import Workers
from streams.codecs import read_alert_record
from streams.http_common import OPEN_PATHS, add_probes, authorized
from streams.kafka_config import client_options
from streams.settings import Settings
from streams.topics import describe_partitions, partition_count
from streams.verdicts.book import VerdictBook
from streams.verdicts.topic import VerdictWriter

log = structlog.get_logger("livewatch.board")

RANKED = 20
REVIEW_WINDOW = timedelta(days=1)
"""How long after its end an unjudged episode stays in the review queue."""
TOPIC_RETRY_S = 2.0
SECURITY_HEADERS = {
    # Scripts only from the board itself: an id that slipped past escaping still could not run.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
SVG_HEADERS = {
    **SECURITY_HEADERS,
    # pygal puts a script in its SVG; opened on its own, the chart must not run it.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


class BoardMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "livewatch_board_alerts_received", "Alert records read, by status.", ["status"],
            registry=r,
        )  # fmt: skip
        self.bad = Counter(
            "livewatch_board_bad_records", "Alert records skipped as unreadable, by reason.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.active = Gauge(
            "livewatch_board_active_episodes", "Firing episodes on the board.", registry=r
        )
        self.refused = Counter(
            "livewatch_board_requests_refused",
            "Requests refused for a missing or wrong token.", registry=r,
        )  # fmt: skip
        self.unreachable = Counter(
            "livewatch_board_worker_unreachable",
            "Times a worker's API did not answer the board.", registry=r,
        )  # fmt: skip
        self.verdicts = Gauge(
            "livewatch_board_verdicts",
            "Episodes by rule and their latest verdict (confirmed, false_alarm, unsure).",
            ["rule", "verdict"], registry=r,
        )  # fmt: skip
        self.precision = Gauge(
            "livewatch_board_precision",
            "Per rule, confirmed / (confirmed + false alarms) over every verdict recorded; "
            "absent until a rule has one.",
            ["rule"], registry=r,
        )  # fmt: skip
        for rule in RuleName:
            for verdict in Judgement:
                self.verdicts.labels(rule.value, verdict.value)

    def count_verdicts(self, book: VerdictBook) -> None:
        """Set the verdict gauges from the latest verdict of every episode."""
        counts: dict[tuple[str, str], int] = {}
        for v in book.latest.values():
            rule = v.rule.value if v.rule is not None else "unknown"
            counts[(rule, v.verdict.value)] = counts.get((rule, v.verdict.value), 0) + 1
        for rule in {r for r, _ in counts} | {r.value for r in RuleName}:
            for verdict in Judgement:
                self.verdicts.labels(rule, verdict.value).set(counts.get((rule, verdict.value), 0))
            decided = counts.get((rule, "confirmed"), 0) + counts.get((rule, "false_alarm"), 0)
            if decided:
                self.precision.labels(rule).set(counts.get((rule, "confirmed"), 0) / decided)


class Board:
    """What the pages show: the ledger of episodes, filled by `read_alerts`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger = Ledger()
        self.shadow = Ledger()
        """A shadow rule set's episodes (its own topic): shown apart, never as active alerts."""
        self.verdicts = VerdictBook()
        self.writer = VerdictWriter(settings)
        self.metrics = BoardMetrics()
        self.ready = False
        self.reason = "reading the alerts topic"

    async def read_alerts(self) -> None:
        """Read every partition of the alerts topic (and of the shadow alerts topic, when it
        exists) from its beginning, forever."""
        s = self.settings
        count = await self._partitions()
        # Absent on a deployment older than them (`livewatch topics create` makes them).
        shadow = await partition_count(s, s.topic_alerts_shadow)
        verdicts = await partition_count(s, s.topic_verdicts)
        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
            **client_options(s),
        )  # fmt: skip
        await consumer.start()
        try:
            tps = [TopicPartition(s.topic_alerts, p) for p in range(count)]
            tps += [TopicPartition(s.topic_alerts_shadow, p) for p in range(shadow)]
            tps += [TopicPartition(s.topic_verdicts, p) for p in range(verdicts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for record in records:
                        self._apply(record)
                if batches:  # once per fetch: counting is a pass over every episode
                    self.metrics.active.set(self.ledger.firing_count())
                if not self.ready and all(
                    await asyncio.gather(*(self._reached(consumer, tp, ends[tp]) for tp in tps))
                ):
                    self.ready, self.reason = True, "ready"
                    log.info("board_caught_up", episodes=len(self.ledger.episodes))
        finally:
            await consumer.stop()

    async def _partitions(self) -> int:
        """The alerts topic's partition count, waiting for the topic to exist: the board may
        start before the topics are created (compose, a new cluster)."""
        s = self.settings
        admin = AIOKafkaAdminClient(**client_options(s))
        await admin.start()
        try:
            while True:
                count = (await describe_partitions(admin, [s.topic_alerts])).get(s.topic_alerts)
                if count:
                    return count
                self.reason = f"topic {s.topic_alerts!r} not found; run `livewatch topics create`"
                log.warning("alerts_topic_missing", topic=s.topic_alerts)
                await asyncio.sleep(TOPIC_RETRY_S)
        finally:
            await admin.close()

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> bool:
        return bool(await consumer.position(tp) >= end)

    def _apply(self, record: Any) -> None:
        if record.topic == self.settings.topic_verdicts:
            self._verdict(record.value)
            return
        alert = read_alert_record(record, self.metrics.bad, log)
        if alert is None:
            return
        if alert.shadow or record.topic == self.settings.topic_alerts_shadow:
            self.shadow.apply(alert)
            return
        self.metrics.received.labels(alert.status.value).inc()
        self.ledger.apply(alert)

    def _verdict(self, value: bytes | None) -> None:
        try:
            verdict = Verdict.model_validate_json(value or b"")
        except ValueError:
            self.metrics.bad.labels("verdict").inc()
            return
        if self.verdicts.add(verdict):
            self.metrics.count_verdicts(self.verdicts)

    async def record(self, verdict: Verdict) -> None:
        """Write a verdict to the topic; once the broker has it, it is the board's too (read
        back later, it changes nothing)."""
        await self.writer.send(verdict)
        self.verdicts.add(verdict)
        self.metrics.count_verdicts(self.verdicts)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Views:
    """The board's pages, fragments and JSON answers over one `Board` and its `Workers`."""

    def __init__(self, board: Board, workers: Workers, pages: Pages) -> None:
        self.board = board
        self.workers = workers
        self.pages = pages
        settings = board.settings
        self.token = settings.board_token.get_secret_value() if settings.board_token else None
        self.csrf = Csrf(self.token)

    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            self.token is not None
            and request.path not in OPEN_PATHS
            and not authorized(request.headers, self.token)
        ):
            self.board.metrics.refused.inc()
            return web.Response(
                status=401, text="401: this board needs its token\n",
                headers={**SECURITY_HEADERS, "WWW-Authenticate": 'Basic realm="livewatch board"'},
            )  # fmt: skip
        try:
            response = await handler(request)
        except web.HTTPRedirection:
            raise
        except web.HTTPException as exc:
            response = web.Response(status=exc.status, text=exc.text)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def html(self, text: str, status: int = 200) -> web.Response:
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def error(self, status: int, message: str) -> web.Response:
        return self.html(self.pages.render("error.html", status=status, message=message), status)

    def now(self) -> datetime:
        return self.board.ledger.now(datetime.now(UTC))

    def common(self) -> dict[str, Any]:
        wall = datetime.now(UTC)
        clock = self.board.ledger.clock
        return {
            "now": self.board.ledger.now(wall),
            "updated": wall.strftime("%H:%M:%S UTC"),
            "clock": clock.strftime("%Y-%m-%d %H:%M UTC") if clock else "no alert read yet",
            "ready": self.board.ready,
            "refresh_s": self.board.settings.board_refresh_s,
        }

    async def overview_context(self, request: web.Request) -> dict[str, Any]:
        flt = Filter.from_query(request.query)
        answer = await self.workers.riskiest(RANKED if not flt.any else 100)
        if answer.unreachable:
            self.board.metrics.unreachable.inc(len(answer.unreachable))
        firing = self.board.ledger.firing_for(r["anchor_id"] for r in answer.rows)
        rows = [r for r in answer.rows if flt.anchor(r, firing.get(r["anchor_id"], []))]
        return {
            **self.common(),
            "filter": flt,
            "active": [e for e in self.board.ledger.active() if flt.episode(e)],
            "anchors": rows[:RANKED],
            "unreachable": answer.unreachable,
        }

    async def overview(self, request: web.Request) -> web.Response:
        try:
            context = await self.overview_context(request)
        except FilterError as exc:
            return self.error(400, str(exc))
        categories = {
            *self.board.ledger.categories(),
            *(r.get("category") for r in context["anchors"]),
        }
        return self.html(self.pages.render(
            "overview.html", **context, rules=[r.value for r in RuleName],
            severities=[v.value for v in Severity],
            categories=sorted(c for c in categories if c),
        ))  # fmt: skip

    async def overview_fragment(self, request: web.Request) -> web.Response:
        try:
            return self.html(
                self.pages.render("_overview.html", **await self.overview_context(request))
            )
        except FilterError as exc:
            return web.Response(status=400, text=str(exc))

    def anchor_id_of(self, request: web.Request) -> str:
        anchor_id = request.query.get("id", "")
        if not anchor_id or len(anchor_id) > 128:
            raise web.HTTPBadRequest(text="give an anchor id of 1 to 128 characters as ?id=")
        return anchor_id

    async def anchor_context(self, request: web.Request) -> dict[str, Any]:
        anchor_id = self.anchor_id_of(request)
        answer = await self.workers.anchor(anchor_id)
        return {
            **self.common(),
            "filter": None,
            "anchor_id": anchor_id,
            "answer": answer,
            "history": self.board.ledger.history(anchor_id),
            "shadow_history": self.board.shadow.history(anchor_id),
            "verdicts": self.board.verdicts.latest,
            "stamp": int(time.time()),
        }

    async def anchor(self, request: web.Request) -> web.Response:
        return self.html(self.pages.render("anchor.html", **await self.anchor_context(request)))

    async def anchor_by_path(self, request: web.Request) -> web.Response:
        # The workers' path for an anchor, so `api_url` links in notifications work here too.
        raise web.HTTPFound(
            request.app.router["anchor"].url_for().with_query(id=request.match_info["anchor_id"])
        )

    async def anchor_fragment(self, request: web.Request) -> web.Response:
        return self.html(self.pages.render("_anchor.html", **await self.anchor_context(request)))

    # -- verdicts --------------------------------------------------------------------------

    def no_episode(self, alert_id: str) -> web.Response:
        return self.error(404, f"no episode {alert_id[:128]!r} on the alerts topic")

    async def episode(self, request: web.Request) -> web.Response:
        """An episode, its verdicts and the form to record one."""
        alert_id = request.query.get("id", "")
        e = self.board.ledger.episodes.get(alert_id)
        if e is None:
            return self.no_episode(alert_id)
        judge = judge_of(request.headers, self.board.settings.board_user_header)
        verdict = self.board.verdicts.get(e.alert_id)
        return self.html(self.pages.render(
            "episode.html", **self.common(), filter=None, e=e, verdict=verdict, judge=judge,
            csrf=self.csrf.token(judge), choices=[j.value for j in Judgement],
            saved=request.query.get("saved") == "1",
        ))  # fmt: skip

    async def judge(self, request: web.Request) -> web.StreamResponse:
        """POST a verdict: the board's own form (CSRF token, same origin), once; then back to
        the episode's page (303: a reload does not post again)."""
        form = await request.post()
        judge = judge_of(request.headers, self.board.settings.board_user_header)
        if not same_origin(request.headers) or not self.csrf.check(
            judge, str(form.get("csrf", ""))
        ):
            return self.error(403, "this form is not the board's own, or is stale: reload the page")
        alert_id = str(form.get("alert_id", ""))
        e = self.board.ledger.episodes.get(alert_id)
        if e is None:
            return self.no_episode(alert_id)
        try:
            choice = Judgement(str(form.get("verdict", "")))
        except ValueError:
            return self.error(400, "verdict: give confirmed, false_alarm or unsure")
        try:
            note = checked_note(str(form.get("note", "")).strip())
        except ValueError as exc:
            return self.error(400, str(exc))
        verdict = self.board.verdicts.judge(
            alert_id, choice, judge, datetime.now(UTC), note, rule=e.rule,
            severity=e.severity, anchor_id=e.anchor_id, episode_started=e.started,
        )  # fmt: skip
        await self.board.record(verdict)
        log.info("verdict", alert_id=alert_id, verdict=choice.value, by=judge)
        url = request.app.router["episode"].url_for().with_query(id=alert_id, saved="1")
        raise web.HTTPSeeOther(url)

    async def review(self, request: web.Request) -> web.Response:
        """Episodes firing or resolved in the last day (the stream's time) that no one has
        judged yet, newest first."""
        now = self.now()
        verdicts = self.board.verdicts.latest
        waiting = [
            e for e in self.board.ledger.episodes.values()
            if e.alert_id not in verdicts
            and (e.firing or (e.ended is not None and now - e.ended <= REVIEW_WINDOW))
        ]  # fmt: skip
        waiting.sort(key=lambda e: (e.started, e.alert_id), reverse=True)
        return self.html(self.pages.render(
            "review.html", **self.common(), filter=None, waiting=waiting,
            judged=len(verdicts),
        ))  # fmt: skip

    def chart(self, draw: Callable[[dict[str, Any]], bytes]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            minutes = await self.workers.minutes(self.anchor_id_of(request))
            if minutes is None:
                return web.Response(
                    status=404, text="no worker answered with this anchor's minutes"
                )
            return web.Response(body=draw(minutes), content_type="image/svg+xml",
                                headers=SVG_HEADERS)  # fmt: skip

        return handler

    async def api_episodes(self, request: web.Request) -> web.Response:
        try:
            flt = Filter.from_query(request.query)
        except FilterError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        items = [
            {"alert_id": e.alert_id, "rule": e.rule, "severity": e.severity,
             "anchor_id": e.anchor_id, "session_id": e.session_id, "category": e.category,
             "started": e.started.isoformat(), "updated": e.updated.isoformat(),
             "firing_s": int((self.now() - e.started).total_seconds()),
             "observed": e.observed, "threshold": e.threshold}
            for e in self.board.ledger.active() if flt.episode(e)
        ]  # fmt: skip
        return web.json_response({"episodes": items})

    async def api_anchors(self, request: web.Request) -> web.Response:
        try:
            context = await self.overview_context(request)
        except FilterError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(
            {"anchors": context["anchors"], "unreachable": context["unreachable"]}
        )


def web_app(board: Board, workers: Workers, pages: Pages) -> web.Application:
    views = Views(board, workers, pages)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await views.guard(request, handler)

    app = web.Application(middlewares=[guard])
    app.router.add_get("/", views.overview)
    app.router.add_get("/fragments/overview", views.overview_fragment)
    app.router.add_get("/anchor", views.anchor, name="anchor")
    app.router.add_get("/anchors/{anchor_id}", views.anchor_by_path)
    app.router.add_get("/fragments/anchor", views.anchor_fragment)
    app.router.add_get("/anchor/counts.svg", views.chart(counts_svg))
    app.router.add_get("/anchor/rates.svg", views.chart(rates_svg))
    app.router.add_get("/episode", views.episode, name="episode")
    app.router.add_post("/episode/verdict", views.judge)
    app.router.add_get("/review", views.review)
    app.router.add_get("/api/episodes", views.api_episodes)
    app.router.add_get("/api/anchors", views.api_anchors)
    add_probes(app, board.metrics.registry, lambda: (board.ready, board.reason))
    app.router.add_static("/static", str(_static_dir()), follow_symlinks=False)
    return app


def _static_dir() -> Any:
    from importlib.resources import files

    return files("streams.board") / "static"


async def serve(settings: Settings) -> None:
    """Run the board until SIGTERM or SIGINT; prints its URL once it serves."""
    board = Board(settings)
    reading = asyncio.ensure_future(board.read_alerts())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, reading.cancel)
    async with aiohttp.ClientSession() as session:
        api_token = settings.api_token.get_secret_value() if settings.api_token else None
        workers = Workers(settings.board_worker_urls, session, token=api_token)
        runner = web.AppRunner(web_app(board, workers, Pages()))
        await runner.setup()
        site = web.TCPSite(runner, settings.board_host, settings.board_port)
        await site.start()
        url = f"http://{settings.board_host}:{settings.board_port}/"
        print(f"livewatch board: {url}", flush=True, file=sys.stdout)
        log.info("board_started", url=url, workers=workers.urls,
                 token=settings.board_token is not None)  # fmt: skip
        try:
            await reading
        except asyncio.CancelledError:
            log.info("board_stopped")
        finally:
            await runner.cleanup()
            await board.writer.close()
