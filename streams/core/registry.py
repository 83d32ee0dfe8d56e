"""The rules livewatch evaluates, by name: where each one's settings live in the rules file and
how it judges an anchor. A new rule is a `RuleName`, a settings model in `rules`, a judging
function in `evaluate`, and an entry here; the detector, the metrics and the docs follow."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from schemas import RuleName
from streams.core.evaluate import (
    Held,
    Verdict,
    Windows,
    order_concentration,
    quality_complaints,
    refund_spike,
    whole_steps,
)
from streams.core.pace import RefundPace
from streams.core.rules import Rules
from streams.core.state import AnchorState

Judge = Callable[[AnchorState, int, Windows, Any, bool, RefundPace], Verdict]
"""(anchor state, boundary, windows, the rule's settings, an episode open?, refund pace)."""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    name: RuleName
    settings: Callable[[Rules], Any | None]
    """The rule's settings in a rules file (None: the file leaves the rule out)."""
    judge: Judge
    floor: Callable[[Any], Held]
    """The least an anchor must hold for the rule's settings to cross: with less its verdict
    is quiet here and at every later boundary until new events come (see `evaluate.Held`).
    Each is the first check its judge makes, on a bound of the same sum."""
    burst_s: Callable[[Any], int] | None = None
    """The window, in seconds, that the floor's `burst` is counted over (None: the floor
    asks no burst)."""

    def enabled(self, rules: Rules) -> Any | None:
        """The rule's settings when it is on, else None."""
        found = self.settings(rules)
        return found if found is not None and found.enabled else None

    def can_cross(self, settings: Any, held: Held) -> bool:
        return reaches(held, self.floor(settings))


def reaches(held: Held, floor: Held) -> bool:
    """Whether `held` is at or over `floor` in every count."""
    return reaches_totals(held, floor) and held.burst >= floor.burst


def reaches_totals(held: Held, floor: Held) -> bool:
    """Whether `held` is at or over `floor` in its totals, the burst left out."""
    return held.orders >= floor.orders and held.quality_complaints >= floor.quality_complaints


@dataclass(frozen=True, slots=True)
class Gate:
    """A rule as one rule set has it: its settings (None: off) and its floor."""

    spec: RuleSpec
    settings: Any | None
    floor: Held | None


def gates(rules: Rules | None) -> tuple[Gate, ...]:
    """Every rule of `REGISTRY` under `rules` (None: a shadow set withdrawn, every rule off),
    worked out once per rule set rather than at every boundary."""
    found = []
    for spec in REGISTRY:
        settings = spec.enabled(rules) if rules is not None else None
        found.append(Gate(spec, settings, spec.floor(settings) if settings is not None else None))
    return tuple(found)


def burst_window(rule_sets: Iterable[Rules], w: Windows) -> int:
    """The longest window any floor's `burst` stands for in these rule sets (rounded up to
    whole steps; 0: no rule on asks one): `evaluate.held` bounds the windows of this length,
    which bounds every shorter one too."""
    longest = 0
    for rules in rule_sets:
        for spec in REGISTRY:
            if spec.burst_s is None:
                continue
            settings = spec.enabled(rules)
            if settings is not None:
                longest = max(longest, whole_steps(spec.burst_s(settings), w))
    return longest


REGISTRY: tuple[RuleSpec, ...] = (
    RuleSpec(
        RuleName.REFUND_AFTER_ORDER_SPIKE,
        lambda rules: rules.refund_after_order_spike,
        refund_spike,
        lambda rule: Held(orders=rule.min_orders_long, quality_complaints=0, burst=0),
    ),
    RuleSpec(
        RuleName.QUALITY_COMPLAINTS,
        lambda rules: rules.quality_complaints,
        lambda state, end_ms, w, rule, watching, _: quality_complaints(
            state, end_ms, w, rule, watching
        ),
        lambda rule: Held(orders=0, quality_complaints=rule.lowest_count(), burst=0),
    ),
    RuleSpec(
        RuleName.ORDER_CONCENTRATION,
        lambda rules: rules.order_concentration,
        lambda state, end_ms, w, rule, watching, _: order_concentration(
            state, end_ms, w, rule, watching
        ),
        # its first check: `min_orders` in its window, which `burst` bounds (see `burst_window`)
        lambda rule: Held(orders=rule.min_orders, quality_complaints=0, burst=rule.min_orders),
        lambda rule: rule.window_s,
    ),
)
"""Every rule, in the order a boundary evaluates them (so the order of its alerts)."""
