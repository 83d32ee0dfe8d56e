"""Offline replay: the worker's partition tasks over events from a file, with no Kafka.

Lines are `{"topic": "orders" | "refunds" | "complaints", "value": {...}}`. Each event is placed
on the partition its key would have (`partitions` setting; refunds keyed as `refunds_by` says),
and each partition's task reads its records in file order, as a worker reads a backlog. What
the tasks send each other (order index entries, refunds on their way to their anchor, marks)
goes through in-memory queues instead of internal topics; the tasks are deterministic in what
they count before each boundary, so the replay prints the worker's alerts.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from schemas import TOPIC_MODELS, Alert, InputEvent
from streams.codecs import RefundKey, describe, partition_of, record_key
from streams.core.detector import Detector
from streams.core.order_index import DictIndex
from streams.core.partition import EXTERNAL, PartitionTask
from streams.core.rules import Rules
from streams.pipeline import build_detector, build_task
from streams.settings import Settings
from streams.stores import DictOrders, DictStates

ErrorSink = Callable[[int, str], None]
"""Called with the 1-based line number and the reason of a record that cannot be used."""

CHUNK = 500
"""Records a partition reads per turn: the replay's fetch size (the alerts do not depend on it)."""


def replay_records(
    records: Iterable[tuple[str, Any]],
    settings: Settings,
    rules: Rules | None = None,
    on_error: ErrorSink | None = None,
    detector: Detector | None = None,
    flush: bool = False,
    refunds_by: RefundKey = "anchor",
    chunk: int = CHUNK,
) -> Iterator[Alert]:
    """Alerts the worker would publish for `(topic kind, JSON value)` records.

    This is the worker reading the whole input as a backlog: the partitions take turns reading
    `chunk` records each and then the internal records sent to them. With `flush`, time then
    runs on past the last event until open episodes can resolve; without it, the replay stops
    where the input stops, as a worker would.
    """
    detector = detector or build_detector(settings, DictOrders(), DictStates(), rules)
    n = settings.partitions
    inputs: list[list[tuple[str, InputEvent]]] = [[] for _ in range(n)]
    for number, (kind, value) in enumerate(records, 1):
        model = TOPIC_MODELS.get(kind)
        if model is None:
            if on_error:
                on_error(number, f"topic: unknown input topic {kind!r}")
            continue
        try:
            event = model.model_validate(value)
        except ValidationError as exc:
            if on_error:
                on_error(number, describe(exc))
            continue
        inputs[partition_of(record_key(event, refunds_by), n)].append((kind, event))
    tasks = [build_task(p, settings, detector, DictIndex()) for p in range(n)]
    yield from _run(tasks, inputs, chunk)
    if flush and any(inputs):
        lifecycle = detector.rules.lifecycle
        end = max(max(t.clock.topic_time.values(), default=0) for t in tasks)
        end += (settings.long_window_s + lifecycle.resolve_after_s + settings.step_s) * 1000
        for task in tasks:
            yield from task.evaluate_to(end)[0]


def _run(
    tasks: list[PartitionTask], inputs: list[list[tuple[str, InputEvent]]], chunk: int
) -> Iterator[Alert]:
    """Turns until every input is read and no task has anything left to say to another."""
    ends = [Counter(kind for kind, _ in part) for part in inputs]
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
            for kind, event in batch:
                task.external(kind, event, read[p][kind])
                read[p][kind] += 1
            progress = task.clock.progress(EXTERNAL, _ends(ends[p]), _none, 0.0)
            alerts, _, _ = task.tick(progress, bool(batch))
            yield from alerts
            for out in task.take_outbox():
                queues[out.partition].append((out.kind, out.value))
        first = False


def _ends(counts: Counter[str]) -> Callable[[str], int | None]:
    """A partition's end offsets: every record of the file is in its topic from the start."""
    return lambda kind: counts[kind]


def _none(kind: str) -> int | None:
    return None


def read_jsonl(
    lines: Iterable[str], on_error: ErrorSink | None = None
) -> Iterator[tuple[str, Any]]:
    """Parse replay lines; blank lines are skipped, bad ones reported and skipped."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            yield item["topic"], item["value"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            if on_error:
                on_error(number, f"not a replay line ({exc})")
