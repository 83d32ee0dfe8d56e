"""Input events on the `orders`, `refunds` and `complaints` topics (schema version 1)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from schemas.types import Currency, Event, Flag, Id, Lenient, Money, Quantity, Timestamp


class ProductCategory(StrEnum):
    APPAREL = "apparel"
    ELECTRONICS = "electronics"
    FOOD = "food"
    BEAUTY = "beauty"
    JEWELRY = "jewelry"
    HOME = "home"
    OTHER = "other"


class RefundReason(StrEnum):
    QUALITY = "quality"
    NOT_AS_DESCRIBED = "not_as_described"
    COUNTERFEIT = "counterfeit"
    DAMAGED = "damaged"
    NOT_RECEIVED = "not_received"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


class ComplaintCategory(StrEnum):
    QUALITY = "quality"
    COUNTERFEIT = "counterfeit"
    NOT_AS_DESCRIBED = "not_as_described"
    FALSE_ADVERTISING = "false_advertising"
    AFTER_SALES_REFUSAL = "after_sales_refusal"
    OTHER = "other"


class ComplaintChannel(StrEnum):
    PLATFORM = "platform"
    HOTLINE = "hotline"
    REGULATOR = "regulator"
    OTHER = "other"


class Order(Event):
    """An order placed during a live session; keyed by `anchor_id` on the wire."""

    schema_version: Literal[1] = 1
    event_id: Id
    order_id: Id
    session_id: Id
    anchor_id: Id
    merchant_id: Id
    sku_id: Id
    category: Annotated[ProductCategory, Lenient]
    buyer_id: Id
    quantity: Quantity
    amount: Money
    currency: Currency
    placed_at: Timestamp

    @property
    def event_time(self) -> datetime:
        return self.placed_at


class Refund(Event):
    """A refund of one order; keyed by anything (see docs/events.md, Keys and partitions): livewatch
    sends it on to the partition of its order's anchor."""

    schema_version: Literal[1] = 1
    event_id: Id
    refund_id: Id
    order_id: Id
    anchor_id: Id | None = None
    session_id: Id | None = None
    amount: Money
    currency: Currency
    reason: Annotated[RefundReason, Lenient]
    shipped: Flag
    requested_at: Timestamp

    @property
    def event_time(self) -> datetime:
        return self.requested_at


class Complaint(Event):
    """A buyer complaint against an anchor's sale; keyed by `anchor_id` on the wire."""

    schema_version: Literal[1] = 1
    event_id: Id
    complaint_id: Id
    anchor_id: Id
    session_id: Id | None = None
    order_id: Id | None = None
    merchant_id: Id | None = None
    sku_id: Id | None = None
    category: Annotated[ComplaintCategory, Lenient]
    channel: Annotated[ComplaintChannel, Lenient]
    filed_at: Timestamp

    @property
    def event_time(self) -> datetime:
        return self.filed_at


InputEvent = Order | Refund | Complaint
"""Any event livewatch consumes."""
