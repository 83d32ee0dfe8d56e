"""Repeat buyers: a small ring on a busy anchor is found by its buyers, not the anchor's
average, while regulars' carts and flash sales stay quiet."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from schemas import Alert
from streams.core.dict_stores import DictOrders, DictStates
from streams.core.repeat_buyers import (
    RepeatCount,
    count_repeat_buyers,
    judge_repeat,
    judge_windows,
    normal_rate,
    window_chance,
)
from streams.core.rules import RepeatBuyers, Rules, load_rules
from streams.core.state import AnchorState
from streams.core.windows import buyers_of
from streams.pipeline import build_detector
from streams.replay import replay_records
from streams.settings import Settings
from tests.scenarios import Record, Scenario, at

MINUTE_MS = 60_000


def _firing(records: list[Record], rules: Rules) -> list[Alert]:
    settings = Settings()
    detector = build_detector(settings, DictOrders(), DictStates(), rules)
    alerts = replay_records(records, settings, detector=detector, flush=True)
    return [a for a in alerts if a.status.value == "firing"]


def _without_repeat() -> Rules:
    rules = load_rules()
    assert rules.order_concentration is not None
    rule = rules.order_concentration.model_copy(update={"repeat_buyers": None})
    return rules.model_copy(update={"order_concentration": rule})


def _small_ring(seed: int = 3) -> list[Record]:
    """A busy anchor (600 orders an hour for three hours), and 40 orders from four buyers over
    twelve minutes two hours in: a tenth of the orders of those minutes."""
    s = Scenario(seed=seed)
    s.orders("busy", 0, 180, 1800)
    s.orders("busy", 120, 12, 40, buyers=4, session="busy-s2")
    return s.records()


def test_a_small_ring_on_a_busy_anchor_is_found_by_its_repeat_buyers() -> None:
    records = _small_ring()
    assert _firing(records, _without_repeat()) == []  # the anchor's average hides it
    (fired,) = _firing(records, load_rules())
    assert fired.rule.value == "order_concentration"
    assert fired.evidence.window == "repeat_buyers"
    assert fired.observed["repeat_buyers"] >= 3
    assert fired.observed["orders_per_buyer"] < 1.5
    assert fired.window_end <= datetime.fromisoformat(at(128))  # eight minutes in: 4 orders a buyer
    hashes = fired.evidence.repeat_buyer_hashes  # type: ignore[attr-defined]
    assert hashes and all("busy-b" not in h for h in hashes)  # hashes, never ids


def test_regulars_carts_in_a_flash_sale_stay_quiet() -> None:
    """Six regulars each buying a cart of four orders within a minute, three times an hour,
    on an anchor whose ten-minute flash sale takes eight times its order rate."""
    s = Scenario(seed=5)
    s.orders("shop", 0, 120, 400)
    s.orders("shop", 60, 10, 530)  # the flash sale
    for r in range(6):
        for start in (10 + r, 30 + r, 58 + r, 62 + r, 90 + r):
            s.orders("shop", start, 0.5, 4, buyer=f"regular-{r}")
    assert _firing(s.records(), load_rules()) == []


def _state_with(orders_by_minute: dict[int, dict[int, int]]) -> AnchorState:
    """An anchor whose buckets hold these orders: minute -> buyer hash -> orders."""
    state = AnchorState("a")
    for minute, buyers in orders_by_minute.items():
        bucket = state.bucket(minute * MINUTE_MS)
        for h, n in buyers.items():
            for _ in range(n):
                bucket.orders += 1
                bucket.buyers.add(h, h, 64, 32)
    return state


def test_a_cart_is_one_minute_and_a_ring_buyer_many() -> None:
    state = _state_with({0: {1: 4, 2: 1}, 3: {2: 1}, 6: {2: 2}, 9: {3: 1}})
    counts = count_repeat_buyers(state, 10 * MINUTE_MS, [10 * MINUTE_MS], MINUTE_MS, 3)
    count = counts[10 * MINUTE_MS]
    assert (count.orders, count.buyers, count.buyer_orders) == (9, 1, 4)
    assert count.sample == (f"{2:016x}",)


def test_each_window_length_is_counted_in_one_pass() -> None:
    """The last 5 minutes of 10 hold buyer 2's orders of minutes 5 to 7 only: a repeat buyer
    of the 5 needs three of its minutes."""
    state = _state_with({0: {1: 1}, 5: {2: 1}, 6: {2: 1}, 7: {2: 1}, 8: {1: 1}, 9: {1: 1}})
    five, ten = 5 * MINUTE_MS, 10 * MINUTE_MS
    counts = count_repeat_buyers(state, ten, [ten, five, five], MINUTE_MS, 3)
    assert list(counts) == [five, ten]
    assert (counts[five].orders, counts[five].buyers) == (5, 1)
    assert (counts[ten].orders, counts[ten].buyers, counts[ten].buyer_orders) == (6, 2, 6)


def test_the_distinct_buyers_come_with_the_count_while_every_bucket_is_exact() -> None:
    """`order_concentration` reads the window's distinct buyers from the repeat count while
    every bucket counted its buyers exactly (the same as merging the tallies), and merges
    the estimates once one bucket's tally is a sketch."""
    state = _state_with({0: {1: 1}, 5: {2: 1}, 6: {2: 1, 3: 2}, 9: {1: 1}})
    five, ten = 5 * MINUTE_MS, 10 * MINUTE_MS
    counts = count_repeat_buyers(state, ten, [five, ten], MINUTE_MS, 3)
    assert counts[ten].distinct == buyers_of(state, ten, ten, MINUTE_MS).distinct == 3
    assert counts[five].distinct == buyers_of(state, ten, five, MINUTE_MS).distinct == 3
    busy = state.bucket(8 * MINUTE_MS)
    for h in range(100, 100 + 200):  # past the 64 buyers a bucket counts exactly
        busy.orders += 1
        busy.buyers.add(h, h, 64, 32)
    assert busy.buyers.approximate
    counts = count_repeat_buyers(state, ten, [ten], MINUTE_MS, 3)
    assert counts[ten].distinct is None
    assert buyers_of(state, ten, ten, MINUTE_MS).approximate


