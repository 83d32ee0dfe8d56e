"""A small run of the throughput benchmark, so it cannot rot (its figures are not judged here:
speed is measured by running it, not asserted in a timed test)."""

from __future__ import annotations

import pytest

from streams.compiled import choose
from tests.benchmarks.runs import BENCHMARKS, run_json

pytestmark = pytest.mark.kafka


def test_benchmark_runs_every_shape_and_reports_every_figure(kafka_bootstrap: str) -> None:
    result = run_json(
        "throughput.py", "--bootstrap", kafka_bootstrap, "--anchors", "20", "--hours", "1",
        "--hot-per-minute", "100", "--worker-runs", "1",
    )  # fmt: skip
    for shape in ("mix", "hot", "forwarded"):
        r = result[shape]
        assert r["events"] > 0
        assert min(r["raw"], r["faust"], r["livewatch"]) > 0
        assert len(r["raw_passes"]) == 3 and round(r["raw"]) == sorted(r["raw_passes"])[1]
        assert r["livewatch_runs"] == [round(r["livewatch"])] and r["livewatch_runs_agree"]
        # timed to the last evaluation the backlog asked for, which never comes before its
        # last record is counted
        assert r["livewatch"] <= r["livewatch_read_only"]
        assert r["livewatch_peak_rss_mb"] > 0
        assert r["livewatch_per_cpu_s"] > 0
        assert r["livewatch_runs_per_cpu_s"] == [r["livewatch_per_cpu_s"]]
        # the CPU seconds the run took, per second of it: the run's rate over its work per CPU
        # second (the outcomes count every event: none were lost)
        cores = r["livewatch"] / r["livewatch_per_cpu_s"]
        assert abs(r["livewatch_runs_cores"][0] - cores) <= 0.01 and cores > 0
        assert 0 < max(r["largest_changelog_record_bytes"].values()) < 64 * 1024
        # every event is remembered or counted somewhere: its anchor's bucket at least
        assert r["changelog_records"]["anchor-buckets"] > 0
        assert r["changelog_records_per_event"] > 0 and r["changelog_bytes_per_event"] > 0
    assert result["hot"]["events"] > result["mix"]["events"]
    # the core the workers ran: the one this process would choose (a stale build runs the sources)
    assert result["core"] == choose().label
    assert min(result["hot_vs_mix"], result["forwarded_vs_mix"]) > 0


def test_scale_out_run_reports_the_group_and_what_it_read_twice(kafka_bootstrap: str) -> None:
    result = run_json(
        "throughput.py", "--bootstrap", kafka_bootstrap, "--anchors", "20", "--hours", "1",
        "--shapes", "mix", "--workers", "2",
    )  # fmt: skip
    r = result["mix"]
    # the worker timed three times (the default), a raw pass after each: the medians count
    assert len(r["livewatch_runs"]) == 3 and len(r["raw_passes"]) == 5
    assert round(r["livewatch"]) == sorted(r["livewatch_runs"])[1]
    assert round(r["raw"]) == sorted(r["raw_passes"])[2]
    # every run counted the same backlog the same way
    assert r["livewatch_runs_agree"]
    assert r["livewatch_x2"] > 0 and r["livewatch_x2_vs_one"] > 0
    assert r["livewatch_x2"] <= r["livewatch_x2_read_only"]
    assert r["livewatch_x2_per_cpu_s"] > 0 and r["livewatch_x2_cpu_efficiency"] > 0
    assert r["livewatch_x2_outcomes"]["ok"] > 0
    # the group counted every record the lone worker did, some maybe twice
    assert r["livewatch_x2_reread"] >= 0


def test_a_benchmark_of_the_python_sources_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import throughput

    monkeypatch.setenv("LIVEWATCH_COMPILED", "0")
    assert throughput.worker_core() == "python"
    assert "the workers run the Python sources: LIVEWATCH_COMPILED=0" in capsys.readouterr().err
