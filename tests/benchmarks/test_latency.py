"""A small run of the alert-latency benchmark, so it cannot rot (its figures are not judged
here: latency is measured by running it, not asserted in a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "latency.py"


def test_latency_benchmark_times_every_alert_of_a_live_run(kafka_bootstrap: str) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--bootstrap", kafka_bootstrap, "--anchors", "60",
         "--hours", "3", "--rate", "2000", "--json"],
        capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["events"] > 5_000
    assert result["alerts"] >= 1  # the replay of this input gives 4
    assert 0 <= result["p50_s"] <= result["p99_s"] <= result["max_s"]
