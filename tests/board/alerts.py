"""Alert records for the board's tests, one field changed at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import Alert

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def alert(minute: int = 0, **overrides: Any) -> Alert:
    value: dict[str, Any] = {
        "schema_version": 1,
        "event_id": f"evt-{minute}",
        "alert_id": "alert-1",
        "rule": "refund_after_order_spike",
        "status": "firing",
        "severity": "warning",
        "anchor_id": "a-1",
        "session_id": "s-1",
        "window_start": T0 - timedelta(hours=1) + timedelta(minutes=minute),
        "window_end": T0 + timedelta(minutes=minute),
        "observed": {"refund_rate_lower_bound": 0.41, "orders": 80},
        "threshold": {"refund_rate_lower_bound": 0.3, "min_orders_long": 30},
        "evidence": {
            "window": "short+long",
            "category": "beauty",
            "orders": 80,
            "sample_order_ids": ["o-1", "o-2"],
        },
        "emitted_at": T0,
    }
    return Alert.model_validate(value | overrides)
