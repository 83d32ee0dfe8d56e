"""Detection quality of the default rules on seeded simulations: the numbers in docs/simulator.md.

Several seeds, so the thresholds are not tuned to one run. Targets: precision and recall of at
least 0.95 for each rule, a median time-to-detect of at most five minutes, and not one alert on
a day of normal traffic for 1,000 anchors.
"""

from __future__ import annotations

import statistics

import pytest

from streams.devtools.sim.evaluation import RuleScore
from streams.devtools.sim.suite import RULES, SuiteConfig, SuiteResult, run_suite

SEEDS = (1, 2, 3, 4, 5)
NORMAL_DAYS = (11, 12)


@pytest.fixture(scope="module")
def result() -> SuiteResult:
    """The suite `livewatch quality` runs: mix runs (300 anchors, 8 hours each) and normal days."""
    return run_suite(SuiteConfig(seeds=SEEDS, normal_days=NORMAL_DAYS))


@pytest.fixture(scope="module")
def scores(result: SuiteResult) -> dict[str, RuleScore]:
    """Scores pooled over the seeded mix runs, per rule and overall."""
    return {**result.report.rules, "overall": result.report.overall}


@pytest.mark.parametrize("rule", RULES)
def test_precision_and_recall_per_rule(scores: dict[str, RuleScore], rule: str) -> None:
    score = scores[rule]
    assert score.labels >= len(SEEDS)  # every seed injects this behaviour
    assert score.precision is not None and score.precision >= 0.95, score.summary()
    assert score.recall is not None and score.recall >= 0.95, score.summary()


def test_median_time_to_detect_is_within_five_minutes(scores: dict[str, RuleScore]) -> None:
    """Event time from the first refund of a burst or the first complaint of a storm to the
    boundary the alert fired at: seeded and in event time, so not a timed test."""
    overall = scores["overall"]
    assert overall.ttd_s and all(t >= 0 for t in overall.ttd_s)
    assert statistics.median(overall.ttd_s) <= 5 * 60, overall.summary()
    assert statistics.median(scores["quality_complaints"].ttd_s) <= 5 * 60


def test_refund_spike_time_to_detect_does_not_regress(scores: dict[str, RuleScore]) -> None:
    """Refund spikes alone: 2.95 min on these seeds (2.8 with the assumed refund pace, 3.08
    with the early path's old 10-minute window at 3 x, 5.07 without it), see docs/simulator.md:
    a guard against slipping back."""
    assert statistics.median(scores["refund_after_order_spike"].ttd_s) <= 3.5 * 60


def test_normal_days_of_1000_anchors_raise_no_alert(result: SuiteResult) -> None:
    assert sorted(result.normal_day_alerts) == list(NORMAL_DAYS)
    assert result.normal_day_alerts == dict.fromkeys(NORMAL_DAYS, 0)


DELAYED = ("tens", "slow")
"""Refund-delay profiles where fake orders are refunded tens of minutes later (see SimConfig)."""


@pytest.fixture(scope="module")
def delayed() -> SuiteResult:
    return run_suite(SuiteConfig(seeds=(1, 2, 3), normal_days=(11,), refund_delays=DELAYED))


@pytest.mark.parametrize("rule", RULES)
def test_delayed_refunds_keep_precision_and_recall(delayed: SuiteResult, rule: str) -> None:
    score = delayed.report.rules[rule]
    assert score.labels >= 3 * len(DELAYED)
    assert score.precision is not None and score.precision >= 0.95, score.summary()
    assert score.recall is not None and score.recall >= 0.95, score.summary()


def test_delayed_refunds_leave_normal_days_quiet(delayed: SuiteResult) -> None:
    assert delayed.normal_day_alerts == {f"11 ({d})": 0 for d in DELAYED}


def test_delayed_refund_spikes_time_to_detect_does_not_regress(delayed: SuiteResult) -> None:
    """3.2 min from the first refund on these runs (3.75 with the learned refund pace alone,
    before the lower bar after concentrated orders; 5.5 with the assumed pace, 7.8 with the
    early path's old 10-minute window at 3 x; 14.7 and 10.1 without it), see
    docs/simulator.md: a guard against slipping back."""
    assert statistics.median(delayed.report.rules["refund_after_order_spike"].ttd_s) <= 4.0 * 60


SALES_SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def sales_day() -> SuiteResult:
    """Small rings on busy anchors and fresh-buyer attacks, on sales days (flash sales,
    impulse cancellations, regulars' carts), and a sales day of 1,000 anchors."""
    return run_suite(SuiteConfig(seeds=SALES_SEEDS, normal_days=(1,), shapes=("rings", "fresh")))


@pytest.mark.parametrize("rule", ["refund_after_order_spike", "order_concentration"])
def test_sales_day_shapes_keep_precision_and_recall(sales_day: SuiteResult, rule: str) -> None:
    score = sales_day.report.rules[rule]
    assert score.labels >= 2 * len(SALES_SEEDS)
    assert score.precision is not None and score.precision >= 0.95, score.summary()
    assert score.recall is not None and score.recall >= 0.9, score.summary()


def test_small_rings_are_flagged_within_minutes_of_their_first_orders(
    sales_day: SuiteResult,
) -> None:
    """Rings of 60 fake orders and more within five minutes of their first (median), those of
    40 within seven (see docs/simulator.md, Sales-day shapes)."""
    behaviours = sales_day.report.behaviours
    for size, minutes in ((40, 7), (60, 5), (100, 5), (150, 5)):
        score = behaviours[f"ring {size} order_concentration"]
        assert score.ttd_s and statistics.median(score.ttd_s) <= minutes * 60, (
            size,
            score.summary(),
        )


def test_fresh_buyer_attacks_are_confirmed_within_three_minutes(sales_day: SuiteResult) -> None:
    score = sales_day.shapes["fresh"].rules["refund_after_order_spike"]
    assert score.recall == 1.0, score.summary()
    assert statistics.median(score.ttd_s) <= 3 * 60, score.summary()


def test_sales_days_of_1000_anchors_raise_no_alert(sales_day: SuiteResult) -> None:
    assert sales_day.normal_day_alerts == {1: 0}
