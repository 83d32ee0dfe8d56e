"""The board's episodes from alert records: active ones, history, the bound on memory."""

from __future__ import annotations

from datetime import timedelta

from streams.board.ledger import Ledger
from tests.board.alerts import T0, alert


def test_an_episode_fires_escalates_and_resolves() -> None:
    ledger = Ledger()
    ledger.apply(alert(0))
    critical = {"refund_rate_lower_bound": 0.7, "orders": 90}
    ledger.apply(alert(5, severity="critical", observed=critical))
    assert [e.severity for e in ledger.active()] == ["critical"]
    e = ledger.active()[0]
    assert e.started == T0 and e.updated == T0 + timedelta(minutes=5) and e.updates == 2
    assert e.observed == critical

    ledger.apply(alert(30, status="resolved", observed={"refund_rate_lower_bound": 0.1}))
    assert ledger.active() == []
    (done,) = ledger.history("a-1")
    assert done.status == "resolved" and done.ended == T0 + timedelta(minutes=30)
    assert done.observed == critical  # the figures that crossed, not the calm ones


def test_active_is_newest_first_and_history_is_per_anchor() -> None:
    ledger = Ledger()
    ledger.apply(alert(0, alert_id="x", anchor_id="a-1"))
    ledger.apply(alert(10, alert_id="y", anchor_id="a-2"))
    ledger.apply(alert(20, alert_id="z", anchor_id="a-1", rule="quality_complaints"))
    assert [e.alert_id for e in ledger.active()] == ["z", "y", "x"]
    assert [e.alert_id for e in ledger.history("a-1")] == ["z", "x"]
    assert ledger.history("nobody") == []
    assert ledger.categories() == ["beauty"]
    assert ledger.clock == T0 + timedelta(minutes=20)


def test_a_resolution_read_before_its_firing_is_kept_as_ended() -> None:
    ledger = Ledger()
    ledger.apply(alert(30, status="resolved"))
    assert ledger.active() == [] and ledger.history("a-1")[0].ended is not None


def test_memory_is_bounded_and_firing_episodes_are_never_dropped() -> None:
    ledger = Ledger(max_episodes=3)
    for i in range(5):
        ledger.apply(alert(i, alert_id=f"old-{i}", status="resolved"))
    ledger.apply(alert(9, alert_id="live"))
    assert len(ledger.episodes) == 3
    assert [e.alert_id for e in ledger.active()] == ["live"]
    assert sorted(ledger.episodes) == ["live", "old-3", "old-4"]
    assert set(ledger.by_anchor["a-1"]) == set(ledger.episodes)


def test_now_is_the_wall_clock_unless_the_stream_runs_ahead() -> None:
    ledger = Ledger()
    assert ledger.now(T0) == T0
    ledger.apply(alert(60))
    assert ledger.now(T0) == T0 + timedelta(minutes=60)
    assert ledger.now(T0 + timedelta(days=1)) == T0 + timedelta(days=1)
