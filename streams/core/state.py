"""Per-anchor state: event-time buckets, baseline history, dedup ids, pending refunds, episodes.

The state is a plain value: the detector mutates it, the shell stores it (a Faust table keyed by
anchor in the worker, a dict in replay) as the JSON-able dict from `to_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Refunded(NamedTuple):
    """The refund of one order, as counted in the order's bucket."""

    shipped: bool
    refund_ms: int
    reason: str
    amount: float


@dataclass(slots=True)
class Bucket:
    """Everything counted for one anchor in one step of event time.

    Orders and their refunds count at the order's time (a cohort); complaints and refunds whose
    order never came count at their own time. Each refund keeps its own time, so a window ending
    at T counts only what had happened before T, whatever order the topics were read in.
    """

    orders: int = 0
    order_amount: float = 0.0
    buyers: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    sample_orders: list[str] = field(default_factory=list)
    refunded: dict[str, Refunded] = field(default_factory=dict)
    """Refunded order id -> its first refund: one entry per order however many refunds."""
    unmatched_refunds: int = 0
    complaints: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "o": self.orders,
            "oa": self.order_amount,
            "b": self.buyers,
            "s": self.sessions,
            "c": self.categories,
            "so": self.sample_orders,
            "r": {k: list(v) for k, v in self.refunded.items()},
            "u": self.unmatched_refunds,
            "q": self.complaints,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Bucket:
        refunded = {k: Refunded(*v) for k, v in d["r"].items()}
        return cls(d["o"], d["oa"], d["b"], d["s"], d["c"], d["so"], refunded, d["u"], d["q"])


@dataclass(slots=True)
class PendingRefund:
    """A refund that arrived before its order (topics are consumed independently)."""

    refund_event_id: str
    session_id: str | None
    requested_ms: int
    amount: float
    reason: str
    shipped: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "e": self.refund_event_id,
            "s": self.session_id,
            "t": self.requested_ms,
            "a": self.amount,
            "r": self.reason,
            "sh": self.shipped,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PendingRefund:
        return cls(d["e"], d["s"], d["t"], d["a"], d["r"], d["sh"])


@dataclass(slots=True)
class Episode:
    """The alert state of one rule for one anchor; see `lifecycle`."""

    alert_id: str
    started_ms: int
    status: str = "firing"
    severity: str = "warning"
    calm_since_ms: int | None = None
    ended_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.alert_id,
            "st": self.started_ms,
            "s": self.status,
            "sev": self.severity,
            "calm": self.calm_since_ms,
            "end": self.ended_ms,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Episode:
        return cls(d["id"], d["st"], d["s"], d["sev"], d["calm"], d["end"])


@dataclass(slots=True)
class AnchorState:
    """All that livewatch keeps for one anchor."""

    anchor_id: str
    evaluated_to_ms: int | None = None
    """The last step boundary at which rules were evaluated and matured buckets folded; before
    the first evaluation, the boundary evaluation starts from."""
    evaluated: bool = False
    """Whether any boundary has been evaluated. Until then an earlier event moves the start back:
    the three topics are read independently, so the first event read of an anchor need not be
    its earliest (a backlog's complaint from 17:18 can come before its orders from 14:25)."""
    topic_watermarks: dict[str, int] = field(default_factory=dict)
    """Latest event time per input topic; lateness is judged per topic, because a worker reads
    the three topics independently and one may run ahead of the others."""
    buckets: dict[int, Bucket] = field(default_factory=dict)
    hist_orders: float = 0.0
    """Decayed order count of buckets that left the long window: the anchor's own baseline."""
    hist_refunds: float = 0.0
    hist_ms: int | None = None
    """Event time the history was last decayed to."""
    order_hours: dict[int, int] = field(default_factory=dict)
    """Orders per hour of buckets folded in the last day: the complaint-rate denominator."""
    recent_ids: dict[str, dict[str, int]] = field(default_factory=dict)
    """Topic -> event id -> event time, for events within that topic's grace period: a
    duplicate delivery is dropped (older ones are late anyway)."""
    pending: dict[str, PendingRefund] = field(default_factory=dict)
    deferred: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    """Out-of-order events (visible from, topic, JSON value), counted at the next boundary."""
    episodes: dict[str, Episode] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.anchor_id,
            "ev": self.evaluated_to_ms,
            "evd": self.evaluated,
            "tw": self.topic_watermarks,
            "b": {str(k): v.to_dict() for k, v in self.buckets.items()},
            "ho": self.hist_orders,
            "hr": self.hist_refunds,
            "ht": self.hist_ms,
            "oh": {str(k): v for k, v in self.order_hours.items()},
            "ids": self.recent_ids,
            "p": {k: v.to_dict() for k, v in self.pending.items()},
            "d": [list(d) for d in self.deferred],
            "e": {k: v.to_dict() for k, v in self.episodes.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnchorState:
        return cls(
            anchor_id=d["a"],
            evaluated_to_ms=d["ev"],
            evaluated=d.get("evd", True),  # states written before the flag had been evaluated
            topic_watermarks=dict(d["tw"]),
            buckets={int(k): Bucket.from_dict(v) for k, v in d["b"].items()},
            hist_orders=d["ho"],
            hist_refunds=d["hr"],
            hist_ms=d["ht"],
            order_hours={int(k): v for k, v in d["oh"].items()},
            recent_ids={k: dict(v) for k, v in d["ids"].items()},
            pending={k: PendingRefund.from_dict(v) for k, v in d["p"].items()},
            deferred=[(int(v), str(k), dict(e)) for v, k, e in d["d"]],
            episodes={k: Episode.from_dict(v) for k, v in d["e"].items()},
        )

    def is_active(self) -> bool:
        """Whether boundaries still need evaluating: counts in windows, refunds waiting for
        their order, or an episode that has not resolved."""
        return bool(
            self.buckets
            or self.pending
            or self.deferred
            or any(e.status == "firing" for e in self.episodes.values())
        )

    def bucket(self, start_ms: int) -> Bucket:
        found = self.buckets.get(start_ms)
        if found is None:
            found = self.buckets[start_ms] = Bucket()
        return found
