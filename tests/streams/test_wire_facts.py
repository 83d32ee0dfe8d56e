"""The worker's decode (`fact_of_bytes`) gives what the pydantic model gives: the same fact, or
the same error, on generated records near every bound the model checks; plain records take the
fast way, records the model must judge do not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.types import spellings
from streams.codecs import UTF8_BOM, DecodeError, decode, schema_id
from streams.core.facts import Fact, fact_of
from streams.wire_facts import fact_of_bytes, plain_fact
from tests import factories
from tests.factories import TIME_FIELD

BASES = {"orders": factories.order, "refunds": factories.refund, "complaints": factories.complaint}
MISSING = object()


def model_says(kind: str, raw: bytes) -> Fact | str:
    try:
        return fact_of(decode(kind, raw))
    except DecodeError as exc:
        return f"DecodeError: {exc}"


def fast_says(kind: str, raw: bytes) -> Fact | str:
    try:
        return fact_of_bytes(kind, raw)
    except DecodeError as exc:
        return f"DecodeError: {exc}"


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339 times and near misses: every field at and past its range, other separators,
    fractions of 0 to 9 digits, offsets up to 29:69."""

    def two(top: int) -> st.SearchStrategy[str]:
        """Mostly in range, sometimes anything two digits hold."""
        return st.one_of(st.integers(0, top), st.integers(0, 99)).map(lambda n: f"{n:02d}")

    year = draw(st.sampled_from(["2026", "1999", "0000", "9999", "20261"]))
    month, day = draw(st.sampled_from(["01", "02", "11", "12", "00", "13"])), draw(two(31))
    hour, minute, second = draw(two(23)), draw(two(59)), draw(two(60))
    sep = draw(st.sampled_from(["T", "T", "t", " ", "_"]))
    fraction = draw(st.sampled_from(["", ".", ".5", ".03", ".030017", ".0300171", ".123456789"]))
    zone = draw(
        st.one_of(
            st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+0800", "+08"]),
            st.tuples(st.sampled_from("+-"), st.integers(0, 29), st.integers(0, 69)).map(
                lambda t: f"{t[0]}{t[1]:02d}:{t[2]:02d}"
            ),
        )
    )
    return f"{year}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{zone}"


@st.composite
def valid_times(draw: st.DrawFn) -> str:
    """Times the model takes, in the usual form, anywhere from 1970 to 2100, any offset."""
    moment = draw(st.datetimes(datetime(1970, 1, 2), datetime(2100, 1, 1)))
    offset = timedelta(minutes=draw(st.integers(-23 * 60 - 59, 23 * 60 + 59)))
    text = moment.replace(tzinfo=UTC).astimezone(timezone(offset))
    return text.isoformat().replace("+00:00", draw(st.sampled_from(["Z", "+00:00"])))


