"""`livewatch doctor`'s reading of sampled records (the Kafka side is in tests/e2e)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

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


def test_a_partitioner_it_does_not_know_is_not_named_after_the_luckiest_one() -> None:
    """Keyed by the anchor, placed by a custom partitioner (the key's length here): each known
    hash agrees with a fraction of the records by chance, and none is named."""
    records = []
    for i in range(80):
        value = factories.order(anchor_id=f"anchor-{i}", order_id=f"o-{i}")
        key = f"anchor-{i}".encode()
        records.append(Sampled(len(key) % PARTITIONS, key, json.dumps(value).encode(), None))
    report = diagnose("orders", "orders", PARTITIONS, records)
    assert 0 < max(report.agree.values()) < 40
    assert report.partitioner == "unknown"
    assert "placed by a partitioner livewatch does not know" in report.advice()[0]


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


def test_values_framed_by_a_schema_registry_serializer_are_read_and_reported() -> None:
    """JSON behind the frame is valid; Avro behind it is invalid, and the advice says why."""
    framed = [
        Sampled(r.partition, r.key, b"\x00" + (17).to_bytes(4, "big") + r.value, r.timestamp_ms)
        for r in orders_keyed_by_order_id(30)
        if r.value is not None
    ]
    avro = [Sampled(1, b"o-x", b"\x00" + (18).to_bytes(4, "big") + b"\x02\x0co-1", None)] * 2
    report = diagnose("orders", "orders", PARTITIONS, framed + avro)
    assert (report.sampled, report.invalid, report.framed) == (32, 2, 32)
    assert report.schema_ids == {17: 30, 18: 2}
    assert report.keys == {"order_id": 30}
    found = report.to_json()
    assert found["schema_registry_framed"] == 1.0
    assert found["schema_ids"] == [17, 18]
    [reason] = found["invalid_reasons"]
    assert "schema id 18" in reason and "Avro and Protobuf are not read" in reason
    assert any("2 of 32 records are invalid" in a and "Avro" in a for a in report.advice())
    assert "framed by a Schema Registry serializer: 100% (schema ids 17, 18)" in render(
        [report], PARTITIONS
    )


def test_unframed_json_reports_no_framing() -> None:
    report = diagnose("orders", "orders", PARTITIONS, orders_keyed_by_order_id(10))
    assert report.framed == 0
    assert report.to_json()["schema_registry_framed"] == 0.0
    assert "Schema Registry" not in render([report], PARTITIONS)


def test_offsets_skipped_between_sampled_records_are_counted_per_partition() -> None:
    """A transactional producer's commit marker takes an offset no consumer receives: one
    transaction per two records leaves a gap after every second record."""
    records = [
        Sampled(p, r.key, r.value, r.timestamp_ms, offset=i + i // 2)
        for p in (0, 1)
        for i, r in enumerate(orders_keyed_by_order_id(6))
    ]
    report = diagnose("orders", "orders", PARTITIONS, reversed(records))
    assert report.offset_gaps == 2 * 2  # per partition: offsets 0 1 | 3 4 | 6 7
    assert report.to_json()["offset_gaps"] == 4
    assert "offset gaps between sampled records: 4" in render([report], PARTITIONS)
    plain = diagnose("orders", "orders", PARTITIONS, orders_keyed_by_order_id(6))
    assert plain.offset_gaps == 0
    assert "offset gaps" not in render([plain], PARTITIONS)


def test_local_times_without_offsets_are_named_and_read_in_the_zone_set() -> None:
    """Refused without a zone, with advice that names the setting; with the zone, valid."""
    value = json.dumps(factories.order(placed_at="2026-11-11 20:00:00")).encode()
    records = [Sampled(0, b"a-1", value, None)] * 3
    report = diagnose("orders", "orders", PARTITIONS, records)
    assert report.invalid == 3
    assert any("LIVEWATCH_NAIVE_TIME_ZONE" in line for line in report.advice())
    zoned = diagnose("orders", "orders", PARTITIONS, records, ZoneInfo("Asia/Shanghai"))
    assert zoned.invalid == 0 and not any("NAIVE" in line for line in zoned.advice())


def test_refunds_that_leave_shipped_out_are_named_with_what_to_print() -> None:
    """A Protocol Buffers JSON printer leaves out `shipped: false` (and spells fields in
    camelCase, which is read): the advice names the printer's option."""
    value = {k: v for k, v in factories.refund(shipped=False).items() if k != "shipped"}
    records = [Sampled(0, b"r-1", json.dumps(value).encode(), None)] * 2
    report = diagnose("refunds", "refunds", PARTITIONS, records)
    assert report.invalid == 2
    assert any("alwaysPrintFieldsWithNoPresence" in line for line in report.advice())
    shipped = diagnose("refunds", "refunds", PARTITIONS, [
        Sampled(0, b"r-1", json.dumps(factories.refund(shipped=False)).encode(), None)
    ])  # fmt: skip
    assert not any("Protocol Buffers" in line for line in shipped.advice())
