"""An analyst's verdict on an alert episode, on the compacted verdicts topic keyed by
`alert_id`: the latest record of an episode stands, and carries the verdicts before it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from schemas.alert import RuleName, Severity
from schemas.types import Event, Id, Timestamp

Note = Annotated[str, StringConstraints(max_length=500)]
Who = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_NOTE = TypeAdapter(Note)


def checked_note(text: str) -> str:
    """A note as a verdict takes it; raises ValueError saying why not (before anything is
    read or sent)."""
    try:
        return _NOTE.validate_python(text)
    except ValidationError as exc:
        raise ValueError(f"note: {exc.errors(include_url=False)[0]['msg']}") from exc


class Judgement(StrEnum):
    CONFIRMED = "confirmed"
    """Confirmed abuse."""
    FALSE_ALARM = "false_alarm"
    UNSURE = "unsure"


class EarlierVerdict(Event):
    verdict: Judgement
    by: Who
    at: Timestamp
    note: Note = ""


class Verdict(Event):
    """One verdict, with the episode it judges as the judge saw it."""

    schema_version: Literal[1] = 1
    alert_id: Id
    verdict: Judgement
    by: Who = Field(description="Who judged: the board's login or proxy user, or --by.")
    at: Timestamp = Field(description="When (wall clock).")
    note: Note = ""
    rule: RuleName | None = None
    severity: Severity | None = None
    anchor_id: Id | None = None
    episode_started: Timestamp | None = Field(
        default=None, description="The episode's first firing boundary (event time)."
    )
    earlier: list[EarlierVerdict] = Field(
        default_factory=list, description="The episode's verdicts before this one, oldest first."
    )
