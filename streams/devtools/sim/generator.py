"""Event generation: normal traffic plus injected scenarios, delivered in a realistic order.

Everything is drawn from one seeded `random.Random`, so a seed reproduces a run exactly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.devtools.sim.labels import Label, Truth
from streams.devtools.sim.population import (
    LATER_REFUND_RATE,
    MINUTE,
    Anchor,
    Session,
    make_anchors,
    session_intensity,
)

SCENARIOS = (
    "normal",
    "brushing",
    "complaint_storm",
    "attack",
    "high_refund_category",
    "late",
    "duplicates",
    "ring",
    "fresh_attack",
    "flash_sale",
    "impulse_cancel",
    "regulars",
    "mix",
)
MIX = ("brushing", "complaint_storm", "attack", "high_refund_category", "late", "duplicates")
SALES_DAY = ("flash_sale", "impulse_cancel", "regulars")
"""What a sales day does to normal traffic: flash sales, buyers who cancel at once, regulars
who buy carts. Controls that must stay quiet."""
SHAPES: dict[str, tuple[str, ...]] = {
    "mix": ("mix",),
    "rings": ("ring", *SALES_DAY, "late", "duplicates"),
    "fresh": ("fresh_attack", *SALES_DAY, "late", "duplicates"),
}
"""Traffic shapes `livewatch quality` pools: the original mix; small brushing rings on busy
anchors; attacks by fresh buyers. Both of the latter on a sales day."""
NORMAL_DAYS: dict[str, tuple[str, ...]] = {
    "mix": ("normal",),
    "rings": ("normal", *SALES_DAY),
    "fresh": ("normal", *SALES_DAY),
}
"""The normal days each shape's runs are paired with."""
RING_SIZES = (40, 60, 100, 150)
"""Fake orders of the small rings, in turn: a handful of buyers, about ten orders each."""
QUALITY = ("quality", "not_as_described", "counterfeit", "false_advertising")
DEFAULT_START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def live_start(hours: float) -> datetime:
    """Where a simulation sent live to Kafka starts: `hours` before now, so that no event is
    dated after the wall clock (it is sent faster than it happened, stamped with its time)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=hours)


REFUND_DELAYS = ("minutes", "tens", "slow", "mixed")
"""How long refunds trail their orders (see `SimConfig.refund_delay`)."""


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    anchors: int = 200
    hours: float = 6.0
    start: datetime = DEFAULT_START
    scenarios: tuple[str, ...] = ("mix",)
    refund_anchor: bool = True
    """Whether refunds name the anchor and session of their order (an after-sales system that
    knows only the order does not)."""
    refund_delay: str = "minutes"
    """How long refunds trail their orders. `minutes`: fake orders are refunded 1 to 31
    minutes after they were placed (mostly within 6), normal in-hour refunds 3 to 55 minutes.
    `tens`: fake orders 10 to 45 minutes, normal ones 20 to 120. `slow`: fake orders 20 to 90
    (20 plus an exponential of mean 15), normal ones 30 to 180. `mixed`: each burst and each
    normal anchor draws one of the three."""
    burst_scale: float = 1.0
    """Brushing and attack bursts take this share of their usual orders (80 to 1,500, 0.8 to
    1.6 times the anchor's hourly orders): 0.5 judges the rules on rings half the simulator's
    size."""

    def __post_init__(self) -> None:
        if self.refund_delay not in REFUND_DELAYS:
            raise ValueError(f"refund_delay must be one of {', '.join(REFUND_DELAYS)}")
        if not self.burst_scale > 0:
            raise ValueError(f"burst_scale must be above 0, got {self.burst_scale}")

    def active(self) -> set[str]:
        chosen = set(self.scenarios)
        if "mix" in chosen:
            chosen |= set(MIX)
        return chosen


@dataclass(order=True)
class Ev:
    """One event: when it happened, when it is delivered, and its JSON value."""

    deliver: float
    seq: int
    time: float = field(compare=False)
    kind: str = field(compare=False)
    value: dict[str, Any] = field(compare=False)


class Simulation:
    """Builds a whole run; `events()` yields (topic kind, value) in delivery order."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.span = config.hours * 3600
        start_hour = config.start.hour + config.start.minute / 60
        self.anchors = make_anchors(self.rng, config.anchors, self.span, start_hour)
        self.buffer: list[Ev] = []
        self.labels: list[Label] = []
        self._seq = 0
        self._orders: dict[str, list[dict[str, Any]]] = {}
        self._flash: dict[str, tuple[float, float]] = {}
        self._impulse = "impulse_cancel" in config.active()
        """Anchor -> its flash sale (begin, end), in seconds since the start."""
        self._build()

    # -- helpers --------------------------------------------------------------------------------

    def _stamp(self, t: float) -> str:
        return (self.config.start + timedelta(seconds=t)).isoformat()

    def _when(self, t: float) -> datetime:
        return self.config.start + timedelta(seconds=t)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _emit(self, t: float, kind: str, value: dict[str, Any]) -> None:
        if 0 <= t < self.span:
            self.buffer.append(Ev(t, self._next(), t, kind, value))

    def _poisson(self, lam: float) -> int:
        if lam > 30:
            return max(0, round(self.rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _order(self, anchor: Anchor, t: float, session: Session, buyer: str) -> dict[str, Any]:
        n = self._next()
        value = {
            "schema_version": 1,
            "event_id": f"evt-{n}",
            "order_id": f"{anchor.anchor_id}-order-{n}",
            "session_id": session.session_id,
            "anchor_id": anchor.anchor_id,
            "merchant_id": anchor.merchant_id,
            "sku_id": f"{anchor.anchor_id}-sku-{n % 5}",
            "category": anchor.category,
            "buyer_id": buyer,
            "quantity": 1 + (self.rng.random() < 0.15),
            "amount": f"{self.rng.lognormvariate(math.log(89), 0.7):.2f}",
            "currency": "CNY",
            "placed_at": self._stamp(t),
        }
        self._emit(t, "orders", value)
        self._orders.setdefault(anchor.anchor_id, []).append(value)
        return value

    def _refund(self, order: dict[str, Any], t: float, reason: str, shipped: bool) -> None:
        n = self._next()
        value = {
            "schema_version": 1,
            "event_id": f"evt-{n}",
            "refund_id": f"refund-{n}",
            "order_id": order["order_id"],
            "amount": order["amount"],
            "currency": "CNY",
            "reason": reason,
            "shipped": shipped,
            "requested_at": self._stamp(t),
        }
        if self.config.refund_anchor:
            value["anchor_id"] = order["anchor_id"]
            value["session_id"] = order["session_id"]
        self._emit(t, "refunds", value)

    def _complaint(self, anchor: Anchor, t: float, category: str, order: dict[str, Any]) -> None:
        n = self._next()
        channel = self.rng.choices(("platform", "hotline", "regulator"), (0.8, 0.15, 0.05))[0]
        self._emit(t, "complaints", {
            "schema_version": 1,
            "event_id": f"evt-{n}",
            "complaint_id": f"complaint-{n}",
            "anchor_id": anchor.anchor_id,
            "session_id": order["session_id"],
            "order_id": order["order_id"],
            "merchant_id": anchor.merchant_id,
            "sku_id": order["sku_id"],
            "category": category,
            "channel": channel,
            "filed_at": self._stamp(t),
        })  # fmt: skip

    # -- traffic --------------------------------------------------------------------------------

    def _build(self) -> None:
        active = self.config.active()
        rng = self.rng
        pool = [a for a in self.anchors if a.sessions]
        rng.shuffle(pool)
        picks: dict[str, list[Anchor]] = {}
        shares = {
            "brushing": 0.02, "attack": 0.01, "complaint_storm": 0.02, "ring": 0.03,
            "fresh_attack": 0.03, "flash_sale": 0.08,
        }  # fmt: skip
        for scenario in ("brushing", "attack", "complaint_storm", "ring", "fresh_attack"):
            if scenario in active:
                count = max(1, round(len(self.anchors) * shares[scenario]))
                picks[scenario], pool = pool[:count], pool[count:]
        for anchor in picks.get("ring", []):  # busy anchors: hundreds of orders an hour
            anchor.orders_per_hour = max(anchor.orders_per_hour, rng.uniform(300, 900))
        for anchor in picks.get("fresh_attack", []):
            anchor.orders_per_hour = max(anchor.orders_per_hour, rng.uniform(150, 600))
        if "flash_sale" in active:
            count = max(1, round(len(self.anchors) * shares["flash_sale"]))
            for anchor in pool[:count]:
                self._add_flash_sale(anchor)
        if "high_refund_category" in active:
            self._add_high_refund_controls(max(2, round(len(self.anchors) * 0.03)))
        for anchor in self.anchors:
            self._normal(anchor)
        for anchor in picks.get("brushing", []):
            self._burst(anchor, "brushing")
        for anchor in picks.get("attack", []):
            self._burst(anchor, "attack")
        for i, anchor in enumerate(picks.get("ring", [])):
            self._ring(anchor, RING_SIZES[i % len(RING_SIZES)])
        for anchor in picks.get("fresh_attack", []):
            self._fresh_attack(anchor)
        for anchor in picks.get("complaint_storm", []):
            self._storm(anchor)
        self._deliver(late="late" in active, duplicates="duplicates" in active)

    def _add_flash_sale(self, anchor: Anchor) -> None:
        """Ten minutes of one session at eight times its order rate: a control."""
        session = self.rng.choice(anchor.sessions)
        begin = self.rng.uniform(session.start, max(session.start, session.end - 10 * MINUTE))
        self._flash[anchor.anchor_id] = (begin, begin + 10 * MINUTE)
        self.labels.append(Label(
            anchor_id=anchor.anchor_id, scenario="flash_sale", rule=None,
            start=self._when(begin), end=self._when(begin + 10 * MINUTE), expect_alert=False,
        ))  # fmt: skip

    def _add_high_refund_controls(self, count: int) -> None:
        rng = self.rng
        for i in range(count):
            anchor = Anchor(
                f"apparel-{i:03d}", "apparel", rng.uniform(150, 500),
                min(0.9, 0.22 * rng.lognormvariate(0, 0.2)), f"merchant-a{i:02d}",
            )  # fmt: skip
            begin = rng.uniform(0, max(1.0, self.span - 3 * 3600))
            anchor.sessions = [Session(f"{anchor.anchor_id}-live-1", begin, begin + 2.5 * 3600)]
            self.anchors.append(anchor)
            self.labels.append(Label(
                anchor_id=anchor.anchor_id, scenario="high_refund_category", rule=None,
                start=self._when(begin), end=self._when(min(self.span, begin + 2.5 * 3600)),
                expect_alert=False,
            ))  # fmt: skip

    def _profile(self) -> str:
        chosen = self.config.refund_delay
        return self.rng.choice(REFUND_DELAYS[:-1]) if chosen == "mixed" else chosen

    def _normal_delay(self, profile: str) -> float:
        """Seconds from a normal order to its refund, for one refunded within hours."""
        if profile == "tens":
            return self.rng.uniform(20, 120) * MINUTE
        if profile == "slow":
            return self.rng.uniform(30, 180) * MINUTE
        return self.rng.uniform(3, 55) * MINUTE

    def _fake_delay(self, profile: str) -> float:
        """Seconds from a fake (brushing or attack) order to its refund."""
        if profile == "tens":
            return self.rng.uniform(10, 45) * MINUTE
        if profile == "slow":
            return (20 + min(70.0, self.rng.expovariate(1 / 15))) * MINUTE
        return (1 + min(30.0, self.rng.expovariate(1 / 5))) * MINUTE

    def _normal(self, anchor: Anchor) -> None:
        rng = self.rng
        active = self.config.active()
        profile = self._profile()
        buyers: list[str] = []
        flash = self._flash.get(anchor.anchor_id)
        regulars = []
        if "regulars" in active and rng.random() < 0.3:
            regulars = [f"{anchor.anchor_id}-regular-{i}" for i in range(rng.randint(2, 6))]
        for session in anchor.sessions:
            t = session.start
            while t < session.end:
                lam = anchor.orders_per_hour / 60 * session_intensity(session, t)
                if flash is not None and flash[0] <= t < flash[1]:
                    lam *= 8
                for _ in range(self._poisson(lam)):
                    if buyers and rng.random() < 0.1:
                        buyer = rng.choice(buyers)
                    else:
                        buyer = f"{anchor.anchor_id}-buyer-{self._next()}"
                        buyers.append(buyer)
                    self._normal_order(anchor, t + rng.uniform(0, MINUTE), session, buyer, profile)
                t += MINUTE
            for buyer in regulars:
                self._carts(anchor, session, buyer, profile, flash)

    def _carts(
        self,
        anchor: Anchor,
        session: Session,
        buyer: str,
        profile: str,
        flash: tuple[float, float] | None,
    ) -> None:
        """A regular's carts in one session: two to four orders placed within a minute, about
        once an hour, and one more in a flash sale half the time."""
        rng = self.rng
        times = [
            rng.uniform(session.start, session.end)
            for _ in range(self._poisson((session.end - session.start) / 3600))
        ]
        if flash is not None and session.start <= flash[0] < session.end and rng.random() < 0.5:
            times.append(rng.uniform(*flash))
        for at in times:
            for _ in range(rng.randint(2, 4)):
                self._normal_order(anchor, at + rng.uniform(0, MINUTE), session, buyer, profile)

    def _normal_order(
        self, anchor: Anchor, at: float, session: Session, buyer: str, profile: str
    ) -> None:
        """One normal order, refunded at the anchor's rates (within the hour or after
        delivery) and complained of now and then."""
        rng = self.rng
        order = self._order(anchor, at, session, buyer)
        roll = rng.random()
        if roll < anchor.refund_rate:
            delay = self._normal_delay(profile)
            if self._impulse and rng.random() < 1 / 3:
                delay = rng.uniform(0.5, 5) * MINUTE  # cancelled on impulse
            reason = rng.choice(("changed_mind", "changed_mind", "other", "damaged"))
            self._refund(order, at + delay, reason, rng.random() < 0.2)
        elif roll < anchor.refund_rate + LATER_REFUND_RATE[anchor.category]:
            delay = rng.uniform(2, 8) * 3600
            reason = rng.choice(("not_as_described", "quality", "damaged", "other"))
            self._refund(order, at + delay, reason, True)
        if rng.random() < 0.004:
            category = rng.choice((*QUALITY, "after_sales_refusal", "other"))
            self._complaint(anchor, at + rng.uniform(0.5, 12) * 3600, category, order)

    def _burst_start(self, anchor: Anchor) -> tuple[Session, float] | None:
        """A session of the anchor's with an hour left in the run, and a time in it for fake
        orders to begin; None when no session has."""
        fitting = [s for s in anchor.sessions if s.start + 60 * MINUTE < self.span]
        if not fitting:
            return None
        session = self.rng.choice(fitting)
        latest = min(session.end - 15 * MINUTE, self.span - 60 * MINUTE)
        return session, self.rng.uniform(session.start, max(session.start, latest))

    def _burst(self, anchor: Anchor, scenario: str) -> None:
        """Brushing: many orders from few buyers, most refunded within minutes, unshipped.
        An attack: the same from fresh buyers (a rival's accounts)."""
        rng = self.rng
        found = self._burst_start(anchor)
        if found is None:
            return
        session, begin = found
        usual = min(1500, max(80, rng.uniform(0.8, 1.6) * anchor.orders_per_hour))
        size = max(1, int(usual * self.config.burst_scale))
        length = rng.uniform(5, 12) * MINUTE
        buyers = [f"{anchor.anchor_id}-ring-{i}" for i in range(rng.randint(4, 15))]
        share = rng.uniform(0.8, 0.95) if scenario == "brushing" else rng.uniform(0.85, 0.97)
        refund_times = []
        profile = self._profile()
        for i in range(size):
            at = begin + length * i / size
            buyer = rng.choice(buyers) if scenario == "brushing" else f"fresh-{self._next()}"
            order = self._order(anchor, at, session, buyer)
            if rng.random() < share:
                delay = self._fake_delay(profile)
                reason = rng.choice(("changed_mind", "other", "not_as_described"))
                self._refund(order, at + delay, reason, False)
                refund_times.append(at + delay)
        if refund_times:
            self.labels.append(Label(
                anchor_id=anchor.anchor_id, scenario=scenario, rule="refund_after_order_spike",
                start=self._when(min(refund_times)), end=self._when(max(refund_times)),
                orders_start=self._when(begin),
            ))  # fmt: skip
        if scenario == "brushing":  # few buyers: visible as soon as the orders come
            self.labels.append(Label(
                anchor_id=anchor.anchor_id, scenario=scenario, rule="order_concentration",
                start=self._when(begin), end=self._when(begin + length),
                orders_start=self._when(begin),
            ))  # fmt: skip

    def _ring(self, anchor: Anchor, size: int) -> None:
        """A small brushing ring on a busy anchor: a handful of buyers placing `size` orders
        (about ten each) in ten-odd minutes, amid hundreds of normal orders an hour."""
        rng = self.rng
        size = max(1, int(size * self.config.burst_scale))
        buyers = [f"{anchor.anchor_id}-ring-{i}" for i in range(max(3, round(size / 10)))]
        self._fake_orders(anchor, "ring", size, rng.uniform(8, 15) * MINUTE, buyers, size)

    def _fresh_attack(self, anchor: Anchor) -> None:
        """A rival's attack from fresh accounts: one order each, refunded within minutes as
        bad quality."""
        size = max(1, int(self.rng.uniform(40, 200) * self.config.burst_scale))
        self._fake_orders(anchor, "fresh_attack", size, self.rng.uniform(5, 12) * MINUTE, [])

    def _fake_orders(
        self,
        anchor: Anchor,
        scenario: str,
        size: int,
        length: float,
        buyers: list[str],
        label_size: int | None = None,
    ) -> None:
        """`size` orders over `length` from `buyers` (each a fresh one when empty), most
        refunded unshipped; labelled for the refund rule, and for `order_concentration` when
        few buyers placed them."""
        rng = self.rng
        found = self._burst_start(anchor)
        if found is None:
            return
        session, begin = found
        profile = self._profile()
        reasons = ("quality", "not_as_described") if not buyers else ("changed_mind", "other")
        share = rng.uniform(0.8, 0.95)
        refund_times = []
        for i in range(size):
            at = begin + length * i / size
            buyer = rng.choice(buyers) if buyers else f"fresh-{self._next()}"
            order = self._order(anchor, at, session, buyer)
            if rng.random() < share:
                delay = self._fake_delay(profile)
                self._refund(order, at + delay, rng.choice(reasons), False)
                refund_times.append(at + delay)
        shown = [t for t in refund_times if t < self.span]
        if shown:
            self.labels.append(Label(
                anchor_id=anchor.anchor_id, scenario=scenario, rule="refund_after_order_spike",
                start=self._when(min(shown)), end=self._when(max(shown)),
                orders_start=self._when(begin), size=label_size,
            ))  # fmt: skip
        if buyers:
            self.labels.append(Label(
                anchor_id=anchor.anchor_id, scenario=scenario, rule="order_concentration",
                start=self._when(begin), end=self._when(begin + length),
                orders_start=self._when(begin), size=label_size,
            ))  # fmt: skip

    def _storm(self, anchor: Anchor) -> None:
        """A defective product: quality complaints pile up as the session ends."""
        rng = self.rng
        fitting = [s for s in anchor.sessions if s.end + 100 * MINUTE < self.span]
        everything = self._orders.get(anchor.anchor_id, [])
        if not fitting or not everything:
            return
        session = rng.choice(fitting)
        begin = max(0.0, session.end - rng.uniform(0, 20) * MINUTE)
        sold = [o for o in everything if o["session_id"] == session.session_id] or everything
        before = len(everything)
        count = int(min(600, max(20, rng.uniform(0.06, 0.12) * before)))
        # A wave: most complaints in the first half hour, a tail after.
        wave = rng.uniform(8, 15) * MINUTE
        times = sorted(begin + min(3 * 3600, rng.expovariate(1 / wave)) for _ in range(count))
        for at in times:
            category = rng.choices(QUALITY, (0.5, 0.3, 0.1, 0.1))[0]
            self._complaint(anchor, at, category, rng.choice(sold))
        shown = [t for t in times if t < self.span]
        if shown:
            self.labels.append(Label(
                anchor_id=anchor.anchor_id, scenario="complaint_storm", rule="quality_complaints",
                start=self._when(shown[0]), end=self._when(shown[-1]),
            ))  # fmt: skip

    def _deliver(self, late: bool, duplicates: bool) -> None:
        """Set delivery times: 2% of events late (half within the grace period, half beyond),
        1% delivered twice."""
        rng = self.rng
        extra = []
        for ev in self.buffer:
            if late and rng.random() < 0.02:
                ev.deliver = ev.time + (rng.uniform(60, 240) if rng.random() < 0.5
                                        else rng.uniform(420, 1200))  # fmt: skip
            if duplicates and rng.random() < 0.01:
                extra.append(Ev(ev.time + rng.uniform(1, 180), self._next(), ev.time, ev.kind,
                                ev.value))  # fmt: skip
        self.buffer.extend(extra)
        self.buffer.sort()

    # -- output ---------------------------------------------------------------------------------

    def events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for ev in self.buffer:
            yield ev.kind, ev.value

    def truth(self) -> Truth:
        return Truth(
            seed=self.config.seed,
            scenarios=list(self.config.scenarios),
            start=self.config.start,
            end=self._when(self.span),
            anchors=len(self.anchors),
            labels=sorted(self.labels, key=lambda lab: (lab.start, lab.anchor_id)),
        )
