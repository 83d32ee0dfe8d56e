"""Each rule's precision on real traffic: the episodes of the alerts topic, the verdicts on
them. Precision is confirmed / (confirmed + false alarms): `unsure` is judged but counts
neither way. Its interval is Wilson's at 95%, honest about a handful of verdicts."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas import Alert, AlertStatus, RuleName, Severity
from schemas.verdict import Judgement, Verdict
from streams.core.rates import wilson_lower_bound

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass
class Episode:
    """An episode as the alerts topic tells it."""

    alert_id: str
    rule: str
    anchor_id: str
    severity: Severity
    """The highest it reached."""
    started: datetime
    """Its first firing boundary (event time)."""
    raised: datetime
    """When its first alert was emitted (wall clock): what the time to a verdict runs from."""
    status: AlertStatus


def episodes_of(alerts: Iterable[Alert]) -> dict[str, Episode]:
    """The live episodes of alert records, by alert id (shadow ones are not judged)."""
    found: dict[str, Episode] = {}
    for alert in alerts:
        if alert.shadow:
            continue
        e = found.get(alert.alert_id)
        if e is None:
            found[alert.alert_id] = Episode(
                alert.alert_id, alert.rule.value, alert.anchor_id, alert.severity,
                alert.window_end, alert.emitted_at, alert.status,
            )  # fmt: skip
            continue
        if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[e.severity]:
            e.severity = alert.severity
        e.status = alert.status
    return found


@dataclass
class Tally:
    episodes: int = 0
    confirmed: int = 0
    false_alarm: int = 0
    unsure: int = 0
    waits_s: list[float] = field(default_factory=list)

    def add(self, episode: Episode, verdict: Verdict | None) -> None:
        self.episodes += 1
        if verdict is None:
            return
        if verdict.verdict is Judgement.CONFIRMED:
            self.confirmed += 1
        elif verdict.verdict is Judgement.FALSE_ALARM:
            self.false_alarm += 1
        else:
            self.unsure += 1
        first = verdict.earlier[0].at if verdict.earlier else verdict.at
        self.waits_s.append(max(0.0, (first - episode.raised).total_seconds()))

    def summary(self) -> dict[str, Any]:
        decided = self.confirmed + self.false_alarm
        return {
            "episodes": self.episodes,
            "judged": self.confirmed + self.false_alarm + self.unsure,
            "confirmed": self.confirmed,
            "false_alarm": self.false_alarm,
            "unsure": self.unsure,
            "precision": round(self.confirmed / decided, 4) if decided else None,
            "precision_low": round(wilson_lower_bound(self.confirmed, decided), 4)
            if decided else None,
            "precision_high": round(1 - wilson_lower_bound(self.false_alarm, decided), 4)
            if decided else None,
            "median_time_to_verdict_s": round(statistics.median(self.waits_s), 1)
            if self.waits_s else None,
        }  # fmt: skip


def report(
    episodes: dict[str, Episode], verdicts: dict[str, Verdict], since: datetime | None = None
) -> dict[str, Any]:
    """Per rule (and per severity within it): episodes, judged, confirmed, false alarms,
    precision with its interval, the median time to a first verdict. `since`: episodes that
    started then or later (event time)."""
    rules = {name.value: Tally() for name in RuleName}
    severities: dict[str, dict[str, Tally]] = {name.value: {} for name in RuleName}
    overall = Tally()
    for e in episodes.values():
        if since is not None and e.started < since:
            continue
        verdict = verdicts.get(e.alert_id)
        for tally in (
            rules.setdefault(e.rule, Tally()),
            severities.setdefault(e.rule, {}).setdefault(e.severity.value, Tally()),
            overall,
        ):
            tally.add(e, verdict)
    return {
        "rules": {
            name: {
                **tally.summary(),
                "by_severity": {sev: t.summary() for sev, t in sorted(severities[name].items())},
            }
            for name, tally in sorted(rules.items())
        },
        "overall": overall.summary(),
    }
