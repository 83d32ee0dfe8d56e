"""The rules file: YAML -> typed, validated config. Errors name the file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas import Severity

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "rules" / "default.yaml"

CategoryKey = Literal[
    "default", "apparel", "electronics", "food", "beauty", "jewelry", "home", "other"
]
"""Product categories (as in `orders.category`) plus `default` for the rest."""

Rate = Annotated[float, Field(ge=0, le=1)]


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RefundCategory(_Strict):
    baseline_rate: Rate
    """The category's normal refund rate: the prior for anchors with little history."""
    ceiling: Annotated[float, Field(gt=0, le=1)]
    """A lower-bound refund rate at or above this is anomalous whatever the anchor's baseline."""


class RefundBurst(_Strict):
    """The fast path: a short window so surely over the threshold that the long window need
    only hold. Brushing and attacks pack their orders into minutes; the hour they sit in
    dilutes them."""

    window_s: int = Field(default=300, gt=0)
    """Length of the windows judged alone: about a burst's length, shorter than the rule's
    short window, so the orders around the burst dilute it less."""
    z: float = Field(default=2.576, gt=0)
    """A stricter Wilson bound than the rule's own: one short window is judged alone."""
    min_orders: int = Field(default=30, ge=1)
    """Orders the short window needs before this path can fire."""
    long_ratio: Annotated[float, Field(gt=0, le=1)] = 0.75
    """The long window's lower bound must still reach ratio x the threshold."""


class AfterConcentration(_Strict):
    """The early path on an anchor whose orders `order_concentration` found packed into few
    buyers: brushing is suspected already, and its refunds are what confirms it. A window
    this soon after such an episode is one of few, not one of every anchor's many, so the
    count needs only to be unlikely by chance for that window, not for a day of windows."""

    since_s: int = Field(default=3600, gt=0)
    """An `order_concentration` episode firing, or ended at most this long ago."""
    min_refunds: int = Field(default=3, ge=1)
    """Early refunds needed (in place of `min_refunds`)."""
    chance: Annotated[float, Field(gt=0, le=1)] | None = 1.0e-3
    """In place of `chance`; the factor and the floor under the expected count still hold."""
    false_alarms_per_flag: Annotated[float, Field(gt=0, le=1)] | None = None
    """In place of `chance`: the chance that one flag on an anchor whose refunds are normal
    turns into a refund alert within `since_s`; each of the `since_s / window_s` windows gets
    that share of it."""

    @model_validator(mode="after")
    def _one_chance(self) -> AfterConcentration:
        if {"chance", "false_alarms_per_flag"} <= self.model_fields_set:
            raise ValueError("give chance or false_alarms_per_flag, not both")
        return self

    def window_chance(self, window_s: int) -> float | None:
        """The chance one window is held to."""
        if self.false_alarms_per_flag is not None:
            return self.false_alarms_per_flag * window_s / self.since_s
        return self.chance


class RepeatRefunds(_Strict):
    """The early path on the orders of repeat buyers alone: a small ring's refunds on a busy
    anchor are drowned in the anchor's normal ones, but not among its own buyers' orders.
    Refunds remember whose order they undid (the order memory keeps the buyer's hash)."""

    min_minutes: int = Field(default=3, ge=2)
    """A buyer whose orders of the last `within_s` + `window_s` fall in this many different
    minutes is a repeat buyer."""
    min_refunds: int = Field(default=4, ge=1)
    """Early refunds of repeat buyers' orders needed."""
    min_buyers: int = Field(default=2, ge=1)
    """... from this many different buyers: one regular returning a cart is not a ring."""
    min_expected: float = Field(default=0.05, gt=0)
    """Floor under the expected count (the path's own `min_expected` is for a whole anchor's
    orders)."""


