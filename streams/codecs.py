"""Bytes on the wire to validated models and back; the only place JSON meets the models."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from schemas import TOPIC_MODELS, InputEvent, Refund


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


def record_key(event: InputEvent) -> bytes:
    """The record key that co-partitions an event with its anchor (see README, partitioning).

    Refunds without an `anchor_id` fall back to `order_id`; they can then only be attributed
    when they land on the order's partition by chance, so producers should set the anchor.
    """
    if isinstance(event, Refund):
        return (event.anchor_id or event.order_id).encode()
    return event.anchor_id.encode()
