"""The detection core on seeded scenarios, driven like the replay: no Kafka, dict stores."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from schemas import Alert, Complaint, Order, Refund
from streams.core.clock import to_ms
from streams.core.detector import MAX_COMPLAINT_IDS, MAX_DEFERRED, Detector
from streams.core.dict_stores import DictOrders, DictStates
from streams.core.rulebook import Kind, RuleBook, RuleSet
from streams.core.rules import load_rules
from streams.core.state import NO_LOWER_BOUND, AnchorState
from streams.pipeline import build_detector
from streams.replay import replay_records
from streams.settings import Settings
from tests import scenarios
from tests.scenarios import Record, Scenario


def run(records: list[Record], flush: bool = False) -> tuple[Detector, list[Alert]]:
    """Replay records through a fresh detector; returns it (for state and stats) and the alerts."""
    settings = Settings()
    detector = build_detector(settings, DictOrders(), DictStates())
    alerts = list(replay_records(records, settings, detector=detector, flush=flush))
    return detector, alerts


def run_as_one_partition(records: list[Record]) -> list[Alert]:
    """Alerts of a replay on one partition: what a detector driven directly sees, as the
    refund pace is a partition's."""
    settings = Settings(partitions=1)
    detector = build_detector(settings, DictOrders(), DictStates())
    return list(replay_records(records, settings, detector=detector))


def test_normal_anchors_raise_nothing() -> None:
    """Anchors at their category's usual refund rate produce zero alerts."""
    s = Scenario(seed=3)
    for i in range(20):
        scenarios.normal_anchor(s, f"n{i}", per_hour=60 + 20 * i)
    _, alerts = run(s.records())
    assert alerts == []


def test_brushing_fires_once_then_resolves() -> None:
    """A brushing burst gives, per rule, one firing alert, then one resolved alert with the
    same id: order concentration first (the orders), then the refund spike."""
    s = Scenario(seed=4)
    scenarios.brushing(s, "brusher")
    _, every = run(s.records())
    first = every[0]
    assert (first.rule.value, first.status.value) == ("order_concentration", "firing")
    concentration = [a.status.value for a in every if a.rule.value == "order_concentration"]
    assert concentration == ["firing", "resolved"]
    alerts = [a for a in every if a.rule.value == "refund_after_order_spike"]
    assert [a.status.value for a in alerts] == ["firing", "resolved"]
    fired, resolved = alerts
    assert fired.alert_id == resolved.alert_id
    assert fired.anchor_id == "brusher"
    assert fired.session_id == "brusher-s2"
    assert fired.evidence.refunded_before_shipment_share is not None
    assert fired.evidence.orders_per_buyer and fired.evidence.orders_per_buyer > 2
    assert fired.evidence.sample_order_ids


def test_complaint_storm_fires_one_quality_alert() -> None:
    s = Scenario(seed=5)
    scenarios.complaint_storm(s, "defective")
    _, alerts = run(s.records())
    firing = [a for a in alerts if a.status.value == "firing"]
    assert [(a.rule.value, a.anchor_id) for a in firing] == [("quality_complaints", "defective")]
    min_count = load_rules().quality_complaints.min_count
    assert firing[0].evidence.quality_complaints == firing[0].observed["quality_complaints"]
    assert firing[0].evidence.quality_complaints >= min_count
    assert firing[0].evidence.complaints_by_category["quality"] > 0


def test_high_refund_category_at_its_normal_rate_is_quiet() -> None:
    """Apparel refunded at 40% is normal for apparel: no alert, at several sizes."""
    s = Scenario(seed=6)
    for i, per_hour in enumerate((60, 200, 600)):
        scenarios.normal_anchor(s, f"apparel{i}", per_hour=per_hour, category="apparel",
                                refund_share=0.42)  # fmt: skip
    _, alerts = run(s.records())
    assert alerts == []


def test_small_anchor_with_two_of_two_refunded_is_quiet() -> None:
    s = Scenario(seed=7)
    orders = s.orders("tiny", 0, 10, 2)
    s.refunds(orders, 1.0, delay=(1, 5))
    _, alerts = run(s.records())
    assert alerts == []


