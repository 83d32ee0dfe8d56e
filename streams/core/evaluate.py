"""Rule evaluation: an anchor's windows and baseline -> a verdict with its figures and evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mypy_extensions import mypyc_attr

from schemas import RuleName, Severity
from streams.core.clock import DAY_MS, window_buckets
from streams.core.lifecycle import Signal
from streams.core.pace import RefundPace, read_horizon
from streams.core.rates import (
    poisson_lower_bound,
    poisson_tail,
    smoothed_rate,
    wilson_lower_bound,
)
from streams.core.repeat_buyers import (
    count_repeat_buyers,
    judge_windows,
    repeat_buyers_in,
    window_chance,
)
from streams.core.rules import (
    AfterConcentration,
    EarlyRefunds,
    OrderConcentrationRule,
    QualityClaims,
    QualityComplaintsRule,
    RefundBurst,
    RefundSpikeRule,
    RepeatRefunds,
)
from streams.core.state import AnchorState, Bucket
from streams.core.windows import (
    QUALITY_COMPLAINTS,
    Figures,
    ShortWindow,
    best_short_window,
    buyers_of,
    figures,
    ranked,
)


@dataclass(frozen=True, slots=True)
class Windows:
    """Window sizes in milliseconds."""

    short_ms: int
    long_ms: int
    step_ms: int
    grace_ms: int = 0
    """How late an event is still counted: the pace reads a bucket once its late refunds are
    in."""


Details = tuple[dict[str, Any], dict[str, Any], str | None, dict[str, Any]]
"""What an alert carries beyond its signal: observed, threshold, session id, evidence."""


class Verdict:
    """One rule's judgement of one anchor at one moment, with what an alert would carry.

    The details may be given as `explain`, worked out when `details` is first read: an alert
    is built from few of the verdicts (a transition), and `refund_spike`'s details walked the
    long window twice more for every verdict past its quiet paths (7,000 walks for 145 alerts
    on the `mix`). `explain` must read only what the boundary leaves as it was when judged:
    the detector reads the details before it touches the anchor's buckets again."""

    rule: RuleName
    signal: Signal
    window_start_ms: int
    window_end_ms: int
    _details: Details
    _explain: Callable[[], Details] | None

    def __init__(
        self, rule: RuleName, signal: Signal, window_start_ms: int, window_end_ms: int,
        observed: dict[str, Any] | None = None, threshold: dict[str, Any] | None = None,
        session_id: str | None = None, evidence: dict[str, Any] | None = None,
        explain: Callable[[], Details] | None = None,
    ) -> None:  # fmt: skip
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.rule = rule
        self.signal = signal
        self.window_start_ms = window_start_ms
        self.window_end_ms = window_end_ms
        self._details = (
            {} if observed is None else observed,
            {} if threshold is None else threshold,
            session_id,
            {} if evidence is None else evidence,
        )
        self._explain = explain

    @property
    def details(self) -> Details:
        """Observed, threshold, session id and evidence, worked out once (see the class)."""
        explain = self._explain
        if explain is not None:
            self._explain = None
            self._details = explain()
        return self._details


QUIET = Signal(crossing=False, holding=False, severity=Severity.INFO)


def _mix(categories: dict[str, int], values: dict[str, float], default: float) -> float:
    """Order-weighted mean of a per-category value over the window's category mix."""
    total = sum(categories.values())
    if not total:
        return default
    return sum(n * values.get(cat, default) for cat, n in categories.items()) / total


def _evidence(fig: Figures, window: str) -> dict[str, Any]:
    unshipped_share = fig.refunded_unshipped / fig.refunds if fig.refunds else None
    return {
        "window": window,
        "category": fig.top_category,
        "orders": fig.orders,
        "distinct_buyers": fig.distinct_buyers,
        "order_amount": f"{fig.order_amount:.2f}",
        "refunds": fig.refunds,
        "refund_amount": f"{fig.refund_amount:.2f}",
        "refund_rate": round(fig.refund_rate, 4),
        "top_refund_reasons": ranked(fig.reasons, 3),
        "refunded_before_shipment_share": (
            round(unshipped_share, 4) if unshipped_share is not None else None
        ),
        "orders_per_buyer": (
            round(fig.orders / fig.distinct_buyers, 3) if fig.distinct_buyers else None
        ),
        "max_orders_by_one_buyer": fig.buyers.heaviest,
        "buyers_estimated": fig.buyers.approximate,
        "unmatched_refunds": fig.unmatched_refunds,
        "complaints_by_category": dict(fig.complaints),
        "quality_complaints": fig.quality_complaints,
        "sample_order_ids": fig.refunded_sample or fig.order_sample,
    }


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class Held:
    """What an anchor's held buckets add up to (those a boundary sees): an upper bound on every
    window a rule reads there and after, until new events come or a bucket ahead is seen
    (buckets only slide out). A rule that cannot cross with these cannot cross at all, so
    without an open episode it is not judged, and while none can the detector skips the
    anchor's boundaries (see `Detector._next_boundary`)."""

    orders: int
    quality_complaints: int
    burst: int
    """At least the most orders any window of the burst length (see `held`) holds among these
    buckets: `order_concentration` reads ten minutes, and an anchor with the hour's 25
    orders spread out cannot cross it. Adding a bucket adds its orders (a window that takes
    the bucket in holds at most it and what a window held before)."""

    def __init__(self, orders: int, quality_complaints: int, burst: int) -> None:
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.orders = orders
        self.quality_complaints = quality_complaints
        self.burst = burst

    def __add__(self, other: Held) -> Held:
        return Held(
            self.orders + other.orders,
            self.quality_complaints + other.quality_complaints,
            self.burst + other.burst,
        )


