"""The worker's batch loop without a broker: `Worker` over in-memory stand-ins for its three
narrow interfaces (where the inputs stand, what is sent, what is kept). The e2e tests run the
same loop on a real Kafka; these pin the shell's own decisions, fast."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from schemas import TOPIC_MODELS, Alert
from streams.core.clock import to_ms
from streams.core.dict_stores import DictOrders, DictStates
from streams.core.order_index import DictIndex
from streams.core.partition import ATTRIBUTED, INDEX, PartitionTask, Step
from streams.core.state import AnchorState, StateVersionError
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.pipeline import build_detector
from streams.placement import Owners, Placement
from streams.replay import replay_records
from streams.settings import Settings
from streams.worker.deadletter import DeadLetter
from streams.worker.worker import TURN_EVERY, Worker

SETTINGS = Settings(partitions=3)


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: Any = None
    timestamp: int | None = None
    """ms, as aiokafka gives it"""


class Logs:
    """Topic partitions as lists, and a consumer's view of them: end offsets, a poll clock
    that moves a second per fetch, no committed offsets (a first start)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], list[Rec]] = defaultdict(list)
        self.position: dict[tuple[str, int], int] = defaultdict(int)
        self.now_ms = 1_000_000
        self.committed_at: dict[tuple[str, int], int] = {}
        """The group's committed offsets, as a new worker finds them."""
        self.blind: set[tuple[str, int]] = set()
        """Partitions whose end offset the consumer does not know yet (no fetch answered)."""

    def append(self, topic: str, partition: int, value: bytes, ts_ms: int | None = None) -> None:
        log = self.records[(topic, partition)]
        log.append(Rec(topic, partition, len(log), value, timestamp=ts_ms))

    def fetch(self, limit: int) -> list[Rec]:
        """Up to `limit` records of each partition, as one fetch returns them."""
        self.now_ms += 1000
        batch: list[Rec] = []
        for tp, log in sorted(self.records.items()):
            start = self.position[tp]
            batch.extend(log[start : start + limit])
            self.position[tp] = min(len(log), start + limit)
        return batch

    def highwater(self, topic: str, partition: int) -> int | None:
        if (topic, partition) in self.blind:
            return None
        return len(self.records.get((topic, partition), ()))

    def committed(self, topic: str, partition: int) -> int | None:
        return self.committed_at.get((topic, partition))

    def polled(self, topic: str, partition: int) -> int | None:
        return self.now_ms - 1  # the fetch was sent just before its response was handled

    def received(self, topic: str, partition: int) -> int | None:
        return self.now_ms

    def assignment(self) -> Iterable[tuple[str, int]]:
        return list(self.records)

    def generation(self) -> int:
        return 1

    def passed(self, topic: str, partition: int) -> int | None:
        return None


class Sent:
    """What the worker sends, and the order of its side effects."""

    def __init__(self, logs: Logs) -> None:
        self.logs = logs
        self.queued: list[tuple[str, int, dict[str, Any]]] = []
        self.alerts: list[Alert] = []
        self.dead: list[DeadLetter] = []
        self.events: list[str] = []
        self.batches = 0
        """Internal records handed over (`send` calls that had some)."""
        self.acked: Counter[str] = Counter()

    def queue(self, topic: str, partition: int, value: dict[str, Any]) -> None:
        self.queued.append((topic, partition, value))

    async def alert(self, alert: Alert) -> Awaitable[Any]:
        self.alerts.append(alert)
        return self._acked("alert")

    async def dead_letter(self, record: DeadLetter) -> Awaitable[Any]:
        self.dead.append(record)
        return self._acked("dead_letter")

    async def send(self) -> list[Awaitable[Any]]:
        for topic, partition, value in self.queued:
            self.logs.append(topic, partition, json.dumps(value).encode())
        if not self.queued:
            return []
        self.queued.clear()
        self.batches += 1
        self.events.append("outputs_sent")
        return [self._acked("outputs")]

    def _acked(self, what: str) -> Awaitable[Any]:
        async def ack() -> None:
            for _ in range(3):  # the broker answers a few turns later
                await asyncio.sleep(0)
            self.events.append(f"{what}_acked")
            self.acked[what] += 1

        return asyncio.ensure_future(ack())


