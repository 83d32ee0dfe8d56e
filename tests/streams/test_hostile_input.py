"""Hostile records mixed into traffic change nothing: generated streams through the replay (the
partition tasks and the detector the worker runs), with bad times and values at random
places, give the clean stream's alerts, count every valid record once, refuse each bad one
with its reason, and cost no evaluation more."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import TOPIC_MODELS, Alert
from streams.core.clock import to_ms
from streams.core.detector import Detector
from streams.core.dict_stores import DictOrders, DictStates
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.pipeline import build_detector
from streams.placement import Placement
from streams.replay import Line, replay_records
from streams.settings import Settings
from tests.factories import TIME_FIELD

SETTINGS = Settings(partitions=4)


@cache
def clean() -> list[tuple[str, dict[str, Any]]]:
    config = SimConfig(seed=21, anchors=60, hours=3.0, scenarios=("mix",))
    return list(Simulation(config).events())


def run(lines: list[Line], chunk: int = 500) -> tuple[list[Alert], Detector, list[str]]:
    detector = build_detector(SETTINGS, DictOrders(), DictStates())
    problems: list[str] = []
    alerts = list(
        replay_records(
            lines,
            SETTINGS,
            detector=detector,
            chunk=chunk,
            flush=True,
            on_error=lambda _, why: problems.append(why),
        )
    )
    return alerts, detector, problems


@cache
def baseline() -> tuple[Counter[tuple[str, str]], int, int]:
    alerts, detector, problems = run([Line(k, v) for k, v in clean()])
    assert not problems
    counted = sum(detector.stats.outcomes.values())
    return identities(alerts), detector.stats.evaluations, counted


def identities(alerts: list[Alert]) -> Counter[tuple[str, str]]:
    return Counter((a.alert_id, a.status.value) for a in alerts)


@cache
def settled_from() -> int:
    """The first line after which every partition has read an order and a refund: a record
    far older than its partition's time is refused from there on (before, nothing is known
    to be older)."""
    placement, seen, rng = Placement(), set(), random.Random(0)
    for i, (kind, value) in enumerate(clean()):
        if kind != "complaints":
            event = TOPIC_MODELS[kind].model_validate(value)
            seen.add((kind, placement.partition(kind, event, SETTINGS.partitions, rng)))
        if len(seen) == 2 * SETTINGS.partitions:
            return i + 1
    raise AssertionError("some partition never read an order and a refund")


def bad(kind: str, template: tuple[str, dict[str, Any]], n: int) -> tuple[Line, str]:
    """A hostile record built from a real one (fresh ids, so it never stands in for it), and
    the reason it must be refused for."""
    topic, value = template
    value = {**value, "event_id": f"hostile-{n}"}
    for field in ("order_id", "refund_id", "complaint_id"):
        if field in value:
            value[field] = f"hostile-{field}-{n}"
    t = value[TIME_FIELD[topic]]
    if kind == "2100":
        return Line(topic, {**value, TIME_FIELD[topic]: "2100-01-01T00:00:00+00:00"}), "future"
    if kind == "ahead_of_timestamp":  # two hours ahead of its own record's timestamp
        stamp = to_ms(datetime_of(t)) - 2 * 3_600_000
        return Line(topic, value, None, stamp), "future"
    if kind == "year_1":
        return Line(topic, {**value, TIME_FIELD[topic]: "0001-01-01T00:00:00+00:00"}), "too_old"
    if kind == "month_old":
        older = datetime_of(t).timestamp() - 30 * 86_400
        return Line(topic, {**value, TIME_FIELD[topic]: iso(older)}), "too_old"
    if kind == "infinite_amount" and "amount" in value:
        return Line(topic, {**value, "amount": "1e400"}), "amount"
    if kind == "huge_quantity" and topic == "orders":
        return Line(topic, {**value, "quantity": 10**30}), "quantity"
    if kind == "oversize":
        return Line(topic, {**value, "notes": "x" * 70_000}), "too_large"
    return Line(topic, {"schema_version": 1, "event_id": f"hostile-{n}"}), "Field required"


def datetime_of(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


KINDS = ["2100", "ahead_of_timestamp", "year_1", "month_old", "infinite_amount",
         "huge_quantity", "oversize", "garbage"]  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    injections=st.lists(
        st.tuples(st.sampled_from(KINDS), st.floats(0, 1), st.integers(0, 10**6)),
        min_size=1, max_size=12,
    ),
    chunk=st.sampled_from([37, 200, 500]),
)  # fmt: skip
def test_hostile_records_change_no_alert_and_cost_nothing(
    injections: list[tuple[str, float, int]], chunk: int
) -> None:
    records = clean()
    start = settled_from()
    lines: list[Line] = [Line(k, v) for k, v in records]
    expected_reasons = []
    for n, (kind, where, pick) in enumerate(injections):
        template = records[pick % len(records)]
        if kind in ("infinite_amount",) and "amount" not in template[1]:
            template = next(r for r in records if "amount" in r[1])
        if kind == "huge_quantity" and template[0] != "orders":
            template = next(r for r in records if r[0] == "orders")
        line, reason = bad(kind, template, n)
        at = start + int(where * (len(lines) - start))
        lines.insert(at, line)
        expected_reasons.append(reason)
    alerts, detector, problems = run(lines, chunk)
    want_alerts, want_evaluations, want_counted = baseline()
    assert identities(alerts) == want_alerts
    assert sum(detector.stats.outcomes.values()) == want_counted  # each valid record once
    assert detector.stats.evaluations == want_evaluations  # no step walked for a bad record
    assert len(problems) == len(injections)
    for reason in expected_reasons:
        assert any(reason in p for p in problems), (reason, problems)


def test_a_far_future_record_costs_the_replay_no_more_than_a_normal_one() -> None:
    """One order dated 2100 among a few thousand: refused, and the replay takes no longer
    than the clean stream's evaluations (it used to walk every minute to 2100)."""
    records = [Line(k, v) for k, v in clean()]
    order = next(v for k, v in clean() if k == "orders")
    records.insert(len(records) // 2, bad("2100", ("orders", order), 0)[0])
    _, detector, problems = run(records)
    assert detector.stats.evaluations == baseline()[1]
    assert len(problems) == 1 and problems[0].startswith("future")


def test_the_file_clock_lets_a_quiet_night_through() -> None:
    """Lines without timestamps are judged against the median of their neighbours: a gap of
    hours in the traffic is not mistaken for a future-dated record."""
    first = [(k, v) for k, v in clean()[:300]]
    later = []
    for kind, value in clean()[300:600]:
        t = datetime_of(value[TIME_FIELD[kind]]).timestamp() + 8 * 3600
        later.append((kind, {**value, TIME_FIELD[kind]: iso(t)}))
    _, _, problems = run([Line(k, v) for k, v in first + later])
    assert problems == []


def test_the_json_form_of_the_lines_is_what_the_replay_command_reads() -> None:
    """`Line` round trip: a `"timestamp"` on a line is used as the record's timestamp."""
    from streams.replay import read_jsonl

    value = next(v for k, v in clean() if k == "orders")
    text = json.dumps({"topic": "orders", "value": value, "partition": 1, "timestamp": 5})
    assert list(read_jsonl([text])) == [Line("orders", value, 1, 5)]


class _Watched(DictStates):
    """Anchor states in a dict, each stored version kept as the worker would write it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []
        self.deferred = 0

    def put(self, state: Any) -> None:
        super().put(state)
        self.written.append(json.dumps(state.head_dict()))  # the buckets hold only counts
        self.deferred += len(state.deferred)


@pytest.mark.python_core
def test_no_buyer_id_is_stored_or_sent_between_partitions(monkeypatch: Any) -> None:
    """Every anchor state written (events held for a boundary included), every record sent
    from one partition to another (orders keyed by their own id, refunds naming no anchor:
    both hops) and the order memory hold buyers only as hashes, never the id."""
    from streams.core import partition

    config = SimConfig(seed=4, anchors=30, hours=2.0, refund_anchor=False)
    events = list(Simulation(config).events())
    buyers = {json.dumps(v["buyer_id"]) for k, v in events if k == "orders"}
    sent: list[str] = []
    take = partition.PartitionTask.take_outbox

    def watched_outbox(self: Any) -> Any:
        out = take(self)
        sent.extend(json.dumps(o.value) for o in out)
        return out

    monkeypatch.setattr(partition.PartitionTask, "take_outbox", watched_outbox)
    states, orders = _Watched(), DictOrders()
    detector = build_detector(SETTINGS, orders, states)
    placement = Placement.of("crc32", orders="order_id", refunds="refund_id")
    alerts = list(replay_records(events, SETTINGS, detector=detector, placement=placement))
    assert alerts and states.deferred and len(sent) > 50  # the paths below were taken
    assert any('"f"' in s for s in sent)
    stored = [*states.written, *sent, json.dumps([o.to_dict() for o in orders.data.values()])]
    leaked = [b for b in buyers if any(b in text for text in stored)]
    assert not leaked, leaked[:5]