class QualityClaims(_Strict):
    """The early path on refunds that call the product bad before it shipped (quality, not as
    described, counterfeit): a buyer who has not received it cannot know, while an attack from
    fresh accounts says so to hurt the anchor. Normal early refunds are changed minds."""

    normal_share: Rate = 0.02
    """Share of a normal anchor's early refunds that are such claims, until the partition's
    traffic says (it is learned with the pace, `pace_prior_refunds` of prior)."""
    min_refunds: int = Field(default=4, ge=1)
    """Such refunds needed."""
    min_expected: float = Field(default=0.05, gt=0)
    """Floor under the expected count."""


class EarlyRefunds(_Strict):
    """The delay-aware path: refunds that come sooner after their orders than a normal anchor's.

    A normal anchor's in-window refunds (changed minds, cancellations) trail their orders by up
    to an hour, so few come within minutes; brushing and attacks refund a burst of orders
    together. Counting only refunds requested within `within_s` of their order, in the last
    `window_s`, against what the anchor's orders of that time would give at the normal rate,
    sees the burst when its first refunds arrive, whatever the abusers' delay, instead of
    waiting for the hour's rate to move."""

    within_s: int = Field(default=900, gt=0)
    """A refund requested this soon after its order is early."""
    window_s: int = Field(default=600, gt=0)
    """Early refunds requested in this last stretch are counted."""
    normal_share: Rate = 0.25
    """Share of a normal anchor's in-window refunds that come within `within_s`."""
    factor: float = Field(default=3.0, ge=1)
    """Fire when the count's lower bound is this many times what a normal anchor would show."""
    z: float = Field(default=2.576, gt=0)
    """Normal quantile of the count's Poisson lower bound."""
    min_refunds: int = Field(default=8, ge=1)
    """Early refunds needed before this path can fire."""
    chance: Annotated[float, Field(gt=0, le=1)] | None = None
    """Fire only when that many early refunds would come by chance at most this often in one
    window at the expected count (a Poisson tail); None: the factor alone decides. Once the
    expected count is learned rather than assumed, it is close to the truth, and a busy
    anchor's windows are many: the factor alone lets chance through."""
    false_alarms_per_anchor_day: Annotated[float, Field(gt=0, le=1)] | None = None
    """In place of `chance`: the chance of a false alarm a day on one normal anchor; each of
    the 86400 / `window_s` windows of a day that share no refund gets that share of it."""
    min_expected: float = Field(default=1.0, gt=0)
    """The expected count is taken as at least this, scaled by the anchor's learned pace when
    that is slower than normal: a handful of refunds can clump (one buyer's cart), so a tiny
    expected count alone must not decide."""
    pace_hours: int = Field(default=6, ge=1)
    """The platform's pace is learned from the partition's orders of this many whole hours,
    ending an hour and a long window before the boundary (their buckets all folded)."""
    pace_prior_refunds: float = Field(default=30.0, gt=0)
    """... with this many early refunds, observed and expected alike, added: a partition with
    little traffic keeps `normal_share` as it is."""
    pace_prior_orders: float = Field(default=50.0, gt=0)
    """An anchor's own early refunds per order (its folded history and the orders of its long
    window old enough to have had all of them) are smoothed toward the platform's with the
    weight of this many orders."""
    after_concentration: AfterConcentration | None = None
    """Fewer early refunds suffice after concentrated orders; off when absent."""
    repeat_buyers: RepeatRefunds | None = None
    """Also count the early refunds of repeat buyers' orders on their own; off when absent."""
    quality_claims: QualityClaims | None = None
    """Also count the early refunds that call the product bad before it shipped on their
    own; off when absent."""

    @model_validator(mode="after")
    def _one_chance(self) -> EarlyRefunds:
        if {"chance", "false_alarms_per_anchor_day"} <= self.model_fields_set:
            raise ValueError("give chance or false_alarms_per_anchor_day, not both")
        return self

    def window_chance(self) -> float | None:
        """The chance one window is held to (None: the factor alone decides)."""
        if self.false_alarms_per_anchor_day is not None:
            return self.false_alarms_per_anchor_day * self.window_s / 86400
        return self.chance

    def lowest_refunds(self) -> int:
        """No count of the early path (whole, after concentration, quality claims, repeat
        buyers) is kept with fewer early refunds than this."""
        parts = (self.after_concentration, self.quality_claims, self.repeat_buyers)
        return min([self.min_refunds, *(p.min_refunds for p in parts if p is not None)])


