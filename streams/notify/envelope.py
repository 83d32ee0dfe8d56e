"""What an alert record becomes for its readers: an Alertmanager alert and CloudEvents headers.

Both are derived from the record alone, so the worker, a replay and a restarted notifier give the
same labels and ids for the same episode: Alertmanager de-duplicates by labels and CloudEvents
consumers by `ce_id`, which is what makes at-least-once delivery page once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from schemas import Alert

SOURCE = "livewatch"
ALERTNAMES = {
    "refund_after_order_spike": "LivewatchRefundSpike",
    "quality_complaints": "LivewatchQualityComplaints",
    "order_concentration": "LivewatchOrderConcentration",
}
"""Alertmanager `alertname` per rule (CamelCase, as Prometheus alert names are)."""
CE_TYPE_PREFIX = "io.livewatch.alert"


def labels(alert: Alert) -> dict[str, str]:
    """The label set of an episode at its severity: what Alertmanager groups, routes, inhibits
    and de-duplicates by. `alert_id` keeps two episodes of one anchor apart."""
    found = {
        "alertname": ALERTNAMES.get(alert.rule.value, "LivewatchAbuse"),
        "rule": alert.rule.value,
        "severity": alert.severity.value,
        "anchor_id": alert.anchor_id,
        "alert_id": alert.alert_id,
        "source": SOURCE,
    }
    if alert.evidence.category:
        found["category"] = alert.evidence.category
    return found


def summary(alert: Alert) -> str:
    """One line with the figures that crossed, for a pager's screen."""
    e = alert.evidence
    who = f"anchor {alert.anchor_id}"
    if alert.session_id:
        who += f" (session {alert.session_id})"
    if alert.rule.value == "refund_after_order_spike":
        rate = f"{e.refund_rate:.0%} refunded ({e.refunds}/{e.orders} orders"
        baseline = e.baseline_refund_rate
        rate += f", baseline {baseline:.0%})" if baseline is not None else ")"
        return f"{alert.severity.value}: refund spike on {who}: {rate} in the {e.window} window"
    if alert.rule.value == "order_concentration":
        per_buyer = f"{e.orders_per_buyer:.1f}" if e.orders_per_buyer else "?"
        return (
            f"{alert.severity.value}: concentrated orders on {who}: {e.orders} orders from "
            f"{e.distinct_buyers} buyers ({per_buyer} per buyer) in the short window"
        )
    return (
        f"{alert.severity.value}: quality complaints on {who}: {e.quality_complaints} "
        f"complaints on {e.orders} orders in the {e.window} window"
    )


def description(alert: Alert) -> str:
    """A few lines an analyst reads before opening the anchor: what to weigh, not a verdict."""
    e = alert.evidence
    lines = [
        f"Window {alert.window_start.isoformat()} to {alert.window_end.isoformat()}.",
        f"Observed {_figures(alert.observed)}; thresholds {_figures(alert.threshold)}.",
        f"Orders {e.orders} from {e.distinct_buyers} buyers"
        + (f" ({e.orders_per_buyer:.1f} per buyer)" if e.orders_per_buyer else "")
        + (" (estimated)" if e.buyers_estimated else "")
        + ".",
    ]
    if e.refunded_before_shipment_share is not None:
        lines.append(f"Refunded before shipment: {e.refunded_before_shipment_share:.0%}.")
    if e.top_refund_reasons:
        reasons = ", ".join(f"{reason} {n}" for reason, n in e.top_refund_reasons)
        lines.append(f"Refund reasons: {reasons}.")
    if e.complaints_by_category:
        found = ", ".join(f"{c} {n}" for c, n in sorted(e.complaints_by_category.items()))
        lines.append(f"Complaints by category: {found}.")
    if e.sample_order_ids:
        lines.append(f"Sample orders: {', '.join(e.sample_order_ids[:5])}.")
    lines.append("An anomaly, not a verdict: brushing and an attack on the anchor look alike here.")
    return "\n".join(lines)


def _figures(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(values.items())) or "none"


def annotations_for(
    alert: Alert, runbook_url: str, api_url: str | None, board_url: str | None = None
) -> dict[str, str]:
    found = {
        "summary": summary(alert),
        "description": description(alert),
        "runbook_url": f"{runbook_url}#{alert.rule.value}",
    }
    if api_url:
        found["anchor_url"] = f"{api_url.rstrip('/')}/anchors/{quote(alert.anchor_id, safe='')}"
    if board_url:
        # The episode's page on the board, where on-call records a verdict.
        found["episode_url"] = f"{board_url.rstrip('/')}/episode?id={quote(alert.alert_id)}"
    return found


def postable(
    alert: Alert,
    starts_at: datetime,
    ends_at: datetime,
    runbook_url: str,
    api_url: str | None,
    labelled: Alert | None = None,
    board_url: str | None = None,
) -> dict[str, Any]:
    """An alert as Alertmanager's `POST /api/v2/alerts` takes it (`postableAlert`), labelled
    as `labelled` (default: itself)."""
    found: dict[str, Any] = {
        "labels": labels(labelled or alert),
        "annotations": annotations_for(alert, runbook_url, api_url, board_url),
        "startsAt": _rfc3339(starts_at),
        "endsAt": _rfc3339(ends_at),
    }
    if board_url:
        found["generatorURL"] = found["annotations"]["episode_url"]
    elif api_url:
        found["generatorURL"] = found["annotations"]["anchor_url"]
    return found


def firing_until(now: datetime, resend_s: float) -> datetime:
    """`endsAt` of a firing alert: Prometheus's convention of four resend intervals, so an
    alert the notifier stops re-sending (it died, or the alert was lost) resolves by itself,
    and one it keeps re-sending never does."""
    return now + timedelta(seconds=4 * resend_s)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def cloudevent_headers(alert: Alert, app_id: str) -> list[tuple[str, bytes]]:
    """CloudEvents 1.0 Kafka binary-mode headers for an alert record (the value is the data).

    `ce_id` names the update: the episode, its status and, for firing, its severity (an
    escalation is a new update of the same episode and status). A record sent again after a
    crash carries the same id, so a consumer drops what it has seen by `ce_source` + `ce_id`.
    `ce_time` is the boundary that produced the update (event time), not the wall clock, for
    the same reason."""
    status = alert.status.value
    event_id = f"{alert.alert_id}:{status}"
    if status == "firing":
        event_id += f":{alert.severity.value}"
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", f"/livewatch/{app_id}".encode()),
        ("ce_type", f"{CE_TYPE_PREFIX}.{alert.rule.value}.{status}".encode()),
        ("ce_time", _rfc3339(alert.window_end).encode()),
        ("ce_subject", alert.anchor_id.encode()),
        ("content-type", b"application/json"),
    ]
