"""Window sums and the best short window agree with a naive recount."""

from __future__ import annotations

import random

from streams.core.clock import MINUTE_MS
from streams.core.rates import wilson_lower_bound
from streams.core.state import AnchorState, Bucket, RefundTally
from streams.core.windows import best_short_window, figures, totals

Refund = tuple[int, bool, int]
"""(bucket start, shipped, refund time): the naive record a test recounts from."""

REFUNDS: dict[int, list[Refund]] = {}


def _state(seed: int) -> AnchorState:
    rng = random.Random(seed)
    state = AnchorState("a")
    refunds: list[Refund] = []
    for minute in range(90):
        if rng.random() < 0.7:
            orders = rng.randrange(0, 12)
            b = state.buckets[minute * MINUTE_MS] = Bucket(orders=orders)
            for i in range(orders):
                if rng.random() < 0.4:
                    shipped = rng.random() < 0.5
                    at = (minute + rng.randrange(0, 40)) * MINUTE_MS + rng.randrange(MINUTE_MS)
                    step = at - at % MINUTE_MS
                    b.refunds.setdefault(step, RefundTally()).add(f"o{minute}-{i}", shipped,
                                                                  1.0, "other")  # fmt: skip
                    refunds.append((minute * MINUTE_MS, shipped, at))
    REFUNDS[seed] = refunds
    return state


def _refunded(seed: int, starts: range, end: int) -> int:
    return sum(1 for start, _, at in REFUNDS[seed] if start in starts and at < end)


def test_figures_match_naive_sum() -> None:
    state = _state(1)
    fig = figures(state, 80 * MINUTE_MS, 60 * MINUTE_MS, MINUTE_MS)
    end = 80 * MINUTE_MS
    kept = [b for start, b in state.buckets.items() if 20 * MINUTE_MS <= start < end]
    inside = [r for r in REFUNDS[1] if 20 * MINUTE_MS <= r[0] < end]
    before = [r for r in inside if r[2] < end]
    assert fig.orders == sum(b.orders for b in kept)
    assert fig.refunds == len(before) > 0
    assert len(before) < len(inside)  # later refunds are left out
    assert fig.refunded_unshipped == sum(1 for r in before if not r[1])


def test_best_short_window_is_the_naive_maximum() -> None:
    """For several random states, the sliding maximum equals a brute-force search."""
    for seed in range(20):
        state = _state(seed)
        end, long_ms, short_ms = 85 * MINUTE_MS, 60 * MINUTE_MS, 10 * MINUTE_MS
        best = best_short_window(state, end, long_ms, short_ms, MINUTE_MS, min_orders=10, z=1.96)
        naive = None
        for e in range(end - long_ms + short_ms, end + 1, MINUTE_MS):
            starts = range(e - short_ms, e, MINUTE_MS)
            o = sum(b.orders for s in starts if (b := state.buckets.get(s)))
            r = _refunded(seed, starts, end)
            if o >= 10:
                lb = wilson_lower_bound(r, o)
                if naive is None or lb > naive[0]:
                    naive = (lb, e, o, r)
        if naive is None:
            assert best is None
        else:
            assert best is not None
            assert (best.lower_bound, best.end_ms, best.orders, best.refunds) == naive


def test_totals_match_figures() -> None:
    """The cheap sums agree with the full figures."""
    for seed in range(5):
        state = _state(seed)
        for end in (30, 60, 95):
            fig = figures(state, end * MINUTE_MS, 60 * MINUTE_MS, MINUTE_MS)
            orders, refunds, complaints = totals(state, end * MINUTE_MS, 60 * MINUTE_MS, MINUTE_MS)
            assert (orders, refunds, complaints) == (
                fig.orders,
                fig.refunds,
                sum(fig.complaints.values()),
            )
