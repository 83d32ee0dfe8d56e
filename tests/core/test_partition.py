"""The partition task: how far its inputs have been read, what it sends on, its marks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import Complaint, Order, Refund
from streams.core.clock import TimeLimits, to_ms
from streams.core.dict_stores import DictOrders, DictStates
from streams.core.facts import fact_of
from streams.core.order_index import DictIndex, OrderIndex
from streams.core.partition import (
    ATTRIBUTED,
    HOLD,
    INDEX,
    MAX_IDLE_S,
    Mark,
    Outgoing,
    PartitionClock,
    PartitionTask,
    Route,
    combine,
    refusal,
)
from streams.pipeline import build_detector
from streams.settings import Settings
from tests import factories

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
        assert clock.progress(TOPICS, end.get, lambda t: None, 0.0).time_ms == 5

    def test_a_bad_last_record_does_not_hold_its_topic_back(self) -> None:
        """The complaints topic's last record was dead-lettered: observed without a time, it
        still counts as read, so time follows the orders."""
        clock = PartitionClock()
        clock.observe("complaints", 0, 2)
        clock.observe("complaints", 1, None)
        clock.observe("orders", 99, 90)
        end = ends(orders=100, refunds=0, complaints=2)
        assert clock.progress(TOPICS, end.get, lambda t: 0, 0.0).time_ms == 90

    def test_waiting_records_of_a_topic_with_no_valid_time_yet_hold_time(self) -> None:
        """Only bad records read so far, more waiting: their times are unknown, so wait."""
        clock = PartitionClock()
        clock.observe("complaints", 0, None)
        clock.observe("orders", 9, 90)
        end = ends(orders=10, refunds=0, complaints=5)
        assert clock.progress(TOPICS, end.get, lambda t: 0, 0.0).time_ms is None

    def test_a_topic_with_records_waiting_is_waited_for_however_long(self) -> None:
        """Records known to be waiting (end past the committed offset) are never skipped: in a
        backlog they may be hours older than what the other topics delivered."""
        clock = PartitionClock()
        clock.observe("orders", 9, 90)
        end = ends(orders=10, refunds=0, complaints=5)
        committed = {"complaints": 2}
        assert clock.progress(TOPICS, end.get, committed.get, 0.0).time_ms is None
        assert clock.progress(TOPICS, end.get, committed.get, MAX_IDLE_S * 10).time_ms is None

    def test_an_unknown_end_is_waited_for_only_up_to_the_idle_limit(self) -> None:
        clock = PartitionClock()
        clock.observe("orders", 9, 90)
        end = ends(orders=10, refunds=0)
        assert clock.progress(TOPICS, end.get, lambda t: 0, 0.0).time_ms is None
        assert clock.progress(TOPICS, end.get, lambda t: 0, MAX_IDLE_S + 1).time_ms == 90

    def test_a_commit_marker_after_the_last_record_is_not_a_record_waiting(self) -> None:
        """A transactional producer ends each partition with a commit marker, one offset past
        its last record: judged by the records read, orders would wait forever (holding every
        boundary at minute 5); the consumer's position, past the marker, says they are read."""
        clock = PartitionClock()
        clock.observe("orders", 9, 5)
        clock.observe("refunds", 3, 8)
        end = ends(orders=11, refunds=5, complaints=0)
        assert clock.progress(TOPICS, end.get, lambda t: None, 0.0) == Mark(5, False)
        passed = {"orders": 11, "refunds": 5}
        assert clock.progress(TOPICS, end.get, lambda t: None, 0.0, None, passed.get) == Mark(
            8, True
        )
        # a position short of the end still has records waiting
        short = {"orders": 10, "refunds": 5}
        mark = clock.progress(TOPICS, end.get, lambda t: None, 0.0, None, short.get)
        assert mark == Mark(5, False)

    def test_committed_offsets_count_as_read_after_a_restart(self) -> None:
        clock = PartitionClock(topic_time={"orders": 50})
        end = ends(orders=10, refunds=0, complaints=0)
        assert clock.progress(TOPICS, end.get, {"orders": 10}.get, 0.0).time_ms == 50


