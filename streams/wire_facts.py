"""An input record's bytes straight to its fact, the worker's per-record decode.

`codecs.decode` validates a record into its pydantic model and `facts.fact_of` then takes the few
fields counting needs: about 6 µs an order, a tenth of the worker's time. Most records are
plain: every field there with the JSON type the model wants (an id text or an integer), well
inside its bounds, the timestamp in RFC 3339's usual form. For such a record `fact_of_bytes`
checks what the model checks and makes the fact itself. Anything else (a missing or null
field, a float where an id belongs, an amount at a bound, a timestamp in another form, a JSON
error) goes to the model, which stays the contract: it decides, and its error is the one the
dead letter names.

The JSON is parsed by pydantic-core's own parser (`from_json`), the one `model_validate_json`
uses, so both paths accept the same documents (orjson would take nesting pydantic refuses).
`tests/streams/test_wire_facts.py` holds the two paths to the same answer on generated records.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Final

from pydantic_core import from_json

from schemas import TOPIC_MODELS, ComplaintCategory, ComplaintChannel, ProductCategory, RefundReason
from schemas.types import ID_MAX_LENGTH, MAX_AMOUNT, MAX_QUANTITY, spellings
from streams.codecs import REGISTRY_FRAME, connect_payload, decode
from streams.core.clock import to_ms
from streams.core.facts import ComplaintFact, Fact, OrderFact, RefundFact, fact_of
from streams.core.sketches import key_hash

AMOUNT_BELOW: Final = float(MAX_AMOUNT)
"""Plain amounts are under `schemas.types.MAX_AMOUNT`; one at the bound goes to the model."""

_PRODUCT = frozenset(c.value for c in ProductCategory)
_REASON = frozenset(r.value for r in RefundReason)
_COMPLAINT = frozenset(c.value for c in ComplaintCategory)
_CHANNEL = frozenset(c.value for c in ComplaintChannel)
_ZERO: Final = ord("0")
_NINE: Final = ord("9")
_FIVE: Final = ord("5")
_A: Final = ord("A")
_Z: Final = ord("Z")
_D: Final = ord("d")
_POINT: Final = ord(".")
_HIGHEST_INT_ID: Final = 10**ID_MAX_LENGTH - 1
_LOWEST_INT_ID: Final = -(10 ** (ID_MAX_LENGTH - 1) - 1)
"""Integers whose decimal text (a sign included) fits an id."""
_NO_TIME: Final = -(1 << 62)
_NO_AMOUNT: Final = -1.0
_SPELLINGS: Final = [
    tuple(str(choice) for choice in spellings(name).choices)
    for name in sorted({name for model in TOPIC_MODELS.values() for name in model.model_fields})
]
"""Each field's name, then its other spellings in the order the models read them."""
_CONTRACT_NAMES: Final = frozenset(spelled[0] for spelled in _SPELLINGS)
_NATURAL_ID: Final = {kind: model.natural_id for kind, model in TOPIC_MODELS.items()}


def fact_of_bytes(kind: str, raw: bytes | None, zone: tzinfo | None = None) -> Fact:
    """The fact of an input record's value (`orders`, `refunds` or `complaints`); raises
    `codecs.DecodeError` exactly where `codecs.decode` does. A value framed by a Schema
    Registry serializer is read past its frame, as `codecs.unframed` does, and a Kafka Connect
    envelope for its payload (`codecs.connect_payload`). `zone`: see `codecs.decode` (a time
    without an offset is never plain, so only the model reads it)."""
    if raw is not None:
        body = raw[REGISTRY_FRAME:] if len(raw) > REGISTRY_FRAME and raw[0] == 0 else raw
        try:
            # Field names repeat in every record: cached (pydantic-core's cache, bounded),
            # each is made once, not per record. A record of the mix decodes in 4.0 us instead
            # of 4.4. Values are not cached: ids rarely repeat.
            data: Any = from_json(body, cache_strings="keys")
        except ValueError:
            data = None
        if isinstance(data, dict):
            fact = plain_fact(kind, connect_payload(data))
            if fact is not None:
                return fact
    return fact_of(decode(kind, raw, zone))


