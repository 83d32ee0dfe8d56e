"""Any producer, any key: records produced by librdkafka (confluent-kafka, its CRC32 default),
aiokafka, Kafka's Java client, Sarama (Go, FNV-1a) or KafkaJS (its legacy partitioner), keyed
by the anchor or by their own ids, reach their anchor's partition, and the worker publishes the
alerts of the plain replay (which places every record by its anchor)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from schemas import Alert, RuleName
from schemas.types import spellings
from streams.devtools.kafka_local import free_port
from streams.devtools.sim.evaluation import evaluate
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.devtools.sim.kafka import send_events
from streams.placement import HASHES, KeyField, Placement
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests import factories
from tests.e2e.test_http_api import samples
from tests.e2e.test_no_silent_loss import alerts_settled, identities, marks_repaired
from tests.producers import (
    as_json,
    die_in_a_transaction,
    produce_java,
    produce_kafkajs,
    produce_librdkafka,
    produce_sarama,
)
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

OWN_IDS: dict[str, KeyField] = {
    "orders": "order_id",  # an order service: the order's lifecycle in order
    "complaints": "complaint_id",  # a complaint desk
    "refunds": "refund_id",  # an after-sales system that knows the order, not the anchor
}


def small_backlog(settings: Settings) -> tuple[list[Any], list[Alert]]:
    """The records of a small mix with an injected refund spike, and the replay's alerts for
    them (at least one firing), for the tests that produce them in another shape."""
    records = simulated(9, 60, 3.0, refund_anchor=True)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 1
    return records, expected


def simulated(seed: int, anchors: int, hours: float, refund_anchor: bool) -> list[Any]:
    config = SimConfig(seed=seed, anchors=anchors, hours=hours, refund_anchor=refund_anchor)
    return list(Simulation(config).events())


async def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        return samples(await resp.text())


def forwarded(found: dict[tuple[str, Any], float]) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["topic"], dict(labels)["reason"]): value
        for (name, labels), value in found.items()
        if name == "livewatch_records_forwarded_total" and value
    }


@pytest.mark.parametrize(
    ("client", "keys", "refund_anchor", "reasons"),
    [
        # kcat's and confluent-kafka's default: keyed as the README asks, hashed with CRC32
        ("librdkafka", {}, True, {"orders": "partitioner", "refunds": "partitioner"}),
        # the same client, each service keying by its own id; refunds name no anchor
        ("librdkafka", OWN_IDS, False, {"orders": "key", "refunds": "no_anchor"}),
        # livewatch's own client (murmur2), keyed by those ids
        ("aiokafka", OWN_IDS, False, {"orders": "key", "refunds": "no_anchor"}),
        # Kafka's own Java client with its defaults (murmur2, idempotence, acks=all)
        ("java", OWN_IDS, False, {"orders": "key", "refunds": "no_anchor"}),
        # Sarama (Go) with its defaults, keyed as the README asks: FNV-1a of the anchor
        ("sarama", {}, True, {"orders": "partitioner", "refunds": "partitioner"}),
        # KafkaJS (Node.js) with the partitioner its 1.x versions had, keyed as the README asks
        ("kafkajs", {}, True, {"orders": "partitioner", "refunds": "partitioner"}),
    ],
    ids=[
        "librdkafka-anchor-keys",
        "librdkafka-own-ids",
        "aiokafka-own-ids",
        "java-own-ids",
        "sarama-anchor-keys",
        "kafkajs-legacy-anchor-keys",
    ],
)
async def test_a_backlog_from_any_producer_gives_the_replays_alerts(
    settings: Settings,
    worker: WorkerProcess,
    client: str,
    keys: dict[str, KeyField],
    refund_anchor: bool,
    reasons: dict[str, str],
) -> None:
    """The whole mix is in Kafka before the worker starts, placed by the client's partitioner:
    most records are away from their anchor's partition and travel there, and the worker's
    alerts are exactly those of `livewatch replay` of the same events. The metrics say why
    records were forwarded, and `livewatch doctor` names the client's keys and partitioner."""
    settings = worker.settings = settings.model_copy(update={"partitions": 8})
    records = simulated(12, 200, 6.0, refund_anchor)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 5
    await create_topics(settings)
    if client == "librdkafka":
        await asyncio.to_thread(produce_librdkafka, settings, records, keys)
    elif client == "java":
        assert await asyncio.to_thread(produce_java, settings, records, keys) == len(records)
    elif client == "sarama":
        assert await asyncio.to_thread(produce_sarama, settings, records, keys) == len(records)
    elif client == "kafkajs":
        assert await asyncio.to_thread(produce_kafkajs, settings, records, keys) == len(records)
    else:
        await send_events(settings, records, placement=Placement.of(**keys))
    worker.start()
    alerts = await alerts_settled(settings, expected, worker)
    assert_same(alerts, expected, worker)
    found = forwarded(await metrics(settings.web_port))
    for topic, why in reasons.items():
        assert found.get((topic, why), 0) > 0, found
    report = doctor(settings)
    partitioner = {"librdkafka": "crc32", "sarama": "fnv1a", "kafkajs": "kafkajs_legacy"}.get(
        client, "murmur2"
    )
    assert report["orders"]["partitioner"] == partitioner
    assert max(report["orders"]["keys"], key=report["orders"]["keys"].get) == (
        "order_id" if keys else "anchor_id"
    )


