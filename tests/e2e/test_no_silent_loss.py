"""Nothing is lost silently: catch-up and live reads equal the replay, every record is accounted
for, a bad last record does not freeze its partition, the web server binds where it is told."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import Alert
from streams.core.clock import MINUTE_MS, bucket_start, from_ms, to_ms
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.devtools.sim.kafka import send_events
from streams.placement import RefundKey
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from streams.worker.deadletter import HEADER_PREFIX
from tests.e2e.test_http_api import samples
from tests.scenarios import Scenario
from tests.streams.worker_process import WorkerProcess, consumed, read_alerts, read_topic
from tests.streams.worker_process import produce as produce_records

pytestmark = pytest.mark.kafka


def identities(alerts: list[Alert]) -> Counter[tuple[str, str]]:
    return Counter((a.alert_id, a.status.value) for a in alerts)


async def alerts_settled(
    settings: Settings, expected: list[Alert], *workers: WorkerProcess
) -> list[Alert]:
    """The alerts topic once it holds as many alerts as expected, and a little longer (an extra
    or repeated alert would arrive after them)."""
    timeout_s = 300
    early = await read_alerts(settings, lambda got: len(got) >= len(expected), timeout_s)
    # Say which failure it is: the workers too slow for the deadline (a loaded machine), or
    # alerts lost or never derived (the identity diff then names them), and where each
    # partition's reading and detection stand.
    if len(early) < len(expected):
        missing = identities(expected) - identities(early)
        pytest.fail(
            f"{len(early)} of {len(expected)} alerts within {timeout_s} s; missing "
            f"{dict(missing)}{await event_times(workers)}"
        )
    return await read_alerts(settings, lambda got: False, timeout_s=4)


async def event_times(workers: tuple[WorkerProcess, ...]) -> str:
    """Each worker's event times and consumer lag per partition, for a failure's message: a
    partition judged short of what it read waits for a mark, one with lag has records unread."""
    said = []
    async with aiohttp.ClientSession() as http:
        for one in workers:
            url = f"http://127.0.0.1:{one.settings.web_port}/metrics"
            try:
                async with http.get(url) as resp:
                    text = await resp.text()
            except aiohttp.ClientError as exc:
                text = f"livewatch_event_time_seconds unknown: {exc!r}"
            wanted = ("livewatch_event_time_seconds{", "livewatch_consumer_lag_messages{")
            lines = [line for line in text.splitlines() if line.startswith(wanted)]
            said.append(f"\nworker on port {one.settings.web_port}:\n" + "\n".join(lines))
    return "".join(said)


async def marks_repaired(workers: list[WorkerProcess]) -> list[str]:
    """The `mark_repaired` lines the workers logged, once their counters say any: a mark a
    partition learnt only from its repeat, which should never happen (see docs/runbook.md)."""
    total = 0.0
    async with aiohttp.ClientSession() as http:
        for one in workers:
            async with http.get(f"http://127.0.0.1:{one.settings.web_port}/metrics") as resp:
                found = samples(await resp.text())
            total += sum(
                v for (name, _), v in found.items() if name == "livewatch_marks_repaired_total"
            )
    if not total:
        return []
    logged = [line for one in workers for line in one.tail(100_000).splitlines()]
    return [f"{total:g} repaired", *(line for line in logged if "mark_repaired" in line)]


def simulated(seed: int, anchors: int, hours: float) -> list[tuple[str, Any]]:
    return list(Simulation(SimConfig(seed=seed, anchors=anchors, hours=hours)).events())


@pytest.mark.parametrize(
    ("seed", "anchors", "hours", "aligned"),
    [
        # unaligned: an anchor's complaint from 17:18 is read before its orders from 14:25
        (5, 300, 8.0, False),
        (12, 200, 6.0, True),
    ],
)
async def test_catch_up_worker_equals_replay(
    settings: Settings, worker: WorkerProcess, seed: int, anchors: int, hours: float,
    aligned: bool,
) -> None:  # fmt: skip
    """The whole simulated mix is in Kafka before the worker starts (a first deployment, or the
    end of an outage): the worker reads the three topics in whatever order its fetches return
    them (or side by side in time, `aligned`), and still publishes exactly the replay's
    alerts."""
    settings = worker.settings = settings.model_copy(
        update={"partitions": 8, "align_inputs": aligned}
    )
    await catch_up_equals_replay(settings, worker, simulated(seed, anchors, hours), firing=5)


async def catch_up_equals_replay(
    settings: Settings,
    workers: WorkerProcess | list[WorkerProcess],
    records: list[tuple[str, Any]],
    firing: int,
    refunds_by: RefundKey = "anchor",
) -> list[Alert]:
    """Produce `records` (refunds keyed as `refunds_by` says) before the workers start; their
    alerts must be the replay's, of which at least `firing` open an episode (so the comparison
    means something)."""
    expected = list(replay_records(records, settings, refunds_by=refunds_by))
    assert sum(1 for a in expected if a.status.value == "firing") >= firing
    await create_topics(settings)
    await produce_records(settings, records, refunds_by)
    started = workers if isinstance(workers, list) else [workers]
    for worker in started:
        worker.start()
    alerts = await alerts_settled(settings, expected, *started)
    assert identities(alerts) == identities(expected), [w.tail() for w in started]
    return alerts


@pytest.mark.parametrize("seed", [3, 8])
async def test_live_worker_equals_replay(
    settings: Settings, worker: WorkerProcess, seed: int
) -> None:
    """Records arrive live at a steady rate (batches close on their timeout, not when full):
    the worker still publishes exactly the replay's alerts."""
    settings = worker.settings = settings.model_copy(update={"partitions": 8})
    records = simulated(seed, 100, 4.0)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 2
    await create_topics(settings)
    worker.start()
    await produce_live(settings, records, rate=1500)
    alerts = await alerts_settled(settings, expected, worker)
    got, want = identities(alerts), identities(expected)
    assert got == want, (
        f"extra {[a for a in alerts if (a.alert_id, a.status.value) not in want]}\n"
        f"missing {[a for a in expected if (a.alert_id, a.status.value) not in got]}"
    )


