"""Refund -> order join: where the worker keeps orders is the shell's business (a Protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class OrderRef:
    """What a refund needs of its order: whom and when to count it against."""

    anchor_id: str
    session_id: str
    placed_ms: int
    category: str

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.anchor_id, "s": self.session_id, "t": self.placed_ms, "c": self.category}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrderRef:
        return cls(d["a"], d["s"], d["t"], d["c"])


class OrderMemory(Protocol):
    """Orders by `order_id`, for the attribution horizon (a Faust table, or a dict in replay)."""

    def get(self, order_id: str) -> OrderRef | None: ...

    def put(self, order_id: str, ref: OrderRef) -> None: ...
