"""What the worker says about records read away from their anchor's partition."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from streams.core.partition import Route
from streams.worker.forwarding import LOG_EVERY_S, ForwardingReport, reason


class TestReason:
    def test_the_key_tells_the_likely_cause(self) -> None:
        assert reason(Route.TO_ANCHOR, b"a-1", "a-1") == "partitioner"  # keyed right, hashed not
        assert reason(Route.TO_ANCHOR, b"o-1", "a-1") == "key"
        assert reason(Route.TO_ANCHOR, None, "a-1") == "no_key"
        assert reason(Route.TO_INDEX, b"o-1", None) == "no_anchor"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestForwardingReport:
    def test_each_record_is_counted_and_the_cause_logged_at_most_once_per_interval(
        self,
    ) -> None:
        clock = Clock()
        report = ForwardingReport(structlog.get_logger("test"), clock)
        with capture_logs() as logs:
            for _ in range(5):
                report.note("orders", Route.TO_ANCHOR, b"a-1", "a-1")
            clock.now = LOG_EVERY_S
            report.note("orders", Route.TO_ANCHOR, b"a-1", "a-1")
            report.note("refunds", Route.TO_INDEX, b"o-1", None)
        assert report.forwarded == {("orders", "partitioner"): 6, ("refunds", "no_anchor"): 1}
        said = [(e["topic"], e["reason"], e["since_last"], e["log_level"]) for e in logs]
        assert said == [
            ("orders", "partitioner", 1, "info"),
            ("orders", "partitioner", 5, "info"),
            ("refunds", "no_anchor", 1, "info"),
        ]
        assert "murmur2_random" in logs[0]["cause"]
        assert "one hop" in logs[0]["remedy"]

    def test_records_counted_where_they_land_are_a_warning(self) -> None:
        report = ForwardingReport(structlog.get_logger("test"))
        with capture_logs() as logs:
            report.note("complaints", Route.MISPLACED, b"c-1", "a-1")
        assert report.misplaced == {("complaints", "key"): 1}
        assert logs[0]["log_level"] == "warning"
        assert "LIVEWATCH_ROUTING=any" in logs[0]["remedy"]
