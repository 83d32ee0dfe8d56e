"""A small run of the memory benchmark, so it cannot rot (its figures are judged by a person)."""

from __future__ import annotations

from tests.benchmarks.runs import run_json


def test_memory_benchmark_reports_anchors_and_orders() -> None:
    result = run_json("memory.py", "--anchors", "500", "--orders", "5000", timeout_s=300)
    assert result["anchors"] == 500 and result["orders"] == 5000
    assert result["buckets_per_anchor"] > 1
    assert min(result["anchor_records_mb"], result["anchor_cached_states_mb"]) > 0
    assert result["order_memory_mb"] > 0
