"""Shared field types for every livewatch event: ids, money, currency, aware timestamps."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""A non-empty identifier of at most 128 characters."""

Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
"""A non-negative decimal amount, accepted as a JSON number or string, written as a string."""

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 alphabetic code (three upper-case letters)."""

Timestamp = AwareDatetime
"""An RFC 3339 timestamp; one without a UTC offset is rejected."""


class Event(BaseModel):
    """Base of every wire model: unknown fields are tolerated because producers evolve first."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)
