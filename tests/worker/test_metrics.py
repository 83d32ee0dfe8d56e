"""The worker's own metric types read as prometheus_client's do."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.core.detector import Stats
from streams.core.evaluate import Windows
from streams.worker.metrics import BatchHistogram, Metrics, ShellCounts, Sources
from streams.worker.snapshot import summarize

BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400)


def _series(registry: CollectorRegistry) -> list[str]:
    """The exposition's sample lines, but the `_created` stamp only the library's writes."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if line and "_created" not in line]


def test_a_batch_histogram_exposes_what_a_histogram_observing_each_value_exposes() -> None:
    """Values on a bound (`le` is inclusive), between bounds, below the first and past the
    last, in two batches: the same buckets, count and sum as per-value observes."""
    values = [0.0, 0.5, 0.7, 1.0, 2.5, 9.99, 86400.0, 90000.0, 3.25, 0.5]
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram("lag_seconds", "Lag.", buckets=BUCKETS, registry=theirs)
    for value in values:
        histogram.observe(value)
    batched = BatchHistogram("lag_seconds", "Lag.", BUCKETS, ours)
    batched.observe_many(values[:4])
    batched.observe_many(values[4:])
    assert _series(ours) == _series(theirs)
    assert 'lag_seconds_bucket{le="1.0"} 5.0' in _series(ours)


def test_event_times_are_exposed_per_partition_in_seconds_and_unknown_ones_left_out() -> None:
    """Partition 0 read to 12:10 and judged to 12:04; partition 3 read but judged nothing yet
    in this process: no `evaluated` series for it, rather than a zero that reads as 1970."""
    registry = CollectorRegistry()
    times = {0: (1_764_418_200_000, 1_764_417_840_000), 3: (1_764_418_200_500, None)}
    windows = Windows(600_000, 3_600_000, 60_000)
    Metrics(
        registry,
        Sources(
            lambda: Stats(), ShellCounts(), lambda: summarize([], windows), dict, windows,
            event_times=lambda: times,
        ),
    )  # fmt: skip
    found = {
        (s.labels["partition"], s.labels["stage"]): s.value
        for family in registry.collect()
        if family.name == "livewatch_event_time_seconds"
        for s in family.samples
    }
    assert found == {
        ("0", "read"): 1_764_418_200.0,
        ("0", "evaluated"): 1_764_417_840.0,
        ("3", "read"): 1_764_418_200.5,
    }
