"""Prometheus and Alertmanager files load in the real tools, and the rules' unit tests pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.deploy.conftest import DEPLOY, tool


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_rules_are_valid() -> None:
    result = run(
        tool("promtool"), "check", "rules", *map(str, (DEPLOY / "prometheus/rules").glob("*.yml"))
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout  # the recording rules


def test_rule_unit_tests_pass() -> None:
    """promtool test rules: each service alert fires when it should and stays quiet otherwise."""
    tests = sorted((DEPLOY / "prometheus/tests").glob("*.test.yml"))
    assert tests
    result = run(tool("promtool"), "test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_rule_has_a_unit_test() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus/rules/livewatch-alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tested = "\n".join(p.read_text() for p in (DEPLOY / "prometheus/tests").glob("*.test.yml"))
    assert all(f"alertname: {name}" in tested for name in names)


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    """The compose config, with its rule path pointed at the repository's rules and its
    token files (compose secrets) at files of this test."""
    config = (DEPLOY / "prometheus/prometheus.yml").read_text()
    local = config.replace("/etc/prometheus/rules/", f"{DEPLOY / 'prometheus/rules'}/")
    for name in ("livewatch_api_token", "livewatch_board_token"):
        (tmp_path / name).write_text("t\n")
    local = local.replace("/run/secrets/", f"{tmp_path}/")
    path = tmp_path / "prometheus.yml"
    path.write_text(local)
    result = run(tool("promtool"), "check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_is_valid() -> None:
    result = run(tool("amtool"), "check-config", str(DEPLOY / "alertmanager/alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 inhibit rules" in result.stdout


def test_alertmanager_routes_every_severity_the_rules_use() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus/rules/livewatch-alerts.yml").read_text())
    severities = {r["labels"]["severity"] for g in rules["groups"] for r in g["rules"]}
    routes = yaml.safe_load((DEPLOY / "alertmanager/alertmanager.yml").read_text())["route"]
    matched = {m.split("=")[1].strip('"') for r in routes["routes"] for m in r["matchers"]}
    assert severities <= matched
