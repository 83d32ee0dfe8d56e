"""Anchor state survives the JSON round trip the Faust table puts it through, in bounded size."""

from __future__ import annotations

import json

import pytest

from streams.core.state import (
    NO_LOWER_BOUND,
    AnchorState,
    Bucket,
    Episode,
    RefundTally,
    StateVersionError,
)


def test_state_round_trips_through_json() -> None:
    state = AnchorState("a-1", evaluated_to_ms=120_000, topic_watermarks={"orders": 120_000})
    bucket = state.buckets[60_000] = Bucket(orders=2, order_amount=3.5, categories={"food": 2},
                                            sample_orders=["o1"], unmatched_refunds=1,
                                            complaints={"quality": 1})  # fmt: skip
    for buyer in ("b", "b"):
        bucket.add_buyer(buyer)
    bucket.add_session("s")
    bucket.refunds[60_000] = RefundTally()
    bucket.refunds[60_000].add("o1", False, 1.5, "other")
    state.hist_orders, state.hist_refunds, state.hist_ms = 10.5, 1.25, 60_000
    state.hist_early = 0.5
    state.hist_repeat = {300: [120.0, 0.5], 600: [240.0, 2.0]}
    state.order_hours[0] = 2
    state.recent_ids["complaints"] = {"e1": 60_000}
    state.waiting[60_000] = 2
    state.episodes["quality_complaints"] = Episode("id", 60_000, calm_since_ms=90_000)
    again = AnchorState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state


def test_a_state_from_before_the_early_history_learns_it_from_now() -> None:
    head = AnchorState("a-1", hist_early=3.0).head_dict()
    del head["he"]
    assert AnchorState.from_head(head, {}).hist_early == 0.0


def test_repeat_buying_learned_in_one_window_reads_as_the_ten_minutes() -> None:
    head = AnchorState("a-1").head_dict()
    del head["hrw"]
    head |= {"hro": 500.0, "hrb": 1.5}  # before several window lengths were counted
    assert AnchorState.from_head(head, {}).hist_repeat == {600: [500.0, 1.5]}
    del head["hro"], head["hrb"]
    assert AnchorState.from_head(head, {}).hist_repeat == {}


def test_a_state_of_another_format_is_refused_with_what_to_do() -> None:
    head = AnchorState("a-1").head_dict() | {"v": 1}
    with pytest.raises(StateVersionError, match="new LIVEWATCH_APP_ID"):
        AnchorState.from_head(head, {})


def test_a_bucket_stays_small_however_many_buyers_and_refunds() -> None:
    """20,000 orders from 20,000 buyers in one minute, 5% refunded across the hour: the bucket's
    record stays a few KiB, and its figures stay close to the truth."""
    b = Bucket()
    for i in range(20_000):
        b.orders += 1
        b.add_buyer(f"buyer-{i % 19_000}")
        b.add_session("s-1" if i % 10 else "s-2")
        if i % 20 == 0:
            step = 60_000 * (1 + i % 60)
            b.refunds.setdefault(step, RefundTally()).add(f"o-{i}", False, 9.9, "other")
    size = len(json.dumps(b.to_dict()))
    assert size < 16 * 1024, size
    assert b.refunded_before(61 * 60_000) == 1_000
    assert b.buyers.approximate
    assert b.sessions.counts == {"s-1": 18_000, "s-2": 2_000}  # few sessions: exact


def test_firing_asks_one_rule_whether_its_episode_is_open() -> None:
    state = AnchorState("a")
    assert not state.firing("order_concentration")
    state.episodes["order_concentration"] = Episode("x", 0)
    assert state.firing("order_concentration")
    assert not state.firing("refund_after_order_spike")
    state.episodes["order_concentration"] = Episode("x", 0, status="resolved", ended_ms=1)
    assert not state.firing("order_concentration")


def test_refunds_remember_whose_order_and_claims_round_trip() -> None:
    from streams.core.attribution import OrderRef
    from streams.core.state import RefundTally

    tally = RefundTally()
    tally.add("o-1", False, 9.9, "quality", buyer=7)
    tally.add("o-2", True, 9.9, "quality", buyer=7)
    tally.add("o-3", False, 9.9, "changed_mind")
    assert (tally.buyers, tally.claims) == ({7: 2}, 1)  # a shipped claim is not one
    assert RefundTally.from_dict(json.loads(json.dumps(tally.to_dict()))) == tally
    old = {k: v for k, v in tally.to_dict().items() if k not in ("b", "q")}
    assert (RefundTally.from_dict(old).buyers, RefundTally.from_dict(old).claims) == ({}, 0)
    ref = OrderRef("a", "s", 0, "food", buyer=2**63 + 5)
    assert OrderRef.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref
    assert OrderRef.from_dict({"a": "a", "s": "s", "t": 0, "c": "food"}).buyer is None


def test_a_bucket_made_before_every_other_lowers_the_bound_on_their_starts() -> None:
    """`low_ms` stays at or before every bucket's start (the fold check trusts it); a state
    read back knows no bound until a boundary finds one."""
    state = AnchorState("a-1")
    assert state.low_ms == NO_LOWER_BOUND
    state.low_ms = 120_000  # as a boundary that found the oldest bucket leaves it
    state.bucket(180_000)
    assert state.low_ms == 120_000
    state.bucket(60_000)
    assert state.low_ms == 60_000
    assert AnchorState.from_dict(state.to_dict()).low_ms == NO_LOWER_BOUND