def held(state: AnchorState, before_ms: int, step_ms: int, burst_ms: int) -> Held:
    """`Held` in one pass over the buckets that start before `before_ms` (a boundary: the
    gate before the rules, as most anchors at most boundaries hold too few orders for any rule
    to cross), for the boundaries from the one a step before it on. `burst_ms`: the longest
    window a rule's `Held.burst` floor stands for, in whole steps (0: none; the burst is then
    every order held). The windows of that length ending at those boundaries cover the
    `burst_ms / step_ms + 1` steps before `before_ms`, and each leaves out the first or the
    last of them; later ones see fewer of these buckets."""
    orders = quality = 0
    low = before_ms - step_ms - burst_ms
    last = before_ms - step_ms
    recent = first = final = 0
    for start, b in state.buckets.items():
        if start >= before_ms:
            continue
        n = b.orders
        orders += n
        if start >= low:
            recent += n
            if start == low:
                first = n
            elif start == last:
                final = n
        if b.complaints:
            quality += _quality(b)
    return Held(orders, quality, recent - min(first, final) if burst_ms else orders)


def held_in(bucket: Bucket) -> Held:
    """What one bucket adds to `Held`."""
    return Held(bucket.orders, _quality(bucket) if bucket.complaints else 0, bucket.orders)


def _quality(bucket: Bucket) -> int:
    return sum(n for c, n in bucket.complaints.items() if c in QUALITY_COMPLAINTS)


def _long_counts(
    state: AnchorState, end_ms: int, w: Windows, recent_ms: int
) -> tuple[int, int, int]:
    """Orders and refunded orders of the long window, and of those refunds the ones requested
    since `recent_ms`: the cheap pre-check, run for every anchor at every boundary. It visits
    the buckets the anchor holds, not every step of the window (most anchors hold a few):
    integer sums, so the order of the visit does not matter."""
    orders = refunds = recent = 0
    begin = end_ms - w.long_ms
    for start, b in state.buckets.items():
        if begin <= start < end_ms:
            orders += b.orders
            if b.refunds:
                for step, t in b.refunds.items():
                    if step < end_ms:
                        refunds += t.refunds
                        if step >= recent_ms:
                            recent += t.refunds
    return orders, refunds, recent


def _long_categories(state: AnchorState, end_ms: int, w: Windows) -> dict[str, int]:
    """The category mix of the long window, summed in step order (the mix weighs float rates,
    so a fixed order keeps the threshold the same to the last bit)."""
    categories: dict[str, int] = {}
    for start in range(end_ms - w.long_ms, end_ms, w.step_ms):
        b = state.buckets.get(start)
        if b is not None:
            for cat, n in b.categories.items():
                categories[cat] = categories.get(cat, 0) + n
    return categories


