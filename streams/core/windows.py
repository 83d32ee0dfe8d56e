"""Sums over an anchor's buckets for the short and long windows, in event time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from streams.core.clock import window_buckets
from streams.core.rates import wilson_lower_bound
from streams.core.sketches import Merged, Tally, merge
from streams.core.state import BUYERS_KEEP, SESSIONS_KEEP, AnchorState

QUALITY_COMPLAINTS = frozenset({"quality", "counterfeit", "not_as_described", "false_advertising"})
"""Complaint categories that speak of the product itself."""


@dataclass(slots=True)
class Figures:
    """What happened in one window [start_ms, end_ms) of one anchor."""

    start_ms: int
    end_ms: int
    orders: int = 0
    order_amount: float = 0.0
    refunds: int = 0
    refund_amount: float = 0.0
    refunded_unshipped: int = 0
    unmatched_refunds: int = 0
    buyers: Merged = field(default_factory=lambda: Merged({}, 0, False))
    """Orders per buyer (hashed): exact unless a bucket outgrew its exact count."""
    sessions: Merged = field(default_factory=lambda: Merged({}, 0, False))
    categories: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    complaints: Counter[str] = field(default_factory=Counter)
    refunded_sample: list[str] = field(default_factory=list)
    order_sample: list[str] = field(default_factory=list)

    @property
    def top_category(self) -> str | None:
        top = ranked(self.categories, 1)
        return top[0][0] if top else None

    @property
    def refund_rate(self) -> float:
        return self.refunds / self.orders if self.orders else 0.0

    @property
    def quality_complaints(self) -> int:
        return sum(n for cat, n in self.complaints.items() if cat in QUALITY_COMPLAINTS)

    @property
    def distinct_buyers(self) -> int:
        return self.buyers.distinct

    @property
    def top_session(self) -> str | None:
        found = self.sessions.most_common()
        return str(found) if found is not None else None


def ranked(counts: Counter[str], n: int) -> list[tuple[str, int]]:
    """The `n` largest counts, ties by name: the same whatever order they were counted in."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def figures(
    state: AnchorState, end_ms: int, size_ms: int, step_ms: int, samples: int = 5
) -> Figures:
    """Totals of the window [end - size, end): orders placed and refunds made before `end`."""
    fig = Figures(end_ms - size_ms, end_ms)
    buyers: list[Tally] = []
    sessions: list[Tally] = []
    for start in window_buckets(end_ms, size_ms, step_ms):
        b = state.buckets.get(start)
        if b is None:
            continue
        fig.orders += b.orders
        fig.order_amount += b.order_amount
        refunded: list[str] = []
        for step, tally in b.refunds.items():
            if step >= end_ms:
                continue  # requested after the window's end: not yet, as seen from `end_ms`
            fig.refunds += tally.refunds
            fig.refunded_unshipped += tally.unshipped
            fig.refund_amount += tally.amount
            _add(fig.reasons, tally.reasons)
            refunded.extend(tally.sample)
        refunded.sort()
        fig.unmatched_refunds += b.unmatched_refunds
        buyers.append(b.buyers)
        sessions.append(b.sessions)
        _add(fig.categories, b.categories)
        _add(fig.complaints, b.complaints)
        if len(fig.refunded_sample) < samples:
            fig.refunded_sample.extend(refunded[: samples - len(fig.refunded_sample)])
        if len(fig.order_sample) < samples:
            fig.order_sample.extend(b.sample_orders[: samples - len(fig.order_sample)])
    fig.buyers = merge(buyers, BUYERS_KEEP, distinct=True)
    fig.sessions = merge(sessions, SESSIONS_KEEP, distinct=False)
    return fig


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    """`Counter.update` from a mapping, compiled: its loop is Python's, and over a long
    window's buckets it was most of what `figures` cost."""
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


def buyers_of(state: AnchorState, end_ms: int, size_ms: int, step_ms: int) -> Merged:
    """`Figures.buyers` of the window [end - size, end), alone: what a rule reads first,
    before it needs the rest of `figures`."""
    found = (state.buckets.get(start) for start in window_buckets(end_ms, size_ms, step_ms))
    return merge([b.buyers for b in found if b is not None], BUYERS_KEEP, distinct=True)


def totals(state: AnchorState, end_ms: int, size_ms: int, step_ms: int) -> tuple[int, int, int]:
    """Orders, refunded orders and complaints of a window: `figures` without the breakdowns,
    cheap enough to run over every anchor for a metrics scrape or a ranking."""
    orders = refunds = complaints = 0
    for start in window_buckets(end_ms, size_ms, step_ms):
        b = state.buckets.get(start)
        if b is not None:
            orders += b.orders
            refunds += b.refunded_before(end_ms)
            complaints += sum(b.complaints.values())
    return orders, refunds, complaints


@dataclass(frozen=True, slots=True)
class ShortWindow:
    """The short window inside the long one whose refund rate is most surely high."""

    end_ms: int
    size_ms: int
    orders: int
    refunds: int
    lower_bound: float


def best_short_window(
    state: AnchorState,
    long_end_ms: int,
    long_ms: int,
    short_ms: int,
    step_ms: int,
    min_orders: int,
    z: float,
) -> ShortWindow | None:
    """Among the short windows that end inside the long window, the one with the highest Wilson
    lower bound and at least `min_orders` orders; None when no short window has enough orders.

    Orders are refunded minutes to hours later, so the burst that explains a high long-window
    rate need not be the latest short window: every short window inside the long one counts.
    """
    starts = list(window_buckets(long_end_ms, long_ms, step_ms))
    orders = [0] * len(starts)
    refunds = [0] * len(starts)
    for i, start in enumerate(starts):
        b = state.buckets.get(start)
        if b is not None:
            orders[i] = b.orders
            refunds[i] = b.refunded_before(long_end_ms)
    width = short_ms // step_ms
    best: ShortWindow | None = None
    o_sum = sum(orders[:width])
    r_sum = sum(refunds[:width])
    for last in range(width - 1, len(starts)):
        if last >= width:
            o_sum += orders[last] - orders[last - width]
            r_sum += refunds[last] - refunds[last - width]
        if o_sum >= min_orders:
            lb = wilson_lower_bound(r_sum, o_sum, z)
            if best is None or lb > best.lower_bound:
                best = ShortWindow(starts[last] + step_ms, short_ms, o_sum, r_sum, lb)
    return best