class TestOldEndOffsets:
    """Leaders on several brokers: a topic's end offset is as old as its last poll."""

    @staticmethod
    def two_batches() -> PartitionClock:
        """Orders read to minute 3 (fetched by t=1,000 ms), then to minute 6 (by 5,000)."""
        clock = PartitionClock()
        clock.observe("refunds", 4, 2)
        clock.observe("orders", 9, 3)
        clock.fetched(1_000)
        clock.observe("orders", 19, 6)
        clock.fetched(5_000)
        return clock

    def test_a_topic_polled_before_the_latest_fetch_vouches_for_what_came_before_its_poll(
        self,
    ) -> None:
        """Refunds look caught up, but their end offset was polled at t=3,000: a refund of
        minute 4 or 5 may have been appended after it, before the orders of minute 6 were. So
        time stops at minute 3, what the orders had reached when the refunds were polled."""
        clock = self.two_batches()
        end = ends(orders=20, refunds=5, complaints=0)
        polls = {"orders": 5_000, "refunds": 3_000, "complaints": 5_000}
        mark = clock.progress(TOPICS, end.get, lambda t: None, 0.0, polls.get)
        assert mark == Mark(3, False)
        assert clock.held_by_poll

    def test_polled_anew_the_topic_no_longer_holds_time(self) -> None:
        clock = self.two_batches()
        end = ends(orders=20, refunds=5, complaints=0)
        polls = dict.fromkeys(TOPICS, 5_001)  # sent after the fetch of minute 6 was handled
        mark = clock.progress(TOPICS, end.get, lambda t: None, 0.0, polls.get)
        assert mark == Mark(6, True)
        assert not clock.held_by_poll
        assert clock.fetches == [(5_000, 6)]  # what no poll needs any more is forgotten

    def test_a_poll_sent_in_the_ms_a_fetch_was_handled_vouches_for_nothing_newer(self) -> None:
        """Times are whole ms: a poll sent in the ms the first fetch was handled may have
        been sent before it, so it vouches only for earlier fetches, here none: the topic's
        own time. Sent a ms later, it vouches for what that fetch had read."""
        clock = self.two_batches()
        end = ends(orders=20, refunds=5, complaints=0)
        polls = {"orders": 5_000, "refunds": 1_000, "complaints": 6_000}
        mark = clock.progress(TOPICS, end.get, lambda t: None, 0.0, polls.get)
        assert mark == Mark(2, False)
        polls["refunds"] = 1_001
        mark = clock.progress(TOPICS, end.get, lambda t: None, 0.0, polls.get)
        assert mark == Mark(3, False)

    def test_a_topic_never_read_and_polled_early_holds_everything(self) -> None:
        clock = self.two_batches()
        end = ends(orders=20, refunds=5, complaints=0)
        polls = {"orders": 5_000, "refunds": 6_000, "complaints": 500}
        assert clock.progress(TOPICS, end.get, lambda t: None, 0.0, polls.get) == HOLD

    def test_without_polls_end_offsets_are_current(self) -> None:
        """The replay reads files: nothing is appended behind its back."""
        clock = self.two_batches()
        end = ends(orders=20, refunds=5, complaints=0)
        assert clock.progress(TOPICS, end.get, lambda t: None, 0.0) == Mark(6, True)


BUSY, IDLE = False, True


CASES = [
    ({0: Mark(5, BUSY), 1: Mark(9, BUSY)}, 2, Mark(5, BUSY)),  # the slowest busy one
    ({0: Mark(5, BUSY)}, 2, HOLD),  # a partition not heard from holds everything
    ({0: Mark(5, IDLE), 1: Mark(9, BUSY)}, 2, Mark(9, BUSY)),  # an idle one does not hold time
    ({0: Mark(5, IDLE), 1: Mark(9, IDLE)}, 2, Mark(9, IDLE)),  # all idle: the furthest
    ({0: Mark(None, BUSY), 1: Mark(9, BUSY)}, 2, HOLD),  # a busy one that cannot promise yet
    ({0: Mark(None, IDLE), 1: Mark(None, IDLE)}, 2, Mark(None, IDLE)),  # nothing read anywhere
]


class TestCombine:
    """What all partitions promised together (one row per case)."""

    @pytest.mark.parametrize(("marks", "sources", "expected"), CASES)
    def test_combine(self, marks: dict[int, Mark], sources: int, expected: Mark) -> None:
        assert combine(marks, sources) == expected


