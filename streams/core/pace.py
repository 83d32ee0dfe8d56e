"""The platform's refund pace, learned across a partition's anchors.

The early path asks whether an anchor's refunds come sooner than a normal anchor's. Most
anchors are too small, and most bursts come too early in an anchor's life, for its own history
to say how soon that is; the traffic of the other anchors can. Each bucket an anchor holds
teaches the pace once its early refunds are all in (`within_s` after its orders, plus a step
and the grace period for the late ones): its early refunds, the early refunds the rules'
`normal_share` expected of its orders, and of its early refunds those that came at once and
those that claimed a bad product before it shipped, added to the ten-minute slot its orders
were placed in. Their ratios over the last hours are the pace.

Buckets teach only while boundaries are evaluated, and `Detector.advance_to` evaluates
boundary by boundary across the partition's anchors, so what the pace holds at a boundary does
not depend on how records were batched: the worker and the replay read the same figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.core.clock import HOUR_MS, MINUTE_MS, bucket_start

SLOT_MS = 10 * MINUTE_MS
"""The pace is kept per ten minutes of order time: read to the last whole slot taught."""


def taught_by(end_ms: int, within_ms: int, step_ms: int, grace_ms: int) -> int:
    """At boundary `end_ms`, every anchor teaches the pace its buckets that started before
    this: their early refunds are in, late ones included."""
    return end_ms - within_ms - step_ms - grace_ms


def read_horizon(end_ms: int, within_ms: int, step_ms: int, grace_ms: int) -> int:
    """What an evaluation at boundary `end_ms` reads: the buckets every anchor taught at the
    boundaries before it, so none depends on which anchor was evaluated first at this one."""
    return taught_by(end_ms - step_ms, within_ms, step_ms, grace_ms)


@dataclass(slots=True)
class RefundPace:
    """Early refunds observed and expected, per ten-minute slot of the orders' time."""

    hours: dict[int, list[float]] = field(default_factory=dict)
    """Slot start -> [early refunds observed, early refunds the normal share expected, of the
    observed those that came within the early window's length of their order, and those that
    claimed the product was bad before it shipped]. (Named for the hours it was kept by once;
    a stored hour reads as one slot.)"""

    def add(
        self, placed_ms: int, observed: int, expected: float, front: int = 0, claims: int = 0
    ) -> None:
        """One bucket's orders (placed at `placed_ms`): what they showed, what a normal
        anchor's would have, how many of theirs came at once (`front`) and how many claimed a
        bad product unshipped (`claims`)."""
        tally = self.hours.setdefault(bucket_start(placed_ms, SLOT_MS), [0.0, 0.0, 0.0, 0.0])
        tally[0] += observed
        tally[1] += expected
        tally[2] += front
        tally[3] += claims

    def _sums(self, horizon_ms: int, hours: int) -> list[float]:
        """The tallies of the whole slots of the last `hours` that end by `horizon_ms`."""
        newest = bucket_start(horizon_ms, SLOT_MS) - SLOT_MS
        oldest = newest - hours * HOUR_MS + SLOT_MS
        sums = [0.0, 0.0, 0.0, 0.0]
        for slot in range(oldest, newest + SLOT_MS, SLOT_MS):  # in time order: the same sums
            tally = self.hours.get(slot)  # to the last bit, however the slots were filled
            if tally is not None:
                for i in range(4):
                    sums[i] += tally[i]
        return sums

    def at(self, horizon_ms: int, hours: int, prior_refunds: float) -> float:
        """Observed over expected in the whole slots of the last `hours` taught by
        `horizon_ms` (see `taught_by`), each side given `prior_refunds` more (so a partition
        with little traffic stays near 1: the rules' own assumption)."""
        observed, expected, _, _ = self._sums(horizon_ms, hours)
        return (observed + prior_refunds) / (expected + prior_refunds)

    def front_share(self, horizon_ms: int, hours: int, prior: float, assumed: float) -> float:
        """Of the early refunds `at` reads, the share that came within the early window's
        length of their order, `prior` refunds at the `assumed` share added. Buyers who cancel
        at once put many there; spread evenly, it is window / within."""
        observed, _, front, _ = self._sums(horizon_ms, hours)
        return (front + prior * assumed) / (observed + prior)

    def claim_share(self, horizon_ms: int, hours: int, prior: float, assumed: float) -> float:
        """Of the early refunds `at` reads, the share that claimed a bad product before it
        shipped, `prior` refunds at the `assumed` share added."""
        observed, _, _, claims = self._sums(horizon_ms, hours)
        return (claims + prior * assumed) / (observed + prior)

    def forget_unread(self, horizon_ms: int, hours: int) -> None:
        """Drop the slots that no evaluation from this horizon on reads, keeping an hour more
        for an anchor evaluated at an older boundary (one woken by an event out of order)."""
        newest = bucket_start(horizon_ms, SLOT_MS) - SLOT_MS
        self.forget_before(newest - (hours + 1) * HOUR_MS)

    def forget_before(self, ms: int) -> None:
        """Drop the slots that started before `ms`."""
        if any(slot < ms for slot in self.hours):
            self.hours = {h: t for h, t in self.hours.items() if h >= ms}

    def to_dict(self) -> dict[str, Any]:
        return {str(h): t for h, t in sorted(self.hours.items())}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RefundPace:
        # A pace stored before the front share and the claims were kept has none of them.
        return cls({int(h): [float(x) for x in (*t, 0.0, 0.0)[:4]] for h, t in d.items()})