def whole_steps(window_s: int, w: Windows) -> int:
    """A rule's window length in milliseconds, rounded up to whole steps, at most the long
    window."""
    return min(w.long_ms, -(-window_s * 1000 // w.step_ms) * w.step_ms)


def _burst_window(
    state: AnchorState,
    end_ms: int,
    w: Windows,
    burst: RefundBurst,
    lb_long: float,
    threshold: float,
) -> ShortWindow | None:
    """The burst path's window when it fires on its own: its stricter lower bound clears the
    threshold while the long window holds. Its length is rounded up to whole steps."""
    if lb_long < threshold * burst.long_ratio:
        return None
    size_ms = whole_steps(burst.window_s, w)
    found = best_short_window(
        state, end_ms, w.long_ms, size_ms, w.step_ms, burst.min_orders, burst.z
    )
    return found if found is not None and found.lower_bound >= threshold else None


@dataclass(frozen=True, slots=True)
class Early:
    """The early-refund path's figures at one boundary."""

    refunds: int
    expected: float
    lower_bound: float
    crossing: bool
    placed: tuple[int, int] | None = None
    pace: float = 1.0
    """The anchor's learned early refunds per order against the normal ones (below 1: slower)."""
    needed: int = 0
    """The fewest early refunds that would have crossed at this expected count."""


def fewest_confirming(
    needed: int, bar: float, factor: float, z: float, chance: float | None, most: int = 1000
) -> int:
    """The smallest count, at least `needed`, whose lower bound reaches `factor` x `bar` and
    which chance gives at most `chance` of the time (`most` when none up to it does)."""
    for k in range(max(needed, 1), most):
        if poisson_lower_bound(k, z) >= factor * bar and (
            chance is None or poisson_tail(k, bar) <= chance
        ):
            return k
    return most


@mypyc_attr(acyclic=True)
@dataclass(frozen=True, slots=True)
class EarlyCount:
    """The early path's counts, before the anchor's normal rate is known: the early refunds,
    and the orders that could have given them (each weighted by the part of `within_s` it
    spent in the window)."""

    refunds: int
    front: float
    """Orders weighted by the part of their first `window_s` (of `within_s`) spent in the
    window ..."""
    back: float
    """... and by the part of the rest of `within_s` spent in it."""
    placed: tuple[int, int] | None = None
    """First and last bucket start of the orders the early refunds refunded."""
    buyers: int = 0
    """Different buyers whose orders were refunded early (counted for repeat buyers only)."""
    share: float = 1.0
    """The share of the anchor's early refunds this count can hold (quality claims: the
    platform's share of them; all of them: 1)."""

    def exposed(self, front_share: float) -> float:
        """Orders exposed to early refunds, when `front_share` of those come within
        `window_s` of the order (evenly: window_s / within_s)."""
        return front_share * self.front + (1 - front_share) * self.back

    def judge(
        self,
        early: EarlyRefunds,
        rate: float,
        state: AnchorState,
        end_ms: int,
        platform: float = 1.0,
        after: AfterConcentration | None = None,
        front_share: float | None = None,
        narrow: RepeatRefunds | QualityClaims | None = None,
    ) -> Early:
        """Against what the same orders would give at the anchor's pace: its own early refunds
        per order (its folded history and the orders of the long window old enough to have
        had all theirs), smoothed toward the platform's (`platform` x `normal_share` of the
        in-window `rate`). Where that is slower than `normal_share` says, the floor under the
        expected count comes down with it: on a platform whose normal refunds trail by an
        hour, a burst of early ones stands out sooner; an anchor that refunds faster than
        the platform shows it within the hour. `after`: the anchor's orders were found
        concentrated lately, and its count and chance hold instead of the path's own.
        `front_share`: the platform's share of early refunds that come within `window_s` of
        the order (None: spread evenly), so buyers who cancel at once do not make a flash
        sale look like an attack. `narrow`: the count is of repeat buyers' orders or of
        quality claims alone, held to its count, buyers and floor, at the chance of the path
        (or after concentration)."""
        normal = rate * early.normal_share
        orders, refunds = _matured(state, end_ms, early)
        learned = smoothed_rate(
            state.hist_early + refunds,
            state.hist_orders + orders,
            normal * platform,
            early.pace_prior_orders,
        )
        pace = learned / normal if normal > 0 else 1.0
        share = front_share if front_share is not None else even_front_share(early)
        expected = self.exposed(share) * learned * self.share
        floor = early.min_expected * min(1.0, pace)
        bound = poisson_lower_bound(self.refunds, early.z)
        needed, chance = (
            (after.min_refunds, after.window_chance(early.window_s))
            if after
            else (early.min_refunds, early.window_chance())
        )
        if narrow is not None:
            needed, floor = max(needed, narrow.min_refunds), narrow.min_expected
        bar = max(expected, floor)
        crossing = (
            self.refunds >= needed
            and (not isinstance(narrow, RepeatRefunds) or self.buyers >= narrow.min_buyers)
            and bound >= early.factor * bar
            and (chance is None or poisson_tail(self.refunds, bar) <= chance)
        )
        fewest = fewest_confirming(needed, bar, early.factor, early.z, chance) if crossing else 0
        return Early(self.refunds, expected, bound, crossing, self.placed, pace, fewest)


def _matured(state: AnchorState, end_ms: int, early: EarlyRefunds) -> tuple[int, int]:
    """Orders still held whose early refunds are all in, placed before the ones the early
    count exposes (so none of its refunds teach the pace it is judged by), and those
    refunds."""
    within = early.within_s * 1000
    before = end_ms - early.window_s * 1000 - within
    orders = refunds = 0
    for start, b in state.buckets.items():
        if start < before:
            orders += b.orders
            refunds += b.refunded_within(start, within, end_ms)
    return orders, refunds


def _after_concentration(
    state: AnchorState, end_ms: int, early: EarlyRefunds
) -> AfterConcentration | None:
    """`early.after_concentration` when `order_concentration` is firing on the anchor or ended
    within its `since_s`."""
    after = early.after_concentration
    episode = state.episodes.get(RuleName.ORDER_CONCENTRATION)
    if after is None or episode is None:
        return None
    ended = episode.ended_ms
    return after if ended is None or end_ms - ended <= after.since_s * 1000 else None


def even_front_share(early: EarlyRefunds) -> float:
    """The share of early refunds within `window_s` of the order, were they spread evenly."""
    return min(1.0, early.window_s / early.within_s)


def _early_count(
    state: AnchorState,
    end_ms: int,
    step_ms: int,
    early: EarlyRefunds,
    only: set[int] | None = None,
    claims: bool = False,
) -> EarlyCount:
    """Refunds requested in the last `window_s` within `within_s` of their order, and the
    orders exposed: an order too young to have had its whole `within_s` counts for the part
    it had, its first `window_s` and the rest apart (normal refunds are spread evenly over
    each, the first holding the platform's front share). `only`: of these buyers' orders;
    `claims`: only the refunds that called the product bad before it shipped."""
    within, window = early.within_s * 1000, early.window_s * 1000
    edge = min(window, within)
    since = end_ms - window
    observed = 0
    front = back = 0.0
    first = last = None
    refunding: set[int] = set()
    buckets = state.buckets
    oldest = since - within
    for start in range(oldest + (-oldest) % step_ms, end_ms, step_ms):
        b = buckets.get(start)
        if b is None:
            continue
        orders = b.orders if only is None else sum(b.buyers.counts.get(h, 0) for h in only)
        lo, hi = max(0, since - start), min(within, end_ms - start)
        if hi > lo and orders:
            if lo < edge:
                front += orders * (min(hi, edge) - lo) / edge
            if hi > edge and within > edge:
                back += orders * (hi - max(lo, edge)) / (within - edge)
        for step, t in b.refunds.items():
            if since <= step < end_ms and step - start <= within and t.refunds:
                if claims:
                    n = t.claims
                elif only is None:
                    n = t.refunds
                else:
                    n = sum(c for h, c in t.buyers.items() if h in only)
                    refunding.update(h for h in t.buyers if h in only)
                if n:
                    observed += n
                    first = start if first is None else min(first, start)
                    last = start if last is None else max(last, start)
    placed = (first, last) if first is not None and last is not None else None
    return EarlyCount(observed, front, back, placed, len(refunding))


def _early_bar(
    early: EarlyRefunds | None, after: AfterConcentration | None, fired: bool
) -> dict[str, float]:
    """The early path's bar for an alert it fired: the lower one after concentrated orders."""
    if not fired or early is None:
        return {}
    judged = after or early
    bar = {
        "early_factor": early.factor,
        "early_min_refunds": judged.min_refunds,
        "early_within_s": early.within_s,
    }
    chance = after.window_chance(early.window_s) if after else early.window_chance()
    if chance is not None:
        bar["early_chance"] = chance
    return bar


@dataclass(frozen=True, slots=True)
class _EarlyCounts:
    """The early path's counts at one boundary: all early refunds, those of repeat buyers'
    orders, and the quality claims before shipment; None where too few to cross."""

    count: EarlyCount | None = None
    ring: EarlyCount | None = None
    claimed: EarlyCount | None = None
    after: AfterConcentration | None = None

    def none(self) -> bool:
        return self.count is None and self.ring is None and self.claimed is None

    @classmethod
    def read(
        cls, state: AnchorState, end_ms: int, step_ms: int, early: EarlyRefunds | None
    ) -> _EarlyCounts:
        if early is None:
            return cls()
        whole = _early_count(state, end_ms, step_ms, early)
        after = _after_concentration(state, end_ms, early)
        ring = claimed = None
        claims = early.quality_claims
        if claims is not None and whole.refunds >= claims.min_refunds:
            claimed = _early_count(state, end_ms, step_ms, early, claims=True)
            claimed = claimed if claimed.refunds >= claims.min_refunds else None
        spec = early.repeat_buyers
        if spec is not None and whole.refunds >= spec.min_refunds:
            # Buyers whose orders the early count reads (the last within_s + window_s) fall
            # in `min_minutes` different minutes or more.
            size_ms = (early.within_s + early.window_s) * 1000
            repeat = repeat_buyers_in(state, end_ms, size_ms, step_ms, spec.min_minutes)
            if repeat:
                ring = _early_count(state, end_ms, step_ms, early, repeat)
                ring = ring if ring.refunds >= spec.min_refunds else None
        # Fewer cannot cross: the pace and the anchor's matured orders are not worth reading.
        enough = whole.refunds >= (after or early).min_refunds
        return cls(whole if enough else None, ring, claimed, after)

    def judge(
        self,
        state: AnchorState,
        end_ms: int,
        w: Windows,
        early: EarlyRefunds | None,
        baseline: float,
        pace: RefundPace | None,
    ) -> tuple[Early | None, str]:
        """The whole count's verdict, or the first narrowed count's that crosses (with its
        name: `quality_claims`, `repeat_buyers`)."""
        if early is None or self.none():
            return None, ""
        platform, front = 1.0, None
        horizon = read_horizon(end_ms, early.within_s * 1000, w.step_ms, w.grace_ms)
        prior = early.pace_prior_refunds
        if pace is not None:
            platform = pace.at(horizon, early.pace_hours, prior)
            front = pace.front_share(horizon, early.pace_hours, prior, even_front_share(early))
        found = None
        if self.count is not None:
            found = self.count.judge(early, baseline, state, end_ms, platform, self.after, front)
        claimed, claims = self.claimed, early.quality_claims
        if claimed is not None and claims is not None:
            share = claims.normal_share
            if pace is not None:
                share = pace.claim_share(horizon, early.pace_hours, prior, claims.normal_share)
            claimed = EarlyCount(  # not `dataclasses.replace`: interpreted, at every boundary
                claimed.refunds, claimed.front, claimed.back, claimed.placed, claimed.buyers, share
            )
        narrowed: tuple[tuple[str, EarlyCount | None, RepeatRefunds | QualityClaims | None], ...]
        narrowed = (
            ("quality_claims", claimed, claims),
            ("repeat_buyers", self.ring, early.repeat_buyers),
        )
        for name, count, spec in narrowed:
            if count is not None and not (found and found.crossing):
                judged = count.judge(
                    early, baseline, state, end_ms, platform, self.after, front, spec
                )
                if judged.crossing:
                    return judged, name
        return found, ""


def _too_few_early(bars: SpikeBars, recent: int, w: Windows) -> bool:
    """Whether the early path has too few refunds to keep any count (`_EarlyCounts.read`
    would find none), known from the long window's orders refunded in the last `window_s`
    (`recent`): every early refund is one of them while the early path reads inside the long
    window (its orders of the last `within_s` + `window_s`)."""
    if bars.early_reach_ms is None:
        return True
    return bars.early_reach_ms <= w.long_ms and recent < bars.lowest_early_refunds


@dataclass(frozen=True, slots=True)
class SpikeBars:
    """What `refund_spike` reads of its rule at every boundary, worked out once per rule:
    the rules are pydantic models, whose fields and methods cost compiled code a Python
    attribute lookup or call each (a tenth of the rule's instructions went there)."""

    rule: RefundSpikeRule
    """Held so that the rule's `id` names no other rule while this is cached."""
    lowest_threshold: float
    """No anchor's threshold is below this (`refund_threshold`'s min and max at their
    lowest)."""
    early_reach_ms: int | None
    """How far back the early path reads orders (None: no early path)."""
    lowest_early_refunds: int
    """`EarlyRefunds.lowest_refunds` (0 without an early path)."""
    baseline_rates: dict[str, float]
    ceilings: dict[str, float]
    default_rate: float
    default_ceiling: float


_BARS: dict[int, SpikeBars] = {}
_BARS_KEPT = 64
"""Rule sets come and go with published versions: the cache is emptied past this many."""


def spike_bars(rule: RefundSpikeRule) -> SpikeBars:
    """`SpikeBars` of a rule (cached by identity: the rules are frozen)."""
    found = _BARS.get(id(rule))
    if found is not None and found.rule is rule:
        return found
    early = rule.early
    default = rule.category("default")
    found = SpikeBars(
        rule=rule,
        lowest_threshold=min(rule.min_rate, min(c.ceiling for c in rule.categories.values())),
        early_reach_ms=None if early is None else (early.within_s + early.window_s) * 1000,
        lowest_early_refunds=0 if early is None else early.lowest_refunds(),
        baseline_rates={c: v.baseline_rate for c, v in rule.categories.items()},
        ceilings={c: v.ceiling for c, v in rule.categories.items()},
        default_rate=default.baseline_rate,
        default_ceiling=default.ceiling,
    )
    if len(_BARS) >= _BARS_KEPT:
        _BARS.clear()
    _BARS[id(rule)] = found
    return found


def _session_of(
    state: AnchorState,
    burst: ShortWindow | None,
    early: Early | None,
    short: ShortWindow | None,
    w: Windows,
) -> str | None:
    """The session with most orders in the window that confirmed the spike (for the early
    path, the minutes whose orders were refunded early): the hour around a burst may belong to
    another session of the anchor."""
    if burst is not None:
        return figures(state, burst.end_ms, burst.size_ms, w.step_ms).top_session
    if early is not None and early.placed is not None:
        first, last = early.placed
        end = last + w.step_ms
        return figures(state, end, end - first, w.step_ms).top_session
    if short is not None:
        return figures(state, short.end_ms, w.short_ms, w.step_ms).top_session
    return None


@dataclass(frozen=True, slots=True)
class RefundThreshold:
    """The refund rate the long window's lower bound must reach: min(ceiling, max(min_rate,
    baseline_factor x baseline)), the baseline being the anchor's own history smoothed toward
    its categories' normal rate, the ceiling theirs."""

    rate: float
    baseline: float
    ceiling: float


def refund_threshold(
    state: AnchorState, end_ms: int, w: Windows, rule: RefundSpikeRule
) -> RefundThreshold:
    """The refund rule's threshold for an anchor at `end_ms` (its category mix then)."""
    categories = _long_categories(state, end_ms, w)
    bars = spike_bars(rule)
    prior = _mix(categories, bars.baseline_rates, bars.default_rate)
    ceiling = _mix(categories, bars.ceilings, bars.default_ceiling)
    baseline = smoothed_rate(state.hist_refunds, state.hist_orders, prior, rule.prior_weight_orders)
    rate = min(ceiling, max(rule.min_rate, rule.baseline_factor * baseline))
    return RefundThreshold(rate, baseline, ceiling)


def refund_spike(
    state: AnchorState,
    end_ms: int,
    w: Windows,
    rule: RefundSpikeRule,
    watching: bool,
    pace: RefundPace | None = None,
) -> Verdict:
    """`refund_after_order_spike`: the Wilson lower bound of the refund rate of recent orders is
    over the threshold in the long window and in some short window inside it, or (the burst path,
    when configured) over it in one burst window at a stricter bound while the long window holds.

    The threshold is min(ceiling, max(min_rate, baseline_factor x baseline)), where the baseline is
    the anchor's own history smoothed toward its categories' normal rate (all of it for a new
    anchor). `watching` asks for the full verdict even when quiet (an open episode). `pace`:
    the platform's refund pace for the early path (None: `normal_share` as it is).
    """
    name = RuleName.REFUND_AFTER_ORDER_SPIKE
    early_since = end_ms - rule.early.window_s * 1000 if rule.early is not None else end_ms
    orders, refunds, recent = _long_counts(state, end_ms, w, early_since)
    start_ms = end_ms - w.long_ms
    if not watching and (orders < rule.min_orders_long or refunds == 0):
        return Verdict(name, QUIET, start_ms, end_ms)
    lb_long = wilson_lower_bound(refunds, orders, rule.z)
    floor = (
        rule.resolve_ratio if rule.burst is None else min(rule.resolve_ratio, rule.burst.long_ratio)
    )
    bars = spike_bars(rule)
    low = not watching and lb_long < bars.lowest_threshold * floor
    if low and _too_few_early(bars, recent, w):
        return Verdict(name, QUIET, start_ms, end_ms)
    counts = _EarlyCounts.read(state, end_ms, w.step_ms, rule.early)
    after = counts.after
    if low and counts.none():
        # Neither path can cross whatever the threshold: skip its walk over the categories
        # (most anchors at most boundaries; the verdict is the same).
        return Verdict(name, QUIET, start_ms, end_ms)
    bar = refund_threshold(state, end_ms, w, rule)
    threshold, baseline = bar.rate, bar.baseline
    early, narrowed = counts.judge(state, end_ms, w, rule.early, baseline, pace)
    if lb_long < threshold * floor and not watching and not (early and early.crossing):
        return Verdict(name, QUIET, start_ms, end_ms)
    short = best_short_window(
        state, end_ms, w.long_ms, w.short_ms, w.step_ms, rule.min_orders_short, rule.z
    )
    lb_short = short.lower_bound if short else 0.0
    enough = orders >= rule.min_orders_long
    crossing = enough and lb_long >= threshold and lb_short >= threshold
    burst = None
    if rule.burst is not None and enough and not crossing:
        burst = _burst_window(state, end_ms, w, rule.burst, lb_long, threshold)
        crossing = burst is not None
    early_path = enough and not crossing and early is not None and early.crossing
    crossing = crossing or early_path
    holding = (
        enough
        and lb_long >= threshold * rule.resolve_ratio
        and lb_short >= threshold * rule.resolve_ratio
    ) or (enough and early is not None and early.crossing)
    severity = Severity.CRITICAL if lb_long >= rule.critical_lower_bound else rule.severity

    def explain() -> Details:
        fig = figures(state, end_ms, w.long_ms, w.step_ms)
        session = _session_of(state, burst, early if early_path else None, short, w)
        if burst:
            path = "burst+long"
        elif early_path and narrowed:
            path = f"early+{narrowed}"
        elif early_path:
            path = "early" if after is None else "early+concentration"
        else:
            path = "short+long"
        evidence = _evidence(fig, path)
        evidence["baseline_refund_rate"] = round(baseline, 4)
        evidence["refund_rate_lower_bound"] = round(lb_long, 4)
        observed = _spike_observed(
            orders, refunds, lb_long, lb_short, short, burst, early if early_path else None
        )
        threshold = _spike_threshold(rule, bar, burst, after, early_path)
        return observed, threshold, session or fig.top_session, evidence

    return Verdict(name, Signal(crossing, holding, severity), start_ms, end_ms, explain=explain)


def _spike_observed(
    orders: int,
    refunds: int,
    lb_long: float,
    lb_short: float,
    short: ShortWindow | None,
    burst: ShortWindow | None,
    early: Early | None,
) -> dict[str, Any]:
    """What `refund_spike` saw: the long window, its best short window, and the burst or early
    path when that is the one crossing."""
    return {
        "refund_rate_lower_bound": round(lb_long, 4),
        "refund_rate": round(refunds / orders, 4) if orders else 0.0,
        "orders": orders,
        "refunded_orders": refunds,
        "short_refund_rate_lower_bound": round(lb_short, 4),
        "short_orders": short.orders if short else 0,
        "short_refunded_orders": short.refunds if short else 0,
        **(
            {
                "burst_refund_rate_lower_bound": round(burst.lower_bound, 4),
                "burst_orders": burst.orders,
                "burst_refunded_orders": burst.refunds,
            }
            if burst
            else {}
        ),
        **(
            {
                "early_refunds": early.refunds,
                "early_refunds_lower_bound": round(early.lower_bound, 2),
                "early_refunds_expected": round(early.expected, 2),
                "early_refund_pace": round(early.pace, 3),
                "early_refunds_needed": early.needed,
            }
            if early is not None
            else {}
        ),
    }


def _spike_threshold(
    rule: RefundSpikeRule,
    bar: RefundThreshold,
    burst: ShortWindow | None,
    after: AfterConcentration | None,
    early_path: bool,
) -> dict[str, Any]:
    """The bars `refund_spike` held the anchor to."""
    return {
        "refund_rate_lower_bound": round(bar.rate, 4),
        "resolve_below": round(bar.rate * rule.resolve_ratio, 4),
        "ceiling": round(bar.ceiling, 4),
        "baseline_refund_rate": round(bar.baseline, 4),
        "baseline_factor": rule.baseline_factor,
        "min_orders_long": rule.min_orders_long,
        "min_orders_short": rule.min_orders_short,
        **(
            {
                "burst_z": rule.burst.z,
                "burst_min_orders": rule.burst.min_orders,
                "burst_long_ratio": rule.burst.long_ratio,
            }
            if burst and rule.burst
            else {}
        ),
        **_early_bar(rule.early, after, early_path),
    }


def orders_last_day(state: AnchorState, end_ms: int) -> int:
    """Orders the anchor took in about the 24 hours before `end_ms`: folded hours plus the
    buckets still held (to the hour: folded buckets are kept per hour)."""
    folded = sum(n for hour, n in state.order_hours.items() if hour >= end_ms - DAY_MS)
    return folded + sum(b.orders for start, b in state.buckets.items() if start < end_ms)


def quality_complaints(
    state: AnchorState, end_ms: int, w: Windows, rule: QualityComplaintsRule, watching: bool
) -> Verdict:
    """`quality_complaints`: quality-type complaints in the long window reach both a count and a
    rate per order of the anchor's last 24 hours."""
    name = RuleName.QUALITY_COMPLAINTS
    start_ms = end_ms - w.long_ms
    count = 0
    for start, b in state.buckets.items():
        if b.complaints and start_ms <= start < end_ms:
            count += sum(n for c, n in b.complaints.items() if c in QUALITY_COMPLAINTS)
    if count < rule.lowest_count() and not watching:
        # Below every category's count: quiet whatever the window's top category (the
        # figures that name it cost more than everything else here).
        return Verdict(name, QUIET, start_ms, end_ms)
    fig = figures(state, end_ms, w.long_ms, w.step_ms)
    category = fig.top_category
    min_count, min_rate = rule.thresholds(category)
    day_orders = orders_last_day(state, end_ms)
    rate = count / max(day_orders, 1)
    crossing = count >= min_count and rate >= min_rate
    holding = count >= min_count * rule.resolve_ratio and rate >= min_rate * rule.resolve_ratio
    severity = Severity.CRITICAL if count >= rule.critical_count else rule.severity
    evidence = _evidence(fig, "long")
    evidence["orders_last_24h"] = day_orders
    return Verdict(
        name,
        Signal(crossing, holding, severity),
        start_ms,
        end_ms,
        observed={
            "quality_complaints": count,
            "complaints_per_order": round(rate, 4),
            "orders_last_24h": day_orders,
        },
        threshold={
            "quality_complaints": min_count,
            "complaints_per_order": min_rate,
            "resolve_ratio": rule.resolve_ratio,
        },
        session_id=fig.top_session,
        evidence=evidence,
    )


def order_concentration(
    state: AnchorState, end_ms: int, w: Windows, rule: OrderConcentrationRule, watching: bool
) -> Verdict:
    """`order_concentration`: in the last `window_s`, at least `min_orders` orders at
    `min_orders_per_buyer` or more per distinct buyer, and the long window at
    `min_long_orders_per_buyer`; or (`repeat_buyers`) more buyers ordering again and again in
    it than the anchor's normal repeat buying gives by chance. Buyers are counted exactly up
    to 64 per bucket, then estimated (the evidence says so)."""
    name = RuleName.ORDER_CONCENTRATION
    size_ms = whole_steps(rule.window_s, w)
    since = end_ms - size_ms
    # Without an open episode only crossing matters: skip what cannot cross, cheapest first
    # (an integer sum, then the short window's buyers, the hour's last).
    orders = 0
    for start in window_buckets(end_ms, size_ms, w.step_ms):  # not every bucket held
        b = state.buckets.get(start)
        if b is not None:
            orders += b.orders
    if orders < rule.min_orders and not watching:
        return Verdict(name, QUIET, since, end_ms)
    wanted = rule.repeat_buyers
    sizes = [whole_steps(s, w) for s in wanted.windows_s] if wanted else []
    counts = count_repeat_buyers(
        state, end_ms, [*sizes, size_ms], w.step_ms, wanted.min_minutes if wanted else 3
    )
    count = counts[size_ms]
    judged = {s: counts[s] for s in sizes}
    ring = wanted is not None and any(c.buyers >= wanted.min_buyers for c in judged.values())
    distinct = count.distinct
    if distinct is None:  # some bucket estimates its buyers: merge the estimates
        distinct = buyers_of(state, end_ms, size_ms, w.step_ms).distinct
    per_buyer = orders / max(distinct, 1)
    if per_buyer < rule.min_orders_per_buyer and not watching and not ring:
        return Verdict(name, QUIET, since, end_ms)
    short = figures(state, end_ms, size_ms, w.step_ms)
    repeat = None
    if wanted is not None and (ring or watching):
        repeat = judge_windows(judged, state, short.top_category, wanted, rule.resolve_ratio)
    long = figures(state, end_ms, w.long_ms, w.step_ms)
    long_per_buyer = long.orders / max(long.distinct_buyers, 1)
    # Carts are not a ring: regulars who each buy a cart or two in a flash sale on a small
    # anchor make several orders a buyer in one or two minutes. A ring's buyers come back
    # minute after minute, so two of them at least must have ordered in several minutes, and
    # the buyers but the heaviest must be as concentrated (one regular is not a ring).
    rest = (short.orders - short.buyers.heaviest) / max(short.distinct_buyers - 1, 1)
    average = (
        short.orders >= rule.min_orders
        and per_buyer >= rule.min_orders_per_buyer
        and rest >= rule.min_orders_per_buyer
        and count.buyers >= 2
        and long_per_buyer >= rule.min_long_orders_per_buyer
    )
    crossing = average or (repeat is not None and repeat.crossing)
    holding = (
        short.orders >= rule.min_orders * rule.resolve_ratio
        and per_buyer >= rule.min_orders_per_buyer * rule.resolve_ratio
    ) or (repeat is not None and repeat.holding)
    severity = Severity.CRITICAL if per_buyer >= rule.critical_orders_per_buyer else rule.severity
    evidence = _evidence(short, "short+long" if average or repeat is None else "repeat_buyers")
    evidence["long_orders_per_buyer"] = round(long_per_buyer, 3)
    observed = {
        "orders": short.orders,
        "distinct_buyers": short.distinct_buyers,
        "orders_per_buyer": round(per_buyer, 3),
        "orders_per_buyer_but_heaviest": round(rest, 3),
        "repeat_buyers": count.buyers,
        "max_orders_by_one_buyer": short.buyers.heaviest,
        "long_orders_per_buyer": round(long_per_buyer, 3),
    }
    threshold: dict[str, float] = {
        "min_orders": rule.min_orders,
        "orders_per_buyer": rule.min_orders_per_buyer,
        "long_orders_per_buyer": rule.min_long_orders_per_buyer,
        "resolve_ratio": rule.resolve_ratio,
    }
    if repeat is not None and wanted is not None:
        observed |= {
            "repeat_buyers": repeat.count.buyers,
            "repeat_buyer_orders": repeat.count.buyer_orders,
            "repeat_buyers_expected": round(repeat.expected, 4),
        }
        threshold |= {
            "repeat_min_buyers": wanted.min_buyers,
            "repeat_min_orders": wanted.min_orders,
            "repeat_chance": window_chance(wanted, repeat.window_s),
            "repeat_window_s": repeat.window_s,
        }
        evidence["repeat_buyer_share"] = round(repeat.count.share, 4)
        evidence["repeat_buyer_hashes"] = list(repeat.count.sample)
    return Verdict(
        name,
        Signal(crossing, holding, severity),
        since,
        end_ms,
        observed=observed,
        threshold=threshold,
        session_id=short.top_session,
        evidence=evidence,
    )
