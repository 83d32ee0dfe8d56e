"""Prometheus metrics of a worker: the shell's own counters plus series read from the core.

Label values are bounded (topic kind, outcome, rule, severity, status, window): per-anchor
detail belongs on the alerts topic and in the HTTP API, never in series.
"""

from __future__ import annotations

import platform
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, Info
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from schemas import AlertStatus, RuleName, Severity
from streams import __version__, compiled
from streams.core.detector import Stats
from streams.core.evaluate import Windows
from streams.core.partition import INTERNAL
from streams.worker.forwarding import REASONS, ForwardingReport
from streams.worker.snapshot import StateSummary
from streams.worker.tables import TABLES

KINDS = ("orders", "refunds", "complaints")
RULES = tuple(rule.value for rule in RuleName)
"""Every rule's series starts at zero, so `increase()` sees each one's first firing."""
OUTCOMES = ("ok", "late", "duplicate", "invalid", "too_large", "future", "too_old", "error")
DEAD_LETTER_REASONS = ("invalid", "too_large", "future", "too_old", "error")
DROPPED = ("deferred", "complaint_ids", "index_refunds")
SEVERITIES = tuple(severity.value for severity in Severity)
STATUSES = tuple(status.value for status in AlertStatus)
ATTRIBUTIONS = ("order", "pending_then_order", "fallback", "unattributed", "beyond_window")


def _counter(
    name: str,
    documentation: str,
    labels: dict[str, tuple[str, ...]],
    *sources: Mapping[Any, int],
) -> CounterMetricFamily:
    """A counter family with every label combination, from zero: a series must exist before
    its first increase, or rate() misses that increase."""
    combos: list[tuple[str, ...]] = [()]
    for values in labels.values():
        combos = [(*c, v) for c in combos for v in values]
    totals: Counter[tuple[str, ...]] = Counter(dict.fromkeys(combos, 0))
    for source in sources:
        totals.update(source)
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    for combo, n in sorted(totals.items()):
        family.add_metric(list(combo), n)
    return family


@dataclass
class ShellCounts:
    """What the shell counts itself (the core never sees these records)."""

    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(topic kind, outcome) for records that never reached the core: invalid or error."""
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(topic kind, reason) of records sent to the dead-letter topic."""
    alerts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(rule, severity, status) of alerts published."""
    shadow_alerts: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(rule, status) of a shadow rule set's alerts, sent to the shadow alerts topic."""
    marks_repaired: Counter[tuple[str]] = field(default_factory=Counter)
    """(internal topic kind,) of marks a partition learnt only from a repeat."""


@dataclass(frozen=True)
class RulesStatus:
    """The rule sets a worker knows: the latest version of each kind (0: the rules file;
    None: no shadow set), and the records of the rules topic it refused."""

    live: int = 0
    shadow: int | None = None
    refused: int = 0


@dataclass
class Sources:
    """Where the collector reads at scrape time."""

    stats: Callable[[], Stats]
    counts: ShellCounts
    summary: Callable[[], StateSummary]
    """The live anchor states summed up (`snapshot.Snapshot`: at most once a second or so)."""
    consumer_lag: Callable[[], dict[str, int]]
    windows: Windows
    remembered: Callable[[], int] = lambda: 0
    """Records in the order memory that this process will purge past the horizon."""
    forwarding: ForwardingReport = field(default_factory=ForwardingReport)
    """Records read away from their anchor's partition."""
    resets: Counter[str] = field(default_factory=Counter)
    """Stored records that could not be read back and were started over, by table."""
    rules: Callable[[], RulesStatus] = RulesStatus
    event_times: Callable[[], dict[int, tuple[int | None, int | None]]] = dict
    """Per partition held: (latest event time read, event time judged to), ms or None."""


