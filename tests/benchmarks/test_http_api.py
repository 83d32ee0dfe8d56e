"""A small run of the HTTP API benchmark, so it cannot rot (its figures are judged by a person)."""

from __future__ import annotations

from tests.benchmarks.runs import run_json


def test_http_api_benchmark_reports_both_ways() -> None:
    result = run_json("http_api.py", "--anchors", "300", "--requests", "5", timeout_s=300)
    assert result["anchors"] == 300 and result["requests"] == 5
    assert result["after_summaries_computed"] == 1  # a burst shares one walk
    assert result["before_walk_per_request_s"] > 0
