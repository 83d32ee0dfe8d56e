"""Repeat buyers: the ring's buyers, not the anchor's average.

A brushing ring of a handful of buyers placing some tens of orders on an anchor that takes
hundreds an hour barely moves the anchor's orders per buyer; each ring buyer, though, orders
again and again within minutes, which normal buyers almost never do. A buyer who ordered in at
least `min_minutes` different minutes of the window is a repeat buyer (a cart of several
orders placed at once is one minute, so a regular's cart is not). The count of repeat buyers
is judged against what the anchor's own history, smoothed toward its category's normal rate,
expects of that many orders: a Poisson tail, at a stated chance of a false alarm per
anchor-day.

Buyers are read from the buckets' tallies (exact up to `BUYERS_EXACT` distinct buyers a
minute, then the heaviest kept by Misra-Gries: a buyer with one order in a minute that busy
may not be seen there), and named in the evidence by their hash, never their id.
"""

from __future__ import annotations

from collections import Counter, _count_elements  # type: ignore[attr-defined]
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mypy_extensions import mypyc_attr

from streams.core.clock import DAY_MS
from streams.core.rates import poisson_tail, smoothed_rate
from streams.core.rules import RepeatBuyers
from streams.core.state import AnchorState, Bucket

DAY_S = DAY_MS // 1000


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class RepeatCount:
    """One window's orders and the repeat buyers among its buyers."""

    orders: int
    buyers: int
    """Repeat buyers: ordered in at least `min_minutes` different minutes of the window."""
    buyer_orders: int
    """Their orders in the window."""
    sample: tuple[str, ...]
    """The heaviest repeat buyers' hashes (hex), for the evidence."""
    distinct: int | None
    """The window's distinct buyers, when every bucket counted its buyers exactly (None: some
    bucket estimates them; `windows.buyers_of` merges the estimates)."""

    def __init__(
        self, orders: int, buyers: int, buyer_orders: int, sample: tuple[str, ...] = (),
        distinct: int | None = None,
    ) -> None:  # fmt: skip
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.orders = orders
        self.buyers = buyers
        self.buyer_orders = buyer_orders
        self.sample = sample
        self.distinct = distinct

    @property
    def share(self) -> float:
        """The repeat buyers' share of the window's orders."""
        return self.buyer_orders / self.orders if self.orders else 0.0


def _presence(
    state: AnchorState, end_ms: int, sizes_ms: Sequence[int], step_ms: int
) -> Iterator[tuple[int, Counter[Any], list[Bucket]]]:
    """For each window [end - size, end) of `sizes_ms` (ascending, whole steps), in one pass
    over the buckets from the newest: its orders, per buyer the minutes they ordered in
    (counted in C: most buyers order once), and its buckets. The counter and the list grow
    as the pass goes on: read each before the next."""
    minutes: Counter[Any] = Counter()
    held: list[Bucket] = []
    orders = 0
    start = end_ms
    for size in sizes_ms:
        while start > end_ms - size:
            start -= step_ms
            b = state.buckets.get(start)
            if b is None:
                continue
            orders += b.orders
            # Counter.update in C: its Python prologue (an ABC check, a frame) cost more
            # than the counting, a few buyers a minute.
            _count_elements(minutes, b.buyers.counts)
            held.append(b)
        yield orders, minutes, held


def repeat_buyers_in(
    state: AnchorState, end_ms: int, size_ms: int, step_ms: int, min_minutes: int
) -> set[Any]:
    """The repeat buyers (their hashes) of [end - size, end)."""
    _, minutes, _ = next(_presence(state, end_ms, (size_ms,), step_ms))
    return {k for k, m in minutes.items() if m >= min_minutes}


