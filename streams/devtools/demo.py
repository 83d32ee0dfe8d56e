"""`livewatch demo`: local Kafka, topics, a worker, the risk board and the simulator, with a
live view.

Everything the demo starts it stops again (the worker, the board and, if the demo started it,
the broker) on Ctrl-C, at `--duration`, or on an error. Each run uses its own topics and
consumer group, so a second demo does not re-read the first one's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from schemas import Alert
from streams.devtools.children import start_board, start_worker, stop, wait_ready
from streams.devtools.kafka_local import KafkaLocal, free_port, port_free
from streams.devtools.sim.generator import SimConfig, Simulation, live_start
from streams.devtools.sim.kafka import send_events
from streams.kafka_config import client_options
from streams.settings import Settings
from streams.topics import create_topics


@dataclass
class DemoOptions:
    duration_s: float | None
    rate: float
    anchors: int
    hours: float
    seed: int
    kafka_state_dir: Path | None
    data_dir: Path


@dataclass
class View:
    """What the live view shows; filled by the producer, the alert reader and the poller."""

    sent: int = 0
    total: int = 0
    consumed: dict[str, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    lag: dict[str, float] = field(default_factory=dict)
    riskiest: list[dict[str, Any]] = field(default_factory=list)
    alerts: deque[Alert] = field(default_factory=lambda: deque(maxlen=12))
    fired: int = 0
    resolved: int = 0
    episodes: set[str] = field(default_factory=set)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: bytes = response.read()
            return body
    except OSError:
        return None


def render(view: View, settings: Settings, base: str, started: float) -> Group:
    head = Text.assemble(
        ("livewatch demo", "bold"),
        f"  kafka {settings.kafka_bootstrap}  metrics {base}/metrics  api {base}/anchors  "
        f"board http://127.0.0.1:{settings.board_port}/  ",
        f"sent {view.sent}/{view.total}{' (simulation done)' if view.sent >= view.total else ''}"
        f"  alerts fired {view.fired} resolved {view.resolved}  ",
        f"{time.monotonic() - started:.0f}s  (Ctrl-C stops everything)",
    )
    rates = Table(title="events consumed", expand=False)
    for column in ("topic", "total", "per second", "lag"):
        rates.add_column(column, justify="right" if column != "topic" else "left")
    for topic in ("orders", "refunds", "complaints"):
        rates.add_row(
            topic,
            f"{view.consumed.get(topic, 0):.0f}",
            f"{view.rates.get(topic, 0):.0f}",
            f"{view.lag.get(topic, 0):.0f}",
        )
    risky = Table(title="riskiest anchors (long window)")
    for column in ("anchor", "category", "orders", "refund rate", "lower bound", "unshipped",
                   "orders/buyer", "quality complaints", "firing"):  # fmt: skip
        risky.add_column(column)
    for row in view.riskiest:
        risky.add_row(
            row["anchor_id"], str(row["category"]), str(row["orders"]),
            f"{row['refund_rate']:.0%}", f"{row['refund_rate_lower_bound']:.0%}",
            str(row["refunded_before_shipment"]),
            str(row["orders_per_buyer"]), str(row["quality_complaints"]),
            ", ".join(row["firing"]) or "-",
        )  # fmt: skip
    alerts = Table(title="alerts (newest first)")
    for column in ("window end", "status", "severity", "rule", "anchor", "observed"):
        alerts.add_column(column)
    for alert in reversed(view.alerts):
        key = "refund_rate_lower_bound" if "refund" in alert.rule.value else "quality_complaints"
        alerts.add_row(
            alert.window_end.strftime("%H:%M"), alert.status.value, alert.severity.value,
            alert.rule.value, alert.anchor_id, f"{key}={alert.observed.get(key)}",
        )  # fmt: skip
    return Group(head, rates, risky, alerts)


async def _read_alerts(settings: Settings, view: View, console: Console, live: bool) -> None:
    consumer = AIOKafkaConsumer(
        settings.topic_alerts, **client_options(settings), group_id=None,
        auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    try:
        async for record in consumer:
            alert = Alert.model_validate_json(record.value)
            view.alerts.append(alert)
            if alert.status.value == "resolved":
                view.resolved += 1
            elif alert.alert_id not in view.episodes:
                view.fired += 1
            view.episodes.add(alert.alert_id)
            if not live:
                console.print(
                    f"alert {alert.status.value} {alert.rule.value} {alert.anchor_id} "
                    f"window_end={alert.window_end.isoformat()} id={alert.alert_id}"
                )
    finally:
        await consumer.stop()


async def _poll(base: str, view: View) -> None:
    previous: dict[str, float] = {}
    last = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        body, anchors = await asyncio.gather(
            asyncio.to_thread(_get, f"{base}/metrics"),
            asyncio.to_thread(_get, f"{base}/anchors?limit=8"),
        )
        now = time.monotonic()
        if body:
            consumed: dict[str, float] = {}
            for family in text_string_to_metric_families(body.decode()):
                for sample in family.samples:
                    if sample.name == "livewatch_events_consumed_total":
                        topic = sample.labels["topic"]
                        consumed[topic] = consumed.get(topic, 0) + sample.value
                    elif sample.name == "livewatch_consumer_lag_messages":
                        view.lag[sample.labels["topic"]] = sample.value
            view.rates = {
                t: (n - previous.get(t, n)) / max(now - last, 1e-6) for t, n in consumed.items()
            }
            view.consumed, previous = consumed, consumed
        if anchors:
            view.riskiest = json.loads(anchors)["anchors"]
        last = now


async def _run(options: DemoOptions, settings: Settings, base: str, console: Console) -> View:
    view = View()
    # The span ends now: events are stamped with their time, never ahead of the clock.
    start = live_start(options.hours)
    simulation = Simulation(SimConfig(options.seed, options.anchors, options.hours, start))
    view.total = len(simulation.buffer)
    live = console.is_terminal
    started = time.monotonic()

    def sent(n: int) -> None:
        view.sent = n

    tasks = [
        asyncio.create_task(send_events(settings, simulation.events(), options.rate, None, sent)),
        asyncio.create_task(_read_alerts(settings, view, console, live)),
        asyncio.create_task(_poll(base, view)),
    ]
    deadline = None if options.duration_s is None else started + options.duration_s
    try:
        with Live(render(view, settings, base, started), console=console, auto_refresh=False,
                  transient=False) if live else contextlib.nullcontext() as screen:  # fmt: skip
            while deadline is None or time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                if screen is not None:
                    screen.update(render(view, settings, base, started), refresh=True)
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return view


def run_demo(options: DemoOptions, base_settings: Settings) -> int:
    console = Console()
    broker = (
        KafkaLocal(state_dir=options.kafka_state_dir) if options.kafka_state_dir else KafkaLocal()
    )
    ours = broker.pid() is None
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    run_dir = options.data_dir / f"demo-{tag}"
    run_dir.mkdir(parents=True, exist_ok=True)
    worker: subprocess.Popen[bytes] | None = None
    board: subprocess.Popen[bytes] | None = None
    console.print(f"starting local Kafka{'' if ours else ' (already running)'} ...")
    try:
        bootstrap = broker.up()
        port = base_settings.web_port if port_free(base_settings.web_port) else free_port()
        board_port = (
            base_settings.board_port if port_free(base_settings.board_port) else free_port()
        )
        settings = base_settings.model_copy(
            update={
                "kafka_bootstrap": bootstrap,
                "app_id": f"livewatch-demo-{tag}",
                "topic_orders": f"demo-{tag}-orders",
                "topic_refunds": f"demo-{tag}-refunds",
                "topic_complaints": f"demo-{tag}-complaints",
                "topic_alerts": f"demo-{tag}-alerts",
                "topic_deadletter": f"demo-{tag}-deadletter",
                "data_dir": run_dir / "data",
                "web_port": port,
                "web_host": "127.0.0.1",
                "board_port": board_port,
                "board_host": "127.0.0.1",
                "board_workers": f"http://127.0.0.1:{port}",
            }
        )
        asyncio.run(create_topics(settings))
        base = f"http://127.0.0.1:{port}"
        log = run_dir / "worker.log"
        worker = start_worker(settings, log)
        console.print(f"worker pid {worker.pid}, log {log}")
        wait_ready(base, worker, log, 120)
        board_log = run_dir / "board.log"
        board = start_board(settings, board_log)
        board_url = f"http://127.0.0.1:{board_port}"
        wait_ready(board_url, board, board_log, 60, name="board")
        console.print(f"metrics: {base}/metrics   HTTP API: {base}/anchors, {base}/alerts/active,"
                      f" {base}/anchors/<anchor_id>   topics: demo-{tag}-*")  # fmt: skip
        token = " (token: LIVEWATCH_BOARD_TOKEN)" if settings.board_token else ""
        console.print(f"risk board: {board_url}/{token}   board pid {board.pid}, log {board_log}")
        try:
            view = asyncio.run(_run(options, settings, base, console))
        except KeyboardInterrupt:
            console.print("stopping ...")
            return 0
        console.print(
            f"demo over: {view.sent} events sent, {view.fired} alerts fired, "
            f"{view.resolved} resolved"
        )
        return 0
    finally:
        if board is not None:
            stop(board)
        if worker is not None:
            stop(worker)
        if ours:
            broker.down()
            console.print("local Kafka stopped")
