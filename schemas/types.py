"""Shared field types for every livewatch event: ids, money, currency, aware timestamps."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AliasChoices,
    AliasGenerator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel

ID_MAX_LENGTH = 128


def integer_as_text(value: object) -> object:
    """An integer id is the id its decimal digits spell: services in Java and Go often write
    their keys (a `long` order id, a database key) as JSON numbers, and `123` and `"123"` name
    the same order whichever producer wrote it. Only integers: a boolean or a float (`1e3`,
    `1.0`) has no one spelling as an id, and stays refused."""
    return str(value) if type(value) is int else value


def name_as_value(value: object) -> object:
    """An enumerated field's name in any case is its value: Java's Jackson writes an enum as
    its constant (`QUALITY`, `NOT_AS_DESCRIBED`), and no two values differ by case alone. A
    name that is no value stays refused."""
    return value.lower() if isinstance(value, str) else value


Lenient = BeforeValidator(name_as_value)
"""Put on an enumerated field: its value in any case (see `name_as_value`)."""


def bit_as_flag(value: object) -> object:
    """1 and 0 are true and false, as Java's Jackson reads them and as a database's
    `TINYINT(1)` column arrives through change data capture; any other number, or text such as
    "yes", stays refused."""
    if type(value) is int and value in (0, 1):
        return value == 1
    return value


Flag = Annotated[bool, Field(strict=True), BeforeValidator(bit_as_flag)]
"""A JSON boolean, or 1 or 0 (see `bit_as_flag`)."""


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX_LENGTH),
    BeforeValidator(integer_as_text),
]
"""A non-empty identifier of at most `ID_MAX_LENGTH` (128) characters; a JSON integer is
taken as its decimal text (see `integer_as_text`)."""

MAX_AMOUNT = Decimal(10) ** 12
"""The largest amount one event may carry. Larger than any single order or refund (the biggest
live-commerce sessions sell about 10^10 in a whole evening), small enough that the float sums
livewatch keeps per bucket and window stay finite and exact to the cent (doubles hold whole
numbers exactly to 2^53, about 9e15). A decimal such as "1e400" is finite, but as a float it
is infinity, which JSON cannot store: stored state would hold null and its next evaluation
fail."""

Money = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
"""A non-negative decimal amount up to `MAX_AMOUNT`, accepted as a JSON number or string,
written as a string."""

MAX_QUANTITY = 1_000_000
"""The largest quantity one order may carry: no order in a live session holds a million items;
a larger integer is a producer's error (and Python's integers have no bound of their own)."""


def whole_number(value: object) -> object:
    """A count written as decimal digits (`"2"`: Protocol Buffers' JSON mapping writes every
    64-bit integer as text) or as a float with nothing after the point (`2.0`: a dataframe's
    float column, a JavaScript number) is that integer. A fraction, a sign, an exponent in
    text or a boolean stays refused."""
    if type(value) is str and 0 < len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)
    if type(value) is float and value.is_integer():
        return int(value)
    return value


Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True), BeforeValidator(whole_number)]
"""A whole number of items from 1 to `MAX_QUANTITY`, as a JSON integer, its decimal text or an
integral float (see `whole_number`)."""


def code_in_capitals(value: object) -> object:
    """A currency code in any case is the code (`cny` is `CNY`), as enumerated values are read
    in any case; anything but three letters stays refused."""
    return value.upper() if isinstance(value, str) and len(value) == 3 else value


Currency = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), BeforeValidator(code_in_capitals)
]
"""An ISO 4217 alphabetic code, three letters in any case, read in capitals."""

NAIVE_ZONE = "naive_zone"
"""The validation context's key for the time zone of times written without an offset (see
`in_naive_zone`)."""


def zone_context(zone: tzinfo | None) -> dict[str, tzinfo] | None:
    """The validation context that reads times without an offset in `zone` (None: none, and
    such times are refused)."""
    return None if zone is None else {NAIVE_ZONE: zone}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FINER_THAN_MS = 10**14
"""Epoch numbers above this are microseconds (above `FINER_THAN_MS` * 1000, nanoseconds): as
milliseconds they would be past the year 5000, as microseconds they are any time since
1973. Below it, pydantic's own reading: seconds, or milliseconds above 2 * 10^10."""


