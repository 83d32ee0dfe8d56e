"""Contract tests: valid events are accepted, each kind of bad field is rejected by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from schemas import Complaint, Order, Refund
from schemas.types import NAIVE_ZONE
from tests import factories

LONG_ID = "x" * 129

VALID = [
    # the plain examples
    (Order, factories.order()),
    (Refund, factories.refund()),
    (Complaint, factories.complaint()),
    # amount as a JSON number, UTC "Z" offset
    (Order, factories.order(amount=12.5, placed_at="2026-11-29T04:00:00Z")),
    # unknown extra fields are tolerated: producers evolve first
    (Order, factories.order(coupon_code="NEW10")),
    # refunds may omit anchor and session
    (Refund, {k: v for k, v in factories.refund().items() if k not in ("anchor_id", "session_id")}),
    # complaints may omit every optional reference
    (
        Complaint,
        {
            k: v
            for k, v in factories.complaint().items()
            if k not in ("session_id", "order_id", "merchant_id", "sku_id")
        },
    ),
    # ids of exactly 128 characters
    (Order, factories.order(order_id="y" * 128)),
    # zero amount (a free gift) is allowed
    (Refund, factories.refund(amount="0")),
    # ids written as JSON integers (a Java long, a database key)
    (Order, factories.order(order_id=9_007_199_254_740_993, anchor_id=42, buyer_id=7)),
    (Refund, factories.refund(order_id=123, refund_id=124, anchor_id=None)),
    # enumerated values written as Java enum constants (Jackson's default), or in any case
    (Order, factories.order(category="ELECTRONICS")),
    (Refund, factories.refund(reason="NOT_AS_DESCRIBED")),
    (Complaint, factories.complaint(category="Quality", channel="HOTLINE")),
    # a flag as a database's TINYINT(1) sends it
    (Refund, factories.refund(shipped=1)),
    (Refund, factories.refund(shipped=0)),
]

INVALID = [
    # timestamp without an offset
    (Order, factories.order(placed_at="2026-11-29T12:00:00"), "placed_at"),
    (Refund, factories.refund(requested_at="2026-11-29 12:00:00"), "requested_at"),
    (Complaint, factories.complaint(filed_at="yesterday"), "filed_at"),
    # negative amounts
    (Order, factories.order(amount="-1.00"), "amount"),
    (Refund, factories.refund(amount=-0.01), "amount"),
    # amount that is not a number
    (Order, factories.order(amount="12,50"), "amount"),
    # empty and over-long ids
    (Order, factories.order(order_id=""), "order_id"),
    (Order, factories.order(buyer_id=LONG_ID), "buyer_id"),
    (Refund, factories.refund(refund_id=""), "refund_id"),
    (Complaint, factories.complaint(anchor_id=LONG_ID), "anchor_id"),
    # ids that are numbers but not integers, or booleans: no one spelling
    (Order, factories.order(order_id=1.5), "order_id"),
    (Order, factories.order(anchor_id=True), "anchor_id"),
    (Refund, factories.refund(order_id=1e3), "order_id"),
    (Order, factories.order(buyer_id=10**200), "buyer_id"),
    # unknown enum values
    (Order, factories.order(category="weapons"), "category"),
    (Refund, factories.refund(reason="bored"), "reason"),
    (Complaint, factories.complaint(category="rude"), "category"),
    (Complaint, factories.complaint(channel="pigeon"), "channel"),
    (Refund, factories.refund(reason="NOT AS DESCRIBED"), "reason"),
    (Order, factories.order(category=1), "category"),
    # quantity below one, or not a whole number
    (Order, factories.order(quantity=0), "quantity"),
    (Order, factories.order(quantity="0"), "quantity"),
    (Order, factories.order(quantity=2.5), "quantity"),
    (Order, factories.order(quantity="2.0"), "quantity"),
    (Order, factories.order(quantity="-2"), "quantity"),
    (Order, factories.order(quantity=" 2"), "quantity"),
    (Order, factories.order(quantity="two"), "quantity"),
    (Order, factories.order(quantity=True), "quantity"),
    (Order, factories.order(quantity="9" * 30), "quantity"),
    # absurd numbers: a finite decimal that is infinite as a float, more than any order
    (Order, factories.order(amount="1e400"), "amount"),
    (Refund, factories.refund(amount="Infinity"), "amount"),
    (Order, factories.order(amount=10**12 + 1), "amount"),
    (Order, factories.order(quantity=10**30), "quantity"),
    # currency that is not ISO 4217 alphabetic
    (Order, factories.order(currency="yuan"), "currency"),
    (Order, factories.order(currency=" CNY"), "currency"),
    # unsupported schema version
    (Order, factories.order(schema_version=2), "schema_version"),
    # missing required field
    (Refund, {k: v for k, v in factories.refund().items() if k != "shipped"}, "shipped"),
    # shipped must be a boolean, or 1 or 0
    (Refund, factories.refund(shipped="yes"), "shipped"),
    (Refund, factories.refund(shipped="true"), "shipped"),
    (Refund, factories.refund(shipped=2), "shipped"),
    (Refund, factories.refund(shipped=1.0), "shipped"),
]


@pytest.mark.parametrize(("model", "value"), VALID)
def test_valid_events_are_accepted(model: type[BaseModel], value: dict[str, Any]) -> None:
    """A valid event parses and survives a JSON round trip unchanged."""
    parsed = model.model_validate(value)
    again = model.model_validate_json(parsed.model_dump_json())
    assert again == parsed


@pytest.mark.parametrize(("model", "value", "field"), INVALID)
def test_bad_field_is_rejected_by_name(
    model: type[BaseModel], value: dict[str, Any], field: str
) -> None:
    """Each bad field fails validation with an error located at that field."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(value)
    locations = {str(error["loc"][0]) for error in info.value.errors()}
    assert locations == {field}
    assert field in str(info.value)