ID_FIELDS = ("event_id", "order_id", "refund_id", "complaint_id", "session_id", "anchor_id",
             "merchant_id", "sku_id", "buyer_id")  # fmt: skip


ENUM_FIELDS = ("category", "reason", "channel")


def as_a_java_service_writes(records: list[Any]) -> list[Any]:
    """The records as a Java service with `long` keys and enums writes them through Jackson:
    every id a JSON integer (one number per distinct id), every enumerated value its constant
    (`QUALITY`)."""
    numbers: dict[str, int] = {}
    out = []
    for kind, value in records:
        changed = dict(value)
        for field in ID_FIELDS:
            if isinstance(changed.get(field), str):
                changed[field] = numbers.setdefault(changed[field], 10**12 + len(numbers))
        for field in ENUM_FIELDS:
            if field in changed:
                changed[field] = str(changed[field]).upper()
        out.append((kind, changed))
    return out


async def test_integer_ids_and_enum_constants_are_counted_not_dead_lettered(
    settings: Settings, worker: WorkerProcess
) -> None:
    """Every id a JSON integer and every enumerated value in capitals (a Java service's `long`
    keys and enums), produced with librdkafka keyed by the anchor: the worker's alerts are the
    replay's of the same records, each alert naming its anchor by the digits, and nothing is
    dead-lettered. Before, every record was dead-lettered and the replay found nothing."""
    settings = worker.settings = settings.model_copy(update={"partitions": 8})
    records = as_a_java_service_writes(simulated(12, 200, 6.0, True))
    assert any(v.get("reason") == "QUALITY" for _, v in records)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 5
    assert all(a.anchor_id.isdigit() for a in expected)
    await read_as_the_replay(settings, worker, records, expected)


async def read_as_the_replay(
    settings: Settings,
    worker: WorkerProcess,
    records: list[Any],
    expected: list[Alert],
    encode: Callable[[Any], bytes] | None = None,
) -> None:
    """`records` produced with librdkafka keyed by the anchor (`encode`: each value's bytes,
    default its JSON) on fresh topics, then the worker started: its alerts are `expected`, and
    it dead-lettered nothing."""
    await create_topics(settings)
    await asyncio.to_thread(produce_librdkafka, settings, records, {}, encode=encode)
    worker.start()
    alerts = await alerts_settled(settings, expected, worker)
    assert_same(alerts, expected, worker)
    found = await metrics(settings.web_port)
    dead = [v for (name, _), v in found.items() if name == "livewatch_deadletter_records_total"]
    assert dead and sum(dead) == 0, dead  # the series are there, every one at zero