def task(partition: int, partitions: int = 2) -> PartitionTask:
    """A task that routes key `a-<p>`/`o-<p>` to partition p."""
    settings = Settings(partitions=partitions)
    detector = build_detector(settings, DictOrders(), DictStates())
    index = OrderIndex(DictIndex(), 300_000, 7 * 86_400_000, detector.stats)
    return PartitionTask(
        partition, partitions, detector, index, lambda key: int(key.rsplit("-", 1)[1])
    )


def marks(out: list[Outgoing], kind: str) -> list[tuple[int, Any]]:
    return [
        (o.partition, (o.value["w"], o.value["i"]))
        for o in out
        if o.kind == kind and "m" in o.value
    ]


class TestPartitionTask:
    def test_repeated_marks_reach_a_partition_that_missed_one_and_never_move_one_back(
        self,
    ) -> None:
        """A repeat carries each kind's latest mark to every partition, flagged. A receiver
        that heard the mark changes nothing; one that missed it learns it and says so
        (`take_repaired`); an older repeat (a sender restored from older state) moves no
        receiver back."""
        sender, receiver = task(0), task(1)

        def hear(out: list[Outgoing]) -> None:
            for o in out:
                if o.partition == 1:
                    receiver.internal(o.kind, o.value)

        sender.tick(Mark(60_000, False))
        sent = sender.take_outbox()
        repeats = sender.repeat_marks()
        assert [(o.kind, o.partition) for o in repeats] == [(o.kind, o.partition) for o in sent]
        assert all(o.value == {**s.value, "r": 1} for o, s in zip(repeats, sent, strict=True))
        hear(sent)
        hear(repeats)
        assert receiver.take_repaired() == []
        sender.tick(Mark(120_000, False))
        assert marks(sender.take_outbox(), INDEX) == [(0, (120_000, False)), (1, (120_000, False))]
        # ... and those never reach partition 1.
        hear(sender.repeat_marks())
        assert receiver.take_repaired() == [(INDEX, 0)]
        assert receiver.take_repaired() == []
        assert receiver.marks[INDEX][0] == Mark(120_000, False)
        older = [o for o in repeats if o.kind == INDEX]
        hear([Outgoing(o.kind, o.partition, {**o.value, "w": 60_000}) for o in older])
        assert receiver.marks[INDEX][0] == Mark(120_000, False)
        assert receiver.take_repaired() == []

    def test_a_refund_naming_no_anchor_goes_to_its_orders_index_partition(self) -> None:
        """Keyed by `order_id` and landed on partition 0, it is sent, with the time it became
        visible, to the index partition of its order (1); nothing is counted here."""
        t = task(0)
        value = factories.refund(order_id="o-1", anchor_id=None, session_id=None)
        t.external("refunds", Refund.model_validate(value), 0)
        [out] = t.take_outbox()
        assert (out.kind, out.partition, out.value["b"][0]["f"][1]) == (INDEX, 1, "o-1")
        assert out.value["b"][0]["v"] == to_ms(Refund.model_validate(value).requested_at)
        assert t.clock.active == set()

    def test_a_counted_order_publishes_its_index_entry(self) -> None:
        t = task(1)
        t.external(
            "orders", Order.model_validate(factories.order(anchor_id="a-1", order_id="o-0")), 0
        )
        [out] = t.take_outbox()
        [entry] = out.value["b"]
        assert (out.kind, out.partition, entry["o"], entry["a"]) == (INDEX, 0, "o-0", "a-1")

    def test_an_order_away_from_its_anchor_goes_there_with_its_index_entry(self) -> None:
        """Read on partition 0 (keyed by `order_id`, or by a CRC32 partitioner) for anchor
        a-1: sent to partition 1 with the time it became visible here, and its index entry to
        its order's partition; nothing is counted here. Partition 1 counts it."""
        source, owner = task(0), task(1)
        order = Order.model_validate(factories.order(anchor_id="a-1", order_id="o-0"))
        assert source.external("orders", order, 0) is Route.TO_ANCHOR
        out = {o.kind: o for o in source.take_outbox()}
        [sent], [entry] = out[ATTRIBUTED].value["b"], out[INDEX].value["b"]
        assert (out[ATTRIBUTED].partition, sent["k"], sent["v"]) == (
            1,
            "orders",
            to_ms(order.placed_at),
        )
        assert (out[INDEX].partition, entry["o"], entry["a"], entry["v"]) == (
            0,
            "o-0",
            "a-1",
            sent["v"],
        )
        assert source.clock.active == set()
        assert source.detector.states.get("a-1") is None
        owner.internal(ATTRIBUTED, out[ATTRIBUTED].value)
        state = owner.detector.states.get("a-1")
        assert owner.clock.active == {"a-1"}
        assert state is not None and sum(b.orders for b in state.buckets.values()) == 1

    def test_a_complaint_away_from_its_anchor_goes_there(self) -> None:
        source, owner = task(0), task(1)
        complaint = Complaint.model_validate(factories.complaint(anchor_id="a-1"))
        assert source.external("complaints", complaint, 0) is Route.TO_ANCHOR
        [out] = source.take_outbox()
        assert (out.kind, out.partition) == (ATTRIBUTED, 1)
        owner.internal(ATTRIBUTED, out.value)
        state = owner.detector.states.get("a-1")
        assert state is not None
        assert [b.complaints for b in state.buckets.values()] == [{"quality": 1}]

    def test_a_record_too_late_for_its_partition_is_counted_late_where_it_was_read(
        self,
    ) -> None:
        """Lateness is judged against the topic of the partition that read the record (more
        than the grace period behind), before anything is sent on."""
        t = task(0)
        now = Order.model_validate(
            factories.order(anchor_id="a-0", placed_at="2026-11-29T12:10:00+00:00")
        )
        old = Order.model_validate(
            factories.order(
                anchor_id="a-1", order_id="o-old", placed_at="2026-11-29T12:04:00+00:00"
            )
        )
        t.external("orders", now, 0)
        t.take_outbox()
        assert t.external("orders", old, 1) is Route.LATE
        assert t.take_outbox() == []
        assert t.detector.stats.outcomes[("orders", "late")] == 1

    def test_an_event_given_as_its_fact_takes_the_way_the_event_does(self) -> None:
        """The worker hands `external` the fact it made (`fact_of`) instead of the event: the
        same routes, the same records sent on, the same counts, for each way a record goes."""
        records = [
            ("orders", Order.model_validate(factories.order(anchor_id="a-0", order_id="o-0"))),
            ("orders", Order.model_validate(factories.order(anchor_id="a-1", order_id="o-1"))),
            ("refunds", Refund.model_validate(factories.refund(order_id="o-0"))),
            ("refunds", Refund.model_validate(factories.refund(anchor_id="a-1", order_id="o-1"))),
            ("complaints", Complaint.model_validate(factories.complaint(anchor_id="a-1"))),
        ]
        by_event, by_fact = task(0), task(0)
        for offset, (kind, event) in enumerate(records):
            route = by_event.external(kind, event, offset)
            assert by_fact.external(kind, fact_of(event), offset) is route
        sent = [
            [(o.kind, o.partition, o.value) for o in t.take_outbox()] for t in (by_event, by_fact)
        ]
        assert sent[0] == sent[1] and sent[0]
        state, same = (t.detector.states.get("a-0") for t in (by_event, by_fact))
        assert state is not None and same is not None
        assert state.head_dict() == same.head_dict()
        assert {s: b.to_dict() for s, b in state.buckets.items()} == {
            s: b.to_dict() for s, b in same.buckets.items()
        }
        assert by_event.to_dict() == by_fact.to_dict()

    def test_a_redelivery_through_another_partition_counts_once(self) -> None:
        """The same order read on its anchor's partition and again, forwarded, from another:
        the anchor's order memory knows it."""
        source, owner = task(0), task(1)
        order = Order.model_validate(factories.order(anchor_id="a-1"))
        owner.external("orders", order, 0)
        source.external("orders", order, 0)
        [sent] = [o for o in source.take_outbox() if o.kind == ATTRIBUTED]
        owner.internal(ATTRIBUTED, sent.value)
        assert owner.detector.stats.outcomes[("orders", "duplicate")] == 1

    def test_a_complaint_redelivered_after_a_later_one_from_elsewhere_counts_once(self) -> None:
        """Complaints reach their anchor from every partition in any order, each judged late
        only against its own partition: a redelivery behind a complaint minutes later (read on
        a busier partition) is still recognised, as long as it could change a window."""
        owner = task(1)
        first = factories.complaint(anchor_id="a-1", event_id="c-early",
                                    filed_at="2026-11-29T12:00:00+00:00")  # fmt: skip
        later = factories.complaint(anchor_id="a-1", event_id="c-later",
                                    filed_at="2026-11-29T12:10:00+00:00")  # fmt: skip
        t0 = to_ms(Complaint.model_validate(first).filed_at)
        for value, visible in ((first, t0), (later, t0 + 600_000), (first, t0 + 700_000)):
            owner.internal(ATTRIBUTED, {"k": "complaints", "e": value, "v": visible})
        assert owner.detector.stats.outcomes[("complaints", "duplicate")] == 1
        owner.internal(ATTRIBUTED, {"m": 0, "w": t0 + 2 * 3_600_000, "i": True})
        owner.internal(ATTRIBUTED, {"m": 1, "w": t0 + 2 * 3_600_000, "i": True})
        owner.tick(Mark(t0 + 2 * 3_600_000, IDLE))
        state = owner.detector.states.get("a-1")
        assert state is not None and state.recent_ids["complaints"] == {}  # out of every window

    def test_marks_are_sent_to_every_partition_once_and_never_move_back(self) -> None:
        t = task(0)
        t.tick(Mark(5 * 60_000, BUSY))
        first = t.take_outbox()
        assert marks(first, INDEX) == [(0, (300_000, BUSY)), (1, (300_000, BUSY))]
        t.tick(Mark(5 * 60_000, BUSY))
        assert t.take_outbox() == []  # nothing new to say
        t.tick(Mark(3 * 60_000, BUSY))  # a topic fell behind again: the promise stands
        assert t.take_outbox() == []

    def test_boundaries_wait_for_every_partition_upstream(self) -> None:
        """The partition's own inputs are at minute 10, but partition 1 has only promised
        minute 4: the anchor is evaluated to minute 4, then on once partition 1 moves."""
        t = task(1)
        order = factories.order(anchor_id="a-1", placed_at="2026-11-29T12:00:00+00:00")
        t.external("orders", Order.model_validate(order), 0)
        ten = to_ms(Order.model_validate(order).placed_at) + 10 * 60_000
        t.internal(ATTRIBUTED, {"m": 0, "w": ten - 6 * 60_000, "i": False})
        t.internal(ATTRIBUTED, {"m": 1, "w": ten, "i": False})
        assert t.tick(Mark(ten, BUSY))[2] == ten - 6 * 60_000
        t.internal(ATTRIBUTED, {"m": 0, "w": ten, "i": False})
        assert t.tick(Mark(ten, BUSY))[2] == ten

    def test_how_far_detection_is_follows_what_was_evaluated_and_never_moves_back(
        self,
    ) -> None:
        """`evaluated_ms` (the metrics' stage=evaluated): unset until a boundary is judged,
        then the safe time of the latest evaluation; a batch of marks alone while inputs wait
        evaluates nothing and leaves it, and a promise held back again does not lower it."""
        t = task(1)
        order = factories.order(anchor_id="a-1", placed_at="2026-11-29T12:00:00+00:00")
        t.external("orders", Order.model_validate(order), 0)
        ten = to_ms(Order.model_validate(order).placed_at) + 10 * 60_000
        t.internal(ATTRIBUTED, {"m": 0, "w": ten - 6 * 60_000, "i": False})
        assert t.tick(Mark(ten, BUSY))[2] is None
        assert t.evaluated_ms is None
        t.internal(ATTRIBUTED, {"m": 1, "w": ten, "i": False})
        t.tick(Mark(ten, BUSY))
        assert t.evaluated_ms == ten - 6 * 60_000
        t.internal(ATTRIBUTED, {"m": 0, "w": ten, "i": False})
        assert t.tick(Mark(ten, BUSY), read_inputs=False)[2] == ten
        assert t.evaluated_ms == ten - 6 * 60_000  # inputs not caught up: nothing judged
        t.tick(Mark(ten, BUSY))
        assert t.evaluated_ms == ten
        t.tick(Mark(ten - 8 * 60_000, BUSY))  # its own inputs fell behind: no boundary back
        assert t.evaluated_ms == ten

    @pytest.mark.parametrize("inputs", [IDLE, BUSY])
    def test_after_a_quiet_spell_its_own_index_records_hold_what_it_promises(
        self, inputs: bool
    ) -> None:
        """Every mark idle at 12:20 (all caught up, or a restart with the marks of such a
        moment); partition 1 then reads ten minutes at once, among them an anchorless refund
        of 12:25 for an order its own index holds. Until the refund has come back through its
        index, it promises the anchors' partitions nothing past 12:20 and evaluates nothing
        past it (CI saw a restarted worker resolve an alert an hour early: a hundred refunds
        still on that loop when the anchor's boundaries were evaluated)."""
        t = task(1)
        quiet = to_ms(Refund.model_validate(factories.refund()).requested_at)
        for kind in (INDEX, ATTRIBUTED):
            for source in (0, 1):
                t.internal(kind, {"m": source, "w": quiet, "i": True})
        t.tick(Mark(quiet, IDLE))
        t.take_outbox()  # what it declared, as it holds it from itself
        assert t.declared == {INDEX: Mark(quiet, IDLE), ATTRIBUTED: Mark(quiet, IDLE)}
        value = factories.refund(order_id="o-1", anchor_id=None, session_id=None,
                                 requested_at="2026-11-29T12:25:00+08:00")  # fmt: skip
        assert t.external("refunds", Refund.model_validate(value), 0) is Route.TO_INDEX
        later = quiet + 10 * 60_000
        assert t.tick(Mark(later, inputs))[2] == quiet
        assert t.declared[ATTRIBUTED] == Mark(quiet, BUSY)
        # Its own records come back (the refund, then its marks): the promise moves on.
        for out in t.take_outbox():
            if out.partition == 1:
                t.internal(out.kind, out.value)
        t.tick(Mark(later, inputs))
        assert t.declared[ATTRIBUTED] == Mark(later, inputs)

    def test_state_survives_a_restart(self) -> None:
        t = task(0)
        t.internal(INDEX, {"m": 1, "w": 7, "i": True})
        t.tick(Mark(9, BUSY))
        t.pace.add(3_600_000, 2, 4.5)
        again = task(0)
        again.restore(json.loads(json.dumps(t.to_dict())))
        assert (again.marks, again.declared, again.pace) == (t.marks, t.declared, t.pace)

    def test_an_idle_partition_goes_as_far_as_its_upstream(self) -> None:
        """Partition 1 read nothing itself (every record of its anchors is produced to
        partition 0, one busy key): caught up, it holds no boundary back, and its anchors are
        evaluated as far as the partitions sending it records have promised."""
        t = task(1)
        order = factories.order(anchor_id="a-1", placed_at="2026-11-29T12:00:00+00:00")
        placed = to_ms(Order.model_validate(order).placed_at)
        sent = {"k": "orders", "e": order, "v": placed}
        t.internal(ATTRIBUTED, {"b": [sent]})
        t.internal(ATTRIBUTED, {"m": 0, "w": placed + 10 * 60_000, "i": False})
        # Its own marks came back: nothing it sent itself is still on its way.
        for kind in (INDEX, ATTRIBUTED):
            t.internal(kind, {"m": 1, "w": None, "i": True})
        t.internal(INDEX, {"m": 0, "w": None, "i": True})
        idle = t.clock.progress(TOPICS, ends(orders=0, refunds=0, complaints=0).get,
                                lambda kind: None, 0.0)  # fmt: skip
        assert idle == Mark(None, IDLE)
        assert t.tick(idle, read_inputs=False)[2] == placed + 10 * 60_000
        state = t.detector.states.get("a-1")
        assert state is not None and state.evaluated_to_ms == placed + 10 * 60_000

    def test_an_idle_partition_polled_before_the_latest_marks_holds_at_its_own_time(
        self,
    ) -> None:
        """Its inputs were caught up at a poll older than the marks (leaders on two brokers):
        a record appended since may be older than what the marks promise, so it waits for
        its own time and to be judged again once polled anew."""
        t = task(1)
        t.clock.observe("orders", 0, 4 * 60_000)
        t.internal(ATTRIBUTED, {"m": 0, "w": 10 * 60_000, "i": False})
        t.internal(ATTRIBUTED, {"m": 1, "w": 4 * 60_000, "i": True})
        for source in (0, 1):  # its own index mark came back: nothing it sent is on its way
            t.internal(INDEX, {"m": source, "w": 4 * 60_000, "i": True})
        t.clock.marks_fetched_ms = 5_000
        end = ends(orders=1, refunds=0, complaints=0)
        before = dict.fromkeys(TOPICS, 5_000)
        mark = t.clock.progress(TOPICS, end.get, lambda kind: None, 0.0, before.get)
        assert (mark, t.clock.held_by_poll) == (Mark(4 * 60_000, IDLE), True)
        assert t.tick(mark, read_inputs=False)[2] == 4 * 60_000
        after = dict.fromkeys(TOPICS, 5_001)  # sent after the marks were handled
        mark = t.clock.progress(TOPICS, end.get, lambda kind: None, 0.0, after.get)
        assert t.clock.vouches_upstream
        assert t.tick(mark, read_inputs=False)[2] == 10 * 60_000

    def test_with_anchor_routing_records_stay_and_nothing_is_sent(self) -> None:
        """`LIVEWATCH_ROUTING=anchor`: producers key by anchor with murmur2, so a record is
        counted where it lands (a record that is not its anchor's is reported misplaced), no
        index entry or mark is sent and no other partition is waited for."""
        settings = Settings(partitions=2)
        detector = build_detector(settings, DictOrders(), DictStates())
        index = OrderIndex(DictIndex(), 300_000, 7 * 86_400_000, detector.stats)
        t = PartitionTask(0, 2, detector, index, lambda key: 1, route=False)
        order = Order.model_validate(factories.order(anchor_id="a-1"))
        assert t.external("orders", order, 0) is Route.MISPLACED
        t.external("refunds", Refund.model_validate(factories.refund(anchor_id="a-1")), 0)
        assert t.tick(Mark(to_ms(order.placed_at) + 60_000, BUSY))[2] is not None
        assert t.take_outbox() == []
        assert detector.stats.attribution["order"] == 1


