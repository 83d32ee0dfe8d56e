"""The partition's refund pace: early refunds observed against expected, over whole past hours."""

from __future__ import annotations

import json

from streams.core.clock import HOUR_MS, MINUTE_MS
from streams.core.pace import RefundPace


def test_without_traffic_the_pace_is_the_rules_own() -> None:
    assert RefundPace().ratio(10 * HOUR_MS, 6, 30.0) == 1.0


def test_the_pace_reads_the_whole_hours_before_the_time_given() -> None:
    pace = RefundPace()
    pace.add(3 * HOUR_MS + 5 * MINUTE_MS, 10, 100.0)  # hour 3
    pace.add(4 * HOUR_MS + 59 * MINUTE_MS, 20, 100.0)  # hour 4
    pace.add(5 * HOUR_MS, 1000, 100.0)  # hour 5: not over by 5:30
    before = 5 * HOUR_MS + 30 * MINUTE_MS
    assert pace.ratio(before, 6, 30.0) == (30 + 30) / (200 + 30)
    assert pace.ratio(before, 1, 30.0) == (20 + 30) / (100 + 30)  # hour 4 alone
    assert pace.ratio(6 * HOUR_MS, 1, 30.0) == (1000 + 30) / (100 + 30)


def test_a_slow_platform_pulls_the_pace_down_as_its_traffic_grows() -> None:
    small, large = RefundPace(), RefundPace()
    small.add(0, 2, 10.0)
    large.add(0, 20, 100.0)
    assert 1.0 > small.ratio(HOUR_MS, 6, 30.0) > large.ratio(HOUR_MS, 6, 30.0) > 0.2


def test_old_hours_are_forgotten_and_the_rest_round_trips() -> None:
    pace = RefundPace()
    for hour in range(10):
        pace.add(hour * HOUR_MS, hour, 10.0)
    pace.forget_before(4 * HOUR_MS)
    assert min(pace.hours) == 4 * HOUR_MS
    assert RefundPace.from_dict(json.loads(json.dumps(pace.to_dict()))) == pace


def test_an_evaluation_reads_only_hours_every_anchor_has_folded() -> None:
    pace = RefundPace()
    pace.add(0, 10, 100.0)  # hour 0
    pace.add(HOUR_MS, 1000, 100.0)  # hour 1
    long_ms, step_ms = HOUR_MS, MINUTE_MS
    # At 2:30 the buckets of hour 1 after 1:29 are not all folded: hour 0 alone is read.
    assert pace.at(2 * HOUR_MS + 30 * MINUTE_MS, long_ms, step_ms, 6, 30.0) == 40 / 130
    # At 3:01 everything placed before 2:00 is folded: hour 1 is read too.
    assert pace.at(3 * HOUR_MS + MINUTE_MS, long_ms, step_ms, 6, 30.0) == 1040 / 230


def test_what_is_forgotten_is_older_than_any_evaluation_reads() -> None:
    long_ms, step_ms, hours = HOUR_MS, MINUTE_MS, 2
    end = 20 * HOUR_MS
    pace = RefundPace()
    for hour in range(20):
        pace.add(hour * HOUR_MS, hour, 10.0)
    before = pace.at(end, long_ms, step_ms, hours, 30.0)
    pace.forget_unread(end, long_ms, step_ms, hours)
    assert pace.at(end, long_ms, step_ms, hours, 30.0) == before
    # Two hours older than the oldest read stay, for an anchor evaluated at an older boundary.
    assert min(pace.hours) == 14 * HOUR_MS
    assert pace.at(end - 2 * HOUR_MS, long_ms, step_ms, hours, 30.0) == (14 + 15 + 30) / 50
