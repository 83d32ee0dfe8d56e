"""How the fault tests compare alerts with the replay's: update by update."""

from __future__ import annotations

from collections import Counter
from typing import Any

from schemas import Alert


def without_emitted_at(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json", exclude={"emitted_at"})


def update(alert: Alert) -> tuple[str, str, str]:
    """Which update of an episode a record is: an escalation is a second `firing` with the
    same id and another severity (the CloudEvents id says the same)."""
    severity = alert.severity.value if alert.status.value == "firing" else ""
    return alert.alert_id, alert.status.value, severity


def updates(alerts: list[Alert]) -> Counter[tuple[str, str, str]]:
    return Counter(update(a) for a in alerts)


def assert_same_updates(alerts: list[Alert], expected: list[Alert], context: object = "") -> None:
    """Every update of the replay, with the same figures and evidence, and no other."""
    first: dict[tuple[str, str, str], dict[str, Any]] = {}
    for alert in alerts:
        key = update(alert)
        assert first.setdefault(key, without_emitted_at(alert)) == without_emitted_at(alert), key
    wanted = set(updates(expected))
    missing, extra = sorted(wanted - set(first)), sorted(set(first) - wanted)
    assert not (missing or extra), f"missing {missing}\nextra {extra}\n{context}"
    for alert in expected:
        got, want = first[update(alert)], without_emitted_at(alert)
        assert got == want, {k: (got.get(k), want.get(k)) for k in want if got.get(k) != want[k]}