class Kept:
    """The tasks' stored clocks; anchor state lives in the detector's dict stores."""

    def __init__(self, sent: Sent) -> None:
        self.sent = sent
        self.clocks: dict[int, Any] = {}
        self.pending: dict[int, Any] = {}
        self.dropped: list[int] = []
        self.early: list[str] = []
        """State written before what the batch sent was acknowledged (see `write`)."""

    def route(self, topic: str, partition: int) -> None:
        pass

    def task_state(self, partition: int) -> Any | None:
        return self.clocks.get(partition)

    def drop_task_state(self, partition: int, exc: BaseException) -> None:
        self.dropped.append(partition)
        self.clocks.pop(partition, None)

    def save(self, partition: int, task: PartitionTask, step: Step) -> None:
        self.pending[partition] = json.loads(json.dumps(task.to_dict()))

    def seal(self) -> Any:
        """The batch's state, and what it had sent when sealed: all of it is to be
        acknowledged before the state is written."""
        pending, self.pending = self.pending, {}
        sent = self.sent
        return pending, Counter(
            outputs=sent.batches, alert=len(sent.alerts), dead_letter=len(sent.dead)
        )

    async def write(self, sealed: Any) -> None:
        pending, sent = sealed
        if any(self.sent.acked[what] < n for what, n in sent.items()):
            self.early.append(f"{dict(self.sent.acked)} acknowledged of {dict(sent)}")
        self.clocks.update(pending)
        self.sent.events.append("state_written")

    def forget(self) -> None:
        pass


def a_worker(settings: Settings = SETTINGS, states: Any = None) -> tuple[Worker, Logs, Sent, Kept]:
    logs = Logs()
    sent = Sent(logs)
    kept = Kept(sent)
    detector = build_detector(settings, DictOrders(), states or DictStates())
    worker = Worker(settings, detector, DictIndex(), kept, sent, logs)
    return worker, logs, sent, kept


async def run(worker: Worker, logs: Logs, chunk: int) -> None:
    """Fetch and process until every record is read and a retick says nothing new."""
    for _ in range(10_000):
        batch = logs.fetch(chunk)
        if batch:
            await worker.process(batch)
            continue
        before = sum(len(log) for log in logs.records.values())
        await worker.retick()
        await worker.landed()
        if sum(len(log) for log in logs.records.values()) == before:
            return
    raise AssertionError("the worker never settled")


def produce(logs: Logs, records: list[tuple[str, dict[str, Any], int, int]]) -> None:
    for kind, value, partition, ts in records:
        logs.append(SETTINGS.topic_by_kind[kind], partition, json.dumps(value).encode(), ts)


def placed(seed: int) -> list[tuple[str, dict[str, Any], int, int]]:
    """A simulated mix, refunds keyed by order id and naming no anchor: every partition sends
    to the others, through both internal topics."""
    sim = Simulation(SimConfig(seed=seed, anchors=60, hours=4.0, refund_anchor=False))
    placement = Placement.of(refunds="order_id")
    rng = random.Random(0)
    out = []
    for kind, value in sim.events():
        event = TOPIC_MODELS[kind].model_validate(value)
        p = placement.partition(kind, event, SETTINGS.partitions, rng)
        out.append((kind, value, p, to_ms(event.event_time)))
    return out


def identities(alerts: list[Alert]) -> Counter[tuple[str, str]]:
    return Counter((a.alert_id, a.status.value) for a in alerts)


@pytest.mark.parametrize(("seed", "chunk"), [(3, 50), (3, 700), (8, 200)])
async def test_the_worker_publishes_the_replays_alerts(seed: int, chunk: int) -> None:
    """Whatever the fetch size, the worker's alerts are the replay's: one `PartitionTask.step`
    in both, the worker's progress judged from end offsets and polls, the replay's from the
    file."""
    records = placed(seed)
    expected = list(replay_records(records, SETTINGS))
    assert sum(1 for a in expected if a.status.value == "firing") >= 2
    worker, logs, sent, _ = a_worker()
    produce(logs, records)
    await run(worker, logs, chunk)
    assert identities(sent.alerts) == identities(expected)
    assert not sent.dead


