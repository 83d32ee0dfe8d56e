"""The one detection path: events in, per-anchor state updated, alerts out.

Events only update state. Rules are evaluated at step boundaries: the boundary T is evaluated
once every input has passed T (the caller's safe time), and counts exactly what happened before
T. So the alerts and their ids depend on the events, not on how the three topics interleaved, how
they were batched, or when a worker restarted: the worker and the offline replay agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from mypy_extensions import mypyc_attr

from schemas import Alert, AlertStatus, InputEvent, RuleName, Severity
from streams.core.attribution import OrderMemory, OrderRef
from streams.core.clock import DAY_MS, HOUR_MS, bucket_start, from_ms, is_late
from streams.core.evaluate import QUIET, Held, Verdict, Windows, held, held_in, whole_steps
from streams.core.facts import (
    ComplaintFact,
    Fact,
    OrderFact,
    RefundFact,
    as_fact,
    parked_fact,
)
from streams.core.lifecycle import advance, close
from streams.core.pace import RefundPace, read_horizon, taught_by
from streams.core.registry import Gate, burst_window, gates, reaches, reaches_totals
from streams.core.repeat_buyers import count_repeat_buyers
from streams.core.rulebook import RuleBook
from streams.core.rules import Rules
from streams.core.state import AnchorState, Episode, PendingRefund, RefundTally

SAMPLE_ORDERS_PER_BUCKET = 3
MAX_DEFERRED = 1_000
"""Out-of-order events one anchor holds for their boundary; beyond it they are dropped and
counted (`Stats.dropped`). A few per minute in normal traffic; the cap keeps an anchor's head
record (which holds them) near 100 KB when one topic runs far ahead of another."""
MAX_COMPLAINT_IDS = 1_000
"""Complaint ids one anchor keeps for de-duplication (those inside the long window); beyond
it the oldest is forgotten and counted."""


@mypyc_attr(allow_interpreted_subclasses=True)
class StateStore:
    """Anchor states by `anchor_id`. A base class, not a protocol, as `OrderMemory`."""

    def get(self, anchor_id: str) -> AnchorState | None:
        raise NotImplementedError

    def put(self, state: AnchorState) -> None:
        raise NotImplementedError

    def put_counts(self, state: AnchorState) -> None:
        """As `put`, after counting an event: unless `state.head_stale`, only its buckets'
        counts and its latest event times changed, and a store that writes the head apart
        may leave it for the next change (the latest event times are shown, not judged)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Time settings of detection, in milliseconds."""

    windows: Windows
    grace_ms: int
    order_horizon_ms: int


@dataclass
class Stats:
    """Counts the shell turns into metrics; the core never touches a metrics library."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(topic kind, outcome) -> events; outcome is ok, late or duplicate."""
    attribution: Counter[str] = field(default_factory=Counter)
    """How refunds were attributed: order, pending_then_order, fallback (after waiting for the
    order), unattributed (no order, no anchor), beyond_window (refunded after the order left
    the long window: too late to matter for any window)."""
    evaluations: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    """What a per-anchor or per-order cap dropped: deferred (out-of-order events),
    complaint_ids (de-duplication memory), index_refunds (refunds waiting for one order)."""


