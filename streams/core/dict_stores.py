"""The detector's stores in plain dicts: what the replay and the tests count in. Faust-free, so
`livewatch replay` runs without importing Faust; the worker's stores are in
`streams.worker.stores`. Compiled with the core, and open to subclasses in tests."""

from __future__ import annotations

from mypy_extensions import mypyc_attr

from streams.core.attribution import OrderMemory, OrderRef
from streams.core.detector import StateStore
from streams.core.state import AnchorState, PendingRefund


@mypyc_attr(allow_interpreted_subclasses=True)
class DictStates(StateStore):
    """Anchor states in a dict: replay and tests."""

    def __init__(self) -> None:
        self.data: dict[str, AnchorState] = {}

    def get(self, anchor_id: str) -> AnchorState | None:
        return self.data.get(anchor_id)

    def put(self, state: AnchorState) -> None:
        self.data[state.anchor_id] = state

    def put_counts(self, state: AnchorState) -> None:
        self.put(state)  # one place to override (tests that check every stored version)


@mypyc_attr(allow_interpreted_subclasses=True)
class DictOrders(OrderMemory):
    """The order memory in a dict: replay and tests."""

    def __init__(self) -> None:
        self.data: dict[str, OrderRef] = {}
        self.refunds: dict[str, PendingRefund] = {}

    def get(self, order_id: str) -> OrderRef | None:
        return self.data.get(order_id)

    def put(self, order_id: str, ref: OrderRef) -> None:
        self.data[order_id] = ref

    def waiting(self, order_id: str) -> PendingRefund | None:
        return self.refunds.get(order_id)

    def wait(self, order_id: str, refund: PendingRefund) -> None:
        self.refunds[order_id] = refund

    def release(self, order_id: str) -> None:
        self.refunds.pop(order_id, None)
