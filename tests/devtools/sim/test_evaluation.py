"""Scoring alerts against ground truth, pooling runs, and the `evaluate` / `quality` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas import Alert
from streams.core.rules import DEFAULT_RULES_PATH
from streams.devtools.sim.evaluation import RuleScore, evaluate, pool
from streams.devtools.sim.labels import Label, Truth

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
RULES = ("refund_after_order_spike", "quality_complaints")


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args], capture_output=True, text=True, check=check
    )


def _alert(anchor: str, rule: str, minute: float, status: str = "firing") -> Alert:
    end = T0 + timedelta(minutes=minute)
    return Alert.model_validate({
        "alert_id": f"{rule}-{anchor}-{minute}", "rule": rule, "status": status,
        "severity": "warning", "anchor_id": anchor, "window_start": end - timedelta(hours=1),
        "window_end": end, "observed": {}, "threshold": {}, "evidence": {"window": "long"},
        "emitted_at": end,
    })  # fmt: skip


def _label(anchor: str, rule: str | None, start: float, end: float, **kw: bool) -> Label:
    return Label(
        anchor_id=anchor, scenario="brushing" if rule else "high_refund_category", rule=rule,
        start=T0 + timedelta(minutes=start), end=T0 + timedelta(minutes=end), **kw,
    )  # fmt: skip


def _truth(labels: list[Label]) -> Truth:
    return Truth(seed=1, scenarios=["mix"], start=T0, end=T0 + timedelta(hours=8), anchors=10,
                 labels=labels)  # fmt: skip


def test_true_false_missed_and_time_to_detect() -> None:
    truth = _truth([
        _label("a", "refund_after_order_spike", 60, 70),
        _label("b", "refund_after_order_spike", 100, 110),  # never caught
        _label("c", "quality_complaints", 200, 240),
        _label("ctl", None, 0, 300, expect_alert=False),
    ])  # fmt: skip
    alerts = [
        _alert("a", "refund_after_order_spike", 64),
        _alert("a", "refund_after_order_spike", 64, status="resolved"),  # not a second alert
        _alert("c", "quality_complaints", 203),
        _alert("c", "refund_after_order_spike", 203),  # right anchor, wrong rule
        _alert("a", "refund_after_order_spike", 60 + 10 + 61),  # over an hour after the label
        _alert("ctl", "refund_after_order_spike", 50),  # a control must stay quiet
    ]
    report = evaluate(truth, alerts, RULES)
    spike, storm = report.rules["refund_after_order_spike"], report.rules["quality_complaints"]
    assert (spike.alerts, spike.true_alerts, spike.labels, spike.detected) == (4, 1, 2, 1)
    assert (storm.alerts, storm.true_alerts, storm.labels, storm.detected) == (1, 1, 1, 1)
    assert spike.ttd_s == [240.0] and storm.ttd_s == [180.0]
    assert report.overall.precision == 2 / 5 and report.overall.recall == 2 / 3
    assert [m.anchor_id for m in report.missed] == ["b"]
    assert sorted(a["anchor_id"] for a in report.false_alerts) == ["a", "c", "ctl"]


def test_pooling_adds_counts_and_time_to_detect_samples() -> None:
    truth = _truth([_label("a", "refund_after_order_spike", 60, 70)])
    first = evaluate(truth, [_alert("a", "refund_after_order_spike", 62)], RULES)
    second = evaluate(truth, [_alert("a", "refund_after_order_spike", 66)], RULES)
    pooled = pool([first, second, second], RULES)
    spike = pooled.rules["refund_after_order_spike"]
    assert (spike.alerts, spike.labels, spike.detected) == (3, 3, 3)
    assert sorted(spike.ttd_s) == [120.0, 360.0, 360.0]
    assert spike.ttd_median_s == 360.0 and pooled.overall.detected == 3
    assert pooled.rules["quality_complaints"].labels == 0


def test_ninetieth_percentile_stays_within_the_samples() -> None:
    score = RuleScore("r", ttd_s=[60.0, 120.0, 600.0])
    assert score.ttd_p90_s is not None and 120.0 < score.ttd_p90_s <= 600.0
    assert RuleScore("r", ttd_s=[42.0]).ttd_p90_s == 42.0
    assert RuleScore("r").ttd_p90_s is None


def test_evaluate_command_scores_a_replay(tmp_path: Path) -> None:
    feed, labels = tmp_path / "mix.jsonl", tmp_path / "labels.json"
    _cli("simulate", "--seed", "2", "--anchors", "60", "--hours", "6", "--out", str(feed),
         "--labels", str(labels))  # fmt: skip
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(_cli("replay", str(feed)).stdout)
    report = json.loads(_cli("evaluate", "--labels", str(labels), str(alerts), "--format",
                             "json").stdout)  # fmt: skip
    assert report["overall"]["labels"] > 0
    assert report["overall"]["detected"] == report["overall"]["labels"]
    table = _cli("evaluate", "--labels", str(labels), str(alerts)).stdout
    assert "refund_after_order_spike" in table and "90th pct TTD" in table


def test_quality_command_pools_seeds_and_checks_normal_days() -> None:
    small = ("--anchors", "60", "--hours", "6", "--format", "json")
    pooled = json.loads(_cli("quality", "--seeds", "1-2", "--normal-days", "3", *small).stdout)
    assert pooled["normal_day_alerts"] == {"3": 0}
    single = json.loads(_cli("quality", "--seeds", "1", *small).stdout)
    assert pooled["overall"]["labels"] > single["overall"]["labels"] > 0


def test_quality_command_refuses_bad_seeds_format_and_rules(tmp_path: Path) -> None:
    bad_seeds = _cli("quality", "--seeds", "1-x", check=False)
    assert bad_seeds.returncode == 2 and "1-x" in bad_seeds.stderr
    bad_format = _cli("quality", "--seeds", "", "--format", "yaml", check=False)
    assert bad_format.returncode == 2 and "'--format'" in bad_format.stderr
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 2\n")
    bad_rules = _cli("quality", "--rules", str(rules), check=False)
    assert bad_rules.returncode == 2 and f"{rules}:1: version" in bad_rules.stderr


def test_quality_command_fails_when_a_normal_day_alerts(tmp_path: Path) -> None:
    """A rules file that fires on one complaint is judged on a normal day and refused."""
    text = DEFAULT_RULES_PATH.read_text()
    text = text.replace("  min_count: 6 ", "  min_count: 1 ").replace(
        "  min_rate_per_order: 0.02 ", "  min_rate_per_order: 0.0 "
    )
    rules = tmp_path / "twitchy.yaml"
    rules.write_text(text)
    result = _cli("quality", "--seeds", "", "--normal-days", "5", "--rules", str(rules),
                  check=False)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "normal day 5:" in result.stdout and "normal day 5: 0 alerts" not in result.stdout
