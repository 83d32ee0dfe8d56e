"""Rule verdicts: the refund rule's burst path, against the same events without it."""

from __future__ import annotations

import pytest

from schemas import Alert
from streams.core.rules import RefundBurst, Rules, load_rules
from streams.pipeline import build_detector
from streams.replay import replay_records
from streams.settings import Settings
from streams.stores import DictOrders, DictStates
from tests.scenarios import Record, Scenario


def _with_burst(burst: RefundBurst | None) -> Rules:
    rules = load_rules()
    spike = rules.refund_after_order_spike.model_copy(update={"burst": burst})
    return rules.model_copy(update={"refund_after_order_spike": spike})


def _firing(records: list[Record], rules: Rules) -> list[Alert]:
    settings = Settings()
    detector = build_detector(settings, DictOrders(), DictStates(), rules)
    alerts = replay_records(records, settings, detector=detector, flush=True)
    return [a for a in alerts if a.status.value == "firing"]


def _apparel_burst(seed: int = 7) -> list[Record]:
    """A busy apparel anchor (300 orders an hour, a quarter refunded within the hour), then 120
    orders in eight minutes from six buyers, 90% refunded within minutes: the hour around the
    burst dilutes it below apparel's threshold."""
    s = Scenario(seed=seed)
    normal = s.orders("busy", 0, 120, 600, category="apparel")
    s.refunds(normal, 0.25, delay=(3, 55))
    burst = s.orders("busy", 60, 8, 120, buyers=6, category="apparel", session="busy-s2")
    s.refunds(burst, 0.9, delay=(1, 6), reason="other")
    return s.records()


def test_burst_path_catches_a_burst_the_hour_dilutes() -> None:
    records = _apparel_burst()
    assert _firing(records, _with_burst(None)) == []
    (fired,) = _firing(records, load_rules())
    assert fired.evidence.window == "burst+long"
    assert fired.session_id == "busy-s2"
    assert fired.observed["burst_orders"] >= 20
    threshold = fired.threshold["refund_rate_lower_bound"]
    assert fired.observed["burst_refund_rate_lower_bound"] >= threshold
    assert fired.observed["refund_rate_lower_bound"] < threshold  # the hour alone: not yet
    assert fired.observed["refund_rate_lower_bound"] >= 0.75 * threshold


@pytest.mark.parametrize(
    "burst",
    [
        RefundBurst(min_orders=1000),  # no five-minute window has that many orders
        RefundBurst(long_ratio=1.0),  # the long window must cross by itself
    ],
)
def test_burst_path_holds_back_without_each_condition(burst: RefundBurst) -> None:
    assert _firing(_apparel_burst(), _with_burst(burst)) == []


def test_normal_apparel_anchors_stay_quiet_with_the_burst_path() -> None:
    s = Scenario(seed=8)
    for i in range(20):
        orders = s.orders(f"n{i}", 0, 180, 150 + 30 * i, category="apparel")
        s.refunds(orders, 0.25, delay=(1, 55))
    assert _firing(s.records(), load_rules()) == []