def test_an_integer_id_is_the_id_its_digits_spell() -> None:
    """`123` and `"123"` are one order, whichever producer wrote it, from a dict or from the
    JSON bytes (the worker's path), exactly (beyond a double's 53 bits)."""
    big = 9_007_199_254_740_993  # 2**53 + 1: a double would round it
    as_number = Order.model_validate_json(json.dumps(factories.order(order_id=big, anchor_id=42)))
    as_text = Order.model_validate(factories.order(order_id=str(big), anchor_id="42"))
    assert as_number == as_text
    assert as_number.order_id == "9007199254740993"


@pytest.mark.parametrize(
    ("written", "microsecond"),
    [
        (1_762_891_200, 0),  # epoch seconds
        (1_762_891_200_123, 123_000),  # milliseconds (Java's currentTimeMillis)
        (1_762_891_200_123_456, 123_456),  # microseconds (Debezium's MicroTimestamp)
        ("1762891200123456", 123_456),
        (1_762_891_200_123_456_789, 123_456),  # nanoseconds (Go's UnixNano), to the microsecond
        (1_762_891_200.5, 500_000),  # seconds as a float (Python's time.time())
        (1_762_891_200_123.5, 123_500),  # milliseconds as a float (JavaScript's performance)
        (1_762_891_200_123_456.0, 123_456),  # microseconds as a float (time.time() * 1e6)
        (1_762_891_200_123_456.4, 123_456),  # ... to the nearest microsecond
        (1.762_891_200_123_456e18, 123_456),  # nanoseconds as a float
    ],
)
def test_an_epoch_number_is_the_time_it_counts_to_in_any_unit(
    written: object, microsecond: int
) -> None:
    order = Order.model_validate_json(json.dumps(factories.order(placed_at=written)))
    assert order.placed_at == datetime(2025, 11, 11, 20, 0, 0, microsecond, tzinfo=UTC)


@pytest.mark.parametrize(
    "written", [9 * 10**20, -1_762_891_200_123_456, True, 10**40, 9e20, 1e300, -1.7e15]
)
def test_an_epoch_number_past_what_a_time_holds_is_refused(written: object) -> None:
    with pytest.raises(ValidationError, match="placed_at"):
        Order.model_validate_json(json.dumps(factories.order(placed_at=written)))


@pytest.mark.parametrize("written", [2, "2", 2.0, "0002"])
def test_a_quantity_is_a_whole_number_however_it_is_written(written: object) -> None:
    """Protocol Buffers' JSON mapping writes a 64-bit integer as text, a dataframe's float
    column writes 2.0: each is the quantity 2, from a dict or from the JSON bytes."""
    value = factories.order(quantity=written)
    assert Order.model_validate(value).quantity == 2
    assert Order.model_validate_json(json.dumps(value)).quantity == 2


