"""The worker's read-only views, on state built by the detection core (no Kafka)."""

from __future__ import annotations

from streams.core.dict_stores import DictOrders, DictStates
from streams.core.evaluate import refund_threshold
from streams.core.rates import wilson_lower_bound
from streams.core.state import AnchorState
from streams.core.windows import totals
from streams.pipeline import build_detector
from streams.replay import replay_records
from streams.settings import Settings
from streams.worker.web import anchor_minutes
from tests import scenarios
from tests.scenarios import Scenario


def test_anchor_minutes_add_up_to_the_long_window() -> None:
    s = Scenario(seed=4)
    scenarios.brushing(s, "brusher")
    scenarios.normal_anchor(s, "calm", per_hour=90)
    settings = Settings()
    detector = build_detector(settings, DictOrders(), DictStates())
    list(replay_records(s.records(), settings, detector=detector))
    state = detector.states.get("brusher")
    assert state is not None and state.evaluated_to_ms is not None
    end, w = state.evaluated_to_ms, detector.config.windows
    rule = detector.rules.refund_after_order_spike

    view = anchor_minutes(state, w, rule)

    steps = view["steps"]
    assert len(steps) == w.long_ms // w.step_ms
    assert steps[-1]["start"] < view["evaluated_to"]
    orders, refunded, complaints = totals(state, end, w.long_ms, w.step_ms)
    assert sum(step["orders"] for step in steps) == orders > 0
    assert sum(step["refunds_by_order_time"] for step in steps) == refunded > 0
    assert sum(step["complaints"] for step in steps) == complaints
    # Refunds by request time count those of older orders too, never fewer than the window's
    # own orders' refunds that were requested inside it.
    assert sum(step["refunds_by_request_time"] for step in steps) >= 1
    last = steps[-1]
    assert last["long_refund_rate"] == round(refunded / orders, 4)
    assert last["long_refund_rate_lower_bound"] == round(
        wilson_lower_bound(refunded, orders, rule.z), 4
    )
    bar = refund_threshold(state, end, w, rule)
    assert view["refund_threshold"] == round(bar.rate, 4)
    assert rule.min_rate <= view["refund_threshold"] <= 1
    assert view["baseline_refund_rate"] == round(bar.baseline, 4)


def test_anchor_minutes_before_any_boundary_are_empty() -> None:
    detector = build_detector(Settings(), DictOrders(), DictStates())
    rule = detector.rules.refund_after_order_spike
    view = anchor_minutes(AnchorState("new"), detector.config.windows, rule)
    assert view == {"anchor_id": "new", "evaluated_to": None, "steps": []}
