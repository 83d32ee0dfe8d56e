"""The simulator: reproducible, valid events, labelled scenarios, realistic delivery."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from schemas import TOPIC_MODELS
from streams.devtools.sim.generator import RING_SIZES, SHAPES, SimConfig, Simulation


def test_same_seed_same_events_and_labels() -> None:
    a, b = (
        Simulation(SimConfig(seed=7, anchors=40, hours=4)),
        Simulation(SimConfig(seed=7, anchors=40, hours=4)),
    )
    assert list(a.events()) == list(b.events())
    assert a.truth() == b.truth()
    c = Simulation(SimConfig(seed=8, anchors=40, hours=4))
    assert list(c.events()) != list(a.events())


def test_every_event_is_valid_and_every_scenario_is_labelled() -> None:
    sim = Simulation(SimConfig(seed=3, anchors=150, hours=8))
    events = list(sim.events())
    for kind, value in events:
        TOPIC_MODELS[kind].model_validate(value)
    kinds = Counter(kind for kind, _ in events)
    assert kinds["orders"] > kinds["refunds"] > kinds["complaints"] > 0
    scenarios = Counter(label.scenario for label in sim.truth().labels)
    assert {"brushing", "attack", "complaint_storm", "high_refund_category"} <= set(scenarios)
    controls = [lab for lab in sim.truth().labels if lab.scenario == "high_refund_category"]
    assert controls and not any(lab.expect_alert for lab in controls)


def test_late_and_duplicate_deliveries() -> None:
    """About 2% of events come late (some past the grace period), 1% twice."""
    sim = Simulation(SimConfig(seed=4, anchors=100, hours=6, scenarios=("late", "duplicates")))
    ids = Counter(value["event_id"] for _, value in sim.events())
    duplicated = sum(1 for n in ids.values() if n > 1)
    assert 0.005 < duplicated / len(ids) < 0.02
    late = [ev for ev in sim.buffer if ev.deliver - ev.time > 300]
    inside = [ev for ev in sim.buffer if 0 < ev.deliver - ev.time <= 240 and ev.seq]
    assert late and inside
    assert all(a.deliver <= b.deliver for a, b in zip(sim.buffer, sim.buffer[1:], strict=False))


def test_apparel_refunds_more_than_electronics() -> None:
    sim = Simulation(SimConfig(seed=5, anchors=300, hours=8, scenarios=("normal",)))
    category = {a.anchor_id: a.category for a in sim.anchors}
    orders: Counter[str] = Counter()
    refunds: Counter[str] = Counter()
    for kind, value in sim.events():
        cat = category[value["anchor_id"]]
        if kind == "orders":
            orders[cat] += 1
        elif kind == "refunds":
            refunds[cat] += 1
    assert (
        refunds["apparel"] / orders["apparel"] > 2 * refunds["electronics"] / orders["electronics"]
    )


def _delays_min(sim: Simulation) -> tuple[list[float], list[float]]:
    """Minutes from order to refund: of fake (ring or fresh-buyer) orders, and of normal ones."""
    orders = {v["order_id"]: v for k, v in sim.events() if k == "orders"}
    fake, normal = [], []
    for kind, value in sim.events():
        if kind != "refunds":
            continue
        order = orders[value["order_id"]]
        minutes = (
            datetime.fromisoformat(value["requested_at"])
            - datetime.fromisoformat(order["placed_at"])
        ).total_seconds() / 60
        if "-ring-" in order["buyer_id"] or order["buyer_id"].startswith("fresh-"):
            fake.append(minutes)
        else:
            normal.append(minutes)
    return fake, normal


@pytest.mark.parametrize(
    ("profile", "fake_range", "normal_from"),
    [("minutes", (1, 31), 3), ("tens", (10, 45), 20), ("slow", (20, 90), 30)],
)
def test_refund_delay_profiles(
    profile: str, fake_range: tuple[float, float], normal_from: float
) -> None:
    """Normal refunds also come hours later (returns after delivery) in every profile."""
    sim = Simulation(SimConfig(seed=4, anchors=60, hours=6, refund_delay=profile))
    fake, normal = _delays_min(sim)
    assert fake and normal
    assert fake_range[0] <= min(fake) and max(fake) <= fake_range[1]
    assert min(normal) >= normal_from
    for label in sim.truth().labels:
        if label.rule == "refund_after_order_spike":
            assert label.orders_start is not None and label.orders_start < label.start


def test_mixed_profile_draws_each_burst_its_own() -> None:
    fake, _ = _delays_min(Simulation(SimConfig(seed=4, anchors=200, hours=8, refund_delay="mixed")))
    assert min(fake) < 10 and max(fake) > 45


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="refund_delay must be one of"):
        SimConfig(refund_delay="weeks")


def _fake_orders(sim: Simulation) -> int:
    return sum(
        1
        for kind, value in sim.events()
        if kind == "orders"
        and ("-ring-" in value["buyer_id"] or value["buyer_id"].startswith("fresh-"))
    )


def test_burst_scale_shrinks_the_rings_and_attacks() -> None:
    usual = Simulation(SimConfig(seed=5, anchors=150, hours=8))
    half = Simulation(SimConfig(seed=5, anchors=150, hours=8, burst_scale=0.5))
    assert list(Simulation(SimConfig(seed=5, anchors=150, hours=8, burst_scale=1.0)).events()) == (
        list(usual.events())
    )
    assert 0.35 < _fake_orders(half) / _fake_orders(usual) < 0.65
    with pytest.raises(ValueError, match="burst_scale must be above 0"):
        SimConfig(burst_scale=0)


def test_the_sales_day_shapes_label_rings_by_size_and_keep_flash_sales_as_controls() -> None:
    rings = Simulation(SimConfig(seed=2, anchors=200, hours=8, scenarios=SHAPES["rings"]))
    labels = rings.truth().labels
    sizes = Counter(lab.size for lab in labels if lab.scenario == "ring")
    assert set(sizes) == set(RING_SIZES)  # each size, for both rules
    assert all(n % 2 == 0 for n in sizes.values())
    flash = [lab for lab in labels if lab.scenario == "flash_sale"]
    assert flash and not any(lab.expect_alert for lab in flash)
    busy = {lab.anchor_id for lab in labels if lab.scenario == "ring"}
    assert all(a.orders_per_hour >= 300 for a in rings.anchors if a.anchor_id in busy)
    buyers = Counter(
        v["buyer_id"]
        for kind, v in rings.events()
        if kind == "orders" and "-ring-" in v["buyer_id"]
    )
    assert buyers and 8 <= sum(buyers.values()) / len(buyers) <= 12  # about ten orders each
    assert any("-regular-" in v["buyer_id"] for kind, v in rings.events() if kind == "orders")


def test_fresh_attacks_claim_bad_quality_from_one_order_a_buyer() -> None:
    sim = Simulation(SimConfig(seed=3, anchors=200, hours=8, scenarios=("fresh_attack",)))
    attacked = {lab.anchor_id for lab in sim.truth().labels}
    assert attacked and {lab.scenario for lab in sim.truth().labels} == {"fresh_attack"}
    fresh = [v for k, v in sim.events() if k == "orders" and v["buyer_id"].startswith("fresh-")]
    assert len({v["buyer_id"] for v in fresh}) == len(fresh)
    ids = {v["order_id"] for v in fresh}
    reasons = Counter(
        v["reason"] for k, v in sim.events() if k == "refunds" and v["order_id"] in ids
    )
    assert set(reasons) == {"quality", "not_as_described"}


def test_impulse_cancellations_put_a_third_of_normal_refunds_within_minutes() -> None:
    def within_five_minutes(scenarios: tuple[str, ...]) -> float:
        sim = Simulation(SimConfig(seed=4, anchors=150, hours=8, scenarios=scenarios))
        placed = {v["order_id"]: v["placed_at"] for k, v in sim.events() if k == "orders"}
        delays = [
            (
                datetime.fromisoformat(v["requested_at"])
                - datetime.fromisoformat(placed[v["order_id"]])
            ).total_seconds()
            for k, v in sim.events()
            if k == "refunds" and v["order_id"] in placed
        ]
        in_hour = [d for d in delays if d < 3600]
        return sum(d <= 300 for d in in_hour) / len(in_hour)

    assert within_five_minutes(("normal",)) < 0.05
    assert 0.25 < within_five_minutes(("impulse_cancel",)) < 0.45


def test_the_mix_draws_nothing_for_the_new_shapes() -> None:
    """Adding shapes must not move the mix the docs' figures were measured on."""
    sim = Simulation(SimConfig(seed=1, anchors=60, hours=4))
    kinds = {lab.scenario for lab in sim.truth().labels}
    assert not kinds & {"ring", "fresh_attack", "flash_sale"}
    assert not any("-regular-" in v["buyer_id"] for k, v in sim.events() if k == "orders")
