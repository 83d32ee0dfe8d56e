"""Refund -> order join: where the worker keeps orders is the shell's business (a Protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from streams.core.state import PendingRefund


@dataclass(frozen=True, slots=True)
class OrderRef:
    """What a refund needs of its order: whom and when to count it against."""

    anchor_id: str
    session_id: str
    placed_ms: int
    category: str
    refund_event: str | None = None
    """Event id of the refund that counted against this order: an order counts as refunded
    once however many refunds it gets, and a redelivery of that refund is recognised."""

    def to_dict(self) -> dict[str, Any]:
        d = {"a": self.anchor_id, "s": self.session_id, "t": self.placed_ms, "c": self.category}
        if self.refund_event is not None:
            d["r"] = self.refund_event
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrderRef:
        refund = d.get("r")
        placed = d["t"]
        if isinstance(placed, bool) or not isinstance(placed, int):
            raise ValueError(f"an order's placement time is whole ms, got {placed!r}")
        return cls(str(d["a"]), str(d["s"]), placed, str(d["c"]),
                   None if refund is None else str(refund))  # fmt: skip


class OrderMemory(Protocol):
    """Orders by `order_id`, for the attribution horizon (a Faust table, or a dict in replay).
    It also tells a redelivered order or refund from a new one."""

    def get(self, order_id: str) -> OrderRef | None: ...

    def put(self, order_id: str, ref: OrderRef) -> None: ...

    def waiting(self, order_id: str) -> PendingRefund | None:
        """The refund waiting for this order, if one arrived first."""
        ...

    def wait(self, order_id: str, refund: PendingRefund) -> None: ...

    def release(self, order_id: str) -> None:
        """Forget the refund waiting for this order (it was counted, or settled)."""
        ...
