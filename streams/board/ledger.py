"""The episodes of the alerts topic as the board shows them: active ones and each anchor's history.

Plain Python fed one alert record at a time, so the board's view is tested without Kafka. It
keeps a bounded number of episodes: once over, the oldest ended ones go first (firing ones are
never dropped, so the active list stays complete).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from schemas import Alert
from schemas.alert import AlertStatus, Evidence

MAX_EPISODES = 20_000


@dataclass(slots=True)
class Episode:
    """One alert episode: its first firing, its latest update and its end."""

    alert_id: str
    rule: str
    anchor_id: str
    session_id: str | None
    severity: str
    status: str
    started: datetime
    """Event time of the first update read (the window end it fired at)."""
    updated: datetime
    ended: datetime | None
    observed: dict[str, float]
    threshold: dict[str, float]
    evidence: Evidence
    rules_version: int = 0
    """The rule set that judged it (0: the workers' rules file)."""
    updates: int = 1

    @property
    def category(self) -> str | None:
        return self.evidence.category

    @property
    def firing(self) -> bool:
        return self.status == AlertStatus.FIRING.value


class Ledger:
    """Every episode read so far, by alert id, with an index by anchor."""

    def __init__(self, max_episodes: int = MAX_EPISODES) -> None:
        self.max_episodes = max_episodes
        self.episodes: dict[str, Episode] = {}
        self.by_anchor: dict[str, list[str]] = {}
        self.clock: datetime | None = None
        """The latest event time read: the board's "now" when the stream runs ahead of the
        wall clock (a simulation or a replay)."""

    def apply(self, alert: Alert) -> Episode:
        self.clock = alert.window_end if self.clock is None else max(self.clock, alert.window_end)
        e = self.episodes.get(alert.alert_id)
        firing = alert.status is AlertStatus.FIRING
        if e is None:
            e = Episode(
                alert.alert_id, alert.rule.value, alert.anchor_id, alert.session_id,
                alert.severity.value, alert.status.value, alert.window_end, alert.window_end,
                None if firing else alert.window_end, alert.observed, alert.threshold,
                alert.evidence, alert.rules_version,
            )  # fmt: skip
            self.episodes[alert.alert_id] = e
            self.by_anchor.setdefault(alert.anchor_id, []).append(alert.alert_id)
            self._trim()
            return e
        e.updates += 1
        e.updated = max(e.updated, alert.window_end)
        e.status = alert.status.value
        e.rules_version = alert.rules_version
        if firing:  # a resolution carries the figures that calmed down: keep the crossing ones
            e.severity = alert.severity.value
            e.session_id = alert.session_id or e.session_id
            e.observed, e.threshold, e.evidence = alert.observed, alert.threshold, alert.evidence
            e.ended = None
        else:
            e.ended = alert.window_end
        return e

    def active(self) -> list[Episode]:
        """Firing episodes, newest first."""
        found = [e for e in self.episodes.values() if e.firing]
        return sorted(found, key=lambda e: (e.started, e.alert_id), reverse=True)

    def firing_count(self) -> int:
        return sum(1 for e in self.episodes.values() if e.firing)

    def history(self, anchor_id: str) -> list[Episode]:
        """An anchor's episodes, newest first."""
        found = (self.episodes[i] for i in self.by_anchor.get(anchor_id, ()))
        return sorted(found, key=lambda e: (e.started, e.alert_id), reverse=True)

    def firing_for(self, anchor_ids: Iterable[str]) -> dict[str, list[Episode]]:
        """Firing episodes of these anchors."""
        return {a: [e for e in self.history(a) if e.firing] for a in anchor_ids}

    def categories(self) -> list[str]:
        return sorted({e.category for e in self.episodes.values() if e.category})

    def now(self, wall: datetime) -> datetime:
        """What "now" is for durations: the wall clock, or the stream's time if it runs ahead."""
        return wall if self.clock is None else max(wall, self.clock)

    def _trim(self) -> None:
        excess = len(self.episodes) - self.max_episodes
        if excess <= 0:
            return
        ended = [i for i, e in self.episodes.items() if not e.firing][:excess]
        for alert_id in ended:
            e = self.episodes.pop(alert_id)
            ids = self.by_anchor[e.anchor_id]
            ids.remove(alert_id)
            if not ids:
                del self.by_anchor[e.anchor_id]
