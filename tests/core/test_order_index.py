"""The order index: anchorless refunds meet their order's entry whichever arrives first."""

from __future__ import annotations

from streams.core.detector import Stats
from streams.core.facts import RefundFact
from streams.core.order_index import (
    MAX_WAITING,
    DictIndex,
    IndexedRefund,
    IndexEntry,
    OrderIndex,
)

GRACE = 300_000
HORIZON = 7 * 86_400_000
MIN = 60_000


def index() -> OrderIndex:
    return OrderIndex(DictIndex(), GRACE, HORIZON, Stats())


def refund(
    event_id: str = "r1", visible: int = 30 * MIN, requested: int = 30 * MIN
) -> IndexedRefund:
    fact = RefundFact(event_id, "o1", None, None, 9.9, "other", False, requested)
    return IndexedRefund(fact, visible)


class TestJoin:
    def test_a_refund_after_its_entry_goes_on_to_the_anchor(self) -> None:
        """The anchor is filled in; it is visible when the later of the two became visible."""
        idx = index()
        assert idx.add_entry("o1", IndexEntry("a1", 10 * MIN)) == []
        [(anchor, fact, visible)] = idx.add_refund("o1", refund())
        assert (anchor, fact.anchor_id, visible) == ("a1", "a1", 30 * MIN)

    def test_the_result_does_not_depend_on_which_arrived_first(self) -> None:
        """Entries come from every partition in any order: refund-then-entry gives the same."""
        first, second = index(), index()
        entry = IndexEntry("a1", 31 * MIN)  # read a minute after the refund was
        forward_a = first.add_entry("o1", entry) + first.add_refund("o1", refund())
        forward_b = second.add_refund("o1", refund()) + second.add_entry("o1", entry)
        assert forward_a == forward_b == [("a1", refund().refund.for_anchor("a1"), 31 * MIN)]

    def test_an_entry_visible_after_the_grace_period_never_matches(self) -> None:
        """Whether it arrives before or after the refund, an order read more than the grace
        period after the refund does not attribute it; the refund is unattributed once every
        partition is past its grace period."""
        late = IndexEntry("a1", 30 * MIN + GRACE + 1)
        for order in ("entry first", "refund first"):
            idx = index()
            if order == "entry first":
                idx.add_entry("o1", late)
            forwards = idx.add_refund("o1", refund())
            if order == "refund first":
                forwards += idx.add_entry("o1", late)
            idx.expire(30 * MIN + GRACE + 1)
            assert forwards == []
            assert idx.stats.attribution["unattributed"] == 1, order

    def test_a_redelivered_refund_waits_once_and_is_counted_as_a_duplicate(self) -> None:
        """Every input record is accounted for: the redelivery as `duplicate` at once, the
        first where its anchor's partition counts it."""
        idx = index()
        idx.add_refund("o1", refund())
        idx.add_refund("o1", refund())
        assert idx.stats.outcomes[("refunds", "duplicate")] == 1
        assert len(idx.add_entry("o1", IndexEntry("a1", 30 * MIN))) == 1

    def test_a_refund_past_the_horizon_of_its_order_is_unattributed(self) -> None:
        idx = index()
        idx.add_entry("o1", IndexEntry("a1", 0))
        assert idx.add_refund("o1", refund(visible=HORIZON + MIN, requested=HORIZON + MIN)) == []
        assert idx.stats.attribution["unattributed"] == 1

    def test_refunds_waiting_for_one_order_are_capped_and_the_excess_counted(self) -> None:
        """A flood of refunds naming one order id never met cannot grow a record without
        bound: past the cap they are unattributed at once and counted as dropped."""
        idx = index()
        for i in range(MAX_WAITING + 5):
            idx.add_refund("o1", refund(event_id=f"r{i}"))
        assert len(idx.store.waiting("o1")) == MAX_WAITING
        assert idx.stats.dropped["index_refunds"] == 5
        assert idx.stats.attribution["unattributed"] == 5
        assert len(idx.add_entry("o1", IndexEntry("a1", 30 * MIN))) == MAX_WAITING


class TestExpire:
    def test_waiting_refunds_expire_only_past_their_grace_period(self) -> None:
        """A refund waits until every partition has marked itself past its visible time plus
        the grace period; only then is it counted as unattributed and forgotten."""
        idx = index()
        idx.add_refund("o1", refund())
        idx.expire(30 * MIN + GRACE)
        assert idx.stats.attribution["unattributed"] == 0
        idx.expire(30 * MIN + GRACE + 1)
        assert idx.stats.attribution["unattributed"] == 1
        assert idx.stats.outcomes[("refunds", "ok")] == 1
        assert idx.add_entry("o1", IndexEntry("a1", 30 * MIN)) == []

    def test_entries_are_forgotten_past_the_horizon(self) -> None:
        store = DictIndex()
        idx = OrderIndex(store, GRACE, HORIZON, Stats())
        idx.add_entry("o1", IndexEntry("a1", 0))
        idx.expire(HORIZON + GRACE)
        assert "o1" in store.entries
        idx.expire(HORIZON + GRACE + 1)
        assert store.entries == {}