def plain_fact(kind: str, data: dict[str, Any]) -> Fact | None:
    """The fact of a parsed record that is plain (see above), or None: the model decides."""
    if not data.keys() <= _CONTRACT_NAMES:
        data = by_contract(data)
    if "event_id" not in data:  # known by its own id, as the model knows it
        natural = _NATURAL_ID.get(kind)
        if natural is not None and natural in data:
            data = {**data, "event_id": data[natural]}
    if kind == "orders":
        return _order(data)
    if kind == "refunds":
        return _refund(data)
    if kind == "complaints":
        return _complaint(data)
    return None


def by_contract(data: dict[str, Any]) -> dict[str, Any]:
    """The record with each field the contract's name spells another way (`orderId`) under
    that name too, as the models read it (`schemas.types.spellings`)."""
    out = dict(data)
    for spelled in _SPELLINGS:
        if spelled[0] not in data:
            for other in spelled[1:]:
                if other in data:
                    out[spelled[0]] = data[other]
                    break
    return out


def _order(d: dict[str, Any]) -> OrderFact | None:
    event_id, order_id = d.get("event_id"), d.get("order_id")
    anchor_id, session_id, buyer_id = d.get("anchor_id"), d.get("session_id"), d.get("buyer_id")
    category, quantity = d.get("category"), d.get("quantity")
    if not (
        _version(d) and _id(event_id) and _id(order_id) and _id(anchor_id)
        and _id(session_id) and _id(buyer_id) and _id(d.get("merchant_id"))
        and _id(d.get("sku_id"))
        and isinstance(category, str) and category in _PRODUCT
        and type(quantity) is int and 1 <= quantity <= MAX_QUANTITY
        and _currency(d.get("currency"))
    ):  # fmt: skip
        return None
    amount = _amount(d.get("amount"))
    t = _ms(d.get("placed_at"))
    if amount == _NO_AMOUNT or t == _NO_TIME:
        return None
    return OrderFact(
        str(event_id), str(order_id), str(anchor_id), str(session_id), str(category), amount,
        key_hash(str(buyer_id)), t,
    )  # fmt: skip


def _refund(d: dict[str, Any]) -> RefundFact | None:
    event_id, order_id = d.get("event_id"), d.get("order_id")
    anchor_id, session_id = d.get("anchor_id"), d.get("session_id")
    reason, shipped = d.get("reason"), d.get("shipped")
    if not (
        _version(d) and _id(event_id) and _id(order_id) and _id(d.get("refund_id"))
        and _optional_id(anchor_id) and _optional_id(session_id)
        and isinstance(reason, str) and reason in _REASON
        and _flag(shipped)
        and _currency(d.get("currency"))
    ):  # fmt: skip
        return None
    amount = _amount(d.get("amount"))
    t = _ms(d.get("requested_at"))
    if amount == _NO_AMOUNT or t == _NO_TIME:
        return None
    return RefundFact(
        str(event_id), str(order_id), None if anchor_id is None else str(anchor_id),
        None if session_id is None else str(session_id), amount, str(reason),
        shipped is True or shipped == 1, t,
    )  # fmt: skip


def _complaint(d: dict[str, Any]) -> ComplaintFact | None:
    event_id, anchor_id = d.get("event_id"), d.get("anchor_id")
    category, channel = d.get("category"), d.get("channel")
    if not (
        _version(d) and _id(event_id) and _id(anchor_id) and _id(d.get("complaint_id"))
        and _optional_id(d.get("session_id")) and _optional_id(d.get("order_id"))
        and _optional_id(d.get("merchant_id")) and _optional_id(d.get("sku_id"))
        and isinstance(category, str) and category in _COMPLAINT
        and isinstance(channel, str) and channel in _CHANNEL
    ):  # fmt: skip
        return None
    t = _ms(d.get("filed_at"))
    if t == _NO_TIME:
        return None
    return ComplaintFact(str(event_id), str(anchor_id), str(category), t)