class LivewatchCollector(Collector):
    """Series derived at scrape time from the core's statistics and the live anchor states."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        stats = self.sources.stats()
        counts = self.sources.counts
        yield _counter(
            "livewatch_events_consumed",
            "Input records consumed, by topic and outcome (ok, late, duplicate; invalid, "
            "too_large, future, too_old and error are dead-lettered).",
            {"topic": KINDS, "outcome": OUTCOMES},
            stats.outcomes,
            counts.rejected,
        )
        yield _counter(
            "livewatch_deadletter_records",
            "Records sent to the dead-letter topic, by source topic and reason.",
            {"topic": KINDS, "reason": DEAD_LETTER_REASONS},
            counts.dead_letters,
        )
        forwarding = self.sources.forwarding
        yield _counter(
            "livewatch_records_forwarded",
            "Input records read on a partition other than their anchor's and sent on to it, by "
            "topic and reason (partitioner: keyed by anchor_id but not hashed with murmur2; "
            "key: keyed by something else; no_key; no_anchor: a refund naming no anchor, sent "
            "through the order index).",
            {"topic": KINDS, "reason": REASONS},
            forwarding.forwarded,
        )
        yield _counter(
            "livewatch_records_misplaced",
            "Input records read on a partition other than their anchor's and counted there, "
            "apart from their anchor's state (LIVEWATCH_ROUTING=anchor), by topic and reason.",
            {"topic": KINDS, "reason": REASONS},
            forwarding.misplaced,
        )
        yield _counter(
            "livewatch_state_dropped",
            "What a bounded list dropped: deferred (out-of-order events an anchor holds for its "
            "boundary), complaint_ids (an anchor's de-duplication memory), index_refunds "
            "(refunds waiting for one order in the order index).",
            {"what": DROPPED},
            Counter({(what,): n for what, n in stats.dropped.items()}),
        )
        yield _counter(
            "livewatch_state_resets",
            "Stored records that could not be read back (content, not the store, at fault) and "
            "were started over, by table: the anchor, order or partition clock they held is "
            "lost, the rest goes on.",
            {"table": TABLES},
            Counter({(table,): n for table, n in self.sources.resets.items()}),
        )
        yield _counter(
            "livewatch_refund_attribution",
            "Refunds by how they were attributed (order, pending_then_order, fallback, "
            "unattributed, beyond_window).",
            {"how": ATTRIBUTIONS},
            Counter({(how,): n for how, n in stats.attribution.items()}),
        )
        yield _counter(
            "livewatch_alerts_emitted",
            "Alerts published, by rule, severity and status.",
            {"rule": RULES, "severity": SEVERITIES, "status": STATUSES},
            counts.alerts,
        )
        yield _counter(
            "livewatch_shadow_alerts_emitted",
            "Alerts of the shadow rule set, sent to the shadow alerts topic only, by rule and "
            "status.",
            {"rule": RULES, "status": STATUSES},
            counts.shadow_alerts,
        )
        yield _counter(
            "livewatch_marks_repaired",
            "Marks (another partition's promise about its event time) that a partition learnt "
            "only when they were sent again: the first one never reached it, and its "
            "detection waited. Should stay 0; see the runbook.",
            {"topic": INTERNAL},
            counts.marks_repaired,
        )
        yield from self._rules_series()
        evaluations = CounterMetricFamily(
            "livewatch_rule_evaluations", "Anchor evaluations at step boundaries."
        )
        evaluations.add_metric([], stats.evaluations)
        yield evaluations
        yield from self._state_gauges()
        lag = GaugeMetricFamily(
            "livewatch_consumer_lag_messages",
            "Records in the assigned input partitions not yet processed, by topic.",
            labels=["topic"],
        )
        for kind, n in sorted(self.sources.consumer_lag().items()):
            lag.add_metric([kind], n)
        yield lag
        remembered = GaugeMetricFamily(
            "livewatch_order_memory_records",
            "Orders and waiting refunds this worker remembers until they pass the horizon.",
        )
        remembered.add_metric([], self.sources.remembered())
        yield remembered
        yield self._event_times()

    def _event_times(self) -> Metric:
        gauge = GaugeMetricFamily(
            "livewatch_event_time_seconds",
            "Per partition this worker holds, as Unix time: the latest event time read on its "
            "input topics (stage=read), and the event time up to which its anchors' boundaries "
            "are judged (stage=evaluated). Evaluation waits for every partition's promise, so "
            "a gap that keeps growing is detection held back, whatever the consumer lag.",
            labels=["partition", "stage"],
        )
        for partition, times in self.sources.event_times().items():
            for stage, ms in zip(("read", "evaluated"), times, strict=True):
                if ms is not None:
                    gauge.add_metric([str(partition), stage], ms / 1000)
        return gauge

    def _rules_series(self) -> Iterator[Metric]:
        status = self.sources.rules()
        version = GaugeMetricFamily(
            "livewatch_rules_version",
            "The latest rule set this worker accepted, by kind (live: 0 is the rules file; "
            "shadow: -1 when there is none). It is in force from its boundary on.",
            labels=["kind"],
        )
        version.add_metric(["live"], status.live)
        version.add_metric(["shadow"], -1 if status.shadow is None else status.shadow)
        yield version
        refused = CounterMetricFamily(
            "livewatch_rules_refused",
            "Records of the rules topic that did not validate: the sets known before stay in "
            "force (`/readyz` says why).",
        )
        refused.add_metric([], status.refused)
        yield refused

    def _state_gauges(self) -> Iterator[Metric]:
        summary = self.sources.summary()
        window_events = summary.window_events
        active_alerts = {**dict.fromkeys(RULES, 0), **summary.firing}
        anchors = summary.anchors
        gauge = GaugeMetricFamily(
            "livewatch_window_events",
            "Events held in the short and long windows of all tracked anchors, at their last "
            "evaluated boundary.",
            labels=["window", "topic"],
        )
        for (size, kind), n in window_events.items():
            gauge.add_metric([size, kind], n)
        yield gauge
        active = GaugeMetricFamily(
            "livewatch_alerts_active", "Alert episodes currently firing, by rule.", labels=["rule"]
        )
        for rule, n in sorted(active_alerts.items()):
            active.add_metric([rule], n)
        yield active
        tracked = GaugeMetricFamily(
            "livewatch_anchors_tracked", "Anchors with state still inside a window."
        )
        tracked.add_metric([], anchors)
        yield tracked


class BatchHistogram(Collector):
    """A Prometheus histogram observed a batch of values at a time: a per-record `observe`
    (a lock, a bucket search and two increments) cost the worker 4% of its time for the
    processing lag. Observed and scraped on the event loop's thread, so no lock."""

    def __init__(
        self, name: str, documentation: str, buckets: tuple[float, ...], registry: Any
    ) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = list(buckets)
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        registry.register(self)

    def observe_many(self, values: list[float]) -> None:
        """Count each value in the first bucket whose bound is at or above it (`le`)."""
        counts, bounds = self.counts, self.bounds
        for value in values:
            counts[bisect_left(bounds, value)] += 1
        self.sum += sum(values)

    def collect(self) -> Iterator[Metric]:
        cumulative, running = [], 0
        for bound, n in zip([*self.bounds, float("inf")], self.counts, strict=True):
            running += n
            cumulative.append((floatToGoString(bound), running))  # type: ignore[no-untyped-call]
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], cumulative, self.sum)
        yield family


class Metrics:
    """The registry of one worker; tests give each worker its own registry."""

    def __init__(self, registry: CollectorRegistry, sources: Sources) -> None:
        self.registry = registry
        self.processing_lag = BatchHistogram(
            "livewatch_processing_lag_seconds",
            "Wall-clock time from an event's own timestamp to its processing.",
            (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400),
            registry,
        )
        self.evaluation = Histogram(
            "livewatch_rule_evaluation_seconds",
            "Time to evaluate a partition's anchors at the boundaries a batch made safe.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        build = Info("livewatch_build", "Build information.", registry=registry)
        # core: "compiled" or "python" (streams/compiled.py: a stale build runs the sources)
        core = compiled.select().label
        build.info({"version": __version__, "python": platform.python_version(), "core": core})
        registry.register(LivewatchCollector(sources))
