"""Rule verdicts: the refund rule's burst and early paths, against the same events without."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from schemas import Alert, RuleName
from streams.core.dict_stores import DictOrders, DictStates
from streams.core.evaluate import (
    QUIET,
    Details,
    Verdict,
    _after_concentration,
    _too_few_early,
    held,
    spike_bars,
)
from streams.core.rates import poisson_tail
from streams.core.rules import EarlyRefunds, RefundBurst, Rules, load_rules
from streams.core.state import AnchorState, Episode
from streams.pipeline import build_detector
from streams.replay import replay_records
from streams.settings import Settings
from tests.scenarios import Record, Scenario, at


def _with(burst: RefundBurst | None = None, early: EarlyRefunds | None = None) -> Rules:
    """The default rules with only these fast paths, and `order_concentration` by the
    anchor's average alone (its repeat buyers would flag the rings here, and lower the early
    path's bar: `test_repeat_buyers` judges that)."""
    rules = load_rules()
    spike = rules.refund_after_order_spike.model_copy(update={"burst": burst, "early": early})
    assert rules.order_concentration is not None
    average = rules.order_concentration.model_copy(update={"repeat_buyers": None})
    return rules.model_copy(
        update={"refund_after_order_spike": spike, "order_concentration": average}
    )


def _with_burst(burst: RefundBurst | None) -> Rules:
    return _with(burst=burst)


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
    (fired,) = _firing(records, _with_burst(load_rules().refund_after_order_spike.burst))
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


@pytest.mark.parametrize("seed", [11, 14, 17])
def test_fast_refunding_normal_apparel_anchors_stay_quiet(seed: int) -> None:
    """A quarter of their orders refunded 1 to 55 minutes later, faster than any simulated
    normal profile: where the early path's margin is thinnest (a five-minute window at z = 2.0
    and 2.5 x fired on one of them, seed 8 above; the default does not on seeds 8 to 19)."""
    s = Scenario(seed=seed)
    for i in range(20):
        orders = s.orders(f"n{i}", 0, 180, 150 + 30 * i, category="apparel")
        s.refunds(orders, 0.25, delay=(1, 55))
    assert _firing(s.records(), load_rules()) == []


def _delayed_attack(seed: int = 9) -> list[Record]:
    """A steady anchor (150 orders an hour, 11% refunded 20 to 120 minutes later), then 200
    orders in eight minutes from fresh buyers, 90% refunded 10 to 45 minutes later: the hour's
    rate moves only once most of them are in."""
    s = Scenario(seed=seed)
    normal = s.orders("steady", 0, 180, 450)
    s.refunds(normal, 0.11, delay=(20, 120))
    attack = s.orders("steady", 90, 8, 200, session="steady-s2")
    s.refunds(attack, 0.9, delay=(10, 45), reason="other")
    return s.records()


def test_early_path_sees_a_delayed_burst_before_the_hour_does() -> None:
    records = _delayed_attack()
    default = load_rules().refund_after_order_spike
    (late,) = _firing(records, _with(burst=default.burst))
    (early,) = _firing(records, _with(burst=default.burst, early=default.early))
    assert early.evidence.window == "early"
    assert early.alert_id != late.alert_id  # an episode that starts sooner
    assert (late.window_end - early.window_end).total_seconds() >= 5 * 60
    assert default.early is not None
    count = early.observed["early_refunds"]
    assert count >= default.early.min_refunds
    assert early.threshold["early_min_refunds"] == default.early.min_refunds
    bound, expected = (early.observed[f"early_refunds_{k}"] for k in ("lower_bound", "expected"))
    assert bound >= default.early.factor * expected
    chance = default.early.window_chance()
    assert chance is not None and chance == pytest.approx(1e-6)
    assert poisson_tail(int(count), expected) <= chance
    # The fewest that would have confirmed it, at that expected count and chance.
    needed = early.observed["early_refunds_needed"]
    assert default.early.min_refunds <= needed <= count


@pytest.mark.parametrize(
    "early",
    [
        EarlyRefunds(min_refunds=10_000),  # never that many early refunds
        EarlyRefunds(within_s=60),  # nothing is refunded within a minute
        EarlyRefunds(factor=100.0),  # nor a hundred times the normal count
    ],
)
def test_early_path_holds_back_without_each_condition(early: EarlyRefunds) -> None:
    burst = load_rules().refund_after_order_spike.burst
    first = _firing(_delayed_attack(), _with(burst=burst, early=early))[0]
    assert first.evidence.window != "early"


