"""An alert record as Alertmanager and CloudEvents consumers read it."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.alert import AlertStatus, RuleName, Severity
from streams.notify.envelope import cloudevent_headers, labels, postable, summary
from tests.notify.conftest import brushing_alerts


def first(status: AlertStatus) -> object:
    return next(a for a in brushing_alerts() if a.status is status)


def test_labels_identify_and_route_the_episode() -> None:
    alert = brushing_alerts()[0]
    found = labels(alert)
    assert found["alertname"] == "LivewatchRefundSpike"
    assert found["rule"] == "refund_after_order_spike"
    assert found["source"] == "livewatch"
    assert found["anchor_id"] == alert.anchor_id
    assert found["alert_id"] == alert.alert_id
    assert found["severity"] in {"warning", "critical"}
    assert all(isinstance(v, str) and v for v in found.values())


def test_the_summary_is_one_line_with_the_figures_that_crossed() -> None:
    alert = brushing_alerts()[0]
    line = summary(alert)
    assert "\n" not in line
    assert alert.anchor_id in line
    assert f"{alert.evidence.refunds}/{alert.evidence.orders} orders" in line


def test_postable_has_what_the_v2_api_takes() -> None:
    alert = brushing_alerts()[0]
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC)
    body = postable(alert, start, end, "https://runbooks/livewatch.md", "http://api:6066/")
    assert body["startsAt"] == "2026-01-01T00:00:00Z"
    assert body["endsAt"] == "2026-01-01T01:00:00Z"
    assert body["annotations"]["runbook_url"] == (
        "https://runbooks/livewatch.md#refund_after_order_spike"
    )
    assert body["generatorURL"] == f"http://api:6066/anchors/{alert.anchor_id}"
    assert set(body) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}


def test_anchor_links_escape_the_anchor_id() -> None:
    alert = brushing_alerts()[0].model_copy(update={"anchor_id": "a/b c"})
    body = postable(alert, datetime.now(UTC), datetime.now(UTC), "rb", "http://api")
    assert body["annotations"]["anchor_url"] == "http://api/anchors/a%2Fb%20c"


def test_cloudevent_ids_name_each_update_once() -> None:
    """The same update sent twice has one id; its escalation and its resolution have others."""
    alerts = brushing_alerts()
    firing = next(a for a in alerts if a.status is AlertStatus.FIRING)
    headers = dict(cloudevent_headers(firing, "lw"))
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_source"] == b"/livewatch/lw"
    assert headers["ce_type"] == b"io.livewatch.alert.refund_after_order_spike.firing"
    assert headers["content-type"] == b"application/json"
    assert headers["ce_time"].decode() == firing.window_end.isoformat().replace("+00:00", "Z")
    again = dict(cloudevent_headers(firing.model_copy(), "lw"))
    assert again["ce_id"] == headers["ce_id"]
    escalated = firing.model_copy(update={"severity": Severity.CRITICAL})
    warning = firing.model_copy(update={"severity": Severity.WARNING})
    resolved = firing.model_copy(update={"status": AlertStatus.RESOLVED})
    ids = {dict(cloudevent_headers(a, "lw"))["ce_id"] for a in (escalated, warning, resolved)}
    assert len(ids) == 3


def test_every_rule_has_an_alertname_and_a_summary_of_its_own() -> None:
    alert = brushing_alerts()[0]
    for rule in RuleName:
        other = alert.model_copy(update={"rule": rule})
        assert labels(other)["alertname"] != "LivewatchAbuse"
        assert rule.value.split("_")[0] in summary(other) or "orders" in summary(other)
    concentrated = alert.model_copy(update={"rule": RuleName.ORDER_CONCENTRATION})
    assert "per buyer" in summary(concentrated)


def test_the_episode_links_to_the_board_for_a_verdict() -> None:
    """With the board's address set, on-call's alert links to the episode's page there (and
    that is its generator URL)."""
    alert = brushing_alerts()[0]
    body = postable(alert, datetime.now(UTC), datetime.now(UTC), "rb", "http://api", None,
                    "https://board.example/")  # fmt: skip
    url = f"https://board.example/episode?id={alert.alert_id}"
    assert body["annotations"]["episode_url"] == url == body["generatorURL"]