EDGES: dict[str, list[Any]] = {
    "amount": [
        "0", "0.00", "59.90", "007.5", ".5", "5.", "1.2.3", "-1", "-0", "+1", " 1", "1e3",
        "999999999999.99", "1000000000000", "1000000000000.01", "NaN", "", "١٢٣",
        0, 1, -1, 10**12 - 1, 10**12, 10**12 + 1, 0.0, -0.0, 5e-324, -5e-324, 59.9, 1e12,
        999999999999.9999, True, None, [],
    ],
    "quantity": [1, 0, -1, 10**6, 10**6 + 1, 1.0, True, "1", None],
    "currency": ["CNY", "cny", "CN", "CNYY", "ÇNY", "C1Y", "", 1, None],
    "event_id": [
        "", "x", "x" * 128, "x" * 129, "é" * 128, "é" * 129, 1, None, 0, -1, True, 1.0,
        10**128 - 1, 10**128, -(10**127) + 1, -(10**127), 10**200,
    ],
    "schema_version": [1, 2, 0, 1.0, True, "1", None],
}  # fmt: skip
TIMES = [
    "2026-11-29T12:00:00Z", "2026-11-29T12:00:00z", "2026-11-29t12:00:00Z",
    "2026-11-29 12:00:00Z", "2026-11-29T12:00:00", "2026-11-29T12:00:00+0800",
    "2026-11-29T12:00:00+08", "2026-11-29T24:00:00Z", "2026-11-29T23:59:60Z",
    "2026-02-29T12:00:00Z", "2026-13-01T12:00:00Z", "2026-11-29T12:00:00.Z",
    "2026-11-29T12:00:00.5Z", "2026-11-29T12:00:00.1234567Z", "2026-11-29T12:00:00+24:00",
    "2026-11-29T12:00:00+23:59", "2026-11-29T12:00:00-23:59", "2026-11-29T12:00:00+12:60",
    "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999-23:59", "1970-01-01T00:00:00.000001Z",
    "2026-11-29 12:00:00 UTC", "2026-11-29T12:00:00GMT", "2026-11-29 12:00:00.5-05",
    "2026-11-29 12:00:00 +0800 CST m=+0.000123", "2026-11-29 12:00:00 +08:00", "2026-11-29+08",
    "2026-11-29T12:00+08", "2026-11-29T12:00:00 UTC+8", 1_764_417_600_123_456, "1764417600123",
]  # fmt: skip
AMOUNTS = st.one_of(
    st.sampled_from(EDGES["amount"]),
    st.decimals(min_value=0, max_value=2 * 10**12, allow_nan=False, places=4).map(str),
    st.floats(min_value=-1, max_value=2e12),
    st.integers(-5, 2 * 10**12),
)
IDS = st.one_of(
    st.sampled_from([*EDGES["event_id"], " ", "\x00"]),
    st.text(max_size=140),
    st.integers(),
    st.none(),
    st.booleans(),
)
ANY_JSON = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip


def changes(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """One to four fields of a valid record changed or removed."""
    base = BASES[kind]()
    values: dict[str, st.SearchStrategy[Any]] = {
        "schema_version": st.sampled_from(EDGES["schema_version"]),
        "amount": AMOUNTS,
        "quantity": st.sampled_from([*EDGES["quantity"], 10**30]),
        "currency": st.sampled_from(EDGES["currency"]),
        "shipped": st.sampled_from([True, False, 1, 0, 2, -1, 1.0, "true", None]),
        "category": st.sampled_from(["apparel", "quality", "APPAREL", "other", "", 1, None]),
        "reason": st.sampled_from(["changed_mind", "quality", "Quality", "apparel", None]),
        "channel": st.sampled_from(["platform", "hotline", "web", None]),
        TIME_FIELD[kind]: st.one_of(st.sampled_from(TIMES), timestamps(), valid_times(), ANY_JSON),
    }
    field = st.sampled_from(sorted(base))
    value = st.deferred(lambda: st.one_of(IDS, ANY_JSON))

    @st.composite
    def one(draw: st.DrawFn) -> tuple[str, Any]:
        name = draw(field)
        strategy = values.get(name, value)
        return name, draw(st.one_of(strategy, st.just(MISSING)))

    def apply(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        record = dict(base)
        for name, new in pairs:
            if new is MISSING:
                record.pop(name, None)
            else:
                record[name] = new
        return record

    return st.lists(one(), min_size=1, max_size=4).map(apply)


def encoded(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record)
    except TypeError:  # orjson refuses integers past 64 bits: json writes them
        return json.dumps(record).encode()


@pytest.mark.parametrize("kind", sorted(BASES))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_decode_gives_the_models_fact_or_its_error(kind: str, data: st.DataObject) -> None:
    raw = encoded(data.draw(changes(kind)))
    assert fast_says(kind, raw) == model_says(kind, raw)


@st.composite
def respelled(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    """The record with each field under one or more of its spellings (`order_id`, `orderId`,
    `OrderId`); where more than one, the others carry another value, so which one is read
    shows."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        choices = [str(c) for c in spellings(name).choices]
        chosen = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True))
        for n, spelled in enumerate(chosen):
            out[spelled] = value if n == 0 else draw(st.one_of(IDS, ANY_JSON))
    return out


@pytest.mark.parametrize("kind", sorted(BASES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fields_spelled_any_way_give_the_models_fact_or_its_error(
    kind: str, data: st.DataObject
) -> None:
    record = data.draw(st.one_of(st.just(BASES[kind]()), changes(kind)))
    raw = encoded(data.draw(respelled(record)))
    assert fast_says(kind, raw) == model_says(kind, raw)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_a_record_in_camel_case_is_plain(kind: str) -> None:
    """A Java or JavaScript producer's `orderId`: the fast path reads it, as the contract's."""
    record = BASES[kind]()
    camel = {str(spellings(name).choices[1]): value for name, value in record.items()}
    assert "eventId" in camel
    fact = plain_fact(kind, camel)
    assert fact is not None and fact == plain_fact(kind, record)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_a_record_without_an_event_id_is_plain(kind: str) -> None:
    """Known by its own id (`order_id`...), as the model knows it."""
    record = {k: v for k, v in BASES[kind]().items() if k != "event_id"}
    fact = plain_fact(kind, record)
    assert fact is not None and fact == model_says(kind, encoded(record))


CONNECT_SCHEMA = {
    "type": "struct",
    "optional": False,
    "name": "livewatch.Event",
    "fields": [{"field": "event_id", "type": "string", "optional": False}],
}
"""The schema half of a Kafka Connect envelope (JsonConverter, `schemas.enable=true`)."""


def in_envelope(record: Any) -> dict[str, Any]:
    return {"schema": CONNECT_SCHEMA, "payload": record}


@pytest.mark.parametrize("kind", sorted(BASES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_event_in_a_kafka_connect_envelope_reads_as_the_event(
    kind: str, data: st.DataObject
) -> None:
    """Both paths read the payload of an envelope as they read the event alone: the same fact,
    or the same error with the field named inside the payload."""
    record = data.draw(changes(kind))
    raw, alone = encoded(in_envelope(record)), encoded(record)
    fast, model, bare = fast_says(kind, raw), model_says(kind, raw), model_says(kind, alone)
    assert fast == model
    if isinstance(bare, str) and isinstance(model, str):
        assert model.startswith("DecodeError: payload.")
    else:
        assert model == bare


@pytest.mark.parametrize(
    "value",
    [
        {"schema": CONNECT_SCHEMA, "payload": None},  # Connect's tombstone-like null payload
        {"schema": CONNECT_SCHEMA, "payload": "text"},
        {"schema": CONNECT_SCHEMA, "payload": {}, "extra": 1},  # not the envelope's shape
        {"payload": {}},
    ],
)
def test_what_only_looks_like_an_envelope_is_judged_as_it_is(value: dict[str, Any]) -> None:
    raw = encoded(value)
    assert fast_says("orders", raw) == model_says("orders", raw)
    assert "payload." not in str(model_says("orders", raw))


@pytest.mark.parametrize("kind", sorted(BASES))
@pytest.mark.parametrize(
    ("field", "value"),
    [(f, v) for f, values in EDGES.items() for v in values]
    + [("time", t) for t in TIMES]
    + [(f, MISSING) for f in EDGES],
)
def test_each_bound_is_judged_as_the_model_judges_it(kind: str, field: str, value: Any) -> None:
    record = BASES[kind]()
    field = TIME_FIELD[kind] if field == "time" else field
    if value is MISSING:
        record.pop(field, None)
    else:
        record[field] = value
    raw = encoded(record)
    assert fast_says(kind, raw) == model_says(kind, raw)


@pytest.mark.parametrize("kind", sorted(BASES))
@settings(max_examples=200, deadline=None)
@given(moment=valid_times())
def test_every_time_in_the_usual_form_is_read_fast_and_as_the_model_reads_it(
    kind: str, moment: str
) -> None:
    record = BASES[kind](**{TIME_FIELD[kind]: moment})
    assert plain_fact(kind, record) == model_says(kind, encoded(record))


@pytest.mark.parametrize("kind", sorted(BASES))
def test_a_plain_record_takes_the_fast_way(kind: str) -> None:
    assert plain_fact(kind, BASES[kind]()) == model_says(kind, encoded(BASES[kind]()))


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("orders", {"amount": "1000000000000"}),  # at the bound: the model's to judge
        ("orders", {"amount": 0.0}),
        ("orders", {"placed_at": "2026-11-29 12:00:00+08:00"}),
        ("orders", {"quantity": True}),
        ("refunds", {"shipped": 2}),
        ("refunds", {"schema_version": 2}),
        ("complaints", {"filed_at": "2026-11-30T09:00:00.1234567+08:00"}),
    ],
)
def test_a_record_off_the_plain_form_goes_to_the_model(kind: str, change: dict[str, Any]) -> None:
    assert plain_fact(kind, BASES[kind](**change)) is None


def test_integer_ids_reach_the_worker_as_the_ids_their_digits_spell() -> None:
    """A producer writing its ids as JSON integers (a Java long) is counted, not dead-lettered,
    the fast way: the fact of the same record with text ids, as the model reads it."""
    numbers = factories.order(order_id=9_007_199_254_740_993, anchor_id=42, buyer_id=7)
    text = factories.order(order_id="9007199254740993", anchor_id="42", buyer_id="7")
    fact = plain_fact("orders", numbers)
    assert fact is not None
    assert fact == fact_of_bytes("orders", encoded(text)) == model_says("orders", encoded(numbers))


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"not json",
        b"[]",
        b'{"a": ' + b"[" * 300 + b"]" * 300 + b"}",  # nesting pydantic's parser refuses
        encoded(factories.order())[:-1] + b',"x":"\xff"}',  # invalid UTF-8 in an extra field
        encoded(factories.order())[:-1] + b',"amount":"-1"}',  # a duplicate key: the last counts
    ],
)
def test_what_is_not_a_plain_object_gets_the_models_error(raw: bytes | None) -> None:
    refused_alike(raw)


def refused_alike(raw: bytes | None) -> str:
    """The error both decodes give an order's value that is no event (they must agree)."""
    with pytest.raises(DecodeError) as fast:
        fact_of_bytes("orders", raw)
    with pytest.raises(DecodeError) as model:
        decode("orders", raw)
    assert str(fast.value) == str(model.value)
    return str(model.value)


FRAME = b"\x00\x00\x00\x01\xa4"
"""What a Schema Registry serializer puts before each value: magic byte 0, schema id 420."""


@pytest.mark.parametrize("kind", sorted(BASES))
def test_a_value_framed_by_a_schema_registry_serializer_reads_as_its_json(kind: str) -> None:
    raw = encoded(BASES[kind]())
    assert fact_of_bytes(kind, FRAME + raw) == fact_of_bytes(kind, raw) == model_says(kind, raw)
    assert decode(kind, FRAME + raw) == decode(kind, raw)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        # an Avro payload behind the frame: named for what it is
        (FRAME + b"\x02\x0eevt-1\x02", "schema id 420) but not JSON; Avro and Protobuf"),
        # JSON behind the frame that breaks the contract: the field, as unframed
        (FRAME + b'{"schema_version": 1}', "event_id: Field required"),
        # a zero byte and too little to be a frame: not JSON at all
        (b"\x00\x00\x01", "Invalid JSON"),
    ],
)
def test_what_is_framed_but_not_a_valid_event_is_named(raw: bytes, says: str) -> None:
    assert says in refused_alike(raw)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_a_value_behind_a_utf8_byte_order_mark_reads_as_its_json(kind: str) -> None:
    """A .NET producer with `UTF8Encoding(true)` writes a BOM before each value: the same
    event, framed or not, and never taken for a Schema Registry frame."""
    raw = encoded(BASES[kind]())
    assert fact_of_bytes(kind, UTF8_BOM + raw) == fact_of_bytes(kind, raw)
    assert fact_of_bytes(kind, FRAME + UTF8_BOM + raw) == fact_of_bytes(kind, raw)
    assert decode(kind, UTF8_BOM + raw) == decode(kind, raw)
    assert schema_id(UTF8_BOM + raw) is None
    assert schema_id(FRAME + UTF8_BOM + raw) == 420


def test_a_byte_order_mark_alone_or_inside_is_still_invalid() -> None:
    """Only a leading mark is skipped: one before the first field is not JSON, and a mark with
    nothing after it is no event."""
    cases = {
        UTF8_BOM: "Invalid JSON: EOF while parsing a value",
        b"{" + UTF8_BOM + b"}": "Invalid JSON: key must be a string",
    }
    for raw, says in cases.items():
        assert says in refused_alike(raw)
