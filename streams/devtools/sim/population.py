"""Anchors of many sizes across categories, live at different times of day."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

CATEGORY_WEIGHTS = {
    "apparel": 0.30,
    "beauty": 0.15,
    "food": 0.12,
    "electronics": 0.15,
    "home": 0.10,
    "jewelry": 0.05,
    "other": 0.13,
}
REFUND_RATE = {
    "apparel": 0.22,
    "beauty": 0.12,
    "food": 0.06,
    "electronics": 0.06,
    "home": 0.08,
    "jewelry": 0.14,
    "other": 0.10,
}
"""Share of orders refunded within the hour after the order (cancellations, changed minds), by
category, for normal anchors."""
LATER_REFUND_RATE = {
    "apparel": 0.25,
    "beauty": 0.08,
    "food": 0.04,
    "electronics": 0.08,
    "home": 0.08,
    "jewelry": 0.10,
    "other": 0.06,
}
"""Share returned hours later, after delivery: apparel's eventual refund rate is high, but
these refunds come too late to change any window."""

MINUTE = 60.0


def day_curve(hour_of_day: float) -> float:
    """Relative audience by hour: low before dawn, a lunch bump, the evening peak at 21h."""
    evening = math.exp(-(((hour_of_day - 21.0) / 2.5) ** 2))
    lunch = 0.35 * math.exp(-(((hour_of_day - 12.5) / 1.5) ** 2))
    return 0.08 + evening + lunch


@dataclass
class Session:
    session_id: str
    start: float
    """Seconds since the simulation start."""
    end: float


@dataclass
class Anchor:
    anchor_id: str
    category: str
    orders_per_hour: float
    """At the peak of a session."""
    refund_rate: float
    merchant_id: str
    sessions: list[Session] = field(default_factory=list)


def make_anchors(rng: random.Random, count: int, span_s: float, start_hour: float) -> list[Anchor]:
    """`count` anchors; each goes live one to three times in the span, more in the evening."""
    anchors = []
    categories = list(CATEGORY_WEIGHTS)
    weights = list(CATEGORY_WEIGHTS.values())
    for i in range(count):
        category = rng.choices(categories, weights)[0]
        size = min(1200.0, max(6.0, rng.lognormvariate(math.log(50), 0.9)))
        rate = min(0.9, REFUND_RATE[category] * rng.lognormvariate(0, 0.2))
        anchor = Anchor(f"anchor-{i:05d}", category, size, rate, f"merchant-{i % 97:03d}")
        anchor.sessions = _sessions(rng, anchor.anchor_id, span_s, start_hour)
        anchors.append(anchor)
    return anchors


def _sessions(
    rng: random.Random, anchor_id: str, span_s: float, start_hour: float
) -> list[Session]:
    sessions: list[Session] = []
    wanted = rng.choice((1, 1, 2, 2, 3))
    for _ in range(wanted * 4):  # rejection sampling toward the day curve
        if len(sessions) >= wanted:
            break
        begin = rng.uniform(0, max(1.0, span_s - 45 * MINUTE))
        if rng.random() > day_curve((start_hour + begin / 3600) % 24) / 1.1:
            continue
        length = rng.uniform(45, 180) * MINUTE
        end = min(span_s, begin + length)
        if any(begin < s.end + 30 * MINUTE and s.start < end + 30 * MINUTE for s in sessions):
            continue
        sessions.append(Session(f"{anchor_id}-live-{len(sessions) + 1}", begin, end))
    return sorted(sessions, key=lambda s: s.start)


def session_intensity(session: Session, t: float) -> float:
    """0..1: audience builds up over the first quarter and fades in the last."""
    length = session.end - session.start
    x = (t - session.start) / length if length > 0 else 0.0
    return max(0.15, min(1.0, 4 * x, 4 * (1 - x)))
