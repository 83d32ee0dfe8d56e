"""Small seeded event scenarios for detection tests: (topic kind, JSON value), by event time."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

Record = tuple[str, dict[str, Any]]


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@dataclass
class Scenario:
    """Builds events; `records()` returns them sorted by event time (stable)."""

    seed: int = 1
    events: list[tuple[float, Record]] = field(default_factory=list)
    _n: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}-{self._n}"

    def orders(
        self,
        anchor: str,
        start: float,
        minutes: float,
        count: int,
        *,
        buyers: int | None = None,
        buyer: str | None = None,
        category: str = "electronics",
        session: str | None = None,
    ) -> list[dict[str, Any]]:
        """`count` orders spread evenly over [start, start + minutes); `buyers` distinct buyers
        (or the one `buyer`)."""
        made = []
        for i in range(count):
            minute = start + minutes * i / count
            if buyer is None:
                name = (
                    f"{anchor}-b{self.rng.randrange(buyers)}"
                    if buyers
                    else self._id(f"{anchor}-buyer")
                )
            else:
                name = buyer
            value = {
                "schema_version": 1, "event_id": self._id("eo"),
                "order_id": self._id(f"{anchor}-o"),
                "session_id": session or f"{anchor}-s1", "anchor_id": anchor,
                "merchant_id": f"{anchor}-m", "sku_id": f"{anchor}-sku", "category": category,
                "buyer_id": name, "quantity": 1, "amount": "19.90", "currency": "CNY",
                "placed_at": at(minute),
            }  # fmt: skip
            self.events.append((minute, ("orders", value)))
            made.append(value)
        return made

    def refunds(
        self,
        orders: list[dict[str, Any]],
        share: float,
        *,
        delay: tuple[float, float] = (5, 30),
        reason: str = "changed_mind",
        shipped: bool = False,
        with_anchor: bool = True,
    ) -> None:
        """Refund a random `share` of `orders`, each `delay` minutes (uniform) after its order."""
        chosen = self.rng.sample(orders, round(len(orders) * share))
        for order in chosen:
            placed = datetime.fromisoformat(order["placed_at"])
            minute = (placed - T0).total_seconds() / 60 + self.rng.uniform(*delay)
            value = {
                "schema_version": 1, "event_id": self._id("er"), "refund_id": self._id("r"),
                "order_id": order["order_id"], "amount": order["amount"], "currency": "CNY",
                "reason": reason, "shipped": shipped, "requested_at": at(minute),
            }  # fmt: skip
            if with_anchor:
                value["anchor_id"] = order["anchor_id"]
            self.events.append((minute, ("refunds", value)))

    def complaints(
        self, anchor: str, start: float, minutes: float, count: int, category: str = "quality"
    ) -> None:
        for i in range(count):
            minute = start + minutes * i / count
            value = {
                "schema_version": 1, "event_id": self._id("ec"), "complaint_id": self._id("c"),
                "anchor_id": anchor, "category": category, "channel": "platform",
                "filed_at": at(minute),
            }  # fmt: skip
            self.events.append((minute, ("complaints", value)))

    def records(self) -> list[Record]:
        return [record for _, record in sorted(self.events, key=lambda e: e[0])]


def normal_anchor(s: Scenario, anchor: str, hours: float = 3, per_hour: int = 120,
                  category: str = "electronics", refund_share: float = 0.08) -> None:  # fmt: skip
    orders = s.orders(anchor, 0, hours * 60, int(hours * per_hour), category=category)
    s.refunds(orders, refund_share, delay=(2, 50))


def brushing(s: Scenario, anchor: str, start: float = 60) -> None:
    """A normal hour, then 200 orders in 10 minutes from 15 buyers, 85% refunded unshipped."""
    normal = s.orders(anchor, 0, 180, 240, category="electronics")
    s.refunds(normal, 0.06, delay=(5, 50))
    burst = s.orders(
        anchor, start, 10, 200, buyers=15, category="electronics", session=f"{anchor}-s2"
    )
    s.refunds(burst, 0.85, delay=(3, 25), reason="other", shipped=False)


def complaint_storm(s: Scenario, anchor: str, start: float = 90) -> None:
    """A session sells a defective product; 40 quality complaints pile up over the next 40 min."""
    orders = s.orders(anchor, 0, 60, 300, category="beauty")
    s.refunds(orders, 0.1, delay=(5, 40))
    s.complaints(anchor, start, 40, 40, category="quality")
    s.complaints(anchor, start + 5, 30, 8, category="not_as_described")


def attack(s: Scenario, anchor: str, start: float = 60) -> None:
    """A rival's mass orders from fresh buyers, nearly all refunded before shipment."""
    normal = s.orders(anchor, 0, 180, 240, category="home")
    s.refunds(normal, 0.08, delay=(5, 50))
    burst = s.orders(anchor, start, 10, 150, category="home", session=f"{anchor}-s2")
    s.refunds(burst, 0.9, delay=(2, 20), reason="other", shipped=False)
