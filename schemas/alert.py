"""The alert livewatch publishes on the `alerts` topic, keyed by `anchor_id`."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.types import Event, Id, Timestamp


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class RuleName(StrEnum):
    REFUND_AFTER_ORDER_SPIKE = "refund_after_order_spike"
    QUALITY_COMPLAINTS = "quality_complaints"
    ORDER_CONCENTRATION = "order_concentration"

    @classmethod
    def _missing_(cls, value: object) -> RuleName | None:
        """A rule this version does not know (a newer worker's, in a rolling upgrade) is read
        as a member of its own, not refused: the notifier pages it and the board shows it."""
        if not isinstance(value, str) or not value or len(value) > 64:
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member


class Evidence(BaseModel):
    """What an analyst needs to judge an anomaly: brushing and an attack on the anchor look alike,
    so buyer concentration, shipment share and samples are given rather than a verdict."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: Literal["anomaly"] = "anomaly"
    window: str = Field(
        description="Which windows crossed: 'short+long', 'burst+long', 'early' (refund "
        "spikes: early refunds in the last minutes), 'early+concentration' (the same, fewer "
        "of them, after order_concentration fired on the anchor), 'early+repeat_buyers' "
        "(the early refunds of repeat buyers' orders alone) or 'early+quality_claims' (the "
        "early refunds calling the product bad before it shipped), 'long' (quality complaints); "
        "order_concentration: 'short+long' (orders per buyer) or 'repeat_buyers' (buyers "
        "ordering in several minutes of the window; `repeat_buyer_hashes` names them by hash); "
        "'rule_disabled' on the resolution of an episode whose rule a new rule set turned off."
    )
    category: str | None = None
    orders: int = 0
    distinct_buyers: int = 0
    order_amount: str = "0"
    refunds: int = 0
    refund_amount: str = "0"
    refund_rate: float = 0.0
    refund_rate_lower_bound: float = 0.0
    baseline_refund_rate: float | None = None
    top_refund_reasons: list[tuple[str, int]] = Field(default_factory=list)
    refunded_before_shipment_share: float | None = None
    orders_per_buyer: float | None = None
    buyers_estimated: bool = Field(
        default=False,
        description="True when distinct_buyers, orders_per_buyer and max_orders_by_one_buyer "
        "are sketch estimates: a bucket of the window had more distinct buyers than are "
        "counted exactly (see docs/reliability.md, State and its bounds).",
    )
    complaints_by_category: dict[str, int] = Field(default_factory=dict)
    quality_complaints: int = 0
    sample_order_ids: list[str] = Field(default_factory=list)


class Alert(Event):
    """One update of an alert episode; `alert_id` is stable across restarts and replays."""

    schema_version: Literal[1] = 1
    alert_id: Id
    rule: RuleName
    status: AlertStatus
    severity: Severity
    anchor_id: Id
    session_id: Id | None = None
    window_start: Timestamp
    window_end: Timestamp
    observed: dict[str, float]
    threshold: dict[str, float]
    evidence: Evidence
    emitted_at: Timestamp
    rules_version: int = Field(
        default=0,
        ge=0,
        description="The rule set the episode was judged under: 0 is the worker's rules file, "
        "N the version published to the rules topic (`livewatch rules show`).",
    )
    shadow: bool = Field(
        default=False,
        description="True on the shadow alerts topic only: judged under a shadow rule set, "
        "which pages no one. Its alert ids differ from the live episode's.",
    )
