"""Offline replay: the worker's partition tasks over events from a file, with no Kafka.

Lines are `{"topic": "orders" | "refunds" | "complaints", "value": {...}}`, optionally with the
`"partition"` the record was read from and its Kafka `"timestamp"` (ms). A line without a
partition is placed where its producer would put it (`Placement`: the contract's anchor keys
and murmur2 unless told otherwise), and each partition's task reads its records in file order,
as a worker reads a backlog.

A line without a timestamp is checked against the file's own clock: the median event time of
the 101 lines around it, plus a day (`FILE_CLOCK_SLACK_MS`). So a record dated 2100 among
today's is refused as `future`, as the worker refuses it against its record timestamp, while a
quiet night between two lines is not; an event hours ahead of the file (a time-zone mistake) is
refused only where the line carries its timestamp. What
the tasks send each other (order index entries, refunds on their way to their anchor, marks)
goes through in-memory queues instead of internal topics; the tasks are deterministic in what
they count before each boundary, so the replay prints the worker's alerts.
"""

from __future__ import annotations

import bisect
import json
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from schemas import TOPIC_MODELS, Alert, InputEvent
from schemas.types import zone_context
from streams.codecs import connect_payload, describe
from streams.core.clock import to_ms
from streams.core.detector import Detector
from streams.core.dict_stores import DictOrders, DictStates
from streams.core.order_index import DictIndex
from streams.core.partition import REFUSED, PartitionTask, Positions, refusal
from streams.core.rulebook import RuleBook
from streams.core.rules import Rules
from streams.pipeline import build_detector, build_task
from streams.placement import Owners, Placement, RefundKey
from streams.settings import Settings

ErrorSink = Callable[[int, str], None]
"""Called with the 1-based line number and the reason of a record that cannot be used."""

CHUNK = 500
"""Records a partition reads per turn: the replay's fetch size (the alerts do not depend on it)."""

FILE_CLOCK_WINDOW = 101
"""Lines whose median event time stands in for the record timestamp a line does not carry."""
FILE_CLOCK_SLACK_MS = 86_400_000
"""How far ahead of that median a line without a timestamp may be (a day: gaps in a platform's
traffic are hours at most; a wrong year, century or default date is far more)."""


class Line(NamedTuple):
    """One replay line: an input record, the partition it was read from and its Kafka
    timestamp (ms), when known."""

    topic: str
    value: Any
    partition: int | None = None
    timestamp: int | None = None


class _Read(NamedTuple):
    """A line placed on its partition: what the partition's task reads."""

    kind: str
    event: InputEvent
    record_ms: int | None
    line: int


def replay_records(
    records: Iterable[Sequence[Any]],
    settings: Settings,
    rules: Rules | None = None,
    on_error: ErrorSink | None = None,
    detector: Detector | None = None,
    flush: bool = False,
    refunds_by: RefundKey = "anchor",
    chunk: int = CHUNK,
    placement: Placement | None = None,
    book: RuleBook | None = None,
) -> Iterator[Alert]:
    """Alerts the worker would publish for `(topic kind, JSON value[, partition])` records.

    This is the worker reading the whole input as a backlog: the partitions take turns reading
    `chunk` records each and then the internal records sent to them. A record without a
    partition goes where `placement` puts it (default: the contract, with refunds keyed as
    `refunds_by` says). With `flush`, time then runs on past the last event until open
    episodes can resolve; without it, the replay stops where the input stops, as a worker
    would. `book`: the rule sets published to the rules topic, to judge each boundary under
    the one the worker used there (see `rulebook`).
    """
    detector = detector or build_detector(settings, DictOrders(), DictStates(), rules, book)
    n = settings.partitions
    placement = placement or Placement.of(refunds=refunds_by)
    rng = random.Random(placement.seed)
    context = zone_context(settings.naive_zone)
    valid: list[tuple[int, str, InputEvent, int, int | None]] = []
    """(line number, kind, event, partition, record timestamp) of the usable lines."""
    for number, (kind, value, *more) in enumerate(records, 1):
        model = TOPIC_MODELS.get(kind)
        if model is None:
            if on_error:
                on_error(number, f"topic: unknown input topic {kind!r}")
            continue
        size = _encoded_size(value)
        if size > settings.max_record_bytes:
            if on_error:
                on_error(number, f"too_large: {size} bytes, over LIVEWATCH_MAX_RECORD_BYTES="
                                 f"{settings.max_record_bytes}")  # fmt: skip
            continue
        try:
            # as the worker reads it
            event = model.model_validate(connect_payload(value), context=context)
        except ValidationError as exc:
            if on_error:
                on_error(number, describe(exc))
            continue
        given = more[0] if more else None
        if given is not None and not 0 <= given < n:
            if on_error:
                on_error(number, f"partition: {given} is not one of the {n} partitions")
            continue
        p = given if given is not None else placement.partition(kind, event, n, rng)
        valid.append((number, kind, event, p, more[1] if len(more) > 1 else None))
    clock = _file_clock([to_ms(event.event_time) for _, _, event, _, _ in valid])
    inputs: list[list[_Read]] = [[] for _ in range(n)]
    for (number, kind, event, p, stamp), median in zip(valid, clock, strict=True):
        record_ms = stamp if stamp is not None else median + FILE_CLOCK_SLACK_MS
        inputs[p].append(_Read(kind, event, record_ms, number))
    owners = Owners(n)
    tasks = [build_task(p, settings, detector, DictIndex(), owners) for p in range(n)]
    yield from _run(tasks, inputs, chunk, on_error)
    if flush and any(inputs):
        lifecycle = detector.rules.lifecycle
        end = max(max(t.clock.topic_time.values(), default=0) for t in tasks)
        end += (settings.long_window_s + lifecycle.resolve_after_s + settings.step_s) * 1000
        for task in tasks:
            yield from task.evaluate_to(end)[0]