def test_attack_is_told_apart_by_buyer_concentration() -> None:
    """An attack fires the same rule, but its evidence shows one order per buyer."""
    s = Scenario(seed=8)
    scenarios.attack(s, "victim")
    scenarios.brushing(s, "brusher")
    _, alerts = run(s.records())
    fired = {a.anchor_id: a for a in alerts if a.status.value == "firing"}
    assert set(fired) == {"victim", "brusher"}
    assert fired["victim"].evidence.orders_per_buyer is not None
    assert fired["victim"].evidence.orders_per_buyer < 1.2
    assert fired["brusher"].evidence.orders_per_buyer is not None
    assert fired["brusher"].evidence.orders_per_buyer > 2
    assert fired["victim"].evidence.refunded_before_shipment_share == 1.0


def _order_records(n: int, minute: float, anchor: str = "a") -> list[Record]:
    """Orders of their own (ids named by the minute: an order id seen twice is a redelivery)."""
    s = Scenario(seed=9)
    s.orders(anchor, minute, 1, n)
    records = s.records()
    for i, (_, value) in enumerate(records):
        value["order_id"] = f"{anchor}-o-{minute}-{i}"
    return records


def _refunded(state: AnchorState) -> int:
    return sum(t.refunds for b in state.buckets.values() for t in b.refunds.values())


def test_late_events_inside_grace_count_and_outside_are_skipped() -> None:
    """Grace is 5 minutes: an order 4 minutes behind counts, one 6 minutes behind is skipped."""
    now = _order_records(1, 60)
    inside = _order_records(1, 56)
    outside = _order_records(1, 54)
    after = _order_records(1, 63)  # time moves on, so the late order becomes visible
    for records, event_id in ((inside, "late-in"), (outside, "late-out"), (after, "after")):
        records[0][1]["event_id"] = event_id
    detector, _ = run([*now, *inside, *outside, *after])
    assert detector.stats.outcomes[("orders", "ok")] == 3
    assert detector.stats.outcomes[("orders", "late")] == 1
    state = detector.states.get("a")
    assert state is not None
    assert state.deferred == []
    assert sum(b.orders for b in state.buckets.values()) == 3


def test_duplicate_deliveries_count_once() -> None:
    s = Scenario(seed=10)
    orders = s.orders("a", 0, 10, 20)
    s.refunds(orders, 0.5)
    records = s.records()
    detector, _ = run(records + records[:15])
    state = detector.states.get("a")
    assert state is not None
    assert sum(b.orders for b in state.buckets.values()) == 20
    assert _refunded(state) == 10
    skipped = sum(n for (_, outcome), n in detector.stats.outcomes.items() if outcome != "ok")
    assert skipped == 15  # each redelivery is skipped: a duplicate, or late if it is that old
    assert detector.stats.outcomes[("orders", "duplicate")] > 0


def test_refund_before_its_order_is_attributed_when_the_order_comes() -> None:
    """Topics are read independently: a refund may overtake its order and still count."""
    s = Scenario(seed=11)
    orders = s.orders("a", 10, 1, 1)
    s.refunds(orders, 1.0, delay=(1, 2))
    order, refund = s.records()
    detector, _ = run([refund, order])
    state = detector.states.get("a")
    assert state is not None
    assert _refunded(state) == 1
    assert detector.stats.attribution["pending_then_order"] == 1


def test_unknown_orders_fall_back_or_go_unattributed() -> None:
    """A refund of an unknown order counts against its own anchor after the grace period, or as
    unattributed when it names no anchor."""
    s = Scenario(seed=12)
    ghost = s.orders("a", 0, 1, 2)  # these orders are never delivered
    s.refunds(ghost[:1], 1.0, delay=(1, 2))
    s.refunds(ghost[1:], 1.0, delay=(1, 2), with_anchor=False)
    refunds = [r for r in s.records() if r[0] == "refunds"]
    later = _order_records(1, 30)  # moves anchor a's time past the grace period
    later[0][1]["order_id"] = "another-order"
    detector, _ = run([*refunds, *later])
    assert detector.stats.attribution["fallback"] == 1
    assert detector.stats.attribution["unattributed"] == 1
    state = detector.states.get("a")
    assert state is not None
    assert sum(b.unmatched_refunds for b in state.buckets.values()) == 1
    assert _refunded(state) == 0


