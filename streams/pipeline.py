"""Builds the detector and the partition tasks from settings: what the worker and the offline
replay share."""

from __future__ import annotations

import time

from streams.core.attribution import OrderMemory
from streams.core.clock import TimeLimits
from streams.core.detector import Detector, DetectorConfig, StateStore
from streams.core.evaluate import Windows
from streams.core.order_index import IndexStore, OrderIndex
from streams.core.partition import PartitionTask
from streams.core.rulebook import RuleBook
from streams.core.rules import Rules, load_rules
from streams.placement import Owners
from streams.settings import Settings


def detector_config(settings: Settings) -> DetectorConfig:
    return DetectorConfig(
        windows=Windows(
            short_ms=settings.short_window_s * 1000,
            long_ms=settings.long_window_s * 1000,
            step_ms=settings.step_s * 1000,
            grace_ms=settings.grace_s * 1000,
        ),
        grace_ms=settings.grace_s * 1000,
        order_horizon_ms=settings.order_horizon_s * 1000,
    )


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def build_detector(
    settings: Settings,
    orders: OrderMemory,
    states: StateStore,
    rules: Rules | None = None,
    book: RuleBook | None = None,
) -> Detector:
    """A detector on the configured rules file (refused with line and field if it is wrong),
    or on a rule book's (the rules file and the rule sets published since)."""
    base = book.base if book is not None else rules or load_rules(settings.rules_path)
    return Detector(base, detector_config(settings), orders, states, wall_clock_ms, book)


def build_task(
    partition: int,
    settings: Settings,
    detector: Detector,
    index: IndexStore,
    owners: Owners | None = None,
) -> PartitionTask:
    """The task of one partition number, owning the anchors `placement.owner` gives it."""
    config = detector.config
    return PartitionTask(
        partition,
        settings.partitions,
        detector,
        OrderIndex(index, config.grace_ms, config.order_horizon_ms, detector.stats),
        owners or Owners(settings.partitions),
        route=settings.routing == "any",
        limits=time_limits(settings),
    )


def time_limits(settings: Settings) -> TimeLimits:
    return TimeLimits(settings.future_tolerance_s * 1000, settings.event_age_limit_s * 1000)