class Detector:
    """Applies events to anchor states and turns rule verdicts into alert transitions."""

    def __init__(
        self,
        rules: Rules,
        config: DetectorConfig,
        orders: OrderMemory,
        states: StateStore,
        clock: Callable[[], int],
        book: RuleBook | None = None,
    ) -> None:
        self.rules = rules
        """The live rules of the boundary being evaluated (see `_use_rules_at`)."""
        self.rules_version = 0
        self.book = book if book is not None else RuleBook(rules)
        """The rules file and the rule sets published since (see `rulebook`)."""
        self._shadow: tuple[int, Rules] | None = None
        """The shadow rule set of the boundary being evaluated, if any."""
        self.config = config
        self.orders = orders
        self.states = states
        self.clock = clock
        """Wall clock in ms, only for `emitted_at`: detection itself runs on event time."""
        self.stats = Stats()
        self._plain = _plain(rules, config.windows)
        """What the folds and the pace read of the live rules, as plain numbers."""
        self._known_gates: dict[int, _Gates] = {}
        """Per rule set in use (few are), by id."""
        self._burst = 0
        self._burst_of: tuple[int, int] | None = None
        """The book (by id) and how many sets it held when `_burst` was worked out."""
        self.pace = RefundPace()
        """The refund pace of a detector driven directly, as one partition (a `PartitionTask`
        passes its own)."""

    # -- events ---------------------------------------------------------------------------------

    def apply(self, event: InputEvent | Fact, seen_ms: int | None = None) -> str | None:
        """Count one valid event; returns the anchor whose state it touched, if any.

        `seen_ms` is how far the event's topic (on its partition) had already got when the event
        arrived. An event more than the grace period behind it is late and skipped: like Kafka
        Streams' stream time, lateness is judged against the partition's topic, not the anchor,
        so it does not depend on which partition an anchor's records were produced to (see
        `partition`). An event behind `seen_ms` by less arrived out of order: it is counted,
        but only from the first boundary after `seen_ms`, so no evaluation depends on when it
        happened to be read relative to the other topics.
        """
        return self._dispatch(as_fact(event), seen_ms, judged=False)

    def apply_forwarded(self, fact: Fact, visible_ms: int) -> str | None:
        """Count an event another partition sent to its anchor's (see `partition`).

        Its lateness was judged where it was read, against its own topic: an anchor's records
        reach here from every partition in whatever order the producers interleave them. It
        becomes visible at `visible_ms`, exactly as an out-of-order event does.
        """
        return self._dispatch(fact, visible_ms, judged=True)

    def _dispatch(self, fact: Fact, seen_ms: int | None, judged: bool) -> str | None:
        if isinstance(fact, OrderFact):
            return self._order(fact, seen_ms, judged)
        if isinstance(fact, RefundFact):
            return self._refund(fact, seen_ms, judged)
        return self._complaint(fact, seen_ms, judged)

    def _load(self, anchor_id: str, ts_ms: int) -> AnchorState:
        state = self.states.get(anchor_id)
        if state is None:
            # A new anchor is evaluated from the boundary at or before its first event.
            state = AnchorState(anchor_id, evaluated_to_ms=bucket_start(ts_ms, self._step))
        return state

    def _begin_by(self, state: AnchorState, ts_ms: int) -> None:
        """Move a not yet evaluated anchor's start back to an earlier event's boundary.

        Which event of an anchor a worker reads first depends on how its fetches interleave
        the topics; the boundaries between the earliest event and the first one read must be
        evaluated all the same. Before its first event an anchor's windows are empty, so
        starting earlier than needed changes nothing, and the result no longer depends on the
        reading order.
        """
        start = bucket_start(ts_ms, self._step)
        if not state.evaluated and (state.evaluated_to_ms is None or start < state.evaluated_to_ms):
            state.evaluated_to_ms = start
            state.head_stale = True

    @property
    def _step(self) -> int:
        return self.config.windows.step_ms

    def _admit(
        self, state: AnchorState, fact: Fact, seen_ms: int | None, judged: bool,
        remembered: OrderRef | None,
    ) -> bool:  # fmt: skip
        """Late and duplicate events are counted and skipped (`judged`: lateness was decided
        upstream). `remembered`: a refund's order as the order memory has it (see `_seen`;
        None for orders and complaints, and for a refund whose order it does not hold)."""
        kind = fact.kind
        if not judged and is_late(fact.t, seen_ms, self.config.grace_ms):
            self.stats.outcomes[(kind, "late")] += 1
            return False
        if self._seen(state, fact, remembered):
            self.stats.outcomes[(kind, "duplicate")] += 1
            return False
        self.stats.outcomes[(kind, "ok")] += 1
        previous = state.topic_watermarks.get(kind)
        if previous is None or fact.t > previous:
            state.topic_watermarks[kind] = fact.t
        if isinstance(fact, ComplaintFact):
            ids = state.recent_ids.setdefault(kind, {})
            if len(ids) >= MAX_COMPLAINT_IDS:
                # Forget the oldest: a redelivery of it, should one come, counts again.
                del ids[min(ids, key=ids.__getitem__)]
                self.stats.dropped["complaint_ids"] += 1
            ids[fact.event_id] = fact.t
        return True

    def _seen(self, state: AnchorState, fact: Fact, remembered: OrderRef | None) -> bool:
        """Whether this event was counted already (a redelivery).

        Complaints are recognised by their recent ids (deferred ones included); orders by the
        order memory, refunds by the refund their order counted (or the one waiting for it),
        and either, while still waiting to become visible (deferred), by its id. A refund's
        order (`remembered`) was read by the caller, whatever its age: read again, a stored
        record is decoded again."""
        if isinstance(fact, ComplaintFact):
            return fact.event_id in state.recent_ids.get(fact.kind, {})
        if isinstance(fact, OrderFact):
            known = self.orders.get(fact.order_id) is not None
        else:
            if remembered is not None:
                known = remembered.refund_event == fact.event_id
            else:
                waiting = self.orders.waiting(fact.order_id)
                known = waiting is not None and waiting.refund_event_id == fact.event_id
        return known or (fact.kind, fact.event_id) in state.deferred_ids

    def _defer(self, state: AnchorState, fact: Fact, seen_ms: int | None) -> bool:
        """Hold an out-of-order event until the boundary after `seen_ms` (see `apply`); past
        `MAX_DEFERRED` held events of one anchor it is dropped and counted."""
        if seen_ms is None or seen_ms <= fact.t:
            return False
        if len(state.deferred) >= MAX_DEFERRED:
            self.stats.dropped["deferred"] += 1
        else:
            state.deferred.append((seen_ms, fact.kind, fact.to_list()))
            state.deferred_ids.add((fact.kind, fact.event_id))
        self.states.put(state)
        return True

    def _order(self, fact: OrderFact, seen_ms: int | None, judged: bool) -> str | None:
        state = self._load(fact.anchor_id, fact.t)
        if not self._admit(state, fact, seen_ms, judged, None):
            return None
        self._begin_by(state, fact.t)
        if not self._defer(state, fact, seen_ms):
            self._count_order(state, fact)
            self.states.put_counts(state)
        return state.anchor_id

    def _count_order(self, state: AnchorState, fact: OrderFact) -> None:
        b = state.bucket(bucket_start(fact.t, self._step))
        b.orders += 1
        b.order_amount += fact.amount
        b.add_buyer_hash(fact.buyer)
        b.add_session(fact.session_id)
        b.categories[fact.category] = b.categories.get(fact.category, 0) + 1
        if len(b.sample_orders) < SAMPLE_ORDERS_PER_BUCKET:
            b.sample_orders.append(fact.order_id)
        ref = OrderRef(state.anchor_id, fact.session_id, fact.t, fact.category, buyer=fact.buyer)
        self.orders.put(fact.order_id, ref)
        pending = self.orders.waiting(fact.order_id)
        if pending is not None:
            self.orders.release(fact.order_id)
            if self._stop_waiting(state, pending):
                self._count_refund(state, fact.order_id, ref, pending)
                self.stats.attribution["pending_then_order"] += 1

    def _stop_waiting(self, state: AnchorState, pending: PendingRefund) -> bool:
        """Take a waiting refund off its anchor's count; False when it was settled already (its
        order came after the grace period: it was counted against its own anchor then)."""
        holder = (
            state if pending.anchor_id == state.anchor_id else self.states.get(pending.anchor_id)
        )
        step = bucket_start(pending.requested_ms, self._step)
        if holder is None or not holder.waiting.get(step):
            return False
        holder.waiting[step] -= 1
        if not holder.waiting[step]:
            del holder.waiting[step]
        self.states.put(holder)
        return True

    def _order_of(self, order_id: str, t: int) -> OrderRef | None:
        return self._within_horizon(self.orders.get(order_id), t)

    def _within_horizon(self, ref: OrderRef | None, t: int) -> OrderRef | None:
        if ref is not None and t - ref.placed_ms > self.config.order_horizon_ms:
            return None  # remembered past the horizon: as good as unknown
        return ref

    def _refund(self, fact: RefundFact, seen_ms: int | None, judged: bool) -> str | None:
        remembered = self.orders.get(fact.order_id)
        ref = self._within_horizon(remembered, fact.t)
        anchor_id = ref.anchor_id if ref else fact.anchor_id
        if anchor_id is None:
            self.stats.outcomes[("refunds", "ok")] += 1
            self.stats.attribution["unattributed"] += 1
            return None
        state = self._load(anchor_id, fact.t)
        if not self._admit(state, fact, seen_ms, judged, remembered):
            return None
        self._begin_by(state, fact.t)
        if not self._defer(state, fact, seen_ms):
            self._count_refund_event(state, fact, ref)
            self.states.put_counts(state)
        return state.anchor_id

    def _count_refund_event(
        self, state: AnchorState, fact: RefundFact, ref: OrderRef | None
    ) -> None:
        pending = PendingRefund(
            fact.event_id, fact.session_id, fact.t, fact.amount, fact.reason, fact.shipped,
            state.anchor_id,
        )  # fmt: skip
        if ref is None:
            # The order may still be on its way (topics are consumed independently): wait for it
            # for the grace period before falling back to the refund's own anchor. The first
            # refund to wait for an order is the one that counts.
            if self.orders.waiting(fact.order_id) is None:
                self.orders.wait(fact.order_id, pending)
                step = bucket_start(fact.t, self._step)
                state.waiting[step] = state.waiting.get(step, 0) + 1
                state.head_stale = True
        else:
            self._count_refund(state, fact.order_id, ref, pending)
            self.stats.attribution["order"] += 1

    def _count_refund(
        self, state: AnchorState, order_id: str, ref: OrderRef, refund: PendingRefund
    ) -> None:
        if ref.refund_event is not None:
            return  # the order counts as refunded once, however many refunds it gets
        self.orders.put(order_id, ref.refunded_by(refund.refund_event_id))
        if refund.requested_ms - ref.placed_ms >= self.config.windows.long_ms:
            # No window holds both the order and a refund this late; not in the baseline either,
            # which measures refunds while orders are recent.
            self.stats.attribution["beyond_window"] += 1
            return
        b = state.bucket(bucket_start(ref.placed_ms, self._step))
        step = bucket_start(refund.requested_ms, self._step)
        tally = b.refunds.get(step)
        if tally is None:
            tally = b.refunds[step] = RefundTally()
        tally.add(order_id, refund.shipped, refund.amount, refund.reason, ref.buyer)

    def _complaint(self, fact: ComplaintFact, seen_ms: int | None, judged: bool) -> str | None:
        state = self._load(fact.anchor_id, fact.t)
        if not self._admit(state, fact, seen_ms, judged, None):
            return None
        self._begin_by(state, fact.t)
        if not self._defer(state, fact, seen_ms):
            self._count_complaint(state, fact)
            self.states.put(state)
        return state.anchor_id

    def _count_complaint(self, state: AnchorState, fact: ComplaintFact) -> None:
        b = state.bucket(bucket_start(fact.t, self._step))
        b.complaints[fact.category] = b.complaints.get(fact.category, 0) + 1

    def _release_deferred(self, state: AnchorState, boundary_ms: int) -> None:
        """Count the out-of-order events that had become visible before `boundary_ms`."""
        due = [d for d in state.deferred if d[0] < boundary_ms]
        if not due:
            return
        state.deferred = [d for d in state.deferred if d[0] >= boundary_ms]
        for _, kind, data in due:
            fact = parked_fact(kind, data)
            state.deferred_ids.discard((kind, fact.event_id))
            if isinstance(fact, OrderFact):
                self._count_order(state, fact)
            elif isinstance(fact, RefundFact):
                self._count_refund_event(state, fact, self._order_of(fact.order_id, fact.t))
            else:
                self._count_complaint(state, fact)

    # -- time -----------------------------------------------------------------------------------

    def advance_to(
        self, safe_ms: int, anchors: Iterable[str], pace: RefundPace | None = None
    ) -> list[Alert]:
        """Evaluate the anchors (of one partition) at every step boundary up to `safe_ms`.

        `safe_ms` is a time every input has reached, so all on-time events before each boundary
        have been applied. Boundaries go in time order across the anchors (by anchor id within
        one): the refund pace that one anchor's evaluation reads was folded by the others at
        earlier boundaries, however far one call reaches. Returns the alert transitions in
        that order. `pace`: the partition's refund pace, which the anchors' folds teach and
        their early paths read (None: this detector's own).
        """
        pace = pace if pace is not None else self.pace
        alerts: list[Alert] = []
        last = bucket_start(safe_ms, self._step)
        due: dict[int, list[str]] = {}
        """Boundary -> the anchors to evaluate there (few distinct boundaries at a time)."""
        held: dict[str, AnchorState] = {}
        for anchor_id in anchors:
            state = self.states.get(anchor_id)
            if state is None or state.evaluated_to_ms is None:
                continue
            if state.evaluated_to_ms >= last:
                continue
            held[anchor_id] = state
            if state.is_active():
                nxt = self._next_boundary(state, state.evaluated_to_ms, last)
                if nxt is not None:
                    due.setdefault(nxt, []).append(anchor_id)
        while due:
            boundary = min(due)
            self._use_rules_at(boundary)
            ids = due.pop(boundary)
            ids.sort()  # nearly sorted already: they come from the boundary before, in order
            for anchor_id in ids:
                state = held[anchor_id]
                found, bound = self._boundary(state, boundary, pace)
                alerts.extend(found)
                if boundary < last and state.is_active():
                    nxt = self._next_boundary(state, boundary, last, bound)
                    if nxt is not None:
                        due.setdefault(nxt, []).append(anchor_id)
        oldest = last - self.config.windows.long_ms
        for state in held.values():
            self._forget_ids(state, oldest)
            state.evaluated_to_ms = last
            state.evaluated = True
            self.states.put(state)
        early = self.rules.refund_after_order_spike.early
        if early is not None:
            w = self.config.windows
            horizon = read_horizon(last, early.within_s * 1000, w.step_ms, self.config.grace_ms)
            pace.forget_unread(horizon, early.pace_hours)
        return alerts

    def _use_rules_at(self, boundary_ms: int) -> None:
        """Judge, fold and learn at this boundary under the rule sets in force there."""
        book = self.book
        if not book.published:
            return
        version, rules = book.live_at(boundary_ms)
        if rules is not self.rules:
            self.rules, self.rules_version = rules, version
            self._plain = _plain(rules, self.config.windows)
        self._shadow = book.shadow_at(boundary_ms)

    def _next_boundary(
        self, state: AnchorState, boundary: int, last: int, bound: Held | None = None
    ) -> int | None:
        """The next boundary up to `last` where something can change (None: none), so no
        stretch of quiet minutes is walked one by one (an order dated long before the rest of
        its anchor's would cost a step per minute in between, and most anchors hold too few
        orders for any rule most of the time): every boundary while an episode is open or
        some rule could cross with what the anchor holds; else the first where a rule could
        cross once a bucket ahead is seen, or that teaches the pace a bucket, folds one,
        releases a deferred event or settles a waiting refund. The boundaries skipped would
        change nothing: the gate before the rules (`evaluate.held`) finds every rule quiet at
        each of them, since without new events the anchor only loses buckets, by folds.
        Each candidate is the same however far the reading got past `boundary` (a bucket
        not read yet is seen after `last`), so the boundaries walked do not depend on how
        the records were batched either. `bound`: what the next boundary sees, if known."""
        step = self._step
        nxt = boundary + step
        if state.any_firing():
            return nxt
        candidates = []
        if state.buckets:
            crossing = self._first_crossing(state, nxt, bound)
            if crossing == nxt:
                return nxt
            if crossing is not None:
                candidates.append(crossing)
            oldest = min(state.buckets)
            candidates.append(bucket_start(oldest + self.config.windows.long_ms, step) + step)
            teach = self._next_teaching(state, nxt)
            if teach is not None:
                candidates.append(teach)
            change = self.book.next_change(nxt)
            if change is not None:
                # other rules from there, maybe with other floors
                candidates.append(-(-change // step) * step)
        if state.deferred:
            # released at the first boundary after the time it became visible
            candidates.append(bucket_start(min(d[0] for d in state.deferred), step) + step)
        if state.waiting:
            settle = min(state.waiting) + step + self.config.grace_ms
            candidates.append(-(-settle // step) * step)  # the first boundary at or after
        found = max(nxt, min(candidates, default=last + step))
        return found if found <= last else None

    def _first_crossing(self, state: AnchorState, nxt: int, bound: Held | None) -> int | None:
        """The first boundary from `nxt` at which some rule of the rule sets in force at `nxt`
        (live and shadow) could cross with the buckets it sees (None: none, until new events
        come)."""
        if bound is None:
            bound = held(state, nxt, self._step, self._burst_ms())
        floors = self._floors_at(nxt)
        if _reaches_any(bound, floors):
            return nxt
        # A list, not a generator: compiled, the comprehension is a plain loop (most anchors
        # hold no bucket ahead of the boundary).
        ahead = [s for s in state.buckets if s >= nxt]
        if not ahead:
            return None
        ahead.sort()
        for start in ahead:
            bound += held_in(state.buckets[start])
            if _reaches_any(bound, floors):
                return start + self._step
        return None

    def _floors_at(self, boundary_ms: int) -> tuple[Held, ...]:
        """The floors of every rule on, live and shadow, at a boundary."""
        book = self.book
        if not book.published:
            return self._gates(self.rules).floors
        floors = self._gates(book.live_at(boundary_ms)[1]).floors
        shadow = book.shadow_at(boundary_ms)
        return floors if shadow is None else floors + self._gates(shadow[1]).floors

    def _burst_ms(self) -> int:
        """The burst window `held` bounds (see `registry.burst_window`): the longest of every
        rule set the book holds, so it covers the window of whichever is in force (live or
        shadow) at the boundary judged. Worked out again when the book gains a set."""
        book = self.book
        sets = book.sets
        known = (id(book), len(sets["live"]) + len(sets["shadow"]))
        if known != self._burst_of:
            rule_sets = [self.rules, book.base]
            rule_sets.extend(s.rules for kind in sets.values() for s in kind if s.rules is not None)
            self._burst = burst_window(rule_sets, self.config.windows)
            self._burst_of = known
        return self._burst

    def _gates(self, rules: Rules | None) -> _Gates:
        known = self._known_gates.get(id(rules))
        if known is None or known.rules is not rules:
            found = gates(rules)
            floors = tuple(g.floor for g in found if g.floor is not None)
            known = _Gates(rules, found, floors)
            self._known_gates[id(rules)] = known
        return known

    def _next_teaching(self, state: AnchorState, nxt: int) -> int | None:
        """The first boundary at which `_teach_pace` would teach one of the anchor's buckets
        under the live rules at `nxt` (None: their early path is off, nothing is taught)."""
        rules = self.book.live_at(nxt)[1] if self.book.published else self.rules
        early = rules.refund_after_order_spike.early
        if early is None:
            return None
        step = self._step
        since = state.paced_to_ms
        first = None if since is None else since + (-since) % step
        earliest: int | None = None
        for s in state.buckets:
            if (first is None or s >= first) and (earliest is None or s < earliest):
                earliest = s
        if earliest is None:
            return None
        # taught once `_taught_upto` passes the bucket's start (it trails each boundary by lag)
        lag = nxt - self._taught_upto(nxt, early.within_s * 1000)
        return bucket_start(earliest + lag, step) + step

    def _taught_upto(self, boundary_ms: int, within_ms: int) -> int:
        """Buckets that start before this are taught to the pace by `boundary_ms`: their early
        refunds (`within_ms` of their orders) are in, and at the latest as the bucket folds,
        whatever the settings."""
        return max(
            taught_by(boundary_ms, within_ms, self._step, self.config.grace_ms),
            boundary_ms - self.config.windows.long_ms,
        )

    def is_active(self, anchor_id: str) -> bool:
        state = self.states.get(anchor_id)
        return state is not None and state.is_active()

    def _boundary(
        self, state: AnchorState, boundary_ms: int, pace: RefundPace
    ) -> tuple[list[Alert], Held]:
        """Count deferred events now visible, settle refunds whose order never came, fold
        matured buckets, evaluate the rules. Returns the alerts, and what the anchor holds
        for the next boundary: the buckets it sees bound what this one's rules read, so one
        pass serves the gate here and the choice of the next boundary."""
        self._release_deferred(state, boundary_ms)
        grace = self.config.grace_ms
        # Refunds whose order did not come within the grace period count against their own
        # anchor, at their own time (their records in the order memory expire with it).
        for step in [s for s in state.waiting if s + self._step <= boundary_ms - grace]:
            n = state.waiting.pop(step)
            state.bucket(step).unmatched_refunds += n
            self.stats.attribution["fallback"] += n
        oldest = boundary_ms - self.config.windows.long_ms
        self._teach_pace(state, boundary_ms, pace)
        if state.buckets and state.low_ms < oldest:
            # Some bucket may have left the long window: one walk finds them, and the oldest
            # bucket left, below which no boundary needs to look again (most fold nothing).
            stale = []
            low: int | None = None
            for start in state.buckets:
                if start < oldest:
                    stale.append(start)
                elif low is None or start < low:
                    low = start
            if stale:
                stale.sort()
                self._fold(state, stale, boundary_ms, pace)
            state.low_ms = oldest if low is None else low
        bound = held(state, boundary_ms + self._step, self._step, self._burst_ms())
        return self._evaluate(state, boundary_ms, pace, bound), bound

    def _forget_ids(self, state: AnchorState, oldest_ms: int) -> None:
        """Forget the ids of complaints older than any window still to be evaluated, once per
        `advance_to` as of its last boundary, whether or not the anchor was walked there (the
        ids are only read as events arrive, between calls): a redelivery that old changes no
        window, however late it comes (records reach an anchor from every partition, each
        judged late against its own partition's topic)."""
        ids = state.recent_ids.get("complaints")
        if ids and min(ids.values()) < oldest_ms:
            state.recent_ids["complaints"] = {k: t for k, t in ids.items() if t >= oldest_ms}

    def _fold(self, state: AnchorState, starts: list[int], now_ms: int, pace: RefundPace) -> None:
        """Fold matured buckets into the decayed history; an open refund episode is left out of
        the baseline so an anomaly does not teach the anchor that it is normal."""
        plain = self._plain
        half_life_ms = plain.half_life_ms
        if state.hist_ms is not None and now_ms > state.hist_ms:
            decay = 0.5 ** ((now_ms - state.hist_ms) / half_life_ms)
            state.hist_orders *= decay
            state.hist_refunds *= decay
            state.hist_early *= decay
            for learned in state.hist_repeat.values():
                learned[0] *= decay
                learned[1] *= decay
        state.hist_ms = now_ms if state.hist_ms is None else max(state.hist_ms, now_ms)
        self._learn_repeat_buying(state, starts)
        anomalous = state.firing(RuleName.REFUND_AFTER_ORDER_SPIKE)
        within = plain.early_within_ms
        for start in starts:
            b = state.drop_bucket(start)
            hour = bucket_start(start, HOUR_MS)
            state.order_hours[hour] = state.order_hours.get(hour, 0) + b.orders
            if not anomalous:
                state.hist_orders += b.orders
                state.hist_refunds += b.refunded_before(now_ms)
                if within is not None:
                    state.hist_early += b.refunded_within(start, within, now_ms)
        state.order_hours = {h: n for h, n in state.order_hours.items() if h >= now_ms - DAY_MS}

    def _teach_pace(self, state: AnchorState, boundary_ms: int, pace: RefundPace) -> None:
        """Add the buckets whose early refunds are all in (late ones included) to the
        partition's pace, once each; anchors with an open refund or `order_concentration`
        episode teach it nothing (brushing seen before its refunds is left out as well)."""
        plain = self._plain
        within = plain.early_within_ms
        if within is None:
            return
        step = self._step
        upto = self._taught_upto(boundary_ms, within)
        since = state.paced_to_ms
        buckets = state.buckets
        if since is None:
            due = sorted(s for s in buckets if s < upto)
            if not due:
                # A new anchor's buckets are not walked again at every boundary. As for an
                # anchor already teaching, a bucket older than this that comes later (only a
                # record forwarded from a partition far behind can) is not taught.
                state.paced_to_ms = upto
                return
        elif since >= upto:
            return
        else:
            # Usually one step since the last boundary: no walk over every bucket.
            first = since + (-since) % step
            due = [s for s in range(first, upto, step) if s in buckets]
        if not due:
            return
        state.paced_to_ms = upto  # past `since`: an earlier one returned above
        if state.firing(RuleName.REFUND_AFTER_ORDER_SPIKE) or state.firing(
            RuleName.ORDER_CONCENTRATION
        ):
            return
        rates = plain.normal_early
        other = rates["default"]
        front_ms = plain.early_front_ms
        for start in due:
            b = state.buckets[start]
            observed, front, claims = b.paced(start, within, front_ms, boundary_ms)
            expected = sum(n * rates.get(c, other) for c, n in b.categories.items())
            pace.add(start, observed, expected, front, claims)

    def _learn_repeat_buying(self, state: AnchorState, starts: list[int]) -> None:
        """Add the windows that begin at the buckets about to fold to the anchor's normal
        repeat buying, per window length (each window of a length ends where the longest
        that begins at the bucket does; the later buckets are still held), leaving out the
        windows an `order_concentration` episode overlapped, so a ring does not teach its
        anchor that rings are normal. Only the windows that begin on the longest's grid are
        read, weighted as the overlapping ones they stand for: the same rate at a tenth of
        the cost."""
        repeat = self._plain.repeat
        if repeat is None:
            return
        sizes, judged, min_minutes, min_orders = repeat
        longest = sizes[-1]
        weight = longest // self._step
        episode = state.episodes.get(RuleName.ORDER_CONCENTRATION)
        for start in starts:
            if start % longest:
                continue
            end = start + longest
            if (
                episode is not None
                and end > episode.started_ms - max(judged, longest)
                and (episode.ended_ms is None or start < episode.ended_ms)
            ):
                continue
            counts = count_repeat_buyers(state, end, sizes, self._step, min_minutes)
            for size, count in counts.items():
                # Windows the rule would have judged: as many orders, pro rata.
                if count.orders >= min_orders * size / judged:
                    learned = state.hist_repeat.setdefault(size // 1000, [0.0, 0.0])
                    learned[0] += weight * count.orders
                    learned[1] += weight * count.buyers

    # -- rules ----------------------------------------------------------------------------------

    def _evaluate(
        self, state: AnchorState, end_ms: int, pace: RefundPace, bound: Held
    ) -> list[Alert]:
        self.stats.evaluations += 1
        alerts = self._judge(state, end_ms, pace, self.rules, self.rules_version, False, bound)
        if self._shadow is not None:
            version, rules = self._shadow
            alerts.extend(self._judge(state, end_ms, pace, rules, version, True, bound))
        elif state.shadow_episodes:
            alerts.extend(self._judge(state, end_ms, pace, None, 0, True, bound))
        return alerts

    def _judge(
        self,
        state: AnchorState,
        end_ms: int,
        pace: RefundPace,
        rules: Rules | None,
        version: int,
        shadow: bool,
        bound: Held,
    ) -> list[Alert]:
        """Every rule of `rules` on the anchor, with the live or the shadow episodes. A rule
        turned off (or a shadow set withdrawn: `rules` None) resolves its open episode. A rule
        with no open episode that cannot cross with what the anchor holds (`bound`) is not
        judged: its verdict would be quiet, which changes nothing."""
        w = self.config.windows
        episodes = state.shadow_episodes if shadow else state.episodes
        alerts: list[Alert] = []
        for gate in self._gates(rules).gates:
            spec, settings, floor = gate.spec, gate.settings, gate.floor
            name = spec.name
            episode = episodes.get(name)
            if settings is None or floor is None:
                if episode is not None and episode.status == AlertStatus.FIRING:
                    alerts.append(self._disabled(state, episode, name, end_ms, version, shadow))
                continue
            assert rules is not None
            firing = episode is not None and episode.status == AlertStatus.FIRING
            if not firing and not reaches(bound, floor):
                continue
            verdict = spec.judge(state, end_ms, w, settings, firing, pace)
            new, transition = advance(
                episode, verdict.signal, name, state.anchor_id, end_ms, w.step_ms,
                rules.lifecycle, shadow,
            )  # fmt: skip
            if new is not None:
                episodes[name] = new
            if transition is not None and new is not None:
                alerts.append(
                    self._alert(state, verdict, new.alert_id, new.status, new.severity,
                                version, shadow)
                )  # fmt: skip
        return alerts

    def _disabled(
        self,
        state: AnchorState,
        episode: Episode,
        name: RuleName,
        end_ms: int,
        version: int,
        shadow: bool,
    ) -> Alert:
        """Resolve an open episode whose rule the rule set in force turned off: its
        subscribers would otherwise wait for a resolution that never comes."""
        close(episode, end_ms)
        episode.calm_since_ms = None  # not calm: turned off
        verdict = Verdict(
            name, QUIET, end_ms - self.config.windows.long_ms, end_ms,
            evidence={"window": "rule_disabled"},
        )  # fmt: skip
        return self._alert(
            state, verdict, episode.alert_id, episode.status, episode.severity, version, shadow
        )

    def _alert(
        self,
        state: AnchorState,
        verdict: Verdict,
        alert_id: str,
        status: AlertStatus,
        severity: Severity,
        version: int = 0,
        shadow: bool = False,
    ) -> Alert:
        observed, threshold, session_id, evidence = verdict.details
        return Alert.model_validate(
            {
                "alert_id": alert_id,
                "rule": verdict.rule,
                "status": status,
                "severity": severity,
                "anchor_id": state.anchor_id,
                "session_id": session_id,
                "window_start": from_ms(verdict.window_start_ms),
                "window_end": from_ms(verdict.window_end_ms),
                "observed": observed,
                "threshold": threshold,
                "evidence": evidence,
                "emitted_at": from_ms(self.clock()),
                "rules_version": version,
                "shadow": shadow,
            }
        )


class _Gates(NamedTuple):
    """`registry.gates` of a rule set, and the floors of the rules it has on."""

    rules: Rules | None
    gates: tuple[Gate, ...]
    floors: tuple[Held, ...]


def _reaches_any(bound: Held, floors: tuple[Held, ...]) -> bool:
    """Whether some floor is reached in its totals. The burst is left out: carried over the
    buckets ahead, it takes in every order they hold, which picks as many boundaries to walk
    as the totals do, each then walking the buckets ahead again. The gate before each rule
    (`_judge`) reads it, at the boundary judged."""
    return any(reaches_totals(bound, floor) for floor in floors)


class _Plain(NamedTuple):
    """What the folds, the pace and the repeat buyers' history read of a rule set at every
    boundary, read out of the (pydantic) rules once: each field read there cost compiled code
    a Python attribute lookup, 2% of a replay's instructions."""

    half_life_ms: int
    early_within_ms: int | None
    """None: the early path is off."""
    early_front_ms: int
    normal_early: dict[str, float]
    """Early refunds per order the rules expect of a normal anchor, per category."""
    repeat: tuple[list[int], int, int, int] | None
    """`order_concentration`'s repeat-buyer windows (whole steps, ascending), its judged
    window, `min_minutes` and `min_orders`; None when the rule or its repeat buyers are off."""


def _plain(rules: Rules, w: Windows) -> _Plain:
    early = rules.refund_after_order_spike.early
    rule = rules.order_concentration
    repeat = None
    if rule is not None and rule.enabled and rule.repeat_buyers is not None:
        sizes = sorted({whole_steps(s, w) for s in rule.repeat_buyers.windows_s})
        repeat = (sizes, whole_steps(rule.window_s, w), rule.repeat_buyers.min_minutes,
                  rule.min_orders)  # fmt: skip
    return _Plain(
        rules.lifecycle.baseline_half_life_s * 1000,
        None if early is None else early.within_s * 1000,
        0 if early is None else early.window_s * 1000,
        _normal_early(rules),
        repeat,
    )


def _normal_early(rules: Rules) -> dict[str, float]:
    """Early refunds per order the rules expect of a normal anchor, per category."""
    spike = rules.refund_after_order_spike
    share = spike.early.normal_share if spike.early is not None else 0.0
    return {c: v.baseline_rate * share for c, v in spike.categories.items()}