def order_at(placed_at: str, **fields: Any) -> Order:
    return Order.model_validate(factories.order(placed_at=placed_at, **fields))


class TestRefusedTimes:
    """Records whose time is absurd are refused where they are read: never counted, never
    sent on, and they move no clock."""

    @staticmethod
    def limited() -> PartitionTask:
        t = task(1)
        t.limits = TimeLimits(future_ms=900_000, max_age_ms=7 * 86_400_000)
        return t

    def test_a_record_dated_far_past_its_timestamp_is_refused_and_moves_nothing(self) -> None:
        t = self.limited()
        now = order_at("2026-11-29T12:00:00+00:00", anchor_id="a-1", order_id="o-1")
        stamp = to_ms(now.placed_at)
        t.external("orders", now, 0, stamp)
        t.take_outbox()
        far = order_at("2100-01-01T00:00:00+00:00", anchor_id="a-1", order_id="o-2")
        assert t.external("orders", far, 1, stamp) is Route.FUTURE
        assert "ahead of its record's timestamp" in refusal(t, "orders", far, stamp)
        assert t.clock.topic_time["orders"] == stamp
        assert t.clock.last_offset["orders"] == 1  # read all the same
        assert t.take_outbox() == []
        assert t.detector.stats.outcomes[("orders", "ok")] == 1

    def test_a_record_older_than_any_window_can_use_is_refused(self) -> None:
        t = self.limited()
        t.external("orders", order_at("2026-11-29T12:00:00+00:00", anchor_id="a-1"), 0)
        old = order_at("2026-10-01T00:00:00+00:00", anchor_id="a-0", order_id="o-2")
        year_1 = order_at("0001-01-01T00:00:00+00:00", anchor_id="a-0", order_id="o-3")
        complaint = Complaint.model_validate(factories.complaint(filed_at="0001-01-01T00:00Z"))
        assert t.external("orders", old, 1) is Route.TOO_OLD
        assert t.external("complaints", complaint, 0) is Route.TOO_OLD  # nothing read before
        assert t.external("orders", year_1, 2) is Route.TOO_OLD
        assert "before 2000" in refusal(t, "orders", year_1, None)
        assert t.detector.states.get("a-0") is None
