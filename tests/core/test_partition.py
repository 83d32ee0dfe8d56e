"""The partition clock: how far every input topic of a partition has certainly been read."""

from __future__ import annotations

from streams.core.partition import MAX_IDLE_S, PartitionClock

TOPICS = ["orders", "refunds", "complaints"]


def ends(**offsets: int | None) -> dict[str, int | None]:
    return {t: offsets.get(t) for t in TOPICS}


class TestSafeTime:
    def test_the_slowest_topic_with_records_waiting_sets_the_time(self) -> None:
        """Orders at minute 5 with more waiting hold time back; caught-up topics do not."""
        clock = PartitionClock()
        clock.observe("orders", 9, 5)
        clock.observe("refunds", 3, 8)
        clock.observe("complaints", 0, 7)
        end = ends(orders=20, refunds=4, complaints=1)
        assert clock.safe_time(TOPICS, end.get, lambda t: None, 0.0) == 5

    def test_a_bad_last_record_does_not_hold_its_topic_back(self) -> None:
        """The complaints topic's last record was dead-lettered: observed without a time, it
        still counts as read, so time follows the orders."""
        clock = PartitionClock()
        clock.observe("complaints", 0, 2)
        clock.observe("complaints", 1, None)
        clock.observe("orders", 99, 90)
        end = ends(orders=100, refunds=0, complaints=2)
        assert clock.safe_time(TOPICS, end.get, lambda t: 0, 0.0) == 90

    def test_waiting_records_of_a_topic_with_no_valid_time_yet_hold_time(self) -> None:
        """Only bad records read so far, more waiting: their times are unknown, so wait."""
        clock = PartitionClock()
        clock.observe("complaints", 0, None)
        clock.observe("orders", 9, 90)
        end = ends(orders=10, refunds=0, complaints=5)
        assert clock.safe_time(TOPICS, end.get, lambda t: 0, 0.0) is None

    def test_a_topic_with_records_waiting_is_waited_for_however_long(self) -> None:
        """Records known to be waiting (end past the committed offset) are never skipped: in a
        backlog they may be hours older than what the other topics delivered."""
        clock = PartitionClock()
        clock.observe("orders", 9, 90)
        end = ends(orders=10, refunds=0, complaints=5)
        committed = {"complaints": 2}
        assert clock.safe_time(TOPICS, end.get, committed.get, 0.0) is None
        assert clock.safe_time(TOPICS, end.get, committed.get, MAX_IDLE_S * 10) is None

    def test_an_unknown_end_is_waited_for_only_up_to_the_idle_limit(self) -> None:
        clock = PartitionClock()
        clock.observe("orders", 9, 90)
        end = ends(orders=10, refunds=0)
        assert clock.safe_time(TOPICS, end.get, lambda t: 0, 0.0) is None
        assert clock.safe_time(TOPICS, end.get, lambda t: 0, MAX_IDLE_S + 1) == 90

    def test_committed_offsets_count_as_read_after_a_restart(self) -> None:
        clock = PartitionClock(topic_time={"orders": 50})
        end = ends(orders=10, refunds=0, complaints=0)
        assert clock.safe_time(TOPICS, end.get, {"orders": 10}.get, 0.0) == 50
