"""One partition number's work, the same in the worker and in the replay.

A partition number p owns the anchors the ownership function gives it (`placement.owner`:
murmur2 of the anchor id, where a Java producer keying by the anchor puts their records).
Producers key and partition as they like, so a record may land anywhere; p also runs two
internal topics, co-partitioned with the inputs:

- `order-index`, keyed by `order_id`: each order's anchor (an index entry) and the refunds that
  name no anchor. They meet in p's `OrderIndex`, a foreign-key join.
- `attributed-refunds`, keyed by the anchor (named for its first use): records on their way to
  their anchor's partition, straight from a partition that read an order, a complaint or a
  refund naming its anchor, or from the index.

Time stays deterministic across the hop with watermarks: every partition declares to every
other, after each batch, a `Mark`: each record it sends from now on is visible at or after
that time. A record sent on carries its visible time (when the partition that read it read it),
and a boundary T is evaluated only once every partition has declared itself past T. So what is
counted before T never depends on how the producers of one internal partition interleaved, how
records were batched, or when a worker restarted, and the replay (which runs these tasks over a
file) prints the worker's alerts. This is Kafka Streams' co-partitioned task time, extended by
the watermarks that Flink and Dataflow use across a shuffle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from schemas import TOPIC_MODELS, Alert, InputEvent, Refund
from streams.core.clock import TimeLimits, is_late
from streams.core.detector import Detector
from streams.core.facts import Fact, OrderFact, RefundFact, as_fact, fact_from, fact_of
from streams.core.order_index import IndexedRefund, IndexEntry, OrderIndex
from streams.core.pace import RefundPace

INDEX = "order-index"
ATTRIBUTED = "attributed-refunds"
INTERNAL = (INDEX, ATTRIBUTED)
"""Kinds of the internal topics, named `<app id>-<kind>` on the broker."""
EXTERNAL = ("orders", "refunds", "complaints")

MAX_IDLE_S = 10.0
"""How long a topic whose end offset is not known yet may hold back a partition."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A partition's promise: every record it sends from now on is visible at or after `time_ms`
    (None: it cannot promise anything yet). `idle`: it has nothing left to read."""

    time_ms: int | None
    idle: bool

    def to_list(self) -> list[Any]:
        return [self.time_ms, self.idle]

    @classmethod
    def from_list(cls, d: list[Any]) -> Mark:
        return cls(d[0], bool(d[1]))


HOLD = Mark(None, False)


def combine(marks: Mapping[int, Mark], sources: int) -> Mark:
    """What all `sources` partitions have promised together: the slowest busy one, or, when all
    are idle, the furthest (an idle partition does not hold time back, as a caught-up topic
    does not). A partition not heard from yet holds everything."""
    if len(marks) < sources:
        return HOLD
    busy = [m.time_ms for m in marks.values() if not m.idle]
    if busy:
        return HOLD if None in busy else Mark(min(t for t in busy if t is not None), False)
    times = [m.time_ms for m in marks.values() if m.time_ms is not None]
    return Mark(max(times) if times else None, True)


@dataclass
class PartitionClock:
    """Read positions and event times of one partition number across the input topics.

    Faust reads the topics independently, so one may run ahead of another. A boundary is
    evaluated only once every topic of the partition that still has records waiting has passed
    it (a topic that is caught up does not hold time back): Kafka Streams' rule for
    co-partitioned inputs.
    """

    topic_time: dict[str, int] = field(default_factory=dict)
    """Latest event time read per topic kind."""
    last_offset: dict[str, int] = field(default_factory=dict)
    """Last offset processed per topic kind in this process (not persisted)."""
    active: set[str] = field(default_factory=set)
    """Anchors of this partition whose boundaries still need evaluating."""
    since: float | None = None
    """Wall-clock second this process started reading the partition."""
    fetches: list[tuple[int, int]] = field(default_factory=list)
    """(fetched by, ms; the latest event time read then) per batch of inputs of this process,
    oldest first: what a topic's end offset polled at a given time vouches for (not
    persisted)."""
    held_by_poll: bool = False
    """The last `progress` was held back by an end offset polled before the latest records
    were fetched, by a topic with (what may be only a commit marker) still to read, or could
    not be judged at all (`HOLD`): the worker judges it again between fetches
    (`PartitionTask.retick`), since nothing else may come to prompt it."""
    marks_fetched_ms: int | None = None
    """When the latest marks from other partitions were fetched (ms; not persisted)."""
    vouches_upstream: bool = False
    """At the last `progress`, every input was caught up as of polls made after the latest
    marks were fetched: whatever the other partitions had read by then, this partition's
    inputs have nothing older still to come (the producers' minute contract), so they hold
    no boundary back (see `PartitionTask._safe`)."""

    def observe(self, topic: str, offset: int, ts_ms: int | None) -> None:
        """Record that `offset` of `topic` was processed, whatever became of it: a record that
        was dead-lettered (`ts_ms` None) has been read all the same, and a topic whose last
        record was bad must not look as if it still had records waiting."""
        self.last_offset[topic] = offset
        if ts_ms is not None and ts_ms > self.topic_time.get(topic, ts_ms - 1):
            self.topic_time[topic] = ts_ms

    def fetched(self, fetched_by_ms: int) -> None:
        """The input records applied since the last call were fetched by `fetched_by_ms`."""
        if self.topic_time:
            self.fetches.append((fetched_by_ms, max(self.topic_time.values())))

    def marks_arrived(self, fetched_ms: int) -> None:
        """Records of the internal topics were fetched by `fetched_ms`: the inputs vouch for
        what the marks among them say only once polled after that."""
        if self.marks_fetched_ms is None or fetched_ms > self.marks_fetched_ms:
            self.marks_fetched_ms = fetched_ms

    def progress(
        self,
        topics: tuple[str, ...] | list[str],
        highwater: Callable[[str], int | None],
        committed: Callable[[str], int | None],
        now_s: float,
        polled: Callable[[str], int | None] | None = None,
        passed: Callable[[str], int | None] | None = None,
    ) -> Mark:
        """The event time up to which every topic with records waiting has been read; idle when
        none has records waiting.

        An end offset is as old as the fetch that brought it. With the partitions' leaders on
        several brokers, one topic's records may be fetched after a record was appended to
        another topic whose end offset, polled earlier, still says "caught up" (a broker
        stopped, a slow fetch): that topic then vouches only for the time read by the records
        fetched before it was polled (`fetches`). The producers' side of the contract: an
        event-minute is on the broker before the next minute's events are sent.

        Args:
            topics: the input topics of this partition.
            highwater: the end offset of a topic's partition, None while unknown.
            committed: the group's committed offset there, None if none.
            now_s: wall-clock seconds, for the idle limit.
            polled: a time before the broker answered the fetch that last told a topic's end
                offset (ms; the worker gives when its request was sent), None: always current
                (a file). `fetches` and `marks_fetched_ms` are when responses were handled,
                after the broker answered, so a poll sent later vouches for them.
            passed: the offset below which every record of a topic has been read, past
                offsets that hold none (a transactional producer's commit markers: its
                partitions end one past their last record); None: the last record read tells.
        """
        if self.since is None:
            self.since = now_s
        self.held_by_poll = False
        self.vouches_upstream = False
        lagging: list[int] = []
        unknown = False
        # The poll times before the end offsets: one read after its poll's time is as new as
        # that poll's or newer, so it holds at least what the poll vouches for.
        polled_at = {t: polled(t) for t in topics} if polled is not None else None
        for topic in topics:
            end = highwater(topic)
            if end is None:
                if topic not in self.last_offset and now_s - self.since < MAX_IDLE_S:
                    # A topic we have not heard from may hold earlier events. Judged again
                    # between fetches (see `held_by_poll`): its end offset may come with no
                    # record (a partition taken over with nothing left to read).
                    self.held_by_poll = True
                    return HOLD
                unknown = True
                continue
            done = self.last_offset.get(topic)
            if done is None:
                done = (committed(topic) or 0) - 1
            if passed is not None:
                done = max(done, (passed(topic) or 0) - 1)
            if done + 1 >= end:
                # caught up: it does not hold time back, unless its end offset is older than
                # the records read since
                polled_ms = polled_at[topic] if polled_at is not None else None
                fetches = self.fetches
                if polled_ms is not None and fetches and polled_ms <= fetches[-1][0]:
                    self.held_by_poll = True
                    vouched = self._vouched(polled_ms, self.topic_time.get(topic))
                    if vouched is None:
                        return HOLD
                    lagging.append(vouched)
                continue
            reached = self.topic_time.get(topic)
            if reached is None:
                # Records are waiting there and we do not know their time yet.
                self.held_by_poll = True
                return HOLD
            if passed is not None:
                # What looks like a record waiting may be a commit marker, fetched later with
                # no record to prompt a step: judge again between fetches.
                self.held_by_poll = True
            lagging.append(reached)
        polls = list(polled_at.values()) if polled_at is not None else []
        if polled_at is not None:
            self._forget_fetches(polls)
        if lagging:
            return Mark(min(lagging), False)
        # A topic whose end offset is unknown (its leader down) is let go after MAX_IDLE_S,
        # but vouches for nothing beyond this partition's own time.
        self.vouches_upstream = not unknown and self._polled_after_marks(
            polls if polled_at is not None else None
        )
        if not self.vouches_upstream:
            self.held_by_poll = True  # judge again once polled anew
        return Mark(max(self.topic_time.values()) if self.topic_time else None, True)

    def _polled_after_marks(self, polls: list[int | None] | None) -> bool:
        """Whether every input's end offset was polled after the latest marks were fetched
        (None: a file, always current)."""
        if polls is None or self.marks_fetched_ms is None:
            return True
        return all(p is not None and p > self.marks_fetched_ms for p in polls)

    def _vouched(self, polled_ms: int, own_ms: int | None) -> int | None:
        """The time a caught-up topic polled at `polled_ms` vouches for: what the records
        fetched before it had reached (a record appended later is of that minute or a later
        one), and its own time (its records are in order; later ones wait until then)."""
        # The latest such fetch (times reached only grow); usually near the end of the list,
        # which grows long only while a topic goes unpolled (its broker down). Times are whole
        # ms: a fetch handled in the poll's own ms may have been handled after it was sent.
        reached = next((t for by, t in reversed(self.fetches) if by < polled_ms), None)
        known = [t for t in (reached, own_ms) if t is not None]
        return max(known) if known else None

    def _forget_fetches(self, polls: list[int | None]) -> None:
        """Keep the fetches a poll may still need: from the last one before the oldest poll."""
        known = [p for p in polls if p is not None]
        if len(self.fetches) < 2 or not known:
            return
        upto = min(known)
        keep = 0
        while keep + 1 < len(self.fetches) and self.fetches[keep + 1][0] < upto:
            keep += 1
        if keep:
            del self.fetches[:keep]


PACK = 1_000
"""Records sent on per internal record at most: one record per batch and partition costs the
receiver one message instead of one per order (a Faust message is most of a record's cost), and
1,000 refunds of about 350 bytes stay well below a produce batch."""


@dataclass(slots=True, init=False)
class Outgoing:
    """A record for partition `partition` of an internal topic: `{"b": [...]}`, records sent
    on in the order they were made, or `{"m": ...}`, a mark."""

    kind: str
    partition: int
    value: dict[str, Any]

    def __init__(self, kind: str, partition: int, value: dict[str, Any]) -> None:
        # Written out, not made by @dataclass: mypyc compiles this one (see `streams.compiled`).
        self.kind = kind
        self.partition = partition
        self.value = value


@dataclass(frozen=True, slots=True)
class Positions:
    """Where a partition's input topics stand, by topic kind: what `PartitionClock.progress`
    judges from. The worker reads them off its consumer; the replay off the file."""

    highwater: Callable[[str], int | None]
    """The end offset, None while unknown."""
    committed: Callable[[str], int | None]
    """The group's committed offset, None if none."""
    polled: Callable[[str], int | None] | None = None
    """When the end offset was last polled (ms); None: always current (a file)."""
    passed: Callable[[str], int | None] | None = None
    """The offset below which every record has been read, stepping over offsets that hold
    none (transaction markers); None: the offsets of the records read tell (a file)."""


@dataclass(frozen=True, slots=True)
class Step:
    """What a partition's step gives its caller: the alerts to publish, the anchors that went
    quiet (their cached state may go), the safe time (None: nothing safe yet), and the records
    for the internal topics, to be sent before the state that produced them is written."""

    alerts: list[Alert]
    quiet: set[str]
    safe: int | None
    outbox: list[Outgoing]


class Route(StrEnum):
    """What became of an input record on the partition that read it."""

    LOCAL = "local"
    """Its anchor is this partition's: counted here, as the contract intends."""
    TO_ANCHOR = "to_anchor"
    """Sent on to its anchor's partition (one hop)."""
    TO_INDEX = "to_index"
    """A refund naming no anchor: sent to its order's index partition (two hops)."""
    MISPLACED = "misplaced"
    """Not this partition's anchor, but routing is off (`LIVEWATCH_ROUTING=anchor`): counted
    here all the same, apart from the rest of its anchor's state."""
    LATE = "late"
    """Not this partition's anchor, and too late to send on (judged against this partition's
    topic, as a local record is)."""
    FUTURE = "future"
    """Refused: its event time is ahead of its record's timestamp by more than the tolerance.
    Never counted, never moves a clock: the caller dead-letters it."""
    TOO_OLD = "too_old"
    """Refused: its event time is older than any window or the order memory can use (or than
    2000). As `FUTURE`."""


REFUSED = frozenset({Route.FUTURE, Route.TOO_OLD})
"""Routes of records refused for their time: dead-lettered by the worker, reported by the
replay."""


def refusal(task: PartitionTask, kind: str, event: InputEvent | Fact, record_ms: int | None) -> str:
    """Why `task` refused this record's time (after `external` said so), for a dead letter."""
    found = None
    if task.limits is not None:
        reached = task.clock.topic_time.get(kind)
        found = task.limits.refusal(as_fact(event).t, record_ms, reached)
    return "refused" if found is None else found[1]


class PartitionTask:
    """Applies one partition's records (inputs and internal), declares its marks, and evaluates
    the boundaries that every input and every partition upstream have passed."""

    def __init__(
        self,
        partition: int,
        partitions: int,
        detector: Detector,
        index: OrderIndex,
        partition_of: Callable[[str], int],
        route: bool = True,
        limits: TimeLimits | None = None,
    ) -> None:
        self.partition = partition
        self.partitions = partitions
        self.detector = detector
        self.index = index
        self.partition_of = partition_of
        """The ownership function: the partition of an anchor id or an order id."""
        self.route = route
        """False: every producer keys by the anchor with murmur2, so nothing is sent on and no
        marks are kept (`LIVEWATCH_ROUTING=anchor`)."""
        self.clock = PartitionClock()
        self.marks: dict[str, dict[int, Mark]] = {kind: {} for kind in INTERNAL}
        """Latest mark heard from each partition, per internal topic."""
        self.declared: dict[str, Mark] = {}
        """Latest mark this partition sent, per internal topic."""
        self.outbox: list[Outgoing] = []
        """Records to send before the state of this batch is written."""
        self.pace = RefundPace()
        """The refund pace of this partition's anchors (see `RefundPace`)."""
        self.limits = limits
        """How far event times may stray before a record is refused (None: never)."""
        self.horizon: Callable[[], int | None] | None = None
        """How far the rule sets are known (see `rules_topic.RulesFollower`; None: a file's,
        known in full): no boundary past it is evaluated, so none is judged under a set
        that a later record of the rules topic would have replaced."""
        self.held_by_rules = False
        """The last evaluation stopped at `horizon`: the worker tries again between fetches."""
        self.judged: tuple[Mark, bool] | None = None
        """The last input progress judged (see `step`), and whether it vouched for the
        partitions upstream."""
        self.evaluated_ms: int | None = None
        """Every boundary up to here is judged for this partition's anchors (None: none yet in
        this process): how far detection is, for the metrics."""
        self.repaired: list[tuple[str, int]] = []
        """(internal topic kind, partition) of each mark a repeat told this partition that the
        mark itself never did (see `repeat_marks`), until the worker takes them to report."""

    # -- records --------------------------------------------------------------------------------

    def external(
        self, kind: str, event: InputEvent | Fact, offset: int, record_ms: int | None = None
    ) -> Route:
        """Apply one valid input record, in offset order within its topic: count it here when
        its anchor is this partition's, else send it on. Returns what became of it; a record
        whose time is refused (`Route.FUTURE`, `Route.TOO_OLD`) touches nothing but the read
        offset. `event`: the validated event, or its fact when the caller made one already
        (the worker does, for the event's time). `record_ms`: the record's Kafka timestamp
        (None: unknown, not checked)."""
        fact = as_fact(event)
        clock = self.clock
        ts = fact.t
        reached = clock.topic_time.get(kind)
        if self.limits is not None:
            refused = self.limits.judge(ts, record_ms, reached)
            if refused is not None:
                clock.observe(kind, offset, None)
                return Route.FUTURE if refused == "future" else Route.TOO_OLD
        seen = ts if reached is None else max(ts, reached)
        route = self._route(fact.anchor_id)
        if route is Route.LOCAL or route is Route.MISPLACED:
            anchor = self.detector.apply(fact, seen)
            if anchor is not None:
                clock.active.add(anchor)
                if self.route and isinstance(fact, OrderFact):
                    entry = {"o": fact.order_id, "a": anchor, "v": self._visible(seen)}
                    self._send(INDEX, fact.order_id, entry)
        elif is_late(ts, seen, self.detector.config.grace_ms):
            self.detector.stats.outcomes[(kind, "late")] += 1
            route = Route.LATE
        else:
            self._send_on(fact, seen, route)
        clock.observe(kind, offset, ts)
        return route

    def rejected(self, kind: str, offset: int) -> None:
        """A record of `kind` that could not be used has been read all the same."""
        self.clock.observe(kind, offset, None)

    def _route(self, anchor: str | None) -> Route:
        if anchor is None:  # a refund that names only its order
            return Route.TO_INDEX if self.route else Route.LOCAL
        if self.partition_of(anchor) == self.partition:
            return Route.LOCAL
        return Route.TO_ANCHOR if self.route else Route.MISPLACED

    def _visible(self, seen_ms: int) -> int:
        """Visible time of a record sent on: never before this partition's last index mark."""
        floor = self.declared.get(INDEX, HOLD).time_ms
        return seen_ms if floor is None else max(seen_ms, floor)

    def _send_on(self, fact: Fact, seen: int, route: Route) -> None:
        """A record that is not on its anchor's partition goes to it (one hop), with the index
        entry of an order; a refund naming no anchor goes to its order's index partition. What
        travels is the compact form (`facts`): no buyer id, no extra fields."""
        visible = self._visible(seen)
        if route is Route.TO_INDEX:
            assert isinstance(fact, RefundFact)
            self._send(INDEX, fact.order_id, {"f": fact.to_list(), "v": visible})
            return
        anchor = fact.anchor_id
        assert anchor is not None
        self._send(ATTRIBUTED, anchor, {"k": fact.kind, "f": fact.to_list(), "v": visible})
        if isinstance(fact, OrderFact):
            # The entry comes from where the order was read, as from a local order: its
            # visible time is this partition's, whenever the anchor's partition counts it.
            self._send(INDEX, fact.order_id, {"o": fact.order_id, "a": anchor, "v": visible})

    def _send(self, kind: str, key: str, value: dict[str, Any]) -> None:
        self.outbox.append(Outgoing(kind, self.partition_of(key), value))

    def internal(self, kind: str, value: dict[str, Any], offset: int | None = None) -> None:
        """Apply one record of an internal topic (raises KeyError/ValueError when malformed);
        `offset`: where the worker read it (its lag is reported from it)."""
        if "b" in value:
            for one in value["b"]:
                self._internal(kind, one)
        else:
            self._internal(kind, value)
        if offset is not None:
            self.clock.last_offset[kind] = offset

    def _internal(self, kind: str, value: dict[str, Any]) -> None:
        if "m" in value:
            source, mark = int(value["m"]), Mark(value["w"], bool(value["i"]))
            known = self.marks[kind].get(source)
            if known is not None and known.time_ms is not None:
                later = max(known.time_ms, mark.time_ms or known.time_ms)
                mark = Mark(later, mark.idle)
            if "r" in value and mark != known:
                self.repaired.append((kind, source))
            self.marks[kind][source] = mark
        elif kind == INDEX:
            if "o" in value:
                forwards = self.index.add_entry(value["o"], IndexEntry(value["a"], value["v"]))
            else:
                refund = _sent_fact(value)
                assert isinstance(refund, RefundFact)
                waiting = IndexedRefund(refund, int(value["v"]))
                forwards = self.index.add_refund(refund.order_id, waiting)
            for anchor, joined, visible in forwards:
                sent = {"k": joined.kind, "f": joined.to_list(), "v": visible}
                self._send(ATTRIBUTED, anchor, sent)
        else:
            fact = _sent_fact(value)
            to_anchor = self.detector.apply_forwarded(fact, int(value["v"]))
            if to_anchor is not None:
                self.clock.active.add(to_anchor)

    # -- time -----------------------------------------------------------------------------------

    def step(self, positions: Positions, now_s: float, read_inputs: bool = True) -> Step:
        """After a batch of this partition's records (the worker's fetch, the replay's turn):
        judge how far its inputs have been read, declare its marks, evaluate what every input
        and every partition upstream have passed, and hand over what to send.

        A batch of internal records only (`read_inputs` false: marks from other partitions)
        reuses the last judgement: "caught up" rests on the end offsets known then, and judging
        it again between fetches would let a live record already on the broker be skipped.
        Unless it was held back by an old end offset (judged again once polled anew), or the
        inputs were caught up (whether their polls came after the latest marks is judged anew:
        a later poll can only find more records waiting)."""
        known = self.judged
        if (
            known is not None
            and not (read_inputs or self.clock.held_by_poll or known[0].idle)
            and known[0] != HOLD
        ):
            progress = known[0]
        else:
            progress = self._progress(positions, now_s)
            self.judged = (progress, self.clock.vouches_upstream)
        return self._step(progress, read_inputs)

    def retick(self, positions: Positions, now_s: float) -> Step | None:
        """Between batches, for a partition `held_by_poll`: judge again, now that its end
        offsets may have been polled anew, and step if that vouches for something new (also
        when nothing more arrives: the end of a stream). None: nothing new yet (a `HOLD` stays
        `held_by_poll`, so it is judged again at the next call)."""
        progress = self._progress(positions, now_s)
        judged = (progress, self.clock.vouches_upstream)
        if progress == HOLD or (judged == self.judged and not self.held_by_rules):
            return None
        self.judged = judged
        return self._step(progress, read_inputs=True)

    def _progress(self, positions: Positions, now_s: float) -> Mark:
        return self.clock.progress(
            EXTERNAL, positions.highwater, positions.committed, now_s, positions.polled,
            positions.passed,
        )  # fmt: skip

    def _step(self, progress: Mark, read_inputs: bool) -> Step:
        alerts, quiet, safe = self.tick(progress, read_inputs)
        return Step(alerts, quiet, safe, self.take_outbox())

    def tick(
        self, progress: Mark, read_inputs: bool = True
    ) -> tuple[list[Alert], set[str], int | None]:
        """After a batch: declare this partition's marks (queued in `outbox` after its records)
        and evaluate what every input and every partition upstream have passed.

        `progress` is this partition's own input progress (`PartitionClock.progress`). A batch
        of internal records only (`read_inputs` false) evaluates only when the inputs are
        caught up: otherwise the next batch of inputs will, and evaluating at every mark would
        write every active anchor's state once per mark. Returns the alerts, the anchors that
        went quiet, and the safe time (None: nothing is safe yet).
        """
        if not self.route:
            return self.evaluate_to(progress.time_ms)
        index_floor = combine(self.marks[INDEX], self.partitions)
        if index_floor.time_ms is not None:
            self.index.expire(index_floor.time_ms)
        own = self._declare(INDEX, progress)
        # What this partition sends on to anchors: refunds it read itself (visible from its
        # own mark) and refunds its index joined (visible from what every partition promised,
        # and no earlier than its own index records still on their way back: `_in_flight`).
        downstream = combine({0: own, 1: self._in_flight(INDEX, index_floor)}, 2)
        self._declare(ATTRIBUTED, downstream)
        safe = self._safe(progress)
        if not (read_inputs or progress.idle):
            return [], set(), safe
        return self.evaluate_to(safe)

    def evaluate_to(self, safe: int | None) -> tuple[list[Alert], set[str], int | None]:
        """Evaluate the active anchors' boundaries up to `safe`; the alerts, the anchors that
        went quiet (no longer active), and `safe`."""
        if safe is not None and self.horizon is not None:
            known = self.horizon()
            self.held_by_rules = known is None or known < safe
            if known is None:
                return [], set(), None
            safe = min(safe, known)
        if safe is not None and (self.evaluated_ms is None or safe > self.evaluated_ms):
            self.evaluated_ms = safe
        if safe is None or not self.clock.active:
            return [], set(), safe
        emitted = self.detector.advance_to(safe, self.clock.active, self.pace)
        quiet = {a for a in self.clock.active if not self.detector.is_active(a)}
        self.clock.active -= quiet
        return emitted, quiet, safe

    def _declare(self, kind: str, mark: Mark) -> Mark:
        """Send `mark` to every partition if it says something new; never move back in time."""
        before = self.declared.get(kind)
        if before is not None and before.time_ms is not None:
            later = before.time_ms if mark.time_ms is None else max(before.time_ms, mark.time_ms)
            mark = Mark(later, mark.idle)
        if mark != before:
            self.declared[kind] = mark
            value = self._mark_value(mark)
            self.outbox.extend(Outgoing(kind, p, value) for p in range(self.partitions))
        return mark

    def _mark_value(self, mark: Mark) -> dict[str, Any]:
        """A mark of this partition as it travels on an internal topic."""
        return {"m": self.partition, "w": mark.time_ms, "i": mark.idle}

    def _safe(self, progress: Mark) -> int | None:
        """This partition's inputs, and every partition sending it records, have passed it.

        Inputs that are caught up (idle), polled after the latest marks arrived, hold nothing
        back: the partition goes as far as its upstream, also when it reads nothing itself
        (every record of its anchors forwarded from elsewhere: one busy key) and, when every
        partition is idle, to the furthest of them, whichever partitions the records were
        produced to."""
        upstream = self._in_flight(ATTRIBUTED, combine(self.marks[ATTRIBUTED], self.partitions))
        if progress.idle and self.clock.vouches_upstream and upstream.time_ms is not None:
            return upstream.time_ms
        if progress.time_ms is None or upstream.idle:
            return progress.time_ms
        if upstream.time_ms is None:
            return None
        return min(progress.time_ms, upstream.time_ms)

    def _in_flight(self, kind: str, floor: Mark) -> Mark:
        """`floor` (what every partition promised on `kind`), held at this partition's last
        mark there that came back while a later one is still on its way: what it sent itself
        before that later mark (refunds it read, their joins) may be visible from the earlier
        one, and the others' idle marks may be as old (they woke in the same fetch, their new
        marks not read yet).

        `combine` takes idle marks as the furthest, so that a partition with no traffic holds
        nobody back. After a quiet spell (every partition caught up, or a restart with the
        marks of one) a burst of several minutes otherwise let a partition promise, and
        evaluate, minutes past the refunds it had just sent through its own index."""
        mine = self.marks[kind].get(self.partition)
        declared = self.declared.get(kind)
        if mine is None or declared is None or mine == declared:
            return floor
        if mine.time_ms is None or floor == HOLD:
            return HOLD
        if floor.time_ms is None:
            return Mark(mine.time_ms, False)
        return Mark(min(mine.time_ms, floor.time_ms), False)

    def repeat_marks(self) -> list[Outgoing]:
        """This partition's latest marks, sent again to every partition (flagged `"r"`).

        A mark is sent once, when it says something new. A receiver that never applied one
        (a cause not found: a CI run of two workers saw one partition's detection stop for
        good) waits until this partition says something new, which a quiet partition, or one
        at the end of a backlog, never does. Repeated, the mark reaches it, and the receiver
        reports the repair (`repaired`). Receivers keep the latest of what they heard, so a
        repeat never moves one back."""
        return [
            Outgoing(kind, p, {**self._mark_value(mark), "r": 1})
            for kind, mark in self.declared.items()
            for p in range(self.partitions)
        ]

    def take_repaired(self) -> list[tuple[str, int]]:
        repaired, self.repaired = self.repaired, []
        return repaired

    def take_outbox(self) -> list[Outgoing]:
        """What to send, packed: per internal partition, the records sent on (in order, at most
        `PACK` per record), then the marks, which promise about what comes after them."""
        out, self.outbox = self.outbox, []
        packed: dict[tuple[str, int], list[dict[str, Any]]] = {}
        marks = []
        for item in out:
            if "m" in item.value:
                marks.append(item)
            else:
                packed.setdefault((item.kind, item.partition), []).append(item.value)
        records = [
            Outgoing(kind, partition, {"b": values[i : i + PACK]})
            for (kind, partition), values in packed.items()
            for i in range(0, len(values), PACK)
        ]
        return records + marks

    # -- persistence ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "tt": self.clock.topic_time,
            "active": sorted(self.clock.active),
            "marks": {
                kind: {str(p): m.to_list() for p, m in marks.items()}
                for kind, marks in self.marks.items()
            },
            "declared": {kind: m.to_list() for kind, m in self.declared.items()},
            "pace": self.pace.to_dict(),
        }

    def restore(self, d: dict[str, Any]) -> None:
        self.clock = PartitionClock(topic_time=dict(d["tt"]), active=set(d["active"]))
        for kind, marks in d.get("marks", {}).items():
            self.marks[kind] = {int(p): Mark.from_list(m) for p, m in marks.items()}
        self.declared = {kind: Mark.from_list(m) for kind, m in d.get("declared", {}).items()}
        self.pace = RefundPace.from_dict(d.get("pace", {}))


def _sent_fact(value: dict[str, Any]) -> Fact:
    """An event sent on: the compact form (`"f"`, with its topic under `"k"` or a refund), or,
    from a worker of an earlier version still running beside this one, its JSON value (`"e"`
    with `"k"`, or a refund under `"r"`), validated again."""
    if "f" in value:
        return fact_from(str(value.get("k", "refunds")), value["f"])
    if "r" in value:
        return fact_of(Refund.model_validate(value["r"]))
    return fact_of(TOPIC_MODELS[str(value["k"])].model_validate(value["e"]))