def test_restoring_state_between_events_changes_nothing() -> None:
    """State written and read back after every event (a restart at any point) gives the same
    alerts with the same ids."""
    s = Scenario(seed=13)
    scenarios.brushing(s, "brusher")
    scenarios.complaint_storm(s, "defective")
    records = s.records()
    _, expected = run(records)

    class Reloading(DictStates):
        def put(self, state: AnchorState) -> None:
            self.data[state.anchor_id] = AnchorState.from_dict(
                json.loads(json.dumps(state.to_dict()))
            )

    detector = build_detector(Settings(), DictOrders(), Reloading())
    got = list(replay_records(records, Settings(), detector=detector))
    assert [(a.alert_id, a.status) for a in got] == [(a.alert_id, a.status) for a in expected]
    assert len(expected) >= 3  # both episodes fired, the brushing one also resolved


def test_quiet_anchor_resolves_as_time_passes() -> None:
    """After a complaint storm the anchor has no more events; time passing still resolves it."""
    s = Scenario(seed=5)
    scenarios.complaint_storm(s, "defective")
    _, alerts = run(s.records())
    assert [a.status.value for a in alerts] == ["firing"]
    _, flushed = run(s.records(), flush=True)
    assert [(a.status.value, a.alert_id) for a in flushed] == [
        ("firing", alerts[0].alert_id),
        ("resolved", alerts[0].alert_id),
    ]
    assert flushed[1].window_end > flushed[0].window_end


def test_topic_interleaving_does_not_change_alerts() -> None:
    """Refunds read well ahead of orders (as a worker may read them) give the same alerts, as
    long as every boundary is evaluated only after all topics passed it."""
    s = Scenario(seed=14)
    scenarios.brushing(s, "brusher")
    scenarios.normal_anchor(s, "normal")
    records = s.records()
    expected = run_as_one_partition(records)
    settings = Settings()
    detector = build_detector(settings, DictOrders(), DictStates())
    chunk_ms = 20 * 60_000  # refunds run 20 event-minutes ahead of orders
    by_kind = {k: [v for kk, v in records if kk == k] for k in ("orders", "refunds", "complaints")}
    got: list[Alert] = []
    active: set[str] = set()
    orders_at = refunds_at = 0
    start = to_ms(datetime.fromisoformat(records[0][1]["placed_at"]))
    horizon = start
    while orders_at < len(by_kind["orders"]) or refunds_at < len(by_kind["refunds"]):
        horizon += chunk_ms
        while (
            refunds_at < len(by_kind["refunds"])
            and _ms(by_kind["refunds"][refunds_at]) < horizon + chunk_ms
        ):
            active.add(str(detector.apply(Refund.model_validate(by_kind["refunds"][refunds_at]))))
            refunds_at += 1
        while orders_at < len(by_kind["orders"]) and _ms(by_kind["orders"][orders_at]) < horizon:
            active.add(str(detector.apply(Order.model_validate(by_kind["orders"][orders_at]))))
            orders_at += 1
        got.extend(detector.advance_to(horizon, active - {"None"}))
    last = max(_ms(v) for _, v in records)
    got.extend(detector.advance_to(last, active - {"None"}))
    assert [(a.alert_id, a.status) for a in got] == [(a.alert_id, a.status) for a in expected]
    assert [a.observed for a in got] == [a.observed for a in expected]


def _ms(value: dict[str, object]) -> int:
    stamp = value.get("placed_at") or value.get("requested_at") or value.get("filed_at")
    return to_ms(datetime.fromisoformat(str(stamp)))


def test_an_out_of_order_event_counts_from_the_boundary_after_it_arrived() -> None:
    """Arriving when its topic had reached minute 60, an order of minute 56 is invisible to
    the boundary at 60 (evaluated as if it had not come yet) and counted from 61 on."""
    detector = build_detector(Settings(), DictOrders(), DictStates())
    first, late = _order_records(1, 60), _order_records(1, 56)
    late[0][1]["event_id"] = "late"
    t60 = _ms(first[0][1])
    detector.apply(Order.model_validate(first[0][1]), t60)
    detector.apply(Order.model_validate(late[0][1]), t60)
    state = detector.states.get("a")
    assert state is not None and len(state.deferred) == 1
    detector.advance_to(t60, {"a"})
    assert sum(b.orders for start, b in state.buckets.items() if start < t60) == 0
    detector.advance_to(t60 + 60_000, {"a"})
    assert state.deferred == []
    assert sum(b.orders for start, b in state.buckets.items() if start < t60) == 1