def _version(d: dict[str, Any]) -> bool:
    version = d.get("schema_version", 1)
    return type(version) is int and version == 1


def _id(value: Any) -> bool:
    """A plain id: text of the allowed length, or an integer whose digits are (the model
    reads it as its text, see `schemas.types.integer_as_text`; `str` makes the fact's)."""
    if isinstance(value, str):
        return 0 < len(value) <= ID_MAX_LENGTH
    return type(value) is int and _LOWEST_INT_ID <= value <= _HIGHEST_INT_ID


def _flag(value: Any) -> bool:
    """A plain flag: a JSON boolean, or 1 or 0 (see `schemas.types.bit_as_flag`)."""
    return value is True or value is False or (type(value) is int and 0 <= value <= 1)


def _optional_id(value: Any) -> bool:
    return value is None or _id(value)


def _currency(value: Any) -> bool:
    return isinstance(value, str) and _fits(value, 0, "AAA")


def _fits(text: str, at: int, shape: str) -> bool:
    """Whether `text` from `at` on is `shape`: `d` a digit, `A` a capital letter A-Z, any
    other character itself. (Code points compared: compiled, no one-character strings.)"""
    if len(text) - at != len(shape):
        return False
    for i in range(len(shape)):
        c, s = ord(text[at + i]), ord(shape[i])
        if s == _D:
            if not _ZERO <= c <= _NINE:
                return False
        elif s == _A:
            if not _A <= c <= _Z:
                return False
        elif c != s:
            return False
    return True


def _digits(text: str, start: int, end: int) -> bool:
    return all(_ZERO <= ord(text[i]) <= _NINE for i in range(start, end))


def _amount(value: Any) -> float:
    """The amount as `fact_of` has it, or `_NO_AMOUNT` when not plain: a whole JSON number,
    a positive decimal number, or a string of digits with at most one point, under the bound.
    (A float at 0 is not plain: it may be a negative number too small for a double.)"""
    if type(value) is int:
        return float(value) if 0 <= value < AMOUNT_BELOW else _NO_AMOUNT
    if type(value) is float:
        return value if 0.0 < value < AMOUNT_BELOW else _NO_AMOUNT
    if not isinstance(value, str):
        return _NO_AMOUNT
    n = len(value)
    point = value.find(".")
    whole = n if point < 0 else point
    if not (
        0 < whole <= 12 and _digits(value, 0, whole)
        and (point < 0 or (0 < n - point - 1 <= 12 and _digits(value, point + 1, n)))
    ):  # fmt: skip
        return _NO_AMOUNT
    return float(value)


def _ms(value: Any) -> int:
    """Epoch ms of `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)` as the model's datetime gives it,
    or `_NO_TIME` for any other value (the model judges it)."""
    if not isinstance(value, str) or not 20 <= len(value) <= 32:
        return _NO_TIME
    if not _fits(value[:19], 0, "dddd-dd-ddTdd:dd:dd"):
        return _NO_TIME
    zone = 19
    if ord(value[zone]) == _POINT:
        zone += 1
        while zone < len(value) and _ZERO <= ord(value[zone]) <= _NINE:
            zone += 1
        if not 2 <= zone - 19 <= 7:
            return _NO_TIME
    if not (zone == len(value) - 1 and ord(value[zone]) == _Z) and not (
        (_fits(value, zone, "+dd:dd") or _fits(value, zone, "-dd:dd"))
        and ord(value[zone + 4]) <= _FIVE  # Python reads an offset's minute 60 as an hour
    ):  # fmt: skip
        return _NO_TIME
    try:
        return to_ms(datetime.fromisoformat(value))
    except ValueError:
        return _NO_TIME
