"""`livewatch doctor`'s reading of sampled records (the Kafka side is in tests/e2e)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from streams.core.clock import to_ms
from streams.doctor import Sampled, diagnose, render
from streams.placement import crc32_partition, owner
from tests import factories

PARTITIONS = 8


def orders_keyed_by_order_id(n: int) -> list[Sampled]:
    """As a librdkafka producer puts them: CRC32 of the order id; stamped a second after their
    event time."""
    out = []
    for i in range(n):
        value = factories.order(anchor_id=f"a-{i % 7}", order_id=f"o-{i}",
                                placed_at="2026-11-29T12:00:00+00:00")  # fmt: skip
        key = f"o-{i}".encode()
        stamp = to_ms(datetime(2026, 11, 29, 12, 0, 1, tzinfo=UTC))
        out.append(
            Sampled(crc32_partition(key, PARTITIONS), key, json.dumps(value).encode(), stamp)
        )
    return out


def test_a_crc32_producer_keying_by_order_id_is_recognised() -> None:
    report = diagnose("orders", "orders", PARTITIONS, orders_keyed_by_order_id(400))
    assert report.keys == {"order_id": 400}
    assert report.partitioner == "crc32"
    assert report.agree["crc32"] == 400 > report.agree["murmur2"]
    on_owner = sum(
        crc32_partition(f"o-{i}".encode(), PARTITIONS) == owner(f"a-{i % 7}", PARTITIONS)
        for i in range(400)
    )
    assert report.on_owner == on_owner < 100
    assert report.to_json()["event_time_minus_timestamp_s"]["median"] == -1.0
    [advice] = report.advice()
    assert "key them by anchor_id with a murmur2 partitioner" in advice


def test_keyed_by_anchor_but_hashed_otherwise_names_the_partitioner() -> None:
    records = []
    for i in range(50):
        value = factories.order(anchor_id=f"a-{i}", order_id=f"o-{i}")
        key = f"a-{i}".encode()
        records.append(Sampled(crc32_partition(key, PARTITIONS), key, json.dumps(value).encode(),
                               None))  # fmt: skip
    report = diagnose("orders", "orders", PARTITIONS, records)
    assert report.keys == {"anchor_id": 50}
    assert "partitioner=murmur2_random" in report.advice()[0]


def test_invalid_records_and_missing_anchors_are_reported() -> None:
    refund = factories.refund(anchor_id=None, session_id=None)
    records = [
        Sampled(0, None, b"{not json", None),
        Sampled(3, b"r-1", json.dumps(refund).encode(), None),
    ]
    report = diagnose("refunds", "refunds", PARTITIONS, records)
    assert (report.sampled, report.invalid, report.keys) == (2, 1, {"refund_id": 1})
    text = render([report], PARTITIONS)
    assert "1 invalid" in text
    assert "name no anchor_id" in text
