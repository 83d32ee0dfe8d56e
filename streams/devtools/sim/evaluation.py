"""Detection quality: alerts against the ground truth of a simulation.

An alert is a true positive when its anchor carries a label for its rule and it fired between
an hour before the label's start and an hour after its end; time-to-detect is event time from
the label's start to the boundary the alert fired at (its `window_end`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from schemas import Alert
from streams.devtools.sim.labels import Label, Truth

SLACK = timedelta(hours=1)


@dataclass
class RuleScore:
    rule: str
    alerts: int = 0
    true_alerts: int = 0
    labels: int = 0
    detected: int = 0
    ttd_s: list[float] = field(default_factory=list)
    ttd_orders_s: list[float] = field(default_factory=list)
    """Time to detect counted from the first fake order, for labels that have one."""

    @property
    def precision(self) -> float | None:
        return self.true_alerts / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.labels if self.labels else None

    @property
    def ttd_median_s(self) -> float | None:
        return statistics.median(self.ttd_s) if self.ttd_s else None

    @property
    def ttd_p90_s(self) -> float | None:
        if len(self.ttd_s) < 2:
            return self.ttd_s[0] if self.ttd_s else None
        return statistics.quantiles(self.ttd_s, n=10, method="inclusive")[-1]

    def add(self, other: RuleScore) -> None:
        """Pool another run's score of the same rule into this one."""
        self.alerts += other.alerts
        self.true_alerts += other.true_alerts
        self.labels += other.labels
        self.detected += other.detected
        self.ttd_s.extend(other.ttd_s)
        self.ttd_orders_s.extend(other.ttd_orders_s)

    def summary(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "true_alerts": self.true_alerts,
            "labels": self.labels,
            "detected": self.detected,
            "precision": self.precision,
            "recall": self.recall,
            "ttd_median_s": self.ttd_median_s,
            "ttd_p90_s": self.ttd_p90_s,
            "ttd_max_s": max(self.ttd_s) if self.ttd_s else None,
            "ttd_from_orders_median_s": (
                statistics.median(self.ttd_orders_s) if self.ttd_orders_s else None
            ),
        }


@dataclass
class Report:
    rules: dict[str, RuleScore]
    overall: RuleScore
    false_alerts: list[dict[str, str]]
    missed: list[Label]
    behaviours: dict[str, RuleScore] = field(default_factory=dict)
    """Recall and time to detect per injected behaviour and rule ("ring 40
    order_concentration": rings of 40 fake orders), labels only: alerts carry no behaviour."""

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": {name: score.summary() for name, score in sorted(self.rules.items())},
            "behaviours": {
                name: score.summary() for name, score in sorted(self.behaviours.items())
            },
            "overall": self.overall.summary(),
            "false_alerts": self.false_alerts,
            "missed": [label.model_dump(mode="json") for label in self.missed],
        }


def _matches(alert: Alert, label: Label) -> bool:
    return (
        label.expect_alert
        and label.anchor_id == alert.anchor_id
        and label.rule == alert.rule.value
        and label.start - SLACK <= alert.window_end <= label.end + SLACK
    )


def evaluate(truth: Truth, alerts: list[Alert], rules: tuple[str, ...]) -> Report:
    """Precision, recall and time-to-detect per rule and overall."""
    firing: dict[str, Alert] = {}
    for alert in alerts:
        if alert.status.value == "firing" and alert.alert_id not in firing:
            firing[alert.alert_id] = alert
    scores = {rule: RuleScore(rule) for rule in rules}
    overall = RuleScore("overall")
    expected = [label for label in truth.labels if label.expect_alert and label.rule]
    false_alerts = []
    for alert in firing.values():
        score = scores.setdefault(alert.rule.value, RuleScore(alert.rule.value))
        score.alerts += 1
        overall.alerts += 1
        if any(_matches(alert, label) for label in expected):
            score.true_alerts += 1
            overall.true_alerts += 1
        else:
            false_alerts.append(
                {"alert_id": alert.alert_id, "rule": alert.rule.value, "anchor_id": alert.anchor_id}
            )
    missed = []
    behaviours: dict[str, RuleScore] = {}
    for label in expected:
        assert label.rule is not None
        score = scores.setdefault(label.rule, RuleScore(label.rule))
        score.labels += 1
        overall.labels += 1
        size = f" {label.size}" if label.size is not None else ""
        name = f"{label.scenario}{size} {label.rule}"
        group = behaviours.setdefault(name, RuleScore(name))
        group.labels += 1
        hits = [a for a in firing.values() if _matches(a, label)]
        if not hits:
            missed.append(label)
            continue
        first = min(a.window_end for a in hits)
        ttd = max(0.0, (first - label.start).total_seconds())
        for tally in (score, overall, group):
            tally.detected += 1
            tally.ttd_s.append(ttd)
            if label.orders_start is not None:
                tally.ttd_orders_s.append(max(0.0, (first - label.orders_start).total_seconds()))
    return Report(scores, overall, false_alerts, missed, behaviours)


def pool(reports: Iterable[Report], rules: tuple[str, ...]) -> Report:
    """One report over several runs (seeds): counts add up, time-to-detect samples pool."""
    pooled = Report({rule: RuleScore(rule) for rule in rules}, RuleScore("overall"), [], [])
    for report in reports:
        for name, score in report.rules.items():
            pooled.rules.setdefault(name, RuleScore(name)).add(score)
        pooled.overall.add(report.overall)
        for name, score in report.behaviours.items():
            pooled.behaviours.setdefault(name, RuleScore(name)).add(score)
        pooled.false_alerts.extend(report.false_alerts)
        pooled.missed.extend(report.missed)
    return pooled
