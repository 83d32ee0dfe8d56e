"""One very large live session: the shape that used to stop the worker, for tests and the
benchmark (the `mix` has none: its biggest anchors take a few hundred orders an hour)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from streams.devtools.sim.generator import DEFAULT_START

Record = tuple[str, dict[str, Any]]


def hot_session(
    per_minute: int,
    minutes: float,
    *,
    anchor: str = "hot-anchor",
    start: datetime = DEFAULT_START,
    refund_share: float = 0.05,
    seed: int = 3,
) -> list[Record]:
    """An anchor taking `per_minute` orders a minute from ever new buyers, `refund_share` of
    them refunded 1 to 30 minutes later, unshipped: (topic kind, value) in event-time order."""
    rng = random.Random(seed)
    timed: list[tuple[datetime, Record]] = []
    total = int(per_minute * minutes)
    for i in range(total):
        placed = start + timedelta(minutes=i / per_minute)
        order_id = f"{anchor}-o-{i}"
        timed.append((placed, ("orders", {
            "schema_version": 1, "event_id": f"{anchor}-eo-{i}", "order_id": order_id,
            "session_id": f"{anchor}-s1", "anchor_id": anchor, "merchant_id": f"{anchor}-m",
            "sku_id": f"{anchor}-sku", "category": "apparel",
            "buyer_id": f"{anchor}-b-{rng.randrange(10**9)}", "quantity": 1, "amount": "9.90",
            "currency": "CNY", "placed_at": placed.isoformat(),
        })))  # fmt: skip
        if rng.random() < refund_share:
            when = placed + timedelta(minutes=rng.uniform(1, 30))
            timed.append((when, ("refunds", {
                "schema_version": 1, "event_id": f"{anchor}-er-{i}",
                "refund_id": f"{anchor}-r-{i}", "order_id": order_id, "anchor_id": anchor,
                "amount": "9.90", "currency": "CNY", "reason": "changed_mind",
                "shipped": False, "requested_at": when.isoformat(),
            })))  # fmt: skip
    timed.sort(key=lambda e: e[0])
    return [record for _, record in timed]
