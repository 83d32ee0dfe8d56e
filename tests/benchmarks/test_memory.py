"""A small run of the memory benchmark, so it cannot rot (its figures are judged by a person)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "memory.py"


def test_memory_benchmark_reports_anchors_and_orders() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--anchors", "500", "--orders", "5000", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["anchors"] == 500 and result["orders"] == 5000
    assert result["buckets_per_anchor"] > 1
    assert min(result["anchor_records_mb"], result["anchor_cached_states_mb"]) > 0
    assert result["order_memory_mb"] > 0