class RefundSpikeRule(_Strict):
    enabled: bool = True
    severity: Severity = Severity.WARNING
    critical_lower_bound: Rate = 0.8
    """Lower bound at which an episode is raised to critical."""
    min_orders_short: int = Field(default=10, ge=1)
    min_orders_long: int = Field(default=30, ge=1)
    z: float = Field(default=1.96, gt=0)
    """Normal quantile of the Wilson lower bound (1.96: 95% two-sided)."""
    baseline_factor: float = Field(default=2.0, ge=1)
    min_rate: Rate = 0.2
    """Floor under `baseline_factor` x baseline, so anchors with tiny baselines are not twitchy."""
    prior_weight_orders: float = Field(default=200, ge=0)
    """Orders of an anchor's own history that weigh as much as its category's baseline."""
    resolve_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.75
    """Hysteresis: an episode may resolve once the rate is below ratio x the firing threshold."""
    burst: RefundBurst | None = None
    """Fire on one strong short window without waiting for the long one; off when absent."""
    early: EarlyRefunds | None = None
    """Fire on refunds that come unusually soon after their orders; off when absent."""
    categories: dict[CategoryKey, RefundCategory]

    @model_validator(mode="after")
    def _has_default(self) -> RefundSpikeRule:
        if "default" not in self.categories:
            raise ValueError("categories must include a 'default' entry")
        return self

    def category(self, name: str) -> RefundCategory:
        found = self.categories.get(cast(CategoryKey, name))
        return found if found is not None else self.categories["default"]


class ComplaintCategory(_Strict):
    min_count: int | None = Field(default=None, ge=1)
    min_rate_per_order: Rate | None = None


class QualityComplaintsRule(_Strict):
    enabled: bool = True
    severity: Severity = Severity.WARNING
    critical_count: int = Field(default=50, ge=1)
    min_count: int = Field(default=10, ge=1)
    """Quality-type complaints in the long window needed to fire."""
    min_rate_per_order: Rate = 0.02
    """... and per order the anchor took over the last 24 hours."""
    resolve_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.5
    categories: dict[CategoryKey, ComplaintCategory] = Field(default_factory=dict)

    def thresholds(self, category: str | None) -> tuple[int, float]:
        override = self.categories.get(cast(CategoryKey, category or "default"))
        override = override or self.categories.get("default")
        count = override.min_count if override and override.min_count else self.min_count
        rate = (
            override.min_rate_per_order
            if override and override.min_rate_per_order is not None
            else self.min_rate_per_order
        )
        return count, rate

    def lowest_count(self) -> int:
        """No category's count threshold is below this (`thresholds` at its lowest)."""
        overrides = [c.min_count for c in self.categories.values() if c.min_count]
        return min([self.min_count, *overrides])


