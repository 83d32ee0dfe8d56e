"""The board's formatting helpers."""

from __future__ import annotations

from datetime import timedelta

from streams.board.ledger import Ledger
from streams.board.pages import crossed, duration, pct, when
from tests.board.alerts import alert


def test_crossed_shows_what_was_compared_early_path_first() -> None:
    plain = Ledger().apply(alert(0))
    assert crossed(plain) == [("refund_rate_lower_bound", 0.41, 0.3)]
    early = Ledger().apply(alert(0, observed={"refund_rate_lower_bound": 0.11,
        "early_refunds_lower_bound": 3.1, "early_refunds_expected": 0.5},
        threshold={"refund_rate_lower_bound": 0.2, "early_factor": 3.0}))  # fmt: skip
    assert crossed(early) == [
        ("early_refunds_lower_bound", 3.1, 1.5),
        ("refund_rate_lower_bound", 0.11, 0.2),
    ]


def test_durations_times_and_shares_read_as_people_write_them() -> None:
    assert duration(timedelta(seconds=-5)) == "0 s"
    assert duration(timedelta(seconds=59)) == "59 s"
    assert duration(timedelta(minutes=58, seconds=59)) == "58 min"
    assert duration(timedelta(hours=2, minutes=5)) == "2 h 05 min"
    assert when("2026-11-30T20:00:00+08:00") == "2026-11-30 12:00:00 UTC"
    assert when("not a time") == "not a time" and when(None) == ""
    assert pct(0.4567) == "45.7%" and pct(None) == ""