def event_time(value: object, info: ValidationInfo) -> object:
    """An event time as its producers write it, for pydantic's datetime to read: a date and
    time without an offset read in the validation context's zone (`in_naive_zone`), and an
    epoch number in microseconds or nanoseconds (Debezium's `MicroTimestamp`, Go's
    `UnixNano`) as the time it counts to, exactly; written as a float (Python's
    `time.time() * 1e6`, a dataframe's float column), to the nearest microsecond."""
    if type(value) is float and value > FINER_THAN_MS and math.isfinite(value):
        try:
            micros = value / 1000 if value > FINER_THAN_MS * 1000 else value
            return EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            return value  # past the year 9999: pydantic refuses it, saying so
    digits = type(value) is str and value.isascii() and value.isdigit()
    if type(value) is int or digits:
        count = int(str(value)[:30])  # 30 digits: any time in nanoseconds, and then some
        try:
            if count > FINER_THAN_MS * 1000:
                return EPOCH + timedelta(microseconds=count // 1000)
            if count > FINER_THAN_MS:
                return EPOCH + timedelta(microseconds=count)
        except OverflowError:
            pass  # past the year 9999: pydantic refuses it, saying so
        return value
    if isinstance(value, str):
        value = offset_as_rfc3339(value)
    return in_naive_zone(value, info)


_SPELLED_UTC = re.compile(r" ?(?:UTC|GMT|Z)$")
_SPACED_OFFSET = re.compile(r" ([+-]\d\d:?\d\d)(?: [A-Z]{2,5})?(?: m=[+-][\d.]+)?$")


def offset_as_rfc3339(value: str) -> str:
    """A date and time whose offset is written as common tools write it, with the offset as
    RFC 3339 writes it: `+08` (PostgreSQL's text for a `timestamptz`) is `+08:00`; ` UTC` or
    ` GMT` (Ruby, many loggers) is `Z`; ` +0800 CST` and Go's monotonic ` m=+0.001` (Go's
    `time.Time.String()`) are `+0800`. Only text with a time of day; anything else is left
    for pydantic to read or refuse."""
    if len(value) < 16 or value[10] not in "Tt " or not value[11:13].isdigit():
        return value
    if rfc3339_offset(value):
        return value
    return _respelled(value)


def rfc3339_offset(value: str) -> bool:
    """Whether a time of day ends in RFC 3339's offset (`Z`, `+08:00`) after a digit, as most
    producers write it: `_respelled` would leave it as it is, and its searches, which try
    every position of the text, were 3% of a replay's instructions."""
    return value[-2].isdigit() and (
        value[-1] == "Z" or (value[-3] == ":" and value[-6] in "+-" and value[-7].isdigit())
    )


def _respelled(value: str) -> str:
    """`offset_as_rfc3339` for a time of day in any other form."""
    spelled = _SPELLED_UTC.search(value)
    if spelled is not None and value[spelled.start() - 1].isdigit():
        return value[: spelled.start()] + "Z"
    spaced = _SPACED_OFFSET.search(value)
    if spaced is not None:
        return value[: spaced.start()] + spaced.group(1)
    if value[-3] in "+-" and value[-2:].isdigit() and value[-4].isdigit() and len(value) >= 22:
        return value + ":00"
    return value


def in_naive_zone(value: object, info: ValidationInfo) -> object:
    """A date and time written without an offset, read in the zone the validation context
    gives (`Settings.naive_time_zone`: producers that write local time); without one, left to
    be refused, since its offset cannot be guessed. Only text with a time of day: a bare date
    is no event time."""
    zone = info.context.get(NAIVE_ZONE) if isinstance(info.context, dict) else None
    if zone is None or not isinstance(value, str) or len(value) < 16 or value[10] not in "Tt ":
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value  # for the timestamp's own error
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else value


Timestamp = Annotated[AwareDatetime, BeforeValidator(event_time)]
"""An RFC 3339 timestamp; one without a UTC offset is rejected, unless the validation context
names the zone to read it in (see `in_naive_zone`). Epoch numbers (seconds, milliseconds,
microseconds, nanoseconds) are read as UTC (see `event_time`)."""


def spellings(name: str) -> AliasChoices:
    """A field's name as the contract writes it (`order_id`), then as camelCase (`orderId`:
    Jackson's default for a Java object's fields, Protocol Buffers' JSON mapping, JavaScript)
    and PascalCase (`OrderId`: .NET's System.Text.Json without a naming policy). A record that
    has more than one is read by the first of these it has."""
    camel = to_camel(name)
    return AliasChoices(name, camel, camel[:1].upper() + camel[1:])


class Event(BaseModel):
    """Base of every wire model: unknown fields are tolerated because producers evolve first;
    each field is read under any of its `spellings`."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, str_strip_whitespace=False,
        alias_generator=AliasGenerator(validation_alias=spellings), validate_by_name=True,
    )  # fmt: skip