class RepeatBuyers(_Strict):
    """The ring's buyers, not the anchor's average: buyers who order again and again within
    minutes (see `repeat_buyers`). A small ring on a busy anchor barely moves the anchor's
    orders per buyer; its buyers each order about ten times in minutes."""

    windows_s: list[Annotated[int, Field(gt=0)]] = Field(default=[300, 600], min_length=1)
    """The windows repeat buyers are counted in, each rounded up to whole steps and judged at
    an equal share of the chance. A ring whose buyers order about once a minute shows in 5
    minutes first, while they hold half the normal orders of 10 and normal buyers come back
    in 3 of 5 minutes far more rarely; a ring whose buyers come back unevenly shows in 10."""
    min_minutes: int = Field(default=3, ge=2)
    """A buyer who ordered in this many different minutes of the window is a repeat buyer (a
    cart placed at once is one minute)."""
    min_buyers: int = Field(default=3, ge=1)
    """Repeat buyers needed to fire."""
    min_orders: int = Field(default=9, ge=1)
    """... holding this many of the window's orders."""
    normal_rate: float = Field(default=0.001, ge=0, le=1)
    """Repeat buyers per order of a 10-minute window on a normal anchor: the prior for an
    anchor with little history (the simulator's sales days show 0.0005 to 0.0008, regulars'
    carts and flash sales included). A window of w minutes expects (w / 10)² of it: a normal
    buyer's chance to come back in 3 of w minutes grows about as w³, their orders as w (the
    simulator's 5-minute windows show a quarter)."""
    categories: dict[CategoryKey, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    """`normal_rate` per category, where one differs."""

    @field_validator("windows_s")
    @classmethod
    def _distinct(cls, windows: list[int]) -> list[int]:
        if len(set(windows)) != len(windows):
            raise ValueError("windows_s must not repeat a window")
        return sorted(windows)

    prior_orders: float = Field(default=2000.0, gt=0)
    """Window orders of the anchor's own history that weigh as much as the prior."""
    min_expected: float = Field(default=0.02, gt=0)
    """Floor under the expected count: a quiet anchor's expectation is not taken as nought."""
    false_alarms_per_anchor_day: Annotated[float, Field(gt=0, le=1)] = 2.0e-3
    """The chance of a false alarm a day on one normal anchor, shared evenly by the window
    lengths: each window, of which a day holds 86400 / its length that share no order, gets
    that share of its length's part."""


class OrderConcentrationRule(_Strict):
    """`order_concentration`: many orders from few buyers in minutes, the shape of brushing's
    fake sales, seen before any of them is refunded. An attack on the anchor comes from fresh
    buyers and does not trip it (the refund rule covers it)."""

    enabled: bool = True
    severity: Severity = Severity.WARNING
    window_s: int = Field(default=600, gt=0)
    """The short window judged, rounded up to whole steps."""
    min_orders: int = Field(default=25, ge=1)
    """Orders the short window needs before the rule speaks."""
    min_orders_per_buyer: float = Field(default=3.0, ge=1)
    """Orders per distinct buyer in the short window needed to fire."""
    min_long_orders_per_buyer: float = Field(default=1.5, ge=1)
    """... and in the long window: a few loyal buyers in a quiet minute are not a pattern."""
    critical_orders_per_buyer: float = Field(default=10.0, ge=1)
    resolve_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.5
    """Holds while the short window keeps ratio x both minimums."""
    repeat_buyers: RepeatBuyers | None = None
    """Fire on the ring's repeat buyers however much normal traffic surrounds them; off when
    absent."""


class Lifecycle(_Strict):
    resolve_after_s: int = Field(default=600, ge=0)
    """Event time an episode must stay below the resolve threshold before it resolves."""
    cooldown_s: int = Field(default=1800, ge=0)
    """Event time after a resolution before the same rule may fire again for the anchor."""
    baseline_half_life_s: int = Field(default=7 * 24 * 3600, gt=0)


class Rules(_Strict):
    version: Literal[1]
    lifecycle: Lifecycle = Lifecycle()
    refund_after_order_spike: RefundSpikeRule
    quality_complaints: QualityComplaintsRule
    order_concentration: OrderConcentrationRule | None = None
    """Off when absent, so a rules file written before it keeps its behaviour."""


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at `loc`, or of the deepest parent that exists."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            return line
        node, line = child, child.start_mark.line + 1
    return line


def parse_rules(text: str, source: str = "<rules>") -> Rules:
    """Validate rules YAML text; raises RulesError naming `source`, the line and the field."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise RulesError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise RulesError(f"{source}:1: the rules file must be a mapping with `version: 1`")
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            line = _line_of(node, loc)
            field = ".".join(str(p) for p in loc) or "(top level)"
            problems.append(f"{source}:{line}: {field}: {error['msg']}")
        raise RulesError("\n".join(problems)) from exc


def load_rules(path: Path | None = None) -> Rules:
    """Load a rules file (the packaged defaults when `path` is None)."""
    path = path or DEFAULT_RULES_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read rules file: {exc.strerror}") from exc
    return parse_rules(text, str(path))
