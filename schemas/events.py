"""Input events on the `orders`, `refunds` and `complaints` topics (schema version 1)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import model_validator

from schemas.types import (
    Currency,
    Event,
    Flag,
    Id,
    Lenient,
    Money,
    Quantity,
    Timestamp,
    spellings,
)


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


EVENT_ID_SPELLINGS = tuple(str(s) for s in spellings("event_id").choices)


class InputRecord(Event):
    """Base of the input events: one that carries no `event_id` (under any spelling) is known
    by its own id (`natural_id`): an order system without event ids sends one event per order,
    so a redelivery still has the id of the first."""

    natural_id: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _event_id_of_natural_id(cls, data: Any) -> Any:
        if not isinstance(data, dict) or any(s in data for s in EVENT_ID_SPELLINGS):
            return data
        for spelled in spellings(cls.natural_id).choices:
            if spelled in data:
                return {**data, "event_id": data[spelled]}
        return data


class Order(InputRecord):
    """An order placed during a live session; keyed by `anchor_id` on the wire."""

    natural_id = "order_id"
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


class Refund(InputRecord):
    """A refund of one order; keyed by anything (see docs/events.md, Keys and partitions): livewatch
    sends it on to the partition of its order's anchor."""

    natural_id = "refund_id"
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


class Complaint(InputRecord):
    """A buyer complaint against an anchor's sale; keyed by `anchor_id` on the wire."""

    natural_id = "complaint_id"
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