async def test_a_mark_that_never_arrived_is_repeated_and_its_receiver_moves_on() -> None:
    """Every mark one partition sends another is lost: the receiver's detection waits for it
    (alerts of its anchors missing), until the marks are repeated between fetches. Then its
    alerts are the replay's, and the repair is counted once per internal topic."""
    records = placed(3)
    expected = list(replay_records(records, SETTINGS))
    owner = Owners(SETTINGS.partitions)
    receiver = owner(expected[0].anchor_id)
    sender = (receiver + 1) % SETTINGS.partitions
    worker, logs, sent, _ = a_worker()
    worker.repeat_marks_s = math.inf
    queue, lost = sent.queue, []

    def losing(topic: str, partition: int, value: dict[str, Any]) -> None:
        if partition == receiver and value.get("m") == sender and "r" not in value:
            lost.append(value)
        else:
            queue(topic, partition, value)

    sent.queue = losing  # type: ignore[method-assign]
    produce(logs, records)
    await run(worker, logs, 200)
    assert lost
    missing = identities(expected) - identities(sent.alerts)
    anchor_of = {a.alert_id: a.anchor_id for a in expected}
    assert missing and {owner(anchor_of[alert_id]) for alert_id, _ in missing} == {receiver}
    assert not worker.counts.marks_repaired
    worker.repeat_marks_s = 0.0
    await worker.retick()
    worker.repeat_marks_s = math.inf
    await run(worker, logs, 200)
    assert identities(sent.alerts) == identities(expected)
    assert worker.counts.marks_repaired == Counter({(INDEX,): 1, (ATTRIBUTED,): 1})


async def test_a_restarted_worker_resumes_from_its_stored_clocks() -> None:
    """A new worker over the same storage restores each partition's task (marks, read times,
    the refund pace) and goes on as the first would have, had it not stopped. (Not as the
    replay: the stream pauses at the stop, and a worker that has read everything moves time on
    to what it read; the simulator's few out-of-order records after the pause are judged
    against that.)"""
    records = placed(5)
    half = len(records) // 2
    found = []
    for restart in (False, True):
        worker, logs, sent, kept = a_worker()
        produce(logs, records[:half])
        await run(worker, logs, 300)
        if restart:
            saved = {p: task.to_dict() for p, task in worker.tasks.items()}
            # The detector's dict stores hold the anchors' state, as the tables do.
            worker = Worker(SETTINGS, worker.detector, worker.index, kept, sent, logs)
            assert all(worker.task_for(p).to_dict() == saved[p] for p in saved)
        produce(logs, records[half:])
        await run(worker, logs, 300)
        found.append(identities(sent.alerts))
    assert sum(1 for _, status in found[0] if status == "firing") >= 2
    assert found[1] == found[0]


async def test_bad_records_are_dead_lettered_with_their_reason_and_still_read() -> None:
    worker, logs, sent, _ = a_worker()
    orders = SETTINGS.topic_orders
    logs.append(orders, 0, b"{not json")
    logs.append(orders, 0, b"x" * (SETTINGS.max_record_bytes + 1))
    logs.append(orders, 0, json.dumps({"schema_version": 1, "anchor_id": "a1"}).encode())
    await worker.process(logs.fetch(10))
    await worker.landed()
    assert [d.reason for d in sent.dead] == ["invalid", "too_large", "invalid"]
    assert [d.offset for d in sent.dead] == [0, 1, 2]
    assert worker.tasks[0].clock.last_offset["orders"] == 2  # read all the same
    assert worker.counts.dead_letters[("orders", "invalid")] == 2
    assert sent.events.index("dead_letter_acked") < sent.events.index("state_written")


