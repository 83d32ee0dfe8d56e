"""Anchor state survives the JSON round trip the Faust table puts it through."""

from __future__ import annotations

import json

from streams.core.state import AnchorState, Bucket, Episode, PendingRefund, Refunded


def test_state_round_trips_through_json() -> None:
    state = AnchorState("a-1", evaluated_to_ms=120_000, topic_watermarks={"orders": 120_000})
    state.buckets[60_000] = Bucket(
        orders=2, order_amount=3.5, buyers={"b": 2}, sessions={"s": 2}, categories={"food": 2},
        sample_orders=["o1"], refunded={"o1": Refunded(False, 90_000, "other", 1.5)},
        unmatched_refunds=1, complaints={"quality": 1},
    )  # fmt: skip
    state.hist_orders, state.hist_refunds, state.hist_ms = 10.5, 1.25, 60_000
    state.order_hours[0] = 2
    state.recent_ids["orders"] = {"e1": 60_000}
    state.pending["o9"] = PendingRefund("e9", None, 100_000, 2.0, "quality", True)
    state.episodes["quality_complaints"] = Episode("id", 60_000, calm_since_ms=90_000)
    again = AnchorState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
