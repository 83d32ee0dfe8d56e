"""Valid example events as plain JSON dicts; tests change one field at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


def order(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "evt-o-1",
        "order_id": "o-1",
        "session_id": "s-1",
        "anchor_id": "a-1",
        "merchant_id": "m-1",
        "sku_id": "sku-1",
        "category": "apparel",
        "buyer_id": "b-1",
        "quantity": 1,
        "amount": "59.90",
        "currency": "CNY",
        "placed_at": "2026-11-29T12:00:00+08:00",
    }
    return value | overrides


def refund(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "evt-r-1",
        "refund_id": "r-1",
        "order_id": "o-1",
        "anchor_id": "a-1",
        "session_id": "s-1",
        "amount": "59.90",
        "currency": "CNY",
        "reason": "changed_mind",
        "shipped": False,
        "requested_at": "2026-11-29T12:20:00+08:00",
    }
    return value | overrides


def complaint(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "evt-c-1",
        "complaint_id": "c-1",
        "anchor_id": "a-1",
        "session_id": "s-1",
        "order_id": "o-1",
        "merchant_id": "m-1",
        "sku_id": "sku-1",
        "category": "quality",
        "channel": "platform",
        "filed_at": "2026-11-30T09:00:00+08:00",
    }
    return value | overrides


TIME_FIELD = {"orders": "placed_at", "refunds": "requested_at", "complaints": "filed_at"}
"""The field holding each kind's event time."""


def in_local_time(records: list[tuple[str, Any]], zone: str) -> list[tuple[str, Any]]:
    """The records with each event time written as `zone`'s local time without an offset
    (`2026-11-11 20:00:00.123456`), as a producer that writes local time sends it."""
    local = ZoneInfo(zone)
    out = []
    for kind, value in records:
        field = TIME_FIELD[kind]
        moment = datetime.fromisoformat(value[field]).astimezone(local)
        out.append((kind, {**value, field: moment.replace(tzinfo=None).isoformat(sep=" ")}))
    return out
