"""The replay runs the worker's partition tasks: its alerts depend on the events, not on how
they were keyed, batched or interleaved."""

from __future__ import annotations

import json
import random
from collections import Counter
from functools import cache
from typing import Any

import pytest

from schemas import TOPIC_MODELS, Alert
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.placement import Placement, RefundKey
from streams.replay import CHUNK, read_jsonl, replay_records
from streams.settings import Settings
from tests import factories

SETTINGS = Settings(partitions=4)


@cache
def records(refund_anchor: bool) -> list[tuple[str, Any]]:
    config = SimConfig(seed=12, anchors=120, hours=5.0, refund_anchor=refund_anchor)
    return list(Simulation(config).events())


@cache
def alerts(
    refunds_by: RefundKey,
    refund_anchor: bool,
    chunk: int,
    placement: Placement | None = None,
) -> Counter[tuple[str, str]]:
    found: list[Alert] = list(
        replay_records(records(refund_anchor), SETTINGS, refunds_by=refunds_by, chunk=chunk,
                       flush=True, placement=placement)
    )  # fmt: skip
    return Counter((a.alert_id, a.status.value) for a in found)


def test_the_simulated_mix_fires_refund_spikes() -> None:
    """So the comparisons below compare something."""
    assert sum(1 for _, status in alerts("anchor", True, 500) if status == "firing") >= 3


@pytest.mark.parametrize(
    ("refunds_by", "refund_anchor"),
    [
        ("order_id", True),  # names the anchor: one hop to it
        ("order_id", False),  # names no anchor: through the order index
        ("refund_id", False),  # keyed by neither: re-keyed by order id first
    ],
)
def test_refunds_keyed_away_from_their_anchor_give_the_same_alerts(
    refunds_by: RefundKey, refund_anchor: bool
) -> None:
    """Every simulated refund has its order, so however refunds are keyed, each is counted
    against the same order: the same alert ids and transitions as refunds keyed by anchor."""
    assert alerts(refunds_by, refund_anchor, 500) == alerts("anchor", True, 500)


@pytest.mark.parametrize("chunk", [1, 37])
def test_the_alerts_do_not_depend_on_the_batch_size(chunk: int) -> None:
    """A worker's fetches may hold one record or thousands; the marks make boundaries wait
    for every partition, so the same boundaries see the same records."""
    assert alerts("order_id", False, chunk) == alerts("order_id", False, 500)


PRODUCERS = [
    Placement.of("crc32"),  # librdkafka's default partitioner, keyed as the README asks
    Placement.of("crc32", orders="order_id", complaints="complaint_id", refunds="refund_id"),
    Placement.of("murmur2", orders="none", complaints="none", refunds="none", seed=4),
    Placement.of("fnv1a", orders="buyer_id", complaints="order_id", refunds="order_id"),
]


@pytest.mark.parametrize("placement", PRODUCERS, ids=lambda p: p.describe())
def test_records_keyed_any_way_by_any_partitioner_give_the_same_alerts(
    placement: Placement,
) -> None:
    """Each record away from its anchor's partition travels there; lateness and order are
    judged against the topic of the partition that read it, which on this traffic is as far
    as on the anchor's own: the same alerts as the contract's keys (the docs say where that
    stops holding)."""
    assert alerts("anchor", False, 500, placement) == alerts("anchor", False, 500)


def test_lines_carrying_their_partition_are_read_there() -> None:
    """A replay file written from the topics (`"partition"` on each line) is replayed as the
    worker read it; a partition the settings do not have is reported, not guessed."""
    placement = PRODUCERS[1]
    rng = random.Random(0)
    lines = []
    for kind, value in records(False):
        event = TOPIC_MODELS[kind].model_validate(value)
        partition = placement.partition(kind, event, SETTINGS.partitions, rng)
        lines.append(json.dumps({"topic": kind, "value": value, "partition": partition}))
    lines.append(json.dumps({"topic": "orders", "value": records(False)[0][1], "partition": 9}))
    problems: list[tuple[int, str]] = []
    read = read_jsonl(lines, lambda n, why: problems.append((n, why)))
    found = replay_records(read, SETTINGS, on_error=lambda n, why: problems.append((n, why)),
                           flush=True)  # fmt: skip
    assert Counter((a.alert_id, a.status.value) for a in found) == alerts(
        "anchor", False, 500, placement
    )
    assert problems == [(len(lines), "partition: 9 is not one of the 4 partitions")]


def test_the_replay_runs_without_faust(tmp_path: Any) -> None:
    """`livewatch replay` is the functional core over a file: it loads neither Faust nor its
    stores (a Faust upgrade, or its import time, never touches it), and still finds alerts."""
    import subprocess
    import sys

    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(json.dumps({"topic": t, "value": v}) + "\n" for t, v in records(True)))
    probe = (
        "import sys\n"
        "from streams.cli import main\n"
        f"sys.argv = ['livewatch', 'replay', {str(lines)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'mode'))\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOADED []" in result.stderr
    assert '"status":"firing"' in result.stdout.replace(" ", "")


def test_lines_of_events_in_kafka_connect_envelopes_replay_as_the_events() -> None:
    """A file dumped from a topic that Kafka Connect's JsonConverter wrote (each value
    `{"schema": ..., "payload": event}`) replays as the events themselves, as the worker
    reads them."""
    wrapped = [(kind, {"schema": {"type": "struct"}, "payload": v}) for kind, v in records(True)]
    found = replay_records(wrapped, SETTINGS, flush=True)
    assert Counter((a.alert_id, a.status.value) for a in found) == alerts("anchor", True, CHUNK)


def test_events_in_local_time_replay_as_the_same_instants_in_their_zone() -> None:
    """A producer writing local time without an offset, read with `LIVEWATCH_NAIVE_TIME_ZONE`
    set to its zone, gives the alerts of the same events written with offsets."""
    local = factories.in_local_time(records(True), "Asia/Shanghai")
    assert " " in local[0][1]["placed_at"] and "+" not in local[0][1]["placed_at"]
    zoned = SETTINGS.model_copy(update={"naive_time_zone": "Asia/Shanghai"})
    found = replay_records(local, zoned, flush=True)
    assert Counter((a.alert_id, a.status.value) for a in found) == alerts("anchor", True, CHUNK)
    refused: list[str] = []
    assert not list(replay_records(local, SETTINGS, on_error=lambda n, e: refused.append(e)))
    assert len(refused) == len(local) and "timezone" in refused[0]


def test_a_replay_file_saved_with_a_byte_order_mark_reads_its_first_line() -> None:
    """Windows editors and PowerShell 5 save UTF-8 with a mark before the first line."""
    (kind, value), *_ = records(False)
    line = json.dumps({"topic": kind, "value": value})
    problems: list[tuple[int, str]] = []
    read = list(read_jsonl(["\ufeff" + line, line], lambda n, why: problems.append((n, why))))
    assert problems == []
    assert [(r.topic, r.value) for r in read] == [(kind, value)] * 2
