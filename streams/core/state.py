"""Per-anchor state: event-time buckets, baseline history, dedup ids, pending refunds, episodes.

The state is a plain value: the detector mutates it, the shell stores it (a dict in replay; in
the worker a Faust table with a head record per anchor and a record per bucket, so no record
grows with an anchor's traffic and a batch writes only the buckets it touched).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mypy_extensions import mypyc_attr

from schemas import AlertStatus, RuleName, Severity
from streams.core.facts import parked_id
from streams.core.sketches import Tally, key_hash


def _hist_repeat(d: dict[str, Any]) -> dict[int, list[float]]:
    """The learned repeat buying per window; a head written when one 10-minute window was
    counted ("hro", "hrb") reads as that window's."""
    if "hrw" in d:
        return {int(k): [_num(o), _num(b)] for k, (o, b) in d["hrw"].items()}
    if "hro" in d:
        return {600: [_num(d["hro"]), _num(d["hrb"])]}
    return {}


def _num(value: Any) -> float:
    """A stored number, refused unless finite (orjson writes infinity as null)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return float(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a whole number: {value!r}")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(f"not a mapping: {value!r}")
    return {str(k): _int(v) for k, v in value.items()}


BUYERS_EXACT = 64
"""Distinct buyers a bucket counts exactly; past that, a sketch (see `sketches`)."""
BUYERS_KEEP = 32
SESSIONS_EXACT = 16
SESSIONS_KEEP = 8
REFUND_SAMPLE = 5
"""Refunded order ids kept per refund step (the smallest ids, so the choice never depends on
the order in which the refunds were read)."""


CLAIM_REASONS = frozenset({"quality", "not_as_described", "counterfeit"})
"""Refund reasons that judge the product itself."""


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class RefundTally:
    """The refunds of one bucket's orders that were requested in one step: counts, not ids.

    Each order counts once however many refunds it gets; the order memory remembers which
    orders were refunded, not the bucket."""

    refunds: int
    unshipped: int
    amount: float
    reasons: dict[str, int]
    sample: list[str]
    buyers: dict[int, int]
    """Refunded orders per buyer hash, where the order memory knew the buyer: whose orders
    are being refunded (a ring's, say)."""
    claims: int
    """Refunds claiming the product itself was bad (`CLAIM_REASONS`) before it was shipped:
    a buyer who has not received it cannot know, an attack says so anyway."""

    def __init__(
        self,
        refunds: int = 0,
        unshipped: int = 0,
        amount: float = 0.0,
        reasons: dict[str, int] | None = None,
        sample: list[str] | None = None,
        buyers: dict[int, int] | None = None,
        claims: int = 0,
    ) -> None:
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.refunds = refunds
        self.unshipped = unshipped
        self.amount = amount
        self.reasons = {} if reasons is None else reasons
        self.sample = [] if sample is None else sample
        self.buyers = {} if buyers is None else buyers
        self.claims = claims

    def add(
        self, order_id: str, shipped: bool, amount: float, reason: str, buyer: int | None = None
    ) -> None:
        self.refunds += 1
        self.unshipped += not shipped
        self.amount += amount
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.claims += not shipped and reason in CLAIM_REASONS
        if buyer is not None:
            self.buyers[buyer] = self.buyers.get(buyer, 0) + 1
        if len(self.sample) < REFUND_SAMPLE or order_id < self.sample[-1]:
            self.sample = sorted([*self.sample, order_id])[:REFUND_SAMPLE]

    def to_dict(self) -> dict[str, Any]:
        d = {"n": self.refunds, "u": self.unshipped, "a": self.amount, "r": self.reasons,
             "s": self.sample}  # fmt: skip
        if self.buyers:
            d["b"] = list(self.buyers.items())
        if self.claims:
            d["q"] = self.claims
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RefundTally:
        # A tally stored before buyers were kept has none.
        buyers = {_int(h): _int(n) for h, n in d.get("b", ())}
        return cls(_int(d["n"]), _int(d["u"]), _num(d["a"]), _counts(d["r"]),
                   [str(x) for x in d["s"]], buyers, _int(d.get("q", 0)))  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class Bucket:
    """Everything counted for one anchor in one step of event time, in bounded space.

    Orders and their refunds count at the order's time (a cohort); complaints and refunds whose
    order never came count at their own time. Refunds are tallied by the step they were
    requested in, so a window ending at T counts only what had happened before T, whatever
    order the topics were read in. Buyers are kept as hashes, never as ids.
    """

    orders: int
    order_amount: float
    buyers: Tally
    """Orders per buyer hash; exact up to BUYERS_EXACT distinct buyers."""
    sessions: Tally
    categories: dict[str, int]
    sample_orders: list[str]
    refunds: dict[int, RefundTally]
    """Step the refunds were requested in -> their tally."""
    unmatched_refunds: int
    complaints: dict[str, int]

    def __init__(
        self,
        orders: int = 0,
        order_amount: float = 0.0,
        buyers: Tally | None = None,
        sessions: Tally | None = None,
        categories: dict[str, int] | None = None,
        sample_orders: list[str] | None = None,
        refunds: dict[int, RefundTally] | None = None,
        unmatched_refunds: int = 0,
        complaints: dict[str, int] | None = None,
    ) -> None:
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`);
        # a bucket is made for every anchor-minute with an event.
        self.orders = orders
        self.order_amount = order_amount
        self.buyers = Tally() if buyers is None else buyers
        self.sessions = Tally() if sessions is None else sessions
        self.categories = {} if categories is None else categories
        self.sample_orders = [] if sample_orders is None else sample_orders
        self.refunds = {} if refunds is None else refunds
        self.unmatched_refunds = unmatched_refunds
        self.complaints = {} if complaints is None else complaints

    def add_buyer(self, buyer_id: str) -> None:
        self.add_buyer_hash(key_hash(buyer_id))

    def add_buyer_hash(self, h: int) -> None:
        """Count an order of the buyer whose id hashes to `h` (`sketches.key_hash`)."""
        self.buyers.add(h, h, BUYERS_EXACT, BUYERS_KEEP)

    def add_session(self, session_id: str) -> None:
        self.sessions.add(session_id, None, SESSIONS_EXACT, SESSIONS_KEEP)

    def refunded_before(self, end_ms: int) -> int:
        """How many of the bucket's orders had been refunded before `end_ms` (a boundary)."""
        return sum(t.refunds for step, t in self.refunds.items() if step < end_ms)

    def paced(
        self, start_ms: int, within_ms: int, front_ms: int, end_ms: int
    ) -> tuple[int, int, int]:
        """`refunded_within` at `within_ms` and at `front_ms`, and of the first the refunds
        that claimed the product was bad before it shipped, in one pass: what the bucket
        teaches the pace."""
        early = front = claims = 0
        for step, t in self.refunds.items():
            if step < end_ms:
                after = step - start_ms
                if after <= within_ms:
                    early += t.refunds
                    claims += t.claims
                if after <= front_ms:
                    front += t.refunds
        return early, front, claims

    def refunded_within(self, start_ms: int, within_ms: int, end_ms: int) -> int:
        """How many of the bucket's orders (it starts at `start_ms`) were refunded within
        `within_ms` of that start, before `end_ms`: its early refunds, as the early path counts
        them."""
        return sum(
            t.refunds
            for step, t in self.refunds.items()
            if step < end_ms and step - start_ms <= within_ms
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "o": self.orders,
            "oa": self.order_amount,
            "b": self.buyers.to_json(),
            "s": self.sessions.to_json(),
            "c": self.categories,
            "so": self.sample_orders,
            "r": {str(k): v.to_dict() for k, v in self.refunds.items()},
            "u": self.unmatched_refunds,
            "q": self.complaints,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Bucket:
        refunds = {int(k): RefundTally.from_dict(v) for k, v in d["r"].items()}
        return cls(
            _int(d["o"]), _num(d["oa"]), Tally.from_json(d["b"]), Tally.from_json(d["s"]),
            _counts(d["c"]), [str(x) for x in d["so"]], refunds, _int(d["u"]), _counts(d["q"]),
        )  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class PendingRefund:
    """A refund that arrived before its order (topics are consumed independently). It waits in
    the order memory, keyed by its order id; the anchor it names counts it in `waiting`."""

    refund_event_id: str
    session_id: str | None
    requested_ms: int
    amount: float
    reason: str
    shipped: bool
    anchor_id: str
    """The anchor whose state counts this refund while it waits (the one the refund names)."""

    def __init__(
        self, refund_event_id: str, session_id: str | None, requested_ms: int, amount: float,
        reason: str, shipped: bool, anchor_id: str,
    ) -> None:  # fmt: skip
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.refund_event_id = refund_event_id
        self.session_id = session_id
        self.requested_ms = requested_ms
        self.amount = amount
        self.reason = reason
        self.shipped = shipped
        self.anchor_id = anchor_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "e": self.refund_event_id,
            "s": self.session_id,
            "t": self.requested_ms,
            "a": self.amount,
            "r": self.reason,
            "sh": self.shipped,
            "an": self.anchor_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PendingRefund:
        session = d["s"]
        return cls(str(d["e"]), None if session is None else str(session), _int(d["t"]),
                   _num(d["a"]), str(d["r"]), bool(d["sh"]), str(d["an"]))  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(slots=True)
class Episode:
    """The alert state of one rule for one anchor; see `lifecycle`."""

    alert_id: str
    started_ms: int
    status: AlertStatus = AlertStatus.FIRING
    severity: Severity = Severity.WARNING
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
        return cls(str(d["id"]), _int(d["st"]), AlertStatus(d["s"]), Severity(d["sev"]),
                   _opt_int(d["calm"]), _opt_int(d["end"]))  # fmt: skip


NO_LOWER_BOUND = -(1 << 62)
"""`AnchorState.low_ms` before anything is known of the buckets (a state just loaded)."""

STATE_VERSION = 2
"""Format of the stored state; 2: bounded buckets in records of their own, waiting refunds in
the order memory."""


class StateVersionError(ValueError):
    """Stored state in a format this version cannot read."""


DECODE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
"""What a stored record's content can raise while being read back (not the store's errors)."""


@mypyc_attr(acyclic=True)
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
    """Latest event time counted per input topic (shown in the HTTP API). Lateness is judged
    against the topic of the partition that read an event, not here: an anchor's records may
    come from every partition."""
    buckets: dict[int, Bucket] = field(default_factory=dict)
    hist_orders: float = 0.0
    """Decayed order count of buckets that left the long window: the anchor's own baseline."""
    hist_refunds: float = 0.0
    hist_early: float = 0.0
    """Of those buckets' refunds, the ones requested soon after their order (the refund rule's
    early `within_s`): the anchor's own refund pace."""
    hist_repeat: dict[int, list[float]] = field(default_factory=dict)
    """Per window length (seconds) `order_concentration` counts repeat buyers in: decayed
    [orders, repeat buyers] of those windows, counted as they folded. The anchor's own
    normal repeat buying."""
    hist_ms: int | None = None
    """Event time the history was last decayed to."""
    paced_to_ms: int | None = None
    """The buckets that started before this have taught the partition's refund pace."""
    order_hours: dict[int, int] = field(default_factory=dict)
    """Orders per hour of buckets folded in the last day: the complaint-rate denominator."""
    recent_ids: dict[str, dict[str, int]] = field(default_factory=dict)
    """Topic -> event id -> event time of complaints still inside the long window: a duplicate
    delivery is dropped (an older one changes no window). Orders and refunds are recognised by
    the order memory instead, which keeps this bounded by the complaint rate, not the order
    rate."""
    waiting: dict[int, int] = field(default_factory=dict)
    """Step a refund was requested in -> refunds of that step still waiting for their order.
    The refunds themselves wait in the order memory; at most grace / step entries here."""
    deferred: list[tuple[int, str, Any]] = field(default_factory=list)
    """Out-of-order events (visible from, topic, compact form: `facts`), counted at the
    boundary after they became visible. No buyer id: the compact form holds its hash."""
    episodes: dict[str, Episode] = field(default_factory=dict)
    shadow_episodes: dict[str, Episode] = field(default_factory=dict)
    """Episodes of the shadow rule set, judged on the same state (see `rulebook`)."""

    touched: set[int] = field(default_factory=set, compare=False, repr=False)
    """Buckets changed since the store last wrote them (not stored): a batch writes only
    these, so an anchor's writes follow what changed, not how much it holds."""
    dropped: set[int] = field(default_factory=set, compare=False, repr=False)
    """Buckets folded away since the store last wrote them (not stored)."""
    deferred_ids: set[tuple[str, str]] = field(default_factory=set, compare=False, repr=False)
    """(topic, event id) of the deferred events, for a redelivery check that does not walk
    the list (not stored: rebuilt on load)."""
    head_stale: bool = field(default=True, compare=False, repr=False)
    """Whether the head (everything but the buckets) may differ from the one the store last
    wrote in more than the latest event times (not stored). A counted event changes only its
    bucket and those times, unless it makes a bucket, moves the start back or leaves a refund
    waiting, which set this; a state made anew or read back starts stale. Live, a batch of a
    few hundred records wrote the head of every anchor it touched (47 of 100 changelog
    records at 8,500 events/s); the store writes a head only when this is set or a change
    other than counting was put (see `StateStore.put_counts`)."""
    low_ms: int = field(default=NO_LOWER_BOUND, compare=False, repr=False)
    """At or before the start of every bucket held (not stored): a boundary whose long window
    starts at or before it folds nothing, and need not look for the oldest bucket (that look,
    a walk over every bucket at every boundary, was 3% of a worker). Lowered as buckets are
    made; raised only by the boundary that finds the oldest (see `Detector._boundary`)."""

    def head_dict(self) -> dict[str, Any]:
        """Everything but the buckets, which are records of their own (see `bucket_key`)."""
        return {
            "v": STATE_VERSION,
            "a": self.anchor_id,
            "ev": self.evaluated_to_ms,
            "evd": self.evaluated,
            "tw": self.topic_watermarks,
            "bs": sorted(self.buckets),
            "ho": self.hist_orders,
            "hr": self.hist_refunds,
            "he": self.hist_early,
            "hrw": {str(k): v for k, v in self.hist_repeat.items()},
            "ht": self.hist_ms,
            "pt": self.paced_to_ms,
            "oh": {str(k): v for k, v in self.order_hours.items()},
            "ids": self.recent_ids,
            "w": {str(k): v for k, v in self.waiting.items()},
            "d": [list(d) for d in self.deferred],
            "e": {k: v.to_dict() for k, v in self.episodes.items()},
            **({"se": {k: v.to_dict() for k, v in self.shadow_episodes.items()}}
               if self.shadow_episodes else {}),
        }  # fmt: skip

    @staticmethod
    def check_version(d: dict[str, Any]) -> None:
        """Raise StateVersionError for a head written in a format this version cannot read."""
        if d.get("v") != STATE_VERSION:
            raise StateVersionError(
                f"anchor state of {d.get('a')!r} has format {d.get('v', 1)}, this livewatch "
                f"reads {STATE_VERSION}: start it with a new LIVEWATCH_APP_ID (see "
                "docs/reliability.md, Upgrading)"
            )

    @classmethod
    def from_head(cls, d: dict[str, Any], buckets: dict[int, Bucket]) -> AnchorState:
        """The state from its head record and the bucket records it lists (raises KeyError,
        TypeError or ValueError on content it cannot use: a number that is not finite, say)."""
        cls.check_version(d)
        return cls(
            anchor_id=str(d["a"]),
            evaluated_to_ms=_opt_int(d["ev"]),
            evaluated=bool(d["evd"]),
            topic_watermarks=_counts(d["tw"]),
            buckets=buckets,
            hist_orders=_num(d["ho"]),
            hist_refunds=_num(d["hr"]),
            # A state written before the pace was kept starts learning it now.
            hist_early=_num(d.get("he", 0.0)),
            hist_repeat=_hist_repeat(d),
            hist_ms=_opt_int(d["ht"]),
            paced_to_ms=_opt_int(d.get("pt")),
            order_hours={int(k): _int(v) for k, v in d["oh"].items()},
            recent_ids={str(k): _counts(v) for k, v in d["ids"].items()},
            waiting={int(k): _int(v) for k, v in d["w"].items()},
            deferred=[(int(v), str(k), e) for v, k, e in d["d"]],
            episodes={k: Episode.from_dict(v) for k, v in d["e"].items()},
            shadow_episodes={k: Episode.from_dict(v) for k, v in d.get("se", {}).items()},
            deferred_ids={(str(k), parked_id(e)) for _, k, e in d["d"]},
        )

    def to_dict(self) -> dict[str, Any]:
        """The whole state as one JSON-able value (tests and tools; the worker stores records)."""
        return {**self.head_dict(), "b": {str(k): v.to_dict() for k, v in self.buckets.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnchorState:
        return cls.from_head(d, {int(k): Bucket.from_dict(v) for k, v in d["b"].items()})

    def is_active(self) -> bool:
        """Whether boundaries still need evaluating: counts in windows, refunds waiting for
        their order, or an episode that has not resolved."""
        return bool(self.buckets or self.waiting or self.deferred or self.any_firing())

    def any_firing(self) -> bool:
        """Whether an episode, live or shadow, is open."""
        return any(e.status == AlertStatus.FIRING for e in self.episodes.values()) or any(
            e.status == AlertStatus.FIRING for e in self.shadow_episodes.values()
        )

    def firing(self, rule: RuleName) -> bool:
        """Whether `rule` has an episode open on this anchor."""
        episode = self.episodes.get(rule)
        return episode is not None and episode.status == AlertStatus.FIRING

    def bucket(self, start_ms: int) -> Bucket:
        """The bucket at `start_ms` for changing (created if needed, marked as touched)."""
        found = self.buckets.get(start_ms)
        if found is None:
            found = self.buckets[start_ms] = Bucket()
            self.head_stale = True  # the head lists the buckets
            if start_ms < self.low_ms:
                self.low_ms = start_ms
        self.touched.add(start_ms)
        self.dropped.discard(start_ms)
        return found

    def drop_bucket(self, start_ms: int) -> Bucket:
        """Remove a bucket (folded into the history) and remember to delete its record."""
        self.touched.discard(start_ms)
        self.dropped.add(start_ms)
        self.head_stale = True
        return self.buckets.pop(start_ms)


def bucket_key(anchor_id: str, start_ms: int) -> str:
    """The key of an anchor's bucket record, `anchor@start` (unique: the start is a number
    after the last `@`, whatever the anchor id holds)."""
    return f"{anchor_id}@{start_ms}"
