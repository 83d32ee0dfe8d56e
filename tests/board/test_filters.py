"""What the filter keeps, and what it refuses."""

from __future__ import annotations

import pytest

from streams.board.filters import Filter, FilterError
from streams.board.ledger import Ledger
from tests.board.alerts import alert


def test_episodes_by_rule_severity_category_and_anchor() -> None:
    ledger = Ledger()
    e = ledger.apply(alert(0, anchor_id="Shop-Big"))
    assert Filter().episode(e)
    assert Filter(rule="refund_after_order_spike", severity="warning", category="beauty",
                  q="big").episode(e)  # fmt: skip
    assert not Filter(rule="quality_complaints").episode(e)
    assert not Filter(severity="critical").episode(e)
    assert not Filter(category="food").episode(e)
    assert not Filter(q="small").episode(e)


def test_anchor_rows_by_firing_rule_and_severity() -> None:
    ledger = Ledger()
    e = ledger.apply(alert(0, severity="critical"))
    row = {"anchor_id": "a-1", "category": "beauty", "firing": ["refund_after_order_spike"]}
    assert Filter(rule="refund_after_order_spike", severity="critical").anchor(row, [e])
    assert not Filter(rule="order_concentration").anchor(row, [e])
    assert not Filter(severity="warning").anchor(row, [e])
    assert not Filter(category="food").anchor(row, [e])
    assert Filter(q="A-1").anchor(row, [])


def test_from_query_refuses_unknown_values_and_keeps_the_rest() -> None:
    flt = Filter.from_query({"rule": "", "severity": "critical", "category": " food ", "q": "x"})
    assert flt == Filter(None, "critical", "food", "x")
    assert flt.as_query() == {"severity": "critical", "category": "food", "q": "x"}
    with pytest.raises(FilterError, match="unknown rule 'nope'"):
        Filter.from_query({"rule": "nope"})
    with pytest.raises(FilterError, match="unknown severity"):
        Filter.from_query({"severity": "page-me"})
    assert len(Filter.from_query({"q": "x" * 1000}).q) == 128
