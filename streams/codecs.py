"""Bytes on the wire to validated models and back; the only place JSON meets the models."""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from schemas import TOPIC_MODELS, Alert, InputEvent
from schemas.types import zone_context


class DecodeError(ValueError):
    """A record that is not a valid event; the message names the field and the problem."""


def encode(model: BaseModel) -> bytes:
    """Compact UTF-8 JSON of a model, decimals as strings and timestamps in RFC 3339."""
    return model.model_dump_json(exclude_none=True).encode()


def describe(exc: ValidationError, prefix: str = "") -> str:
    """One line naming every bad field: `placed_at: Input should have timezone info; ...`
    (`prefix`: where the event sits in the value, such as `payload.`)."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in error["loc"]) or "(value)"
        parts.append(f"{prefix}{loc}: {error['msg']}")
    return "; ".join(parts)


REGISTRY_FRAME = 5
"""Bytes a Confluent Schema Registry serializer puts before the payload: the magic byte 0, then
the schema id (4 bytes, big-endian)."""


UTF8_BOM = b"\xef\xbb\xbf"
"""The byte order mark some writers put before UTF-8 text: .NET's `UTF8Encoding(true)`,
PowerShell 5's files, Windows editors. RFC 8259 lets a JSON parser ignore it."""


def framed(raw: bytes) -> bool:
    """Whether the value is framed by a Schema Registry serializer (see `unframed`)."""
    return len(raw) > REGISTRY_FRAME and raw[0] == 0


def unframed(raw: bytes) -> bytes:
    """The payload of a value framed by a Schema Registry serializer, else the value itself,
    past a UTF-8 byte order mark either way (`UTF8_BOM`).

    Services that register their schemas (confluent-kafka's `JSONSerializer`, the Java
    client's `KafkaJsonSchemaSerializer`) send each JSON event behind that frame. No JSON text
    starts with a zero byte, so a framed value is never taken for another."""
    body = raw[REGISTRY_FRAME:] if framed(raw) else raw
    return body[len(UTF8_BOM) :] if body.startswith(UTF8_BOM) else body


def schema_id(raw: bytes) -> int | None:
    """The schema id in a Schema Registry serializer's frame (None: the value is not framed,
    see `unframed`)."""
    return int.from_bytes(raw[1:REGISTRY_FRAME], "big") if framed(raw) else None


def connect_payload(data: Any) -> Any:
    """The event inside a Kafka Connect envelope, else `data` itself.

    Kafka Connect's `JsonConverter` with `schemas.enable=true` (its default) writes each value
    as `{"schema": {...}, "payload": {...}}`: a pipeline that moves the events through Connect
    (an outbox table, a bridge from another system) sends every event that way. No event has
    just those two fields, so an envelope is never taken for an event."""
    if type(data) is dict and len(data) == 2 and "schema" in data:
        payload = data.get("payload")
        if type(payload) is dict:
            return payload
    return data


def decode(kind: str, raw: bytes | None, zone: tzinfo | None = None) -> InputEvent:
    """Validate the record value of an input topic (`orders`, `refunds` or `complaints`), as
    JSON, framed by a Schema Registry serializer or not (see `unframed`), in a Kafka Connect
    envelope or not (see `connect_payload`). `zone`: where to read event times written
    without an offset (`Settings.naive_time_zone`; None: they are refused)."""
    if raw is None:
        raise DecodeError("value: record has no value (tombstone)")
    model = TOPIC_MODELS[kind]
    body = unframed(raw)
    context = zone_context(zone)
    try:
        return model.model_validate_json(body, context=context)
    except ValidationError as exc:
        if framed(raw) and exc.errors()[0]["type"] == "json_invalid":
            raise DecodeError(
                f"value: framed by a Schema Registry serializer (schema id {schema_id(raw)}) but "
                "not JSON; Avro and Protobuf are not read: produce with the JSON serializer"
            ) from exc
        payload = _enveloped(body)
        if payload is None:
            raise DecodeError(describe(exc)) from exc
    try:
        return model.model_validate_json(payload, context=context)
    except ValidationError as exc:
        raise DecodeError(describe(exc, "payload.")) from exc


def _enveloped(body: bytes) -> bytes | None:
    """The JSON of the event in a Kafka Connect envelope (None: `body` is no envelope). Written
    again from the parsed payload, so the model reads it as JSON, as it reads any value."""
    try:
        data = from_json(body, cache_strings=False)
    except ValueError:
        return None
    payload = connect_payload(data)
    return None if payload is data else json.dumps(payload).encode()


def read_alert_record(record: Any, bad: Any, log: Any) -> Alert | None:
    """An alerts-topic record as an Alert; an unreadable one is counted on the labelled
    counter `bad` (by reason) and logged with its partition and offset, then skipped."""
    alert, reason, error = read_alert(record.value)
    if alert is None:
        bad.labels(reason).inc()
        log.warning(
            "bad_alert_record", partition=record.partition, offset=record.offset,
            reason=reason, error=error,
        )  # fmt: skip
    return alert


ALERT_SCHEMA_VERSIONS = {1}
"""Alert schema versions the readers of the alerts topic (notify, board) understand."""


def read_alert(raw: bytes | None) -> tuple[Alert | None, str, str]:
    """An alert record's value as an Alert, or None with a reason and the error."""
    if raw is None:
        return None, "tombstone", "record has no value"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, "invalid_json", str(exc)
    if not isinstance(data, dict):
        return None, "invalid", "value is not a JSON object"
    version = data.get("schema_version")
    if version not in ALERT_SCHEMA_VERSIONS:
        return None, "unknown_schema_version", f"schema_version {version!r} is not one of 1"
    try:
        return Alert.model_validate(data), "", ""
    except ValidationError as exc:
        return None, "invalid", describe(exc)
