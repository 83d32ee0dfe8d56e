"""A small run of the alert-latency benchmark, so it cannot rot (its figures are not judged
here: latency is measured by running it, not asserted in a timed test)."""

from __future__ import annotations

import pytest

from streams.compiled import choose
from tests.benchmarks.runs import run_json

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize(("keys", "rate"), [("contract", None), ("own-ids", "2000")])
def test_latency_benchmark_times_every_alert_of_a_live_run(
    kafka_bootstrap: str, keys: str, rate: str | None
) -> None:
    fixed = ["--rate", rate] if rate else []
    result = run_json(
        "latency.py", "--bootstrap", kafka_bootstrap, "--anchors", "60", "--hours", "3",
        "--keys", keys, *fixed,
    )  # fmt: skip
    assert result["keys"] == keys
    # the core the workers ran: the one this process would choose (a stale build runs the sources)
    assert result["core"] == choose().label
    if rate is None:  # half the maximum it measured first (the producer may fall short)
        assert result["max_rate"] > 0
        assert result["rate"] <= 0.55 * result["max_rate"]
    else:
        assert result["max_rate"] is None
    assert result["events"] > 5_000
    assert result["alerts"] >= 1  # the replay of this input gives 4
    assert 0 <= result["p50_s"] <= result["p99_s"] <= result["max_s"]
    assert result["own_partition_p99_s"] is not None