async def produce_live(settings: Settings, records: list[tuple[str, Any]], rate: float) -> None:
    await send_events(settings, records, rate=rate)


def bad_value(i: int) -> bytes:
    """Malformed in several ways: not JSON, JSON of the wrong shape, a naive timestamp."""
    shapes = [
        b"{not json",
        json.dumps({"anchor_id": f"a{i % 40}", "quantity": "lots"}).encode(),
        json.dumps(
            {"schema_version": 1, "event_id": f"bad-{i}", "placed_at": "2026-11-29T12:00"}
        ).encode(),
    ]
    return shapes[i % len(shapes)]


async def test_live_batches_count_every_valid_event_once_and_dead_letter_every_bad_one(
    settings: Settings, worker: WorkerProcess
) -> None:
    """10,000 valid orders interleaved with 10,000 malformed values, arriving live so batches
    close on their timeout while the next records are being buffered: every valid order is
    counted exactly once, every bad value is in the dead-letter topic once, and the group's
    committed offsets reach the end of every input partition."""
    s = Scenario(seed=31)
    orders: list[dict[str, Any]] = []
    for i in range(40):
        orders.extend(s.orders(f"a{i}", 0, 60, 250))
    orders.sort(key=lambda o: o["placed_at"])
    assert len(orders) == 10_000
    await create_topics(settings)
    worker.start()

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        for i, order in enumerate(orders):
            key = order["anchor_id"].encode()
            await producer.send(settings.topic_orders, json.dumps(order).encode(), key=key)
            await producer.send(settings.topic_orders, bad_value(i), key=key)
            if i % 50 == 49:  # about 1,500 records a second: batches close on their timeout
                await producer.flush()
                await asyncio.sleep(0.06)
        await producer.flush()
    finally:
        await producer.stop()

    dead = await read_topic(
        settings.kafka_bootstrap, settings.topic_deadletter, lambda r: len(r) >= 10_000, 120
    )
    dead = await read_topic(settings.kafka_bootstrap, settings.topic_deadletter, lambda r: False, 3)
    origins = Counter(
        (
            int(dict(r.headers)[f"{HEADER_PREFIX}partition"]),
            int(dict(r.headers)[f"{HEADER_PREFIX}offset"]),
        )
        for r in dead
    )
    twice = sorted(o for o, n in origins.items() if n > 1)
    assert (len(origins), twice) == (10_000, []), "dead letters: distinct origins, repeated"
    async with aiohttp.ClientSession() as http:
        for _ in range(60):
            counted = await consumed(http, settings.web_port, "orders")
            if counted["ok"] + counted["duplicate"] + counted["late"] >= 10_000:
                break
            await asyncio.sleep(1)
    assert counted == {"ok": 10_000, "duplicate": 0, "late": 0, "invalid": 10_000, "error": 0,
                       "too_large": 0, "future": 0, "too_old": 0}  # fmt: skip
    await assert_committed_to_end(settings)


