"""Bad records on the alerts topic are named, never raised."""

from __future__ import annotations

import json

import pytest

from streams.codecs import encode, read_alert
from tests.notify.conftest import brushing_alerts


def test_a_valid_record_reads_back() -> None:
    alert = brushing_alerts()[0]
    assert read_alert(encode(alert)) == (alert, "", "")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "tombstone"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid"),
        (b'{"schema_version": 2}', "unknown_schema_version"),
        (b'{"alert_id": "x"}', "unknown_schema_version"),
        (b'{"schema_version": 1, "alert_id": "x"}', "invalid"),
    ],
)
def test_bad_records_are_named(raw: bytes | None, reason: str) -> None:
    alert, found, error = read_alert(raw)
    assert alert is None and found == reason and error


def test_a_future_field_is_tolerated() -> None:
    data = json.loads(encode(brushing_alerts()[0]))
    data["added_later"] = True
    alert, reason, _ = read_alert(json.dumps(data).encode())
    assert alert is not None and reason == ""