async def test_an_infrastructure_error_is_not_blamed_on_the_record() -> None:
    """Stored state this version cannot read stops the batch (the app exits unacknowledged)
    instead of dead-lettering every record and committing."""

    class Unreadable(DictStates):
        def get(self, anchor_id: str) -> AnchorState | None:
            raise StateVersionError("stored by a newer version")

    worker, logs, sent, _ = a_worker(states=Unreadable())
    _kind, value, partition, ts = next(r for r in placed(3) if r[0] == "orders")
    logs.append(SETTINGS.topic_orders, partition, json.dumps(value).encode(), ts)
    with pytest.raises(StateVersionError):
        await worker.process(logs.fetch(10))
    assert not sent.dead


async def test_alerts_and_internal_records_are_acknowledged_before_the_state_is_written() -> None:
    """A crash between the two re-derives and resends (the receivers drop duplicates); the
    other order would lose alerts (see `Worker._land`). Each batch's state is written while the
    next batch is worked on, but only after what its own batch sent was acknowledged."""
    records = placed(3)
    worker, logs, sent, kept = a_worker()
    produce(logs, records)
    await run(worker, logs, 500)
    assert sent.alerts and sent.batches >= 5
    assert sent.events.count("state_written") >= 5
    assert kept.early == []


async def test_a_stored_clock_that_cannot_be_read_starts_the_partition_over() -> None:
    worker, _logs, _, kept = a_worker()
    kept.clocks[1] = {"tt": "not a mapping"}
    task = worker.task_for(1)
    assert kept.dropped == [1]
    assert task.clock.topic_time == {}


def test_the_batch_loop_imports_no_faust() -> None:
    """`worker.worker` is the shell's logic, not its wiring: Faust stays in `worker.app` and
    `worker.faust_*`, so the loop is tested here without a broker or a Faust app."""
    import subprocess
    import sys

    probe = (
        "import sys, streams.worker.worker\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'mode')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


async def test_a_partition_taken_over_with_nothing_left_to_read_still_moves_on() -> None:
    """A worker takes over a partition whose inputs its predecessor read to the end: only marks
    arrive for it, and, the consumer not having heard the inputs' end offsets yet, each of
    them is judged "not known yet" (hold). Once the end offsets are known, the checks between
    fetches judge again, with no record to prompt them; otherwise the partition, and every
    partition whose boundaries wait for its marks, would stop for good."""
    records = placed(5)
    half = len(records) // 2
    # Partition 0's inputs all come before the handover; the others' go on after it.
    later = [r for r in records[half:] if r[2] != 0]
    found = []
    for blind in (False, True):
        worker, logs, sent, kept = a_worker()
        produce(logs, records[:half])
        await run(worker, logs, 300)
        found_before = list(sent.alerts)
        logs.committed_at = dict(logs.position)
        inputs = {(SETTINGS.topic_by_kind[kind], 0) for kind in TOPIC_MODELS}
        logs.blind = inputs if blind else set()
        worker = Worker(SETTINGS, worker.detector, worker.index, kept, sent, logs)
        produce(logs, later)
        await run(worker, logs, 300)
        logs.blind = set()  # the end offsets arrive; no record does
        await run(worker, logs, 300)
        found.append(sent.alerts)
    reference, taken_over = found
    # Alerts after the handover (so the comparison means something): every partition's
    # boundaries wait for partition 0's marks.
    assert len(reference) >= len(found_before) + 2
    assert identities(taken_over) == identities(reference)


async def test_a_big_batch_gives_the_event_loop_a_turn_every_few_hundred_records() -> None:
    """The HTTP server's probes share the loop with the batches: they wait for a few hundred
    records, not for a whole fetch, so batches can be large."""
    records = placed(3)
    worker, logs, sent, _ = a_worker()
    produce(logs, records)
    batch = logs.fetch(100_000)
    assert len(batch) > 10 * TURN_EVERY
    turns = 0
    done = False

    async def beside() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    probe = asyncio.ensure_future(beside())
    await asyncio.sleep(0)
    turns = 0
    await worker.process(batch)
    done = True
    await probe
    assert turns >= len(batch) // TURN_EVERY
    assert not sent.dead