def test_an_anchor_whose_buyers_repeat_expects_them() -> None:
    repeat = RepeatBuyers()
    quiet, loyal = AnchorState("q"), AnchorState("l")
    loyal.hist_repeat[600] = [20_000.0, 800.0]  # 0.04 per order
    count = RepeatCount(orders=100, buyers=5, buyer_orders=20)
    rate = normal_rate(quiet, "apparel", repeat, 600)
    assert judge_repeat(count, rate, repeat, 600, 0.5).crossing
    rate = normal_rate(loyal, "apparel", repeat, 600)
    assert not judge_repeat(count, rate, repeat, 600, 0.5).crossing
    # Two window lengths share the day's chance.
    day = repeat.false_alarms_per_anchor_day
    assert window_chance(repeat, 600) == pytest.approx(day / 144 / 2)
    # The 10-minute prior, scaled as the window's length squared.
    assert normal_rate(quiet, None, repeat, 300) == pytest.approx(repeat.normal_rate / 4)


def test_the_first_crossing_window_speaks_and_any_holding_holds() -> None:
    repeat, state = RepeatBuyers(), AnchorState("a")
    five, ten = 300_000, 600_000
    ring = RepeatCount(orders=60, buyers=3, buyer_orders=12)
    spread = RepeatCount(orders=120, buyers=3, buyer_orders=12)
    state.hist_repeat[600] = [100_000.0, 100.0]  # a thousandth: 0.12 expected of 120 orders
    verdict = judge_windows({five: ring, ten: spread}, state, None, repeat, 0.5)
    assert verdict.crossing and verdict.window_s == 300
    fading = RepeatCount(orders=60, buyers=1, buyer_orders=3)
    verdict = judge_windows({five: fading, ten: spread}, state, None, repeat, 0.5)
    assert not verdict.crossing and verdict.holding and verdict.window_s == 600


def test_the_learned_repeat_rate_leaves_out_a_ring() -> None:
    """A ring's windows fold into the anchor's history without teaching it that rings are
    normal: its episode overlapped them."""
    settings = Settings()
    states = DictStates()
    detector = build_detector(settings, DictOrders(), states, load_rules())
    records = _small_ring()
    list(replay_records(records, settings, detector=detector, flush=True))
    state = states.get("busy")
    assert state is not None and set(state.hist_repeat) == {300, 600}
    for orders, buyers in state.hist_repeat.values():
        assert orders > 0 and buyers / orders < 0.001


def test_times_in_the_scenarios_are_minutes_apart() -> None:
    assert datetime.fromisoformat(at(1)) - datetime.fromisoformat(at(0)) == timedelta(minutes=1)


def _busy_apparel_ring(seed: int = 4) -> list[Record]:
    """A busy apparel anchor (600 orders an hour for three hours, a fifth refunded within the
    hour, a third of those at once), and a ring of 40 orders from four buyers over twelve
    minutes two hours in, 85% refunded within minutes."""
    s = Scenario(seed=seed)
    normal = s.orders("busy", 0, 180, 1800, category="apparel")
    s.refunds(normal[::3], 0.2, delay=(0.5, 5))
    s.refunds([o for i, o in enumerate(normal) if i % 3], 0.2, delay=(3, 55))
    ring = s.orders("busy", 120, 12, 40, buyers=4, category="apparel", session="busy-s2")
    s.refunds(ring, 0.85, delay=(1, 8), reason="other")
    return s.records()


def _without_repeat_refunds() -> Rules:
    rules = load_rules()
    early = rules.refund_after_order_spike.early
    assert early is not None
    spike = rules.refund_after_order_spike.model_copy(
        update={"early": early.model_copy(update={"repeat_buyers": None})}
    )
    return rules.model_copy(update={"refund_after_order_spike": spike})


def test_a_small_rings_refunds_are_found_among_its_buyers_orders() -> None:
    records = _busy_apparel_ring()

    def spikes(rules: Rules) -> list[Alert]:
        return [a for a in _firing(records, rules) if a.rule.value == "refund_after_order_spike"]

    assert spikes(_without_repeat_refunds()) == []  # drowned in the anchor's own refunds
    (fired,) = spikes(load_rules())
    assert fired.evidence.window == "early+repeat_buyers"
    assert fired.observed["early_refunds"] >= 4
    assert fired.window_end <= datetime.fromisoformat(at(135))


def test_a_regular_returning_carts_is_not_a_ring() -> None:
    """Regulars who come back minute after minute and return what they bought, one buyer a
    window: the count needs two buyers."""
    s = Scenario(seed=6)
    normal = s.orders("shop", 0, 180, 1800, category="apparel")
    s.refunds(normal, 0.2, delay=(3, 55))
    for r in range(3):
        start = 40 + 40 * r
        carts = s.orders("shop", start, 6, 12, buyer=f"regular-{r}", category="apparel")
        s.refunds(carts, 1.0, delay=(2, 4))
    assert _firing(s.records(), load_rules()) == []