def count_repeat_buyers(
    state: AnchorState, end_ms: int, sizes_ms: Sequence[int], step_ms: int, min_minutes: int
) -> dict[int, RepeatCount]:
    """Repeat buyers in [end - size, end) for each size of `sizes_ms` (whole steps), by size,
    from the buckets' buyer tallies in one pass."""
    found: dict[int, RepeatCount] = {}
    sizes = sorted(set(sizes_ms))
    for size, (orders, minutes, held) in zip(
        sizes, _presence(state, end_ms, sizes, step_ms), strict=True
    ):
        repeat = [k for k, m in minutes.items() if m >= min_minutes]
        # Every buyer counted exactly: the buyers whose minutes were counted are all of them.
        exact = not any(b.buyers.approximate for b in held)
        distinct = len(minutes) if exact else None
        if not repeat:
            found[size] = RepeatCount(orders, 0, 0, (), distinct)
            continue
        counts = {k: sum(b.buyers.counts.get(k, 0) for b in held) for k in repeat}
        heaviest = sorted(repeat, key=lambda k: (-counts[k], str(k)))[:5]
        sample = tuple(f"{k:016x}" if isinstance(k, int) else str(k) for k in heaviest)
        found[size] = RepeatCount(orders, len(repeat), sum(counts.values()), sample, distinct)
    return found


@dataclass(frozen=True, slots=True)
class RepeatVerdict:
    """The repeat-buyer path's judgement of one window."""

    count: RepeatCount
    expected: float
    """Repeat buyers that many orders give at the anchor's normal rate (the floor under it
    included)."""
    chance: float
    """How often that many or more come by chance in one window at `expected`."""
    crossing: bool
    holding: bool
    window_s: int


def window_chance(repeat: RepeatBuyers, window_s: int) -> float:
    """The chance per window that keeps false alarms at `false_alarms_per_anchor_day`: a day
    holds DAY_S / window_s windows that share no order, and each window length counted
    (`windows_s`) takes an equal share."""
    share = repeat.false_alarms_per_anchor_day / len(repeat.windows_s)
    return share * window_s / DAY_S


PRIOR_WINDOW_S = 600
"""The window length `normal_rate` is stated for."""


def normal_rate(
    state: AnchorState, category: str | None, repeat: RepeatBuyers, window_s: int
) -> float:
    """Repeat buyers per order of a `window_s` window on this anchor: its history of such
    windows smoothed toward its category's rate, scaled from 10 minutes as the window's
    length squared (see `RepeatBuyers.normal_rate`)."""
    prior = repeat.categories.get(category or "default", repeat.normal_rate)  # type: ignore[call-overload]
    prior *= (window_s / PRIOR_WINDOW_S) ** 2
    orders, buyers = state.hist_repeat.get(window_s, (0.0, 0.0))
    return smoothed_rate(buyers, orders, prior, repeat.prior_orders)


def judge_repeat(
    count: RepeatCount,
    rate: float,
    repeat: RepeatBuyers,
    window_s: int,
    resolve_ratio: float,
) -> RepeatVerdict:
    """Crossing: at least `min_buyers` repeat buyers holding `min_orders` orders, a count that
    chance gives at most `window_chance` of the time. Holding: half as much (by
    `resolve_ratio`), so an episode lasts while the ring keeps ordering."""
    expected = max(repeat.min_expected, rate * count.orders)
    chance = poisson_tail(count.buyers, expected)
    crossing = (
        count.buyers >= repeat.min_buyers
        and count.buyer_orders >= repeat.min_orders
        and chance <= window_chance(repeat, window_s)
    )
    holding = (
        count.buyers >= max(2, round(repeat.min_buyers * resolve_ratio))
        and count.buyer_orders >= repeat.min_orders * resolve_ratio
    )
    return RepeatVerdict(count, expected, chance, crossing, holding, window_s)


def judge_windows(
    counts: dict[int, RepeatCount],
    state: AnchorState,
    category: str | None,
    repeat: RepeatBuyers,
    resolve_ratio: float,
) -> RepeatVerdict:
    """Every window length's verdict in `counts` (by length in ms), and the one that speaks
    for them: the first crossing, else the least likely by chance. Holding while any holds."""
    verdicts = []
    for size_ms, count in counts.items():
        rate = normal_rate(state, category, repeat, size_ms // 1000)
        verdicts.append(judge_repeat(count, rate, repeat, size_ms // 1000, resolve_ratio))
    best = next((v for v in verdicts if v.crossing), min(verdicts, key=lambda v: v.chance))
    if not best.holding and any(v.holding for v in verdicts):
        best = replace(best, holding=True)
    return best
