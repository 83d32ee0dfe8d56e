"""The rules livewatch evaluates, by name: where each one's settings live in the rules file and
how it judges an anchor. A new rule is a `RuleName`, a settings model in `rules`, a judging
function in `evaluate`, and an entry here; the detector, the metrics and the docs follow."""

from __future__ import annotations

from collections.abc import Callable
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
    can_cross: Callable[[Any, Held], bool]
    """False when the rule's settings cannot cross with what the anchor holds: its verdict is
    quiet here and at every later boundary until new events come (see `evaluate.Held`). Each
    is the first check its judge makes, on a bound of the same sum."""

    def enabled(self, rules: Rules) -> Any | None:
        """The rule's settings when it is on, else None."""
        found = self.settings(rules)
        return found if found is not None and found.enabled else None


REGISTRY: tuple[RuleSpec, ...] = (
    RuleSpec(
        RuleName.REFUND_AFTER_ORDER_SPIKE,
        lambda rules: rules.refund_after_order_spike,
        refund_spike,
        lambda rule, held: held.orders >= rule.min_orders_long,
    ),
    RuleSpec(
        RuleName.QUALITY_COMPLAINTS,
        lambda rules: rules.quality_complaints,
        lambda state, end_ms, w, rule, watching, _: quality_complaints(
            state, end_ms, w, rule, watching
        ),
        lambda rule, held: held.quality_complaints >= rule.lowest_count(),
    ),
    RuleSpec(
        RuleName.ORDER_CONCENTRATION,
        lambda rules: rules.order_concentration,
        lambda state, end_ms, w, rule, watching, _: order_concentration(
            state, end_ms, w, rule, watching
        ),
        lambda rule, held: held.orders >= rule.min_orders,
    ),
)
"""Every rule, in the order a boundary evaluates them (so the order of its alerts)."""
