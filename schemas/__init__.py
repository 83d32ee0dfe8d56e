"""Wire contracts of livewatch: pydantic models of every event and of the alert."""

from schemas.alert import Alert, AlertStatus, Evidence, RuleName, Severity
from schemas.events import (
    Complaint,
    ComplaintCategory,
    ComplaintChannel,
    InputEvent,
    Order,
    ProductCategory,
    Refund,
    RefundReason,
)

TOPIC_MODELS: dict[str, type[Order] | type[Refund] | type[Complaint]] = {
    "orders": Order,
    "refunds": Refund,
    "complaints": Complaint,
}
"""Input model per logical topic name."""

__all__ = [
    "TOPIC_MODELS",
    "Alert",
    "AlertStatus",
    "Complaint",
    "ComplaintCategory",
    "ComplaintChannel",
    "Evidence",
    "InputEvent",
    "Order",
    "ProductCategory",
    "Refund",
    "RefundReason",
    "RuleName",
    "Severity",
]
