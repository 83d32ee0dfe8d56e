"""Verdicts folded per episode, and each rule's precision from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import AlertStatus, Severity
from schemas.verdict import Judgement
from streams.verdicts.book import VerdictBook
from streams.verdicts.report import Episode, report

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def episode(alert_id: str, rule: str, severity: Severity = Severity.WARNING) -> Episode:
    return Episode(alert_id, rule, "a-1", severity, T0, T0, AlertStatus.FIRING)


class TestBook:
    def test_the_latest_verdict_stands_and_keeps_the_earlier(self) -> None:
        """A second verdict on an episode replaces the first and carries it; reading the
        first again (a restart reads the topic anew) changes nothing."""
        book = VerdictBook()
        first = book.judge("e1", Judgement.UNSURE, "alice", T0, rule="refund_after_order_spike")
        book.add(first)
        second = book.judge("e1", Judgement.CONFIRMED, "bob", T0 + timedelta(minutes=5))
        assert book.add(second)
        assert not book.add(first)
        latest = book.get("e1")
        assert latest is not None and latest.verdict is Judgement.CONFIRMED
        assert [(v.verdict, v.by) for v in latest.earlier] == [(Judgement.UNSURE, "alice")]
        assert latest.rule is not None and latest.rule.value == "refund_after_order_spike"


def test_precision_counts_confirmed_against_false_alarms() -> None:
    """3 confirmed and 1 false alarm give 0.75 with a wide interval; `unsure` is judged but
    counts neither way; the wait runs from the episode's first alert to the first verdict."""
    rule = "refund_after_order_spike"
    episodes = {f"e{i}": episode(f"e{i}", rule) for i in range(6)}
    episodes["c"] = episode("c", "quality_complaints", Severity.CRITICAL)
    book = VerdictBook()
    for i, (choice, minutes) in enumerate(
        [(Judgement.CONFIRMED, 10), (Judgement.CONFIRMED, 20), (Judgement.CONFIRMED, 30),
         (Judgement.FALSE_ALARM, 40), (Judgement.UNSURE, 50)]
    ):  # fmt: skip
        book.add(book.judge(f"e{i}", choice, "alice", T0 + timedelta(minutes=minutes)))
    found = report(episodes, book.latest)
    spikes = found["rules"][rule]
    assert (spikes["episodes"], spikes["judged"], spikes["confirmed"]) == (6, 5, 3)
    assert (spikes["false_alarm"], spikes["unsure"], spikes["precision"]) == (1, 1, 0.75)
    assert 0.2 < spikes["precision_low"] < 0.75 < spikes["precision_high"] <= 1.0
    assert spikes["median_time_to_verdict_s"] == 30 * 60
    complaints = found["rules"]["quality_complaints"]
    assert (complaints["episodes"], complaints["judged"], complaints["precision"]) == (1, 0, None)
    assert complaints["by_severity"]["critical"]["episodes"] == 1
    assert found["rules"]["order_concentration"]["episodes"] == 0
    assert found["overall"]["episodes"] == 7


def test_since_keeps_recent_episodes() -> None:
    """`--since` counts episodes that started then or later."""
    old = episode("old", "quality_complaints")
    old.started = T0 - timedelta(days=3)
    found = report({"old": old, "new": episode("new", "quality_complaints")}, {},
                   since=T0 - timedelta(days=1))  # fmt: skip
    assert found["rules"]["quality_complaints"]["episodes"] == 1
