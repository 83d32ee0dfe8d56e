"""Offline replay: the worker's detection path over events from a file, with no Kafka.

Lines are `{"topic": "orders" | "refunds" | "complaints", "value": {...}}`, applied in file order
on event time. Each event is placed on the partition its key would have (`partitions` setting),
and time advances per partition as it does in a worker, so the replay prints the same alerts as
a worker that read the same events in the same order per partition.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiokafka.partitioner import murmur2
from pydantic import ValidationError

from schemas import TOPIC_MODELS, Alert, InputEvent
from streams.codecs import describe, record_key
from streams.core.clock import bucket_start, to_ms
from streams.core.detector import Detector
from streams.core.rules import Rules
from streams.pipeline import build_detector
from streams.settings import Settings
from streams.stores import DictOrders, DictStates

ErrorSink = Callable[[int, str], None]
"""Called with the 1-based line number and the reason of a record that cannot be used."""


def replay_records(
    records: Iterable[tuple[str, Any]],
    settings: Settings,
    rules: Rules | None = None,
    on_error: ErrorSink | None = None,
    detector: Detector | None = None,
    flush: bool = False,
) -> Iterator[Alert]:
    """Alerts the worker would publish for `(topic kind, JSON value)` records, in order.

    This is the worker reading the whole input as a backlog: each event goes to the partition
    its key would have, and a partition's time is how far every topic that still has records
    on it has been read (so the input is read in full first). With `flush`, time then runs on
    past the last event until open episodes can resolve; without it, the replay stops where the
    input stops, as a worker would.
    """
    detector = detector or build_detector(settings, DictOrders(), DictStates(), rules)
    events: list[tuple[int, str, InputEvent]] = []
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
        events.append((partition_of(record_key(event), settings.partitions), kind, event))
    last_index: dict[tuple[int, str], int] = {(p, k): i for i, (p, k, _) in enumerate(events)}
    clocks: dict[int, dict[str, int]] = defaultdict(dict)
    active: dict[int, set[str]] = defaultdict(set)
    evaluated: dict[int, int] = {}
    step_ms = settings.step_s * 1000
    for index, (partition, kind, event) in enumerate(events):
        times = clocks[partition]
        t = to_ms(event.event_time)
        seen = times.get(kind)
        anchor = detector.apply(event, max(t, seen) if seen is not None else t)
        times[kind] = max(t, seen) if seen is not None else t
        if anchor is not None:
            active[partition].add(anchor)
        lagging = [times[k] for k in times if last_index[(partition, k)] > index]
        boundary = bucket_start(min(lagging) if lagging else max(times.values()), step_ms)
        if boundary > evaluated.get(partition, boundary - 1):
            evaluated[partition] = boundary
            yield from _advance(detector, boundary, active[partition])
    if events and flush:
        lifecycle = detector.rules.lifecycle
        end = max(max(times.values()) for times in clocks.values())
        end += (settings.long_window_s + lifecycle.resolve_after_s + settings.step_s) * 1000
        for partition in sorted(active):
            yield from _advance(detector, end, active[partition])


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key`, as producers are asked to use."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def _advance(detector: Detector, safe_ms: int, active: set[str]) -> Iterator[Alert]:
    yield from detector.advance_to(safe_ms, active)
    active.difference_update([a for a in active if not detector.is_active(a)])


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
