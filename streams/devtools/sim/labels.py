"""Ground truth of a simulation: which anchor misbehaves how, and when it became observable."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Label(BaseModel):
    """One injected behaviour. `expect_alert` false marks a control that must stay quiet."""

    model_config = ConfigDict(frozen=True)

    anchor_id: str
    scenario: str
    rule: str | None
    start: datetime
    """When the behaviour becomes observable in the data (first refund of a burst, first
    complaint of a storm): time-to-detect counts from here."""
    end: datetime
    expect_alert: bool = True
    orders_start: datetime | None = None
    """Brushing and attacks: when the fake orders began (before any refund), for the time to
    detect counted from the orders."""
    size: int | None = None
    """Small rings: how many fake orders (their time to detect is told apart by size)."""


class Truth(BaseModel):
    """The labels file written by `livewatch simulate --labels`."""

    seed: int
    scenarios: list[str]
    start: datetime
    end: datetime
    anchors: int
    labels: list[Label]
