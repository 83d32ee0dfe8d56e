"""The worker's own metric types read as prometheus_client's do."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.worker.metrics import BatchHistogram

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