@pytest.mark.parametrize(
    ("model", "value", "natural"),
    [
        (Order, factories.order(), "order_id"),
        (Refund, factories.refund(), "refund_id"),
        (Complaint, factories.complaint(), "complaint_id"),
    ],
)
def test_an_event_without_an_event_id_is_known_by_its_own_id(
    model: type[Order | Refund | Complaint], value: dict[str, object], natural: str
) -> None:
    """An order system without event ids: one event per order, known by the order's id, under
    any spelling; an event id that is there but null stays refused, named as it was spelled."""
    without = {k: v for k, v in value.items() if k != "event_id"}
    assert model.model_validate(without).event_id == value[natural]
    camel = {("orderId" if k == "order_id" else k): v for k, v in without.items()}
    assert model.model_validate(camel).event_id == value[natural]
    with pytest.raises(ValidationError, match="eventId"):
        model.model_validate({**without, "eventId": None})


def test_an_enum_constant_is_its_value() -> None:
    """`QUALITY` (a Java enum as Jackson writes it) is the reason `quality`."""
    shouted = Refund.model_validate(factories.refund(reason="NOT_AS_DESCRIBED"))
    assert shouted == Refund.model_validate(factories.refund(reason="not_as_described"))
    assert shouted.model_dump(mode="json")["reason"] == "not_as_described"


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2026-11-11 20:00:00", "2026-11-11T12:00:00+00:00"),  # local time, read in the zone
        ("2026-11-11T20:00:00.5", "2026-11-11T12:00:00.500000+00:00"),
        ("2026-11-11T20:00:00Z", "2026-11-11T20:00:00+00:00"),  # an offset is kept
        ("2026-11-11T20:00:00-05:00", "2026-11-12T01:00:00+00:00"),
    ],
)
def test_a_time_without_offset_is_read_in_the_zone_given(written: str, read: str) -> None:
    """`LIVEWATCH_NAIVE_TIME_ZONE` (the validation context): producers that write local time.
    A time with an offset keeps it."""
    value = json.dumps(factories.order(placed_at=written))
    order = Order.model_validate_json(value, context={NAIVE_ZONE: SHANGHAI})
    assert order.event_time.astimezone(UTC).isoformat() == read


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2026-11-11 20:00:00+08", "2026-11-11T12:00:00+00:00"),  # PostgreSQL's timestamptz
        ("2026-11-11T20:00:00.5-05", "2026-11-12T01:00:00.500000+00:00"),
        ("2026-11-11 20:00:00 UTC", "2026-11-11T20:00:00+00:00"),  # Ruby, many loggers
        ("2026-11-11T20:00:00GMT", "2026-11-11T20:00:00+00:00"),
        ("2026-11-11 20:00:00 +0800 CST m=+0.000123", "2026-11-11T12:00:00+00:00"),  # Go
        ("2026-11-11 20:00:00.25 +08:00", "2026-11-11T12:00:00.250000+00:00"),
    ],
)
def test_an_offset_written_as_common_tools_write_it_is_read(written: str, read: str) -> None:
    order = Order.model_validate_json(json.dumps(factories.order(placed_at=written)))
    assert order.event_time.astimezone(UTC).isoformat() == read


@pytest.mark.parametrize("written", ["2026-11-11+08", "2026-11-11T20:00:00 UTC+8", "UTC"])
def test_an_offset_with_no_time_of_day_or_other_text_stays_refused(written: str) -> None:
    with pytest.raises(ValidationError, match="placed_at"):
        Order.model_validate(factories.order(placed_at=written))


def test_a_currency_code_in_any_case_is_the_code() -> None:
    assert Order.model_validate(factories.order(currency="cny")).currency == "CNY"


@pytest.mark.parametrize("written", ["2026-11-11 20:00:00", "2026-11-11", "20:00 2026-11-11"])
def test_without_a_zone_or_a_time_of_day_a_time_without_offset_is_refused(written: str) -> None:
    with pytest.raises(ValidationError, match="placed_at"):
        Order.model_validate(factories.order(placed_at=written))
    if written != "2026-11-11 20:00:00":  # no time of day: no event time, zone or not
        with pytest.raises(ValidationError, match="placed_at"):
            Order.model_validate(factories.order(placed_at=written), context={NAIVE_ZONE: SHANGHAI})


def test_amount_keeps_decimal_precision() -> None:
    """Amounts are decimals, written back as strings so no cent is lost."""
    order = Order.model_validate(factories.order(amount="0.10"))
    assert order.amount == Decimal("0.10")
    assert order.model_dump(mode="json")["amount"] == "0.10"


def test_event_time_is_timezone_aware() -> None:
    """The offset is kept, so times from different zones compare correctly."""
    order = Order.model_validate(factories.order(placed_at="2026-11-29T12:00:00+08:00"))
    utc = Order.model_validate(factories.order(placed_at="2026-11-29T04:00:00Z"))
    assert order.event_time == utc.event_time
