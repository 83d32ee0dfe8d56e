"""Bytes on the wire to validated models and back; the only place JSON meets the models."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from schemas import TOPIC_MODELS, Alert, InputEvent


class DecodeError(ValueError):
    """A record that is not a valid event; the message names the field and the problem."""


def encode(model: BaseModel) -> bytes:
    """Compact UTF-8 JSON of a model, decimals as strings and timestamps in RFC 3339."""
    return model.model_dump_json(exclude_none=True).encode()


def describe(exc: ValidationError) -> str:
    """One line naming every bad field: `placed_at: Input should have timezone info; ...`."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in error["loc"]) or "(value)"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)


def decode(kind: str, raw: bytes | None) -> InputEvent:
    """Validate the record value of an input topic (`orders`, `refunds` or `complaints`)."""
    if raw is None:
        raise DecodeError("value: record has no value (tombstone)")
    model = TOPIC_MODELS[kind]
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise DecodeError(describe(exc)) from exc


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