def _file_clock(times: list[int]) -> list[int]:
    """Per line, the median event time of the `FILE_CLOCK_WINDOW` lines around it (in file
    order): what a line without a record timestamp is judged against. A median, so a few
    absurd times among the neighbours do not move it."""
    half = FILE_CLOCK_WINDOW // 2
    window: list[int] = sorted(times[: half + 1])
    out = []
    for i in range(len(times)):
        out.append(window[len(window) // 2])
        if i + half + 1 < len(times):
            bisect.insort(window, times[i + half + 1])
        if i - half >= 0:
            del window[bisect.bisect_left(window, times[i - half])]
    return out


def _run(
    tasks: list[PartitionTask],
    inputs: list[list[_Read]],
    chunk: int,
    on_error: ErrorSink | None,
) -> Iterator[Alert]:
    """Turns until every input is read and no task has anything left to say to another."""
    ends = [Counter(r.kind for r in part) for part in inputs]
    read = [Counter[str]() for _ in tasks]
    position = [0] * len(tasks)
    queues: list[deque[tuple[str, dict[str, Any]]]] = [deque() for _ in tasks]
    first = True
    while first or any(queues) or any(p < len(i) for p, i in zip(position, inputs, strict=True)):
        for p, task in enumerate(tasks):
            batch = inputs[p][position[p] : position[p] + chunk]
            position[p] += len(batch)
            if not (first or batch or queues[p]):
                continue
            while queues[p]:
                task.internal(*queues[p].popleft())
            for kind, event, record_ms, line in batch:
                route = task.external(kind, event, read[p][kind], record_ms)
                read[p][kind] += 1
                if route in REFUSED and on_error:
                    on_error(line, f"{route.value}: {refusal(task, kind, event, record_ms)}")
            step = task.step(Positions(_ends(ends[p]), _none), 0.0, bool(batch))
            yield from step.alerts
            for out in step.outbox:
                queues[out.partition].append((out.kind, out.value))
        first = False


def _ends(counts: Counter[str]) -> Callable[[str], int | None]:
    """A partition's end offsets: every record of the file is in its topic from the start."""
    return lambda kind: counts[kind]


def _none(kind: str) -> int | None:
    return None


def read_jsonl(lines: Iterable[str], on_error: ErrorSink | None = None) -> Iterator[Line]:
    """Parse replay lines; blank lines are skipped, bad ones reported and skipped. A file
    saved with a UTF-8 byte order mark (Windows editors, PowerShell 5) reads as without."""
    for number, line in enumerate(lines, 1):
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            partition = item.get("partition")
            if partition is not None and (type(partition) is not int or partition < 0):
                raise TypeError(f"partition must be a whole number >= 0, got {partition!r}")
            stamp = item.get("timestamp")
            if stamp is not None and type(stamp) is not int:
                raise TypeError(f"timestamp must be whole milliseconds, got {stamp!r}")
            yield Line(item["topic"], item["value"], partition, stamp)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            if on_error:
                on_error(number, f"not a replay line ({exc})")


def _encoded_size(value: Any) -> int:
    """About the bytes a producer would have sent for a parsed line (what the worker checks
    against `max_record_bytes`); orjson refuses integers past 64 bits, which json writes."""
    try:
        return len(orjson.dumps(value))
    except TypeError:
        return len(json.dumps(value, default=str).encode())
