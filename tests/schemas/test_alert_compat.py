"""A rolling upgrade runs workers, notifiers and boards of two versions side by side: each reads
the other's alert records. A newer worker's record (a rule this version does not know, fields
it does not have) is read, paged and shown; an older worker's (without the optional fields
added since) likewise."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import Alert
from streams.board.ledger import Ledger
from streams.codecs import encode, read_alert
from streams.notify.envelope import postable
from tests.notify.conftest import brushing_alerts


def record() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(encode(brushing_alerts(3)[0]))
    return data


def read(data: dict[str, Any]) -> Alert:
    alert, reason, error = read_alert(json.dumps(data).encode())
    assert alert is not None, (reason, error)
    return alert


def used_everywhere(alert: Alert) -> None:
    """The notifier pages it and the board shows it."""
    now = datetime.now(UTC)
    page = postable(alert, now, now + timedelta(minutes=5), "docs/runbook.md", "http://lw")
    assert page["labels"]["rule"] == alert.rule.value
    ledger = Ledger()
    ledger.apply(alert)
    assert ledger.history(alert.anchor_id)


def test_a_newer_workers_record_is_read() -> None:
    data = record()
    data["rule"] = "repeat_buyer_ring"
    data["ring"] = {"buyers": 5, "share": 0.4}  # a field added later
    data["evidence"]["ring_buyers"] = 5
    alert = read(data)
    assert alert.rule.value == "repeat_buyer_ring"
    assert (alert.evidence.model_extra or {})["ring_buyers"] == 5
    used_everywhere(alert)


@pytest.mark.parametrize(
    "field",
    [name for name, info in Alert.model_fields.items()
     if not info.is_required() and name != "schema_version"],  # the version is always written
)  # fmt: skip
def test_an_older_workers_record_without_an_optional_field_is_read(field: str) -> None:
    data = record()
    data.pop(field, None)
    used_everywhere(read(data))


def test_what_an_upgrade_may_not_change_is_refused() -> None:
    """A required field removed, or a new schema version: the readers skip the record (and count
    it) rather than guess."""
    data = record()
    del data["anchor_id"]
    assert read_alert(json.dumps(data).encode())[0] is None
    data = {**record(), "schema_version": 2}
    assert read_alert(json.dumps(data).encode())[1] == "unknown_schema_version"