def doctor(settings: Settings) -> dict[str, Any]:
    """`livewatch doctor --format json` against the test's topics."""
    done = subprocess.run(
        [sys.executable, "-m", "streams", "doctor", "--sample", "200", "--format", "json"],
        env={**settings.as_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def test_two_workers_fed_by_librdkafka_equal_the_replay_and_answer_for_every_anchor(
    settings: Settings, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Two workers in one group share 8 partitions; librdkafka put each record by the CRC32
    of its own id. Their alerts together are the replay's, find every labelled refund spike and
    nothing else, and either worker answers `/anchors/{id}` for any anchor (the one that owns
    the anchor's partition serves it, by the same ownership function the records travel by)."""
    settings = settings.model_copy(update={"partitions": 8})
    pair = [
        WorkerProcess(
            settings.model_copy(update={"web_port": free_port(), "data_dir": tmp_path / name}),
            tmp_path / f"{name}.log",
        )
        for name in ("first", "second")
    ]
    workers.extend(pair)
    sim = Simulation(SimConfig(seed=5, anchors=300, hours=8.0, refund_anchor=False))
    records = list(sim.events())
    expected = list(replay_records(records, settings))
    await create_topics(settings)
    await asyncio.to_thread(produce_librdkafka, settings, records, OWN_IDS)
    for one in pair:
        one.start()
    alerts = await alerts_settled(settings, expected, *pair)
    assert_same(alerts, expected, *pair)
    assert await marks_repaired(pair) == []
    score = evaluate(sim.truth(), alerts, (RuleName.REFUND_AFTER_ORDER_SPIKE.value,)).rules
    spikes = score[RuleName.REFUND_AFTER_ORDER_SPIKE.value]
    assert spikes.labels >= 5
    assert (spikes.precision, spikes.recall) == (1.0, 1.0)
    seen = sorted({value["anchor_id"] for kind, value in records if kind == "orders"})
    anchors = sorted({a.anchor_id for a in expected} | set(seen[:30]))
    async with aiohttp.ClientSession() as http:
        for anchor in anchors:
            views = []
            for one in pair:
                url = f"http://127.0.0.1:{one.settings.web_port}/anchors/{anchor}"
                async with http.get(url) as resp:
                    assert resp.status == 200, (anchor, one.settings.web_port, await resp.text())
                    views.append(await resp.json())
            assert views[0] == views[1]
            assert views[0]["anchor_id"] == anchor


async def test_live_librdkafka_traffic_keyed_by_own_ids_equals_the_replay(
    settings: Settings, worker: WorkerProcess
) -> None:
    """Records arrive live at a steady rate from librdkafka, each keyed by its own id: nearly
    every record is forwarded while the batches close on their timeout, and the worker still
    publishes exactly the replay's alerts."""
    settings = worker.settings = settings.model_copy(update={"partitions": 8})
    records = simulated(3, 100, 4.0, refund_anchor=False)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 2
    await create_topics(settings)
    worker.start()
    await asyncio.to_thread(produce_librdkafka, settings, records, OWN_IDS, 1500)
    alerts = await alerts_settled(settings, expected, worker)
    assert_same(alerts, expected, worker)


async def test_a_transactional_producer_gives_the_replays_alerts_to_the_end(
    settings: Settings, worker: WorkerProcess
) -> None:
    """A transactional producer (each minute a transaction) ends every partition with a commit
    marker: the end offset stays one past the last record the worker can read. The worker
    still takes those partitions for caught up, so detection reaches the end of the stream,
    the last episodes resolved, exactly as the replay has them, and reports no lag."""
    settings = worker.settings = settings.model_copy(update={"partitions": 8})
    records = simulated(7, 100, 4.0, refund_anchor=True)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 2
    assert sum(1 for a in expected if a.status.value == "resolved") >= 2
    await create_topics(settings)
    await asyncio.to_thread(produce_librdkafka, settings, records, {}, transactional=True)
    worker.start()
    alerts = await alerts_settled(settings, expected, worker)
    assert_same(alerts, expected, worker)
    lag = {
        dict(labels)["topic"]: value
        for (name, labels), value in (await metrics(settings.web_port)).items()
        if name == "livewatch_consumer_lag_messages"
    }
    assert lag["orders"] == lag["refunds"] == 0, lag  # the markers are not records waiting
    # doctor sees the markers as offsets no record holds
    assert doctor(settings)["orders"]["offset_gaps"] > 0


async def test_records_of_an_aborted_transaction_are_not_counted(
    settings: Settings, worker: WorkerProcess
) -> None:
    """A transactional producer aborts a transaction of refunds for one anchor's orders of the
    past hour and never sends them again: counted, they would fire a refund spike on it. The
    worker reads committed records only (`LIVEWATCH_ISOLATION_LEVEL`, `read_committed` by
    default), so its alerts are the replay's of what was committed."""
    settings = worker.settings = settings.model_copy(update={"partitions": 8})
    records = simulated(7, 100, 4.0, refund_anchor=True)
    expected = list(replay_records(records, settings))
    firing = {a.anchor_id for a in expected if a.status.value == "firing"}
    orders = [value for kind, value in records if kind == "orders"]
    anchor = next(
        a for a, _ in Counter(o["anchor_id"] for o in orders).most_common() if a not in firing
    )
    mine = [o for o in orders if o["anchor_id"] == anchor]
    end = datetime.fromisoformat(mine[len(mine) // 2]["placed_at"])
    at = end + timedelta(seconds=30)
    fake = [
        refund_of(o, "aborted", at)
        for o in mine
        if end - timedelta(hours=1) <= datetime.fromisoformat(o["placed_at"]) < end
    ]
    counted = list(replay_records(sorted(records + fake, key=lambda r: _when(r[1])), settings))
    assert {a.anchor_id for a in counted} - {a.anchor_id for a in expected} == {anchor}
    await create_topics(settings)
    aborted = {at.astimezone(UTC).isoformat()[:16]: fake}
    await asyncio.to_thread(
        produce_librdkafka, settings, records, {}, transactional=True, aborted=aborted
    )
    worker.start()
    alerts = await alerts_settled(settings, expected, worker)
    assert_same(alerts, expected, worker)


async def test_a_producer_that_dies_mid_transaction_delays_detection_and_loses_nothing(
    settings: Settings, worker: WorkerProcess
) -> None:
    """A transactional producer process dies with a transaction of refunds open on every
    partition: until the broker aborts it (the producer's `transaction.timeout.ms`), the
    records after it cannot be read committed, so detection waits there. Once it is aborted
    the worker reads on, counts none of the dead transaction's refunds (on every anchor they
    would fire refund spikes), and its alerts are the replay's of what was committed."""
    settings = worker.settings = settings.model_copy(update={"partitions": 8})
    records = simulated(11, 100, 4.0, refund_anchor=True)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 2
    half = len(records) // 2
    cut = datetime.fromisoformat(_when(records[half][1]))
    last_hour = [
        value for kind, value in records[:half]
        if kind == "orders" and cut - timedelta(hours=1) <= datetime.fromisoformat(_when(value))
    ]  # fmt: skip
    fake = [refund_of(o, "dead", cut) for o in last_hour]
    crc32 = HASHES["crc32"]  # librdkafka's default partitioner
    assert len({crc32(v["anchor_id"].encode(), 8) for _, v in fake}) == 8  # every partition
    await create_topics(settings)
    worker.start()
    await asyncio.to_thread(produce_librdkafka, settings, records[:half], {}, transactional=True)
    await asyncio.to_thread(die_in_a_transaction, settings, fake, 5_000)
    died = datetime.now(UTC)
    await asyncio.to_thread(produce_librdkafka, settings, records[half:], {}, transactional=True)
    alerts = await alerts_settled(settings, expected, worker)
    assert_same(alerts, expected, worker)
    # The last boundaries needed the records after the dead transaction: they waited for it.
    assert max(a.emitted_at for a in alerts) >= died + timedelta(seconds=5)


def refund_of(order: dict[str, Any], tag: str, at: datetime) -> tuple[str, dict[str, Any]]:
    """A refund of the whole `order` requested at `at`, naming its anchor, with ids of its
    own (`tag` in them)."""
    return ("refunds", {
        "schema_version": 1, "event_id": f"evt-{tag}-{order['order_id']}",
        "refund_id": f"refund-{tag}-{order['order_id']}", "order_id": order["order_id"],
        "amount": order["amount"], "currency": order["currency"], "reason": "damaged",
        "shipped": False, "requested_at": at.isoformat(), "anchor_id": order["anchor_id"],
        "session_id": order["session_id"],
    })  # fmt: skip


def _when(value: dict[str, Any]) -> str:
    return str(value.get("placed_at") or value.get("requested_at") or value.get("filed_at"))


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_records_in_every_compression_codec_give_the_replays_alerts(
    settings: Settings, worker: WorkerProcess, codec: str
) -> None:
    """Kafka's producers compress record batches with any of four codecs, a choice the
    producing service makes (the Java client and librdkafka offer all four, and a topic's
    `compression.type` can make the broker recompress): the worker reads each one and
    publishes the replay's alerts, with no record dead-lettered or lost."""
    settings = worker.settings = settings.model_copy(update={"partitions": 4})
    records = simulated(4, 60, 3.0, refund_anchor=True)
    expected = list(replay_records(records, settings))
    assert sum(1 for a in expected if a.status.value == "firing") >= 1
    await create_topics(settings)
    config = {"compression.type": codec, "partitioner": "murmur2_random"}
    await asyncio.to_thread(produce_librdkafka, settings, records, {}, config=config)
    worker.start()
    alerts = await alerts_settled(settings, expected, worker)
    assert_same(alerts, expected, worker)


async def test_json_framed_by_a_schema_registry_serializer_gives_the_replays_alerts(
    settings: Settings, worker: WorkerProcess
) -> None:
    """Services that register their schemas send each JSON value behind the serializer's frame
    (a zero byte and the schema id): the worker reads the JSON behind it, and nothing is
    dead-lettered."""
    settings = worker.settings = settings.model_copy(update={"partitions": 4})
    records, expected = small_backlog(settings)
    frame = b"\x00" + (17).to_bytes(4, "big")
    await read_as_the_replay(settings, worker, records, expected, lambda v: frame + as_json(v))
    report = doctor(settings)["orders"]
    assert (report["schema_registry_framed"], report["schema_ids"]) == (1.0, [17])
    assert report["offset_gaps"] == 0  # no transactions here


async def test_local_times_without_offsets_read_in_the_configured_zone_give_the_replays_alerts(
    settings: Settings, worker: WorkerProcess
) -> None:
    """A producer writing Shanghai local time with no offset (`2026-11-28 22:00:46.161069`),
    the record timestamps its real clock: with `LIVEWATCH_NAIVE_TIME_ZONE=Asia/Shanghai` the
    worker reads each time as the instant it is, and its alerts are the replay's of the same
    events written with offsets; nothing is dead-lettered (not even as `future`)."""
    settings = worker.settings = settings.model_copy(
        update={"partitions": 4, "naive_time_zone": "Asia/Shanghai"}
    )
    records, expected = small_backlog(settings)
    kind, first = factories.in_local_time(records[:1], "Asia/Shanghai")[0]
    assert "+" not in first[factories.TIME_FIELD[kind]]

    def in_local_time(value: dict[str, Any]) -> bytes:
        kind = next(k for k, f in factories.TIME_FIELD.items() if f in value)
        return as_json(factories.in_local_time([(kind, value)], "Asia/Shanghai")[0][1])

    await read_as_the_replay(settings, worker, records, expected, in_local_time)


def as_a_cdc_pipeline_writes(value: dict[str, Any]) -> bytes:
    """The value's event time as epoch microseconds (Debezium's `MicroTimestamp`) and an order's
    quantity as decimal text (Protocol Buffers' JSON mapping of a 64-bit integer)."""
    field = next(f for f in factories.TIME_FIELD.values() if f in value)
    moment = datetime.fromisoformat(value[field])
    changed = {**value, field: (moment - EPOCH) // timedelta(microseconds=1)}
    if "quantity" in changed:
        changed["quantity"] = str(changed["quantity"])
    return as_json(changed)


async def test_epoch_microseconds_and_quantities_as_text_give_the_replays_alerts(
    settings: Settings, worker: WorkerProcess
) -> None:
    """Every event time an integer of microseconds and every quantity text, produced with
    librdkafka: the worker's alerts are the replay's of the same events as the contract
    writes them, and nothing is dead-lettered. Before, every record was."""
    settings = worker.settings = settings.model_copy(update={"partitions": 4})
    records, expected = small_backlog(settings)
    first = json.loads(as_a_cdc_pipeline_writes(records[0][1]))
    assert isinstance(first[factories.TIME_FIELD[records[0][0]]], int)
    await read_as_the_replay(settings, worker, records, expected, as_a_cdc_pipeline_writes)


def in_camel_case(value: dict[str, Any]) -> bytes:
    """The value as a Java object's fields come out of Jackson by default (`orderId`,
    `placedAt`)."""
    return as_json({str(spellings(name).choices[1]): v for name, v in value.items()})


async def test_fields_in_camel_case_give_the_replays_alerts(
    settings: Settings, worker: WorkerProcess
) -> None:
    """Every field name in camelCase (Jackson's default for a Java object, Protocol Buffers'
    JSON mapping, JavaScript), produced with librdkafka: the worker's alerts are the replay's
    of the same events as the contract spells them, and nothing is dead-lettered. Before,
    every record was (`event_id: Field required`)."""
    settings = worker.settings = settings.model_copy(update={"partitions": 4})
    records, expected = small_backlog(settings)
    assert b'"placedAt"' in in_camel_case(next(v for k, v in records if k == "orders"))
    await read_as_the_replay(settings, worker, records, expected, in_camel_case)


async def test_events_without_event_ids_give_the_replays_alerts(
    settings: Settings, worker: WorkerProcess
) -> None:
    """An order system, an after-sales desk and a complaint desk that send no `event_id`
    (produced with librdkafka): each event is known by its own id, the worker's alerts are
    the replay's, and nothing is dead-lettered. Before, every record was."""
    settings = worker.settings = settings.model_copy(update={"partitions": 4})
    records, expected = small_backlog(settings)
    await read_as_the_replay(
        settings, worker, records, expected,
        lambda v: as_json({k: x for k, x in v.items() if k != "event_id"}),
    )  # fmt: skip


CONNECT_SCHEMA = {"type": "struct", "optional": False, "name": "livewatch.Event", "fields": []}


async def test_events_in_kafka_connect_envelopes_give_the_replays_alerts(
    settings: Settings, worker: WorkerProcess
) -> None:
    """Events moved through Kafka Connect with its JsonConverter's default
    (`schemas.enable=true`) arrive as `{"schema": ..., "payload": event}`: the worker reads
    the payload, and nothing is dead-lettered."""
    settings = worker.settings = settings.model_copy(update={"partitions": 4})
    records, expected = small_backlog(settings)
    await read_as_the_replay(
        settings, worker, records, expected,
        lambda v: as_json({"schema": CONNECT_SCHEMA, "payload": v}),
    )  # fmt: skip


def assert_same(
    alerts: list[Alert], expected: list[Alert], *workers: WorkerProcess, at_least_once: bool = False
) -> None:
    """The same (alert id, status) pairs; if not, which differ and what the workers logged.
    `at_least_once`: a worker was killed, so an update sent just before may come again."""
    got, want = identities(alerts), identities(expected)
    if at_least_once:
        got, want = Counter(set(got)), Counter(set(want))
    assert got == want, (
        f"extra {[a for a in alerts if (a.alert_id, a.status.value) not in want]}\n"
        f"missing {[a for a in expected if (a.alert_id, a.status.value) not in got]}\n"
        f"counted more often {dict(got - want)}, less often {dict(want - got)}\n"
        + "\n".join(w.report() for w in workers)
    )