def test_busy_normal_anchors_stay_quiet_with_the_early_path() -> None:
    """Large anchors of every default category refunding at their normal rate within the
    hour, as fast as the simulator's fastest normal profile."""
    s = Scenario(seed=10)
    rules = load_rules().refund_after_order_spike
    for i, category in enumerate(("default", "electronics", "beauty", "jewelry", "home")):
        rate = rules.category(category).baseline_rate
        for j in range(4):
            orders = s.orders(f"n{i}-{j}", 0, 180, 300 + 150 * j, category=category)
            s.refunds(orders, rate, delay=(3, 55))
    assert _firing(s.records(), load_rules()) == []


def _ring(buyers: int | None, seed: int = 11) -> list[Record]:
    """A steady anchor (150 orders an hour), then 120 orders in eight minutes from `buyers`
    accounts (None: each order a fresh buyer, as in an attack), none refunded yet."""
    s = Scenario(seed=seed)
    s.orders("shop", 0, 120, 300)
    s.orders("shop", 60, 8, 120, buyers=buyers, session="shop-s2")
    return s.records()


def test_order_concentration_sees_brushing_before_any_refund() -> None:
    (fired,) = _firing(_ring(buyers=6), load_rules())
    assert fired.rule.value == "order_concentration"
    assert fired.session_id == "shop-s2"
    # Its six buyers each ordered in three minutes before they averaged three orders.
    assert fired.evidence.window == "repeat_buyers"
    assert fired.observed["repeat_buyers"] >= 3
    (average,) = _firing(_ring(buyers=6), _with())
    assert average.observed["orders_per_buyer"] >= 3.0
    assert average.window_end > fired.window_end
    assert fired.window_end <= datetime.fromisoformat(at(68))  # before the ring's last order


