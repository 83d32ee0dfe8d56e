"""The partition's refund pace: early refunds observed against expected, over whole past slots."""

from __future__ import annotations

import json

from streams.core.clock import HOUR_MS, MINUTE_MS
from streams.core.pace import SLOT_MS, RefundPace, taught_by


def test_without_traffic_the_pace_is_the_rules_own() -> None:
    assert RefundPace().at(10 * HOUR_MS, 6, 30.0) == 1.0


def test_the_pace_reads_the_whole_slots_before_the_horizon() -> None:
    pace = RefundPace()
    pace.add(3 * HOUR_MS + 5 * MINUTE_MS, 10, 100.0)  # slot 3:00
    pace.add(3 * HOUR_MS + 19 * MINUTE_MS, 20, 100.0)  # slot 3:10
    pace.add(3 * HOUR_MS + 20 * MINUTE_MS, 1000, 100.0)  # slot 3:20: not whole by 3:25
    horizon = 3 * HOUR_MS + 25 * MINUTE_MS
    assert pace.at(horizon, 6, 30.0) == (30 + 30) / (200 + 30)
    assert pace.at(3 * HOUR_MS + 30 * MINUTE_MS, 6, 30.0) == (1030 + 30) / (300 + 30)
    # The last hour only: slots 2:30 to 3:20 at 3:30.
    pace.add(2 * HOUR_MS, 500, 10.0)
    assert pace.at(3 * HOUR_MS + 30 * MINUTE_MS, 1, 30.0) == (1030 + 30) / (300 + 30)


def test_a_slow_platform_pulls_the_pace_down_as_its_traffic_grows() -> None:
    small, large = RefundPace(), RefundPace()
    small.add(0, 2, 10.0)
    large.add(0, 20, 100.0)
    assert 1.0 > small.at(HOUR_MS, 6, 30.0) > large.at(HOUR_MS, 6, 30.0) > 0.2


def test_old_slots_are_forgotten_and_the_rest_round_trips() -> None:
    pace = RefundPace()
    for hour in range(10):
        pace.add(hour * HOUR_MS, hour, 10.0)
    pace.forget_before(4 * HOUR_MS)
    assert min(pace.hours) == 4 * HOUR_MS
    assert RefundPace.from_dict(json.loads(json.dumps(pace.to_dict()))) == pace


def test_a_bucket_teaches_the_pace_once_its_late_early_refunds_are_in() -> None:
    """Thirty minutes of `within_s`, a step and five minutes of grace: 36 minutes after its
    orders, not the hour and more of the long window and whole hours."""
    within, step, grace = 30 * MINUTE_MS, MINUTE_MS, 5 * MINUTE_MS
    assert taught_by(2 * HOUR_MS, within, step, grace) == HOUR_MS + 24 * MINUTE_MS
    pace = RefundPace()
    pace.add(HOUR_MS + 5 * MINUTE_MS, 40, 100.0)  # slot 1:00
    assert pace.at(taught_by(HOUR_MS + 45 * MINUTE_MS, within, step, grace), 6, 10.0) == 1.0
    assert pace.at(taught_by(HOUR_MS + 46 * MINUTE_MS, within, step, grace), 6, 10.0) == 50 / 110


def test_what_is_forgotten_is_older_than_any_evaluation_reads() -> None:
    hours = 2
    horizon = 20 * HOUR_MS
    pace = RefundPace()
    for hour in range(20):
        pace.add(hour * HOUR_MS, hour, 10.0)
    before = pace.at(horizon, hours, 30.0)
    pace.forget_unread(horizon, hours)
    assert pace.at(horizon, hours, 30.0) == before
    # An hour older than the oldest read stays, for an anchor evaluated at an older boundary.
    assert min(pace.hours) == 17 * HOUR_MS
    assert pace.at(horizon - HOUR_MS, hours, 30.0) == (17 + 18 + 30) / 50


def test_the_front_share_says_how_many_early_refunds_come_at_once() -> None:
    """Buyers who cancel on impulse put their refunds in the first minutes after the order;
    without refunds the share is the even one assumed."""
    pace = RefundPace()
    horizon = 2 * HOUR_MS
    assert pace.front_share(horizon, 6, 10.0, 1 / 6) == 1 / 6
    pace.add(HOUR_MS, 90, 100.0, 60, 9)  # two thirds of 90 came at once, a tenth claimed
    assert pace.front_share(horizon, 6, 10.0, 1 / 6) == (60 + 10 / 6) / 100
    assert pace.claim_share(horizon, 6, 10.0, 0.02) == (9 + 10 * 0.02) / 100


def test_a_pace_stored_by_the_hour_without_shares_reads_as_one_slot_of_none() -> None:
    old = {str(HOUR_MS): [4.0, 5.0]}
    assert RefundPace.from_dict(old).hours == {HOUR_MS: [4.0, 5.0, 0.0, 0.0]}
    assert HOUR_MS % SLOT_MS == 0
