"""The platform's refund pace, learned across a partition's anchors.

The early path asks whether an anchor's refunds come sooner than a normal anchor's. Most
anchors are too small, and most bursts come too early in an anchor's life, for its own history
to say how soon that is; the traffic of the other anchors can. Each matured bucket an anchor
folds adds its early refunds, and the early refunds the rules' `normal_share` expected of its
orders, to the hour its orders were placed in. Their ratio over the last hours is the pace.

Buckets are folded only while boundaries are evaluated, and `Detector.advance_to` evaluates
boundary by boundary across the partition's anchors, so what the pace holds at a boundary does
not depend on how records were batched: the worker and the replay read the same figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.core.clock import HOUR_MS, bucket_start


@dataclass(slots=True)
class RefundPace:
    """Early refunds observed and expected, per event-time hour of the orders."""

    hours: dict[int, list[float]] = field(default_factory=dict)
    """Hour start -> [early refunds observed, early refunds the normal share expected]."""

    def add(self, placed_ms: int, observed: int, expected: float) -> None:
        """One folded bucket's orders (placed at `placed_ms`): what they showed, what a normal
        anchor's would have."""
        tally = self.hours.setdefault(bucket_start(placed_ms, HOUR_MS), [0.0, 0.0])
        tally[0] += observed
        tally[1] += expected

    def ratio(self, before_ms: int, hours: int, prior_refunds: float) -> float:
        """Observed over expected in the `hours` whole hours that end by `before_ms`, each side
        given `prior_refunds` more (so a partition with little traffic stays near 1: the
        rules' own assumption)."""
        newest = bucket_start(before_ms, HOUR_MS) - HOUR_MS
        observed = expected = 0.0
        for hour in range(newest - (hours - 1) * HOUR_MS, newest + HOUR_MS, HOUR_MS):
            tally = self.hours.get(hour)
            if tally is not None:
                observed += tally[0]
                expected += tally[1]
        return (observed + prior_refunds) / (expected + prior_refunds)

    def at(self, end_ms: int, long_ms: int, step_ms: int, hours: int, prior: float) -> float:
        """The pace an evaluation at boundary `end_ms` reads: `ratio` over the hours that every
        anchor has folded by then (a bucket is folded once the long window has passed it)."""
        return self.ratio(_folded_by(end_ms, long_ms, step_ms), hours, prior)

    def forget_unread(self, end_ms: int, long_ms: int, step_ms: int, hours: int) -> None:
        """Drop the hours that no evaluation from boundary `end_ms` on reads, keeping two more
        for an anchor evaluated at an older boundary (one woken by an event out of order)."""
        newest = bucket_start(_folded_by(end_ms, long_ms, step_ms), HOUR_MS) - HOUR_MS
        self.forget_before(newest - (hours + 1) * HOUR_MS)

    def forget_before(self, ms: int) -> None:
        """Drop the hours that started before `ms`."""
        if any(hour < ms for hour in self.hours):
            self.hours = {h: t for h, t in self.hours.items() if h >= ms}

    def to_dict(self) -> dict[str, Any]:
        return {str(h): t for h, t in sorted(self.hours.items())}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RefundPace:
        return cls({int(h): [float(t[0]), float(t[1])] for h, t in d.items()})


def _folded_by(end_ms: int, long_ms: int, step_ms: int) -> int:
    """Before this, every anchor's buckets are folded at boundary `end_ms`."""
    return end_ms - long_ms - step_ms
