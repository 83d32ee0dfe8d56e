"""The Grafana dashboard only queries series the worker exports or the recording rules make."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import CollectorRegistry

from streams.board.service import BoardMetrics
from streams.core.detector import Stats
from streams.core.evaluate import Windows
from streams.worker.metrics import Metrics, ShellCounts, Sources
from streams.worker.snapshot import summarize
from tests.deploy.conftest import DEPLOY

DASHBOARD = DEPLOY / "grafana/dashboards/livewatch.json"
PROMQL_WORDS = {
    "sum", "max", "min", "by", "rate", "increase", "histogram_quantile", "clamp_min", "le",
    "without",
}  # fmt: skip


WINDOWS = Windows(600_000, 3_600_000, 60_000)


def exported_names() -> set[str]:
    """Every sample name a worker's or the board's /metrics can contain."""
    registry = CollectorRegistry()
    Metrics(
        registry,
        Sources(lambda: Stats(), ShellCounts(), lambda: summarize([], WINDOWS), dict, WINDOWS),
    )
    names = set()
    families = [*registry.collect(), *BoardMetrics().registry.collect()]
    for family in families:
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def recorded_names() -> set[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus/rules/livewatch-recording.yml").read_text())
    return {r["record"] for g in rules["groups"] for r in g["rules"]}


def metric_names(expr: str) -> set[str]:
    without_groupings = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)
    without_labels = re.sub(r"\{[^}]*\}", "", without_groupings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"e\d*", w)}


def test_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = exported_names() | recorded_names() | {"up"}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            unknown = metric_names(target["expr"]) - known
            assert not unknown, f"panel {panel['title']!r} queries {unknown}"


def test_query_check_can_fail() -> None:
    """The name extraction sees a metric that does not exist."""
    assert metric_names('sum(rate(livewatch_nope_total{a="b"}[5m]))') == {"livewatch_nope_total"}


def test_dashboard_has_a_stable_uid_and_the_panels_operators_need() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "livewatch-overview"
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for needed in (
        "livewatch_events_consumed_total",
        "livewatch_alerts_emitted_total",
        "livewatch_alerts_active",
        "livewatch_consumer_lag_messages",
        "livewatch_processing_lag_seconds_bucket",
        "livewatch_deadletter_records_total",
        "livewatch_window_events",
    ):
        assert needed in exprs
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_provisioning_points_at_the_dashboard_and_datasource() -> None:
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {datasource["uid"]}
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/livewatch.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