async def assert_committed_to_end(
    settings: Settings, timeout_s: float = 30, context: Callable[[], object] = str
) -> None:
    """The group's committed offset of every input partition equals its end offset (`context`:
    what to show when not, such as the worker's log)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in settings.input_topics
            for p in range(settings.partitions)
        ]
        ends = await consumer.end_offsets(tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            committed = {tp: (await consumer.committed(tp)) or 0 for tp in tps}
            if committed == ends or loop.time() > deadline:
                break
            await asyncio.sleep(1)
        behind = {f"{tp.topic}[{tp.partition}]": (committed[tp], end) for tp, end in ends.items()
                  if committed[tp] != end}  # fmt: skip
        assert not behind, f"committed, end: {behind}\n{context()}"
    finally:
        await consumer.stop()


async def test_bad_last_record_does_not_freeze_its_partition(
    settings: Settings, worker: WorkerProcess
) -> None:
    """A malformed complaint is the last record of its topic on a partition: the partition's
    time still follows its orders, and no lag is left behind."""
    s = Scenario(seed=32)
    s.orders("steady", 0, 30, 60)
    s.complaints("steady", 2, 1, 1)
    first = s.records()
    complaint = next(v for k, v in first if k == "complaints")
    later = Scenario(seed=33)
    later.orders("steady", 30, 90, 180)
    await create_topics(settings)
    worker.start()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for kind, value in first:
            await producer.send(
                settings.topic_by_kind[kind], json.dumps(value).encode(), key=b"steady"
            )
        bad = json.dumps({**complaint, "event_id": "bad", "filed_at": "yesterday"}).encode()
        await producer.send_and_wait(settings.topic_complaints, bad, key=b"steady")
        await asyncio.sleep(2)  # the worker reads the bad complaint before more orders come
        for kind, value in later.records():
            await producer.send(
                settings.topic_by_kind[kind], json.dumps(value).encode(), key=b"steady"
            )
        await producer.flush()
    finally:
        await producer.stop()
    last_order = max(datetime.fromisoformat(v["placed_at"]) for _, v in later.records())
    want = from_ms(bucket_start(to_ms(last_order), MINUTE_MS))
    base = f"http://127.0.0.1:{settings.web_port}"
    view: dict[str, Any] = {}
    lag = -1.0
    async with aiohttp.ClientSession() as http:
        for _ in range(40):
            async with http.get(f"{base}/anchors/steady") as resp:
                view = await resp.json() if resp.status == 200 else {}
            async with http.get(f"{base}/metrics") as resp:
                found = samples(await resp.text())
            lag = sum(v for (n, _), v in found.items() if n == "livewatch_consumer_lag_messages")
            evaluated = view.get("evaluated_to")
            if evaluated and datetime.fromisoformat(evaluated) >= want and lag == 0:
                break
            await asyncio.sleep(1)
    assert view.get("evaluated_to") == want.isoformat(), view
    assert lag == 0


async def test_web_server_binds_only_where_configured(
    settings: Settings, worker: WorkerProcess
) -> None:
    """`LIVEWATCH_WEB_HOST=127.0.0.1` answers there and nowhere else (127.0.0.2 is the same
    loopback interface: a server bound to every interface would answer it too)."""
    await create_topics(settings)
    worker.start()
    port = settings.web_port
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/livez") as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.ClientConnectorError):
            async with http.get(f"http://127.0.0.2:{port}/livez"):
                pass