def test_order_concentration_leaves_an_attack_and_loyal_buyers_alone() -> None:
    assert _firing(_ring(buyers=None), load_rules()) == []
    s = Scenario(seed=12)
    for i in range(10):  # busy sessions where a third of buyers come back for more
        s.orders(f"fan{i}", 0, 120, 400 + 100 * i, buyers=(400 + 100 * i) * 2 // 3)
    assert _firing(s.records(), load_rules()) == []


def test_order_concentration_is_off_when_the_rules_file_has_none() -> None:
    rules = load_rules().model_copy(update={"order_concentration": None})
    assert _firing(_ring(buyers=6), rules) == []


def _slow_platform(seed: int = 12) -> list[Record]:
    """Forty steady anchors (150 orders an hour, 11% refunded 20 to 120 minutes later: slower
    than `normal_share` assumes) for six hours, and a new anchor whose first minutes are a
    small attack: 80 orders in eight minutes, 85% refunded 10 to 45 minutes later."""
    s = Scenario(seed=seed)
    for i in range(40):
        orders = s.orders(f"steady-{i}", 0, 360, 900, category="other")
        s.refunds(orders, 0.11, delay=(20, 120))
    attack = s.orders("fresh", 300, 8, 80, category="other")
    s.refunds(attack, 0.85, delay=(10, 45), reason="other")
    return s.records()


def _default_early_but(**update: Any) -> Rules:
    """The default rules with these early-path settings changed."""
    spike = load_rules().refund_after_order_spike
    assert spike.early is not None
    return _with(burst=spike.burst, early=spike.early.model_copy(update=update))


def _without_pace() -> Rules:
    """The rules with the platform's pace weighed as nothing against `normal_share`."""
    return _default_early_but(pace_prior_refunds=1e12)


def test_a_slow_platform_lets_the_early_path_see_a_new_anchors_burst_sooner() -> None:
    records = _slow_platform()
    rules = load_rules()
    (learned,) = [a for a in _firing(records, rules) if a.anchor_id == "fresh"]
    (fixed,) = [a for a in _firing(records, _without_pace()) if a.anchor_id == "fresh"]
    assert learned.evidence.window == "early"
    assert learned.window_end < fixed.window_end
    assert learned.observed["early_refund_pace"] < 0.5  # learned from the other anchors
    assert not [a for a in _firing(records, rules) if a.anchor_id != "fresh"]


@pytest.mark.parametrize("chunk", [40, 100_000])
def test_the_pace_read_does_not_depend_on_how_records_were_batched(chunk: int) -> None:
    """The pace is folded boundary by boundary across anchors, so a replay reading the input a
    few records at a time (a worker keeping up) and one reading it whole (catching up) agree."""
    records = _slow_platform()
    settings = Settings()
    whole = list(replay_records(records, settings, rules=load_rules(), chunk=1_000_000))
    batched = list(replay_records(records, settings, rules=load_rules(), chunk=chunk))
    assert [(a.alert_id, a.status, a.observed) for a in batched] == [
        (a.alert_id, a.status, a.observed) for a in whole
    ]
    assert any(a.evidence.window == "early" for a in whole)


def _slow_refunded_ring(buyers: int | None, seed: int = 13) -> list[Record]:
    """A quiet anchor (60 orders an hour, 11% refunded 20 to 120 minutes later), then 60 orders
    in eight minutes from `buyers` accounts (None: fresh buyers), 30% of them refunded 10 to 45
    minutes later: too few early refunds at once for the early path on its own."""
    s = Scenario(seed=seed)
    s.refunds(s.orders("shop", 0, 150, 150), 0.11, delay=(20, 120))
    ring = s.orders("shop", 60, 8, 60, buyers=buyers, session="shop-s2")
    s.refunds(ring, 0.3, delay=(10, 45), reason="other")
    return s.records()


def _without_after_concentration() -> Rules:
    return _default_early_but(after_concentration=None, repeat_buyers=None)


def test_after_concentrated_orders_fewer_early_refunds_confirm_the_ring() -> None:
    """Judged without the repeat buyers' own count, which finds this ring's refunds as well
    (`test_repeat_buyers`)."""
    records = _slow_refunded_ring(buyers=6)
    rules = _default_early_but(repeat_buyers=None)
    concentrated, confirmed = _firing(records, rules)
    assert concentrated.rule.value == "order_concentration"
    assert confirmed.rule.value == "refund_after_order_spike"
    assert confirmed.evidence.window == "early+concentration"
    after = rules.refund_after_order_spike.early.after_concentration  # type: ignore[union-attr]
    assert after is not None
    assert after.min_refunds <= confirmed.observed["early_refunds"]
    assert confirmed.threshold["early_min_refunds"] == after.min_refunds  # the bar it met
    assert confirmed.threshold["early_chance"] == after.window_chance(300)
    assert after.window_chance(300) == pytest.approx(1e-4)
    (alone,) = [
        a
        for a in _firing(records, _without_after_concentration())
        if a.rule.value == confirmed.rule.value
    ]
    assert (alone.window_end - confirmed.window_end).total_seconds() >= 10 * 60


def test_fresh_buyers_get_no_lower_bar_for_their_early_refunds() -> None:
    """The same orders from as many buyers: nothing was concentrated, so nothing is relaxed."""
    records = _slow_refunded_ring(buyers=None)
    alerts = _firing(records, load_rules())
    assert all(a.evidence.window != "early+concentration" for a in alerts)
    assert [a.window_end for a in alerts] == [
        a.window_end for a in _firing(records, _without_after_concentration())
    ]


def test_the_lower_bar_lasts_while_concentration_fires_and_since_s_after() -> None:
    early = load_rules().refund_after_order_spike.early
    assert early is not None and early.after_concentration is not None
    since_ms = early.after_concentration.since_s * 1000
    state = AnchorState("shop")
    assert _after_concentration(state, 0, early) is None
    state.episodes["order_concentration"] = Episode("a", 0)
    assert _after_concentration(state, 10 * since_ms, early) is early.after_concentration
    state.episodes["order_concentration"] = Episode("a", 0, status="resolved", ended_ms=60_000)
    assert _after_concentration(state, 60_000 + since_ms, early) is early.after_concentration
    assert _after_concentration(state, 60_001 + since_ms, early) is None
    off = early.model_copy(update={"after_concentration": None})
    assert _after_concentration(state, 60_000, off) is None


def _fresh_quality_attack(seed: int = 8) -> list[Record]:
    """Forty anchors whose buyers cancel on impulse (150 orders an hour, 12% refunded, a third
    of those within five minutes) for four hours, then on a busy one 60 orders from fresh
    accounts in eight minutes, 90% refunded unshipped within minutes as bad quality."""
    s = Scenario(seed=seed)
    for i in range(40):
        orders = s.orders(f"steady-{i}", 0, 240, 600, category="beauty")
        s.refunds(orders[::3], 0.12, delay=(0.5, 5))
        s.refunds([o for n, o in enumerate(orders) if n % 3], 0.12, delay=(3, 55))
    busy = s.orders("busy", 0, 240, 1600, category="beauty")
    s.refunds(busy[::3], 0.12, delay=(0.5, 5))
    s.refunds([o for n, o in enumerate(busy) if n % 3], 0.12, delay=(3, 55))
    attack = s.orders("busy", 200, 8, 60, category="beauty", session="busy-s2")
    s.refunds(attack, 0.9, delay=(1, 6), reason="quality")
    return s.records()


def test_quality_claims_before_shipment_confirm_a_fresh_buyer_attack_sooner() -> None:
    records = _fresh_quality_attack()
    (fired,) = _firing(records, load_rules())  # and none on the anchors that cancel on impulse
    assert fired.anchor_id == "busy"
    assert fired.evidence.window == "early+quality_claims"
    without = _default_early_but(quality_claims=None)
    (later,) = [a for a in _firing(records, without) if a.anchor_id == "busy"]
    assert later.window_end > fired.window_end


def test_the_early_path_is_skipped_on_the_long_windows_refunds_only_while_it_reads_inside() -> None:
    """Every early refund is one of the long window's refunded orders only while the early
    path reads inside the long window (its orders of the last `within_s` + `window_s`); past
    that, the long window's refunds say nothing and the early counts are read."""
    rule = load_rules(None).refund_after_order_spike
    early = rule.early
    assert early is not None
    w = build_detector(Settings(), DictOrders(), DictStates()).config.windows
    assert (early.within_s + early.window_s) * 1000 <= w.long_ms
    bars = spike_bars(rule)
    assert _too_few_early(bars, early.lowest_refunds() - 1, w)
    assert not _too_few_early(bars, early.lowest_refunds(), w)
    beyond = rule.model_copy(
        update={"early": early.model_copy(update={"within_s": w.long_ms // 1000})}
    )
    assert not _too_few_early(spike_bars(beyond), 0, w)
    assert _too_few_early(spike_bars(rule.model_copy(update={"early": None})), 100, w)


def test_a_rules_bars_are_worked_out_once_and_follow_the_rule() -> None:
    """The bars are cached by the rule's identity: the same rule reads the same bars, and a
    rule with other figures (a published version) reads its own."""
    rule = load_rules(None).refund_after_order_spike
    assert spike_bars(rule) is spike_bars(rule)
    assert spike_bars(rule).lowest_threshold == min(
        rule.min_rate, min(c.ceiling for c in rule.categories.values())
    )
    stricter = rule.model_copy(update={"min_rate": 0.01})
    assert spike_bars(stricter).lowest_threshold == 0.01
    assert spike_bars(stricter).rule is stricter
    assert spike_bars(rule).baseline_rates["default"] == rule.category("default").baseline_rate


def test_a_verdicts_details_are_worked_out_once_and_only_when_read() -> None:
    """Most verdicts past the quiet paths make no alert, so what only an alert carries is
    worked out when read (see `Verdict`): once, however often it is read."""
    calls: list[int] = []

    def explain() -> Details:
        calls.append(1)
        return {"orders": 80.0}, {"orders": 60.0}, "session-1", {"window": "short+long"}

    verdict = Verdict(RuleName.REFUND_AFTER_ORDER_SPIKE, QUIET, 0, 60_000, explain=explain)
    assert calls == []
    observed, threshold, session_id, evidence = verdict.details
    assert session_id == "session-1"
    assert observed == {"orders": 80.0} and threshold == {"orders": 60.0}
    assert evidence == {"window": "short+long"}
    assert verdict.details == (observed, threshold, session_id, evidence)
    assert calls == [1]
    given = Verdict(RuleName.QUALITY_COMPLAINTS, QUIET, 0, 60_000, session_id="s")
    assert given.details == ({}, {}, "s", {})


@pytest.mark.parametrize("seed", range(6))
def test_the_burst_held_bounds_every_window_the_boundaries_from_there_on_read(seed: int) -> None:
    """`held`'s burst is at least the orders of every window of its length that a boundary
    from the one a step before `before_ms` on reads (buckets ahead of `before_ms` left out, as
    the detector adds them itself), and it is exact at one of the first two."""
    rng = random.Random(seed)
    step, size = 60_000, rng.choice([1, 3, 10]) * 60_000
    state = AnchorState("a")
    for minute in rng.sample(range(60), rng.randint(0, 40)):
        state.bucket(minute * step).orders = rng.randint(0, 9)
    before = rng.randint(0, 60) * step
    bound = held(state, before, step, size)
    seen = {s: b.orders for s, b in state.buckets.items() if s < before}
    windows = [
        sum(n for s, n in seen.items() if end - size <= s < end)
        for end in range(before - step, before + size + step, step)
    ]
    assert bound.burst >= max(windows)
    assert bound.burst == max(windows[:2])
    assert bound.orders == sum(seen.values())
    assert held(state, before, step, 0).burst == bound.orders
