"""The shipped Alertmanager routing: abuse alerts apart from service alerts, tested with
`amtool config routes test` and, for inhibition, a real Alertmanager."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, tool
from tests.notify.processes import AlertmanagerProcess

CONFIG = DEPLOY / "alertmanager/alertmanager.yml"


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        # Abuse alerts from `livewatch notify`, whatever the rule.
        ({"source": "livewatch", "severity": "critical", "rule": "refund_after_order_spike",
          "alertname": "LivewatchRefundSpike", "anchor_id": "a1"}, "trust-safety-pager"),
        ({"source": "livewatch", "severity": "warning", "rule": "refund_after_order_spike",
          "alertname": "LivewatchRefundSpike", "anchor_id": "a1"}, "trust-safety-chat"),
        ({"source": "livewatch", "severity": "warning", "rule": "quality_complaints",
          "alertname": "LivewatchQualityComplaints", "anchor_id": "a2"}, "trust-safety-chat"),
        ({"source": "livewatch", "severity": "info", "anchor_id": "a3"}, "trust-safety-chat"),
        # Service alerts (deploy/prometheus/rules) stay with the service's on-call.
        ({"alertname": "LivewatchWorkerDown", "severity": "critical", "job": "livewatch"},
         "livewatch-oncall-pager"),
        ({"alertname": "LivewatchConsumerLagGrowing", "severity": "warning",
          "job": "livewatch"}, "livewatch-oncall-chat"),
    ],
)  # fmt: skip
def test_routes(labels: dict[str, str], receiver: str) -> None:
    args = [f"{k}={v}" for k, v in labels.items()]
    result = subprocess.run(
        [tool("amtool"), "config", "routes", "test", f"--config.file={CONFIG}",
         f"--verify.receivers={receiver}", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def post(url: str, alerts: list[dict[str, object]]) -> None:
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def states(url: str) -> dict[tuple[str, str], str]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as resp:
        found = json.loads(resp.read())
    return {(a["labels"]["anchor_id"], a["labels"]["severity"]): a["status"]["state"]
            for a in found}  # fmt: skip


def test_an_anchors_critical_silences_its_warnings_and_no_one_elses(tmp_path: Path) -> None:
    manager = AlertmanagerProcess(tmp_path, "http://127.0.0.1:9/unused", config=CONFIG)
    now = datetime.now(UTC)
    ends = (now + timedelta(minutes=10)).isoformat()

    def alert(anchor: str, severity: str, rule: str) -> dict[str, object]:
        return {
            "labels": {"alertname": "LivewatchRefundSpike", "source": "livewatch",
                       "severity": severity, "anchor_id": anchor, "rule": rule,
                       "alert_id": f"{anchor}-{rule}-{severity}"},
            "startsAt": now.isoformat(), "endsAt": ends,
        }  # fmt: skip

    try:
        manager.start()
        post(manager.url, [
            alert("a1", "critical", "refund_after_order_spike"),
            alert("a1", "warning", "quality_complaints"),
            alert("a2", "warning", "refund_after_order_spike"),
        ])  # fmt: skip
        found: dict[tuple[str, str], str] = {}
        for _ in range(50):
            found = states(manager.url)
            if found.get(("a1", "warning")) == "suppressed":
                break
            time.sleep(0.2)
        assert found == {
            ("a1", "critical"): "active",
            ("a1", "warning"): "suppressed",
            ("a2", "warning"): "active",
        }
    finally:
        manager.stop()
