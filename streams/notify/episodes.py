"""Which episodes are firing, and what Alertmanager must be told when an update arrives.

Alertmanager knows an alert by its label set, and `severity` is a label: an escalation
resolves the warning's label set and fires the critical one (the routing's inhibition keeps
the two from paging together). Times are clamped to the wall clock: Alertmanager would keep an
alert whose `endsAt` lies in the future firing until then (replays and simulations run ahead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import Alert
from schemas.alert import AlertStatus


@dataclass(frozen=True, slots=True)
class Post:
    """One alert to post: firing while `ends_at` is None. Its labels are `labelled`'s, the
    update that first fired at this severity, so every post of a label set has the same ones
    (an update's category may differ); its figures are `alert`'s."""

    alert: Alert
    starts_at: datetime
    ends_at: datetime | None = None
    labelled: Alert | None = None


@dataclass(slots=True)
class Active:
    alert: Alert
    """The episode's latest firing update (its figures go out with every resend)."""
    starts_at: datetime
    labelled: Alert
    """Its first firing update at this severity (its labels go out with every post)."""

    def post(self, ends_at: datetime | None = None) -> Post:
        return Post(self.alert, self.starts_at, ends_at, self.labelled)


class Episodes:
    """The firing episodes of the alerts read so far, by alert id."""

    def __init__(self) -> None:
        self.active: dict[str, Active] = {}

    def apply(self, alert: Alert, now: datetime) -> list[Post]:
        """Take in one alert record; returns what Alertmanager must be sent for it."""
        seen = self.active.get(alert.alert_id)
        at = min(alert.window_end, now)
        if alert.status is AlertStatus.FIRING:
            if seen is not None and seen.alert.severity == alert.severity:
                seen.alert = alert
                return [seen.post()]
            posts = []
            if seen is not None:  # escalated: the old label set ends as the new one starts
                posts.append(seen.post(max(at, seen.starts_at)))
            self.active[alert.alert_id] = active = Active(alert, at, alert)
            return [*posts, active.post()]
        if seen is None:  # its firing is older than what was read: resolving is harmless
            return [Post(alert, min(alert.window_start, at), at)]
        del self.active[alert.alert_id]
        return [seen.post(max(at, seen.starts_at))]

    def firing(self) -> list[Post]:
        """Every active episode, for the periodic resend."""
        return [a.post() for a in self.active.values()]