def test_an_order_a_month_older_than_its_anchors_other_events_costs_a_few_evaluations() -> None:
    """An anchor's first order is from 30 days ago (its partition's first record, so nothing
    says it is old), then today's orders, one of them out of order and held for the next
    boundary: the empty month between is skipped, not walked a minute at a time (43,000
    evaluations before, while the held order waited)."""
    detector = build_detector(Settings(), DictOrders(), DictStates())
    old, now, earlier = (_order_records(1, m) for m in (60 - 30 * 24 * 60, 60, 59))
    old[0][1]["event_id"], earlier[0][1]["event_id"] = "old", "earlier"
    t = _ms(now[0][1])
    detector.apply(Order.model_validate(old[0][1]), _ms(old[0][1]))
    detector.apply(Order.model_validate(now[0][1]), t)
    detector.apply(Order.model_validate(earlier[0][1]), t)  # behind its topic: held
    state = detector.states.get("a")
    assert state is not None and len(state.deferred) == 1
    detector.advance_to(t + 3 * 60_000, {"a"})
    assert detector.stats.evaluations < 200  # the old order's hour, then today's minutes
    assert state.deferred == []
    assert sum(b.orders for b in state.buckets.values()) == 2


def test_an_episode_resolves_when_orders_fall_below_the_minimum() -> None:
    """The resolved alert of an anchor that stopped selling still carries figures and evidence."""
    s = Scenario(seed=15)
    orders = s.orders("brief", 0, 10, 60, buyers=5)
    s.refunds(orders, 0.9, delay=(1, 8))
    scenarios.normal_anchor(s, "clock", hours=4)  # keeps time moving on the anchor's partition
    _, alerts = run(s.records(), flush=True)
    spike = "refund_after_order_spike"
    brief = [a for a in alerts if a.anchor_id == "brief" and a.rule.value == spike]
    assert brief[0].status.value == "firing"
    assert brief[-1].status.value == "resolved"
    assert len({a.alert_id for a in brief}) == 1
    assert brief[-1].evidence.window == "short+long"
    assert brief[-1].observed["orders"] < load_rules().refund_after_order_spike.min_orders_long


def test_an_anchor_first_read_through_a_later_event_is_evaluated_from_its_earliest() -> None:
    """A worker catching up may read an anchor's complaint from hours later before its orders
    (the topics are read independently): the alerts are those of reading in time order."""
    s = Scenario(seed=16)
    scenarios.brushing(s, "brusher")
    scenarios.normal_anchor(s, "normal")
    s.complaints("brusher", 170, 1, 1, category="other")
    records = s.records()
    expected = run_as_one_partition(records)
    assert any(a.anchor_id == "brusher" for a in expected)

    detector = build_detector(Settings(), DictOrders(), DictStates())
    complaint = next(v for k, v in records if k == "complaints")
    detector.apply(Complaint.model_validate(complaint), _ms(complaint))  # read first
    active = {"brusher"}
    got: list[Alert] = []
    reached = {"orders": 0, "refunds": 0}
    for kind, value in records:
        if kind == "complaints":
            continue
        event = Order.model_validate(value) if kind == "orders" else Refund.model_validate(value)
        reached[kind] = max(reached[kind], _ms(value))
        active.add(str(detector.apply(event, reached[kind])))
        # The complaints topic is caught up; time is where the slower of the others is.
        got.extend(detector.advance_to(min(reached.values()), active - {"None"}))
    got.extend(detector.advance_to(max(_ms(v) for _, v in records), active - {"None"}))
    assert [(a.alert_id, a.status) for a in got] == [(a.alert_id, a.status) for a in expected]
    assert [a.observed for a in got] == [a.observed for a in expected]


