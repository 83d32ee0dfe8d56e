"""Detection quality of the default rules on seeded simulations: the numbers in the README.

Several seeds, so the thresholds are not tuned to one run. Targets: precision and recall of at
least 0.95 for each rule, a median time-to-detect of at most five minutes, and not one alert on
a day of normal traffic for 1,000 anchors.
"""

from __future__ import annotations

import statistics

import pytest

from schemas import RuleName
from streams.replay import replay_records
from streams.settings import Settings
from streams.sim.evaluation import RuleScore, evaluate
from streams.sim.generator import SimConfig, Simulation

RULES = tuple(r.value for r in RuleName)
SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def scores() -> dict[str, RuleScore]:
    """Scores pooled over the seeded mix runs (300 anchors, 8 hours each)."""
    pooled = {rule: RuleScore(rule) for rule in (*RULES, "overall")}
    for seed in SEEDS:
        sim = Simulation(SimConfig(seed=seed, anchors=300, hours=8))
        alerts = list(replay_records(sim.events(), Settings()))
        report = evaluate(sim.truth(), alerts, RULES)
        for name, score in (*report.rules.items(), ("overall", report.overall)):
            total = pooled[name]
            total.alerts += score.alerts
            total.true_alerts += score.true_alerts
            total.labels += score.labels
            total.detected += score.detected
            total.ttd_s.extend(score.ttd_s)
    return pooled


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
    """Refund spikes alone sit at the five-minute mark (5.07 min on these seeds, 4.98 on
    seeds 1-10, see README): a guard against slipping back, not the target."""
    assert statistics.median(scores["refund_after_order_spike"].ttd_s) <= 5.25 * 60


@pytest.mark.parametrize("seed", (11, 12))
def test_a_normal_day_of_1000_anchors_raises_no_alert(seed: int) -> None:
    sim = Simulation(SimConfig(seed=seed, anchors=1000, hours=24, scenarios=("normal",)))
    alerts = list(replay_records(sim.events(), Settings()))
    assert alerts == []
