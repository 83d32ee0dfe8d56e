"""Refund -> order join: where the worker keeps orders is the shell's business (`OrderMemory`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mypy_extensions import mypyc_attr

from streams.core.state import PendingRefund


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class OrderRef:
    """What a refund needs of its order: whom and when to count it against."""

    anchor_id: str
    session_id: str
    placed_ms: int
    category: str
    refund_event: str | None = None
    """Event id of the refund that counted against this order: an order counts as refunded
    once however many refunds it gets, and a redelivery of that refund is recognised."""
    buyer: int | None = None
    """The buyer id's hash, so a refund can say whose order it undid (None: remembered
    before buyers were kept)."""

    def __init__(
        self, anchor_id: str, session_id: str, placed_ms: int, category: str,
        refund_event: str | None = None, buyer: int | None = None,
    ) -> None:  # fmt: skip
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.anchor_id = anchor_id
        self.session_id = session_id
        self.placed_ms = placed_ms
        self.category = category
        self.refund_event = refund_event
        self.buyer = buyer

    def refunded_by(self, event_id: str) -> OrderRef:
        """The same order, counted as refunded by this refund event. Made by the compiled
        constructor: `dataclasses.replace` is interpreted, and took 1% of a worker."""
        return OrderRef(
            self.anchor_id, self.session_id, self.placed_ms, self.category, event_id, self.buyer
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "a": self.anchor_id, "s": self.session_id, "t": self.placed_ms, "c": self.category,
        }  # fmt: skip
        if self.refund_event is not None:
            d["r"] = self.refund_event
        if self.buyer is not None:
            d["b"] = self.buyer
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrderRef:
        refund = d.get("r")
        placed = d["t"]
        buyer = d.get("b")
        if isinstance(placed, bool) or not isinstance(placed, int):
            raise ValueError(f"an order's placement time is whole ms, got {placed!r}")
        if buyer is not None and (isinstance(buyer, bool) or not isinstance(buyer, int)):
            raise ValueError(f"an order's buyer hash is a whole number, got {buyer!r}")
        return cls(str(d["a"]), str(d["s"]), placed, str(d["c"]),
                   None if refund is None else str(refund), buyer)  # fmt: skip


@mypyc_attr(allow_interpreted_subclasses=True)
class OrderMemory:
    """Orders by `order_id`, for the attribution horizon (a Faust table, or a dict in replay).
    It also tells a redelivered order or refund from a new one. A base class, not a protocol:
    the detector calls it a few times per event, and compiled, a call through a base class is
    a direct call where one through a protocol looks the method up by name."""

    def get(self, order_id: str) -> OrderRef | None:
        raise NotImplementedError

    def put(self, order_id: str, ref: OrderRef) -> None:
        raise NotImplementedError

    def waiting(self, order_id: str) -> PendingRefund | None:
        """The refund waiting for this order, if one arrived first."""
        raise NotImplementedError

    def wait(self, order_id: str, refund: PendingRefund) -> None:
        raise NotImplementedError

    def release(self, order_id: str) -> None:
        """Forget the refund waiting for this order (it was counted, or settled)."""
        raise NotImplementedError