def test_an_evaluated_anchor_does_not_move_its_start_back() -> None:
    """Once a boundary has been evaluated an earlier event cannot reopen it: it is counted in
    its bucket, and evaluation goes on from where it was."""
    detector = build_detector(Settings(), DictOrders(), DictStates())
    s = Scenario(seed=17)
    s.orders("a", 30, 1, 1)
    s.complaints("a", 10, 1, 1)
    s.complaints("a", 12, 1, 1)
    order, first, second = (v for _, v in sorted(s.records(), key=lambda r: r[0] != "orders"))
    detector.apply(Order.model_validate(order), _ms(order))
    state = detector.states.get("a")
    assert state is not None and not state.evaluated
    detector.apply(Complaint.model_validate(first), _ms(first))
    assert state.evaluated_to_ms == _ms(first)  # minute 10, a boundary
    detector.advance_to(_ms(order) + 60_000, {"a"})
    assert state.evaluated and state.evaluated_to_ms == _ms(order) + 60_000
    detector.apply(Complaint.model_validate(second), _ms(second))
    assert state.evaluated_to_ms == _ms(order) + 60_000
    assert sum(sum(b.complaints.values()) for b in state.buckets.values()) == 2


def test_events_held_for_a_boundary_are_capped_and_the_excess_counted() -> None:
    """A backlog where one topic runs far ahead cannot grow an anchor's record without bound:
    past `MAX_DEFERRED` held events, more are dropped and counted; each is looked up by id
    once (a redelivery of a held one is a duplicate)."""
    detector = build_detector(Settings(), DictOrders(), DictStates())
    ahead = _order_records(1, 60)
    t60 = _ms(ahead[0][1])
    detector.apply(Order.model_validate(ahead[0][1]), t60)
    behind = _order_records(MAX_DEFERRED + 7, 59)
    for _, value in behind:
        detector.apply(Order.model_validate(value), t60)
    state = detector.states.get("a")
    assert state is not None and len(state.deferred) == MAX_DEFERRED
    assert detector.stats.dropped["deferred"] == 7
    detector.apply(Order.model_validate(behind[0][1]), t60)
    assert detector.stats.outcomes[("orders", "duplicate")] == 1


def test_complaint_ids_kept_for_deduplication_are_capped() -> None:
    """A complaint storm on one anchor keeps at most `MAX_COMPLAINT_IDS` ids, forgetting the
    oldest (counted), so its record stays bounded."""
    s = Scenario(seed=4)
    s.complaints("a", 0, 30, MAX_COMPLAINT_IDS + 50)
    detector = build_detector(Settings(), DictOrders(), DictStates())
    for _, value in s.records():
        complaint = Complaint.model_validate(value)
        detector.apply(complaint, _ms(value))
    state = detector.states.get("a")
    assert state is not None and len(state.recent_ids["complaints"]) == MAX_COMPLAINT_IDS
    assert detector.stats.dropped["complaint_ids"] == 50


def _walk(calls: list[int], orders: list[list[Record]]) -> tuple[Detector, AnchorState]:
    detector = build_detector(Settings(), DictOrders(), DictStates())
    for records in orders:
        for _, value in records:
            detector.apply(Order.model_validate(value), _ms(value))
    for safe in calls:
        detector.advance_to(safe, {"a"})
    state = detector.states.get("a")
    assert state is not None
    return detector, state


def test_an_anchor_no_rule_can_cross_for_is_walked_only_where_something_changes() -> None:
    """Five orders hold too few for any rule: the anchor is judged where the pace learns a
    bucket and where a bucket folds, not at each of the 120 minutes, and the same boundaries
    whether the time comes in one call or a minute at a time. Its orders still fold into its
    history on time."""
    orders = [_order_records(1, m) for m in (1, 2, 3, 5, 8)]
    t0 = _ms(orders[0][0][1])
    end = t0 + 2 * 3_600_000
    once, state = _walk([end], orders)
    minutes, state_by_minute = _walk(list(range(t0 + 60_000, end + 1, 60_000)), orders)
    assert 0 < once.stats.evaluations < 20
    assert minutes.stats.evaluations == once.stats.evaluations
    assert state.buckets == {} and state.hist_orders == state_by_minute.hist_orders > 0
    assert state.paced_to_ms == state_by_minute.paced_to_ms


