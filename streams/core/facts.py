"""What the core keeps of an event: the fields counting needs, buyer ids only as hashes.

Events are validated once, where they are read (pydantic models in `schemas`). What travels on
to an anchor's partition, what waits in the state for its boundary and what waits in the order
index for its order is this compact form: a few fields, bounded in size whatever extra fields
a producer sent, with the buyer as the 64-bit hash the buckets count, so no buyer id is ever
stored, on a table or an internal topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mypy_extensions import mypyc_attr

from schemas import TOPIC_MODELS, Complaint, InputEvent, Order, Refund
from streams.core.clock import to_ms
from streams.core.sketches import key_hash


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class OrderFact:
    event_id: str
    order_id: str
    anchor_id: str
    session_id: str
    category: str
    amount: float
    buyer: int
    """The buyer id's hash (`sketches.key_hash`), as a bucket counts it."""
    t: int
    """Placement time, ms."""

    def __init__(
        self, event_id: str, order_id: str, anchor_id: str, session_id: str, category: str,
        amount: float, buyer: int, t: int,
    ) -> None:  # fmt: skip
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.event_id = event_id
        self.order_id = order_id
        self.anchor_id = anchor_id
        self.session_id = session_id
        self.category = category
        self.amount = amount
        self.buyer = buyer
        self.t = t

    @property
    def kind(self) -> str:
        """The topic it was read from. A property, not a `ClassVar` with a value: mypyc, which
        compiles the core (`streams.devtools.compile_core`), takes that for a field."""
        return "orders"

    def to_list(self) -> list[Any]:
        return [self.event_id, self.order_id, self.anchor_id, self.session_id, self.category,
                self.amount, self.buyer, self.t]  # fmt: skip

    @classmethod
    def from_list(cls, d: list[Any]) -> OrderFact:
        return cls(str(d[0]), str(d[1]), str(d[2]), str(d[3]), str(d[4]), float(d[5]),
                   int(d[6]), int(d[7]))  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(slots=True, init=False)
class RefundFact:
    event_id: str
    order_id: str
    anchor_id: str | None
    session_id: str | None
    amount: float
    reason: str
    shipped: bool
    t: int
    """Request time, ms."""

    def __init__(
        self, event_id: str, order_id: str, anchor_id: str | None, session_id: str | None,
        amount: float, reason: str, shipped: bool, t: int,
    ) -> None:  # fmt: skip
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.event_id = event_id
        self.order_id = order_id
        self.anchor_id = anchor_id
        self.session_id = session_id
        self.amount = amount
        self.reason = reason
        self.shipped = shipped
        self.t = t

    @property
    def kind(self) -> str:
        return "refunds"

    def to_list(self) -> list[Any]:
        return [self.event_id, self.order_id, self.anchor_id, self.session_id, self.amount,
                self.reason, self.shipped, self.t]  # fmt: skip

    @classmethod
    def from_list(cls, d: list[Any]) -> RefundFact:
        return cls(
            str(d[0]), str(d[1]), _opt(d[2]), _opt(d[3]), float(d[4]), str(d[5]), bool(d[6]),
            int(d[7]),
        )  # fmt: skip

    def for_anchor(self, anchor_id: str) -> RefundFact:
        """The same refund with its order's anchor filled in (the order index found it), by
        the compiled constructor, not the interpreted `dataclasses.replace`."""
        return RefundFact(
            self.event_id,
            self.order_id,
            anchor_id,
            self.session_id,
            self.amount,
            self.reason,
            self.shipped,
            self.t,
        )


@mypyc_attr(acyclic=True)
@dataclass(frozen=True, slots=True)
class ComplaintFact:
    event_id: str
    anchor_id: str
    category: str
    t: int
    """Filing time, ms."""

    @property
    def kind(self) -> str:
        return "complaints"

    def to_list(self) -> list[Any]:
        return [self.event_id, self.anchor_id, self.category, self.t]

    @classmethod
    def from_list(cls, d: list[Any]) -> ComplaintFact:
        return cls(str(d[0]), str(d[1]), str(d[2]), int(d[3]))


Fact = OrderFact | RefundFact | ComplaintFact
FACT_TYPES = (OrderFact, RefundFact, ComplaintFact)
FACTS: dict[str, type[OrderFact] | type[RefundFact] | type[ComplaintFact]] = {
    "orders": OrderFact,
    "refunds": RefundFact,
    "complaints": ComplaintFact,
}


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def fact_of(event: InputEvent) -> Fact:
    """The compact form of a validated event."""
    if isinstance(event, Order):
        return OrderFact(
            event.event_id, event.order_id, event.anchor_id, event.session_id,
            event.category.value, float(event.amount), key_hash(event.buyer_id),
            to_ms(event.placed_at),
        )  # fmt: skip
    if isinstance(event, Refund):
        return RefundFact(
            event.event_id, event.order_id, event.anchor_id, event.session_id,
            float(event.amount), event.reason.value, event.shipped, to_ms(event.requested_at),
        )  # fmt: skip
    assert isinstance(event, Complaint)
    return ComplaintFact(
        event.event_id, event.anchor_id, event.category.value, to_ms(event.filed_at)
    )


def as_fact(event: InputEvent | Fact) -> Fact:
    """`event` as a fact: made from a validated event, or as given when it is one already."""
    return event if isinstance(event, FACT_TYPES) else fact_of(event)


def fact_from(kind: str, data: list[Any]) -> Fact:
    """A fact of `kind` from its `to_list` form (raises KeyError, IndexError, TypeError or
    ValueError when malformed)."""
    return FACTS[kind].from_list(data)


def parked_fact(kind: str, data: Any) -> Fact:
    """A deferred event as an anchor's state holds it: the compact list, or, in a state written
    by an earlier version, the event's whole JSON value."""
    if isinstance(data, dict):
        return fact_of(TOPIC_MODELS[kind].model_validate(data))
    return fact_from(kind, data)


def parked_id(data: Any) -> str:
    """The event id of a deferred event, in either form (see `parked_fact`)."""
    return str(data["event_id"] if isinstance(data, dict) else data[0])