def test_an_anchor_some_rule_could_cross_for_is_walked_every_minute() -> None:
    """Two orders a minute: from the boundary that sees 25 orders (order concentration's
    least, at minute 13), every boundary of the hour is judged; none before it."""
    orders = [_order_records(2, m) for m in range(40)]
    t0 = _ms(orders[0][0][1])
    detector, _ = _walk([t0 + 60 * 60_000], orders)
    concentration = load_rules().order_concentration
    assert concentration is not None and concentration.min_orders == 25
    assert detector.stats.evaluations == 60 - 13 + 1


@pytest.mark.parametrize("kind", ["live", "shadow"])
def test_a_rule_set_that_lowers_a_floor_is_judged_from_its_boundary(kind: Kind) -> None:
    """Twenty orders are below order concentration's 25 under the rules file, so the anchor is
    skipped; a set published (live, or shadow beside the file) to take effect at minute 30
    asks for 10, and from that boundary every minute is judged, as the rule could now cross."""
    orders = [_order_records(2, m) for m in range(10)]
    t0 = _ms(orders[0][0][1])
    base = load_rules()
    concentration = base.order_concentration
    assert concentration is not None
    lower = base.model_copy(
        update={"order_concentration": concentration.model_copy(update={"min_orders": 10})}
    )
    book = RuleBook(base)
    change = t0 - t0 % 60_000 + 30 * 60_000
    book.add(RuleSet(1, kind, change, lower, None))
    assert book.next_change(t0) == change and book.next_change(change) is None
    detector = build_detector(Settings(), DictOrders(), DictStates(), book=book)
    for records in orders:
        for _, value in records:
            detector.apply(Order.model_validate(value), _ms(value))
    detector.advance_to(change + 10 * 60_000, {"a"})
    assert detector.stats.evaluations == 11  # minutes 30 to 40
    before = build_detector(Settings(), DictOrders(), DictStates())
    for records in orders:
        for _, value in records:
            before.apply(Order.model_validate(value), _ms(value))
    before.advance_to(change + 10 * 60_000, {"a"})
    assert before.stats.evaluations < 11  # where the pace learns and the buckets fold


def test_a_bucket_older_than_the_rest_still_folds_when_the_long_window_leaves_it() -> None:
    """A boundary remembers where the oldest bucket starts, so the next ones need not look
    for it (`AnchorState.low_ms`). A bucket made older than that afterwards (an out-of-order
    order, counted at the boundary after it arrived) folds when the long window leaves it all
    the same, and so do the buckets of a state read back from its records, which remembers
    nothing of them."""
    long_ms, step = Settings().long_window_s * 1000, 60_000
    detector = build_detector(Settings(), DictOrders(), DictStates())
    first, late = _order_records(30, 60), _order_records(1, 57)
    late[0][1]["event_id"] = "late"
    t60, t57 = _ms(first[-1][1]), _ms(late[0][1])
    b60, b57 = t60 - t60 % step, t57 - t57 % step
    for _, value in first:  # enough orders for a rule to cross: walked at every boundary
        detector.apply(Order.model_validate(value), t60)
    detector.advance_to(t60 + step, {"a"})
    state = detector.states.get("a")
    assert state is not None and set(state.buckets) == {b60} and state.low_ms == b60
    detector.apply(Order.model_validate(late[0][1]), t60 + step)  # behind its topic: held
    assert len(state.deferred) == 1
    detector.advance_to(t60 + 2 * step, {"a"})
    assert set(state.buckets) == {b57, b60} and state.low_ms == b57
    read_back = AnchorState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert read_back.low_ms == NO_LOWER_BOUND
    again = build_detector(Settings(), DictOrders(), DictStates())
    again.states.put(read_back)
    for each in (detector, again):
        each.advance_to(b57 + long_ms, {"a"})
    assert set(state.buckets) == set(read_back.buckets) == {b57, b60}
    for each in (detector, again):
        each.advance_to(b57 + long_ms + step, {"a"})
    assert set(state.buckets) == set(read_back.buckets) == {b60}
    assert state.hist_orders == read_back.hist_orders == 1
